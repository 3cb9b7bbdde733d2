package disclosure

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// TestScanReplaceAcrossChunks: occurrences straddling the 1 MiB read
// boundary, at the very start and end, adjacent, and overlapping runs of
// the pattern's first byte are all found, and the replaced stream equals
// bytes.ReplaceAll's.
func TestScanReplaceAcrossChunks(t *testing.T) {
	old := []byte("trialog-disclosure-pending 0123")
	repl := append([]byte(`{"nonce":"x"}`), bytes.Repeat([]byte(" "), len(old)-13)...)
	for _, at := range [][]int{{0}, {1<<20 - 5}, {1<<20 - len(old)}, {1 << 20}, {2<<20 + 7, 2<<20 + 7 + len(old)}, {3<<20 - len(old)}} {
		data := bytes.Repeat([]byte("t"), 3<<20)
		for _, a := range at {
			copy(data[a:], old)
		}
		var out bytes.Buffer
		offsets, err := scanReplace(iotest.HalfReader(bytes.NewReader(data)), old, repl, &out)
		if err != nil {
			t.Fatal(err)
		}
		if len(offsets) != len(at) {
			t.Errorf("at %v: found %v", at, offsets)
		}
		for i, a := range at {
			if i < len(offsets) && offsets[i] != int64(a) {
				t.Errorf("at %v: offset %d", at, offsets[i])
			}
		}
		if !bytes.Equal(out.Bytes(), bytes.ReplaceAll(data, old, repl)) {
			t.Errorf("at %v: replaced stream differs", at)
		}
	}
}

// TestFillAndDigest: a file digested with the blank, then filled with
// the value, digests back to the same SHA-256.
func TestFillAndDigest(t *testing.T) {
	nonce := strings.Repeat("ab", 16)
	p := &DisclosureProof{Nonce: nonce, LeafIndex: 7, Leaf: []byte{4, 1}, Proof: [][]byte{make([]byte, 32)}, Checkpoint: "cp\n"}
	n := ReserveDisclosure(2, "trialog/T", 7)
	blank := BlankValue(nonce, n)
	value, err := p.Value(n)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pkg")
	content := []byte("head" + blank + "middle" + blank + "tail")
	os.WriteFile(path, content, 0o600)
	want := sha256.Sum256(content)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := FillDisclosure(f, blank, value); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, occurrences, err := PackageDigest(context.Background(), path, value, blank)
	if err != nil || occurrences != 2 || got != hex.EncodeToString(want[:]) {
		t.Fatalf("digest %s (%d occurrences, %v), want %x", got, occurrences, err, want)
	}
	parsed, err := ParseDisclosureProof(value)
	if err != nil || parsed.LeafIndex != 7 || parsed.Nonce != nonce {
		t.Fatalf("parse: %v %+v", err, parsed)
	}
	if _, err := ParseDisclosureProof(value[:len(value)-1] + "x"); err == nil {
		t.Error("a value with trailing garbage parsed")
	}
}
