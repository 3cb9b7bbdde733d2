package tlogtiles

import (
	"context"
	"crypto/sha256"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/trillian/checkpoint"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors/tlog-tiles-v1")

// vectorKey is a fixed Ed25519 note key, so the vector's checkpoint
// signature is reproducible (Ed25519 signing is deterministic).
type fixedRand byte

func (f fixedRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(f)
	}
	return len(p), nil
}

// TestLayoutVectors freezes a published directory (testdata/vectors/
// tlog-tiles-v1): 513 deterministic leaves published as 300 then 513,
// so it holds full and partial tiles and bundles of two checkpoints and
// a level-1 tile, and the verifier key to check it. An independent
// implementation of docs/publishing.md reproduces it byte for byte.
func TestLayoutVectors(t *testing.T) {
	skey, vkey, err := note.GenerateKey(fixedRand(7), checkpoint.Origin("VECTORS"))
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	tl := newTestLog(t, filepath.Join(base, "tree"))
	tl.skey, tl.vkey = skey, vkey
	pub := filepath.Join(base, "public")
	for _, size := range []uint64{300, 513} {
		if _, err := Publish(context.Background(), tl.log, tl.vkey, tl.grow(t, 9, size), pub); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(pub, "log.vkey"), []byte(vkey+"\n"), 0o644)
	want := "../testdata/vectors/tlog-tiles-v1"
	if *update {
		os.RemoveAll(want)
		if err := os.CopyFS(want, os.DirFS(pub)); err != nil {
			t.Fatal(err)
		}
	}
	n := sameFiles(t, pub, want, "differs from the frozen vector: the published layout is frozen; a change needs a new version")
	// And nothing extra in the vector directory.
	m := 0
	filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			m++
		}
		return nil
	})
	if n != m || n < 8 {
		t.Fatalf("%d files published, %d in the vector", n, m)
	}
	// The leaves are leafAt(9, i): say so checkably in the vector's README.
	h := sha256.New()
	for i := uint64(0); i < 513; i++ {
		h.Write(leafAt(9, i))
	}
	t.Logf("leaves digest %x", h.Sum(nil))
}
