package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/trialog/trialog/trillian"
)

func TestSignOpen(t *testing.T) {
	skey, vkey, err := GenerateKey(Origin("CDISCPILOT01"))
	if err != nil {
		t.Fatal(err)
	}
	root := trillian.Root{Size: 42, Hash: bytes.Repeat([]byte{7}, sha256.Size)}
	signed, err := Sign(skey, root)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(signed), "trialog/CDISCPILOT01\n42\n") {
		t.Fatalf("checkpoint text:\n%s", signed)
	}
	cp, err := Open(vkey, signed)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 42 || !bytes.Equal(cp.Hash, root.Hash) || cp.Origin != "trialog/CDISCPILOT01" {
		t.Fatalf("opened %+v", cp)
	}

	// Another key with the same name must not verify it.
	_, otherV, _ := GenerateKey(Origin("CDISCPILOT01"))
	if _, err := Open(otherV, signed); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("other key: %v", err)
	}
	// An edited size must not verify.
	forged := bytes.Replace(signed, []byte("\n42\n"), []byte("\n43\n"), 1)
	if _, err := Open(vkey, forged); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("forged size: %v", err)
	}
}
