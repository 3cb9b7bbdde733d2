package leaf_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
)

// policyVector is testdata/vectors/policy-leaf-v1.json.
type policyVector struct {
	Spec     string `json:"spec"`
	Trial    string `json:"trial"`
	Seq      uint64 `json:"seq"`
	NoteText string `json:"policy_note_text"`
	LeafHex  string `json:"leaf_hex"`
	HashHex  string `json:"leaf_hash_hex"`
}

func TestPolicyLeafVector(t *testing.T) {
	b, err := os.ReadFile("../testdata/vectors/policy-leaf-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var v policyVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	l := leaf.NewPolicyLeaf(v.Trial, v.Seq, v.NoteText).Marshal()
	if got := hex.EncodeToString(l); got != v.LeafHex {
		t.Fatalf("policy leaf\n got %s\nwant %s", got, v.LeafHex)
	}
	if got := hex.EncodeToString(trillian.LeafHash(l)); got != v.HashHex {
		t.Fatalf("leaf hash %s, want %s", got, v.HashHex)
	}
	p, err := leaf.ParsePolicyLeaf(l)
	if err != nil || p.Trial != v.Trial || p.Seq != v.Seq {
		t.Fatalf("parse: %+v %v", p, err)
	}
	for name, bad := range map[string][]byte{
		"trailing byte":      append(append([]byte{}, l...), 0),
		"truncated digest":   l[:len(l)-1],
		"consent kind":       append([]byte{0x03}, l[1:]...),
		"format 2":           append([]byte{0x04, 0x02}, l[2:]...),
		"non-minimal varint": append([]byte{0x04, 0x01, 0x80 | byte(len(v.Trial)), 0x00}, l[3:]...),
		"empty":              {},
	} {
		if _, err := leaf.ParsePolicyLeaf(bad); !errors.Is(err, leaf.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}
