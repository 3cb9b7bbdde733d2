package tlogtiles

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/trialog/trialog/trillian"
)

// TestPublishOrder: every tile and bundle is written before the one flush
// of the file system, and the checkpoint after it, last. A reader thus
// never sees a checkpoint whose tiles a crash could lose.
func TestPublishOrder(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	tl := newTestLog(t, filepath.Join(base, "tree"))
	pub := filepath.Join(base, "public")
	for _, size := range []uint64{300, 66000, 66300} {
		cp := tl.grow(t, 5, size)
		var mu sync.Mutex
		var steps []string
		res, err := publish(ctx, tl.log, tl.vkey, cp, pub, func(step, path string) {
			mu.Lock()
			steps = append(steps, step)
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		n := len(steps)
		if n != res.Tiles+res.Bundles+2 || steps[n-2] != "sync" || steps[n-1] != "checkpoint" || slices.Index(steps, "sync") != n-2 {
			t.Fatalf("size %d: %d tiles, %d bundles, steps ending %q", size, res.Tiles, res.Bundles, steps[max(0, n-3):])
		}
	}
}

// failingLog fails every read of leaves at or beyond fail.
type failingLog struct {
	trillian.Log
	fail uint64
}

var errInjected = errors.New("injected read failure")

func (l failingLog) Leaves(ctx context.Context, start, count uint64) ([][]byte, error) {
	if start+count > l.fail {
		return nil, errInjected
	}
	return l.Log.Leaves(ctx, start, count)
}

// TestInterruptedPublishResumes: a publish that stops half-way (after some
// of its files are written) leaves the old checkpoint; files left beyond
// it, even damaged ones at final paths, are rewritten by the next publish,
// whose result is the same as publishing into an empty directory.
func TestInterruptedPublishResumes(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	tl := newTestLog(t, filepath.Join(base, "tree"))
	pub, whole := filepath.Join(base, "public"), filepath.Join(base, "whole")
	cpOld := tl.grow(t, 6, 300)
	if _, err := Publish(ctx, tl.log, tl.vkey, cpOld, pub); err != nil {
		t.Fatal(err)
	}
	cp := tl.grow(t, 6, 3*readChunk+700)
	if _, err := Publish(ctx, failingLog{tl.log, 2 * readChunk}, tl.vkey, cp, pub); !errors.Is(err, errInjected) {
		t.Fatalf("interrupted publish: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(pub, CheckpointPath)); !bytes.Equal(got, cpOld) {
		t.Fatal("an interrupted publish changed the checkpoint")
	}
	// What a crash could leave: torn files under final names beyond the
	// published checkpoint.
	left := 0
	for _, p := range []string{"tile/entries/001", "tile/0/001", "tile/entries/x001/000", "tile/1/003.p/2"} {
		path := filepath.Join(pub, filepath.FromSlash(p))
		if _, err := os.Stat(path); err == nil {
			left++
		}
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte("torn"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if left < 2 {
		t.Fatalf("the interrupted publish wrote %d of the files checked: the test does not test resumption", left)
	}
	if _, err := Publish(ctx, tl.log, tl.vkey, cp, pub); err != nil {
		t.Fatal(err)
	}
	if _, err := Publish(ctx, tl.log, tl.vkey, cp, whole); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(whole, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(whole, p)
		a, _ := os.ReadFile(p)
		if b, err := os.ReadFile(filepath.Join(pub, rel)); err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from a publish into an empty directory (%v)", rel, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkWithTorchwood(t, pub, tl.vkey, 6)
}
