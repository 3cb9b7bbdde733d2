package leaf

import (
	"bytes"
	"errors"
	"testing"
)

func TestConsentLeafStrict(t *testing.T) {
	c := &ConsentLeaf{Type: ConsentEvent, Trial: "TEST01", Seq: 300, Names: []string{"a", "b"},
		Commitments: [][CommitmentSize]byte{{1}, {2}}}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseConsentLeaf(b)
	if err != nil || got.Seq != 300 || got.Trial != "TEST01" || len(got.Names) != 2 || got.Commitments[1] != c.Commitments[1] {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	again, _ := got.Marshal()
	if !bytes.Equal(again, b) {
		t.Fatal("re-encoding differs")
	}
	// seq 300 is uvarint ac 02; a non-minimal encoding of the trial length
	// (0x86 0x00 for 6) must be refused: one leaf has one byte string.
	nonMinimal := append([]byte{0x03, 0x01, ConsentEvent, 0x86, 0x00}, b[4:]...)
	for name, bad := range map[string][]byte{
		"empty":            nil,
		"row leaf kind":    append([]byte{0x01}, b[1:]...),
		"format 2":         append([]byte{0x03, 0x02}, b[2:]...),
		"record type 9":    append([]byte{0x03, 0x01, 9}, b[3:]...),
		"non-minimal":      nonMinimal,
		"truncated":        b[:len(b)-1],
		"trailing byte":    append(bytes.Clone(b), 0),
		"huge field count": {0x03, 0x01, ConsentForm, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := ParseConsentLeaf(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}
