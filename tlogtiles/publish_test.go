package tlogtiles

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/trillian/embedded"
	"github.com/trialog/trialog/trillian/embedded/embeddedtest"
)

// testLog is an embedded log with its signing keys.
type testLog struct {
	log        *embedded.Log
	skey, vkey string
}

func newTestLog(t testing.TB, dir string) *testLog {
	t.Helper()
	skey, vkey, err := checkpoint.GenerateKey(checkpoint.Origin("TESTTRIAL"))
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{log: embeddedtest.Open(t, dir), skey: skey, vkey: vkey}
}

// leafAt is a deterministic leaf of varying length (1 to 150 bytes).
func leafAt(seed byte, i uint64) []byte {
	h := sha256.Sum256(binary.BigEndian.AppendUint64([]byte{seed}, i))
	n := 1 + int(h[0])%150
	return bytes.Repeat(h[:], 5)[:n]
}

// grow appends leaves up to size and returns the signed checkpoint.
func (tl *testLog) grow(t testing.TB, seed byte, size uint64) []byte {
	t.Helper()
	for {
		cp, n := embeddedtest.AppendSigned(t, tl.log, tl.skey, func(from uint64) [][]byte {
			leaves := make([][]byte, min(size-min(from, size), 50000))
			for i := range leaves {
				leaves[i] = leafAt(seed, from+uint64(i))
			}
			return leaves
		})
		if n >= size {
			return cp
		}
	}
}

// checkWithTorchwood reads every entry of the published tree through
// torchwood's client (which checks each entry against the tiles and the
// tiles against the root) and compares it with the leaf logged.
func checkWithTorchwood(t *testing.T, dir, vkey string, seed byte) trillian.Root {
	t.Helper()
	ctx := context.Background()
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := Checkpoint(ctx, r, vkey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := torchwood.NewClient(r)
	if err != nil {
		t.Fatal(err)
	}
	tree := tlog.Tree{N: int64(cp.Size), Hash: tlog.Hash(cp.Hash)}
	next := int64(0)
	for next < tree.N {
		before := next
		for i, e := range c.Entries(ctx, tree, next) {
			if i != next || !bytes.Equal(e, leafAt(seed, uint64(i))) {
				t.Fatalf("entry %d (want %d) differs", i, next)
			}
			next++
		}
		if err := c.Err(); err != nil {
			t.Fatalf("torchwood client at %d: %v", next, err)
		}
		if next == before {
			t.Fatalf("torchwood client stuck at %d of %d", next, tree.N)
		}
	}
	return cp.Root
}

func TestPublishIncrementalReadByTorchwood(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	tl := newTestLog(t, filepath.Join(base, "tree"))
	pub := filepath.Join(base, "public")
	var prev trillian.Root
	for _, size := range []uint64{0, 1, 2, 255, 256, 257, 511, 513, 65535, 65536, 65537, 70001, 131072 + 300} {
		cp := tl.grow(t, 1, size)
		res, err := Publish(ctx, tl.log, tl.vkey, cp, pub)
		if err != nil {
			t.Fatalf("publish %d: %v", size, err)
		}
		if res.NewSize != size || res.OldSize != prev.Size {
			t.Fatalf("publish %d: %+v", size, res)
		}
		root := checkWithTorchwood(t, pub, tl.vkey, 1)
		if prev.Size > 0 {
			r, _ := OpenReader(pub)
			if _, err := ConsistencyProof(ctx, r, prev, root); err != nil {
				t.Fatalf("consistency %d→%d: %v", prev.Size, size, err)
			}
		}
		prev = root
	}
	// Publishing the same checkpoint again writes nothing.
	cp := tl.grow(t, 1, prev.Size)
	if res, err := Publish(ctx, tl.log, tl.vkey, cp, pub); err != nil || res.Tiles+res.Bundles != 0 {
		t.Fatalf("republish: %+v %v", res, err)
	}
}

// TestPublishFromScratchEqualsIncremental: the files of a log published
// in one go and in many steps are the same (partial tiles aside, which
// only the incremental publish leaves behind).
func TestPublishFromScratchEqualsIncremental(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	tl := newTestLog(t, filepath.Join(base, "tree"))
	inc, whole := filepath.Join(base, "inc"), filepath.Join(base, "whole")
	var cp []byte
	for _, size := range []uint64{300, 66000, 66300} {
		cp = tl.grow(t, 2, size)
		if _, err := Publish(ctx, tl.log, tl.vkey, cp, inc); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Publish(ctx, tl.log, tl.vkey, cp, whole); err != nil {
		t.Fatal(err)
	}
	if n := sameFiles(t, whole, inc, "differs between incremental and whole publish"); n < 500 {
		t.Fatalf("walked %d files", n)
	}
}

func TestPublishRefusesRollbackAndFork(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	a := newTestLog(t, filepath.Join(base, "a"))
	pub := filepath.Join(base, "public")
	cpSmall := a.grow(t, 3, 1000)
	cpBig := a.grow(t, 3, 2000)
	if _, err := Publish(ctx, a.log, a.vkey, cpBig, pub); err != nil {
		t.Fatal(err)
	}
	if _, err := Publish(ctx, a.log, a.vkey, cpSmall, pub); !errors.Is(err, trillian.ErrRollback) {
		t.Fatalf("older checkpoint: %v", err)
	}
	// Another history under the same key.
	b := newTestLog(t, filepath.Join(base, "b"))
	b.skey, b.vkey = a.skey, a.vkey
	cpFork := b.grow(t, 4, 3000)
	if _, err := Publish(ctx, b.log, b.vkey, cpFork, pub); !errors.Is(err, trillian.ErrFork) {
		t.Fatalf("forked log: %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(pub, CheckpointPath))
	if !bytes.Equal(got, cpBig) {
		t.Fatal("a refused publish replaced the checkpoint")
	}
}

// TestPublishLocksTheDirectory: a second publish into a directory being
// published is refused rather than interleaved.
func TestPublishLocksTheDirectory(t *testing.T) {
	base := t.TempDir()
	tl := newTestLog(t, filepath.Join(base, "tree"))
	pub := filepath.Join(base, "public")
	unlock, err := lockDir(func() string { os.MkdirAll(pub, 0o755); return pub }())
	if err != nil {
		t.Fatal(err)
	}
	cp := tl.grow(t, 7, 10)
	if _, err := Publish(context.Background(), tl.log, tl.vkey, cp, pub); err == nil || !strings.Contains(err.Error(), "another publish") {
		t.Fatalf("publish during another: %v", err)
	}
	unlock()
	if _, err := Publish(context.Background(), tl.log, tl.vkey, cp, pub); err != nil {
		t.Fatal(err)
	}
}

// sameFiles reports every file under dir whose copy under other is
// missing or differs ("REL why (error)"), and returns how many files dir
// holds.
func sameFiles(t *testing.T, dir, other, why string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(other, rel))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s %s (%v)", rel, why, err)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
