package tlogtiles

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialog/trialog/trillian/checkpoint"
)

// TestRecomputeCatchesAlteredFiles: a monitor's recomputation from the
// entry bundles accepts an honest publication, resumes from its edge, and
// catches one flipped byte in any tile level or entry bundle.
func TestRecomputeCatchesAlteredFiles(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	tl := newTestLog(t, filepath.Join(base, "tree"))
	pub := filepath.Join(base, "public")
	cp1 := tl.grow(t, 6, 300)
	if _, err := Publish(ctx, tl.log, tl.vkey, cp1, pub); err != nil {
		t.Fatal(err)
	}
	cp2 := tl.grow(t, 6, 65536+700)
	if _, err := Publish(ctx, tl.log, tl.vkey, cp2, pub); err != nil {
		t.Fatal(err)
	}
	c1, _ := checkpoint.Open(tl.vkey, cp1)
	c2, _ := checkpoint.Open(tl.vkey, cp2)
	r, _ := OpenReader(pub)
	seen := uint64(0)
	e1, err := Recompute(ctx, r, Edge{}, c1.Root, func(i uint64, l []byte) { seen++ })
	if err != nil || e1.Size != 300 || seen != 300 {
		t.Fatalf("recompute 300: %v (%d leaves)", err, seen)
	}
	e2, err := Recompute(ctx, r, e1, c2.Root, func(i uint64, l []byte) {
		if i < 300 {
			t.Fatalf("leaf %d seen twice", i)
		}
		seen++
	})
	if err != nil || e2.Size != c2.Size || seen != c2.Size {
		t.Fatalf("recompute resumed: %v (%d leaves)", err, seen)
	}
	whole, err := Recompute(ctx, r, Edge{}, c2.Root, nil)
	if err != nil {
		t.Fatal(err)
	}
	for l := range whole.Levels {
		if string(whole.Levels[l]) != string(e2.Levels[l]) {
			t.Fatalf("edge level %d differs between a resumed and a whole recomputation", l+1)
		}
	}
	for _, victim := range []string{"tile/entries/000", "tile/entries/128", "tile/entries/258.p/188", "tile/0/000", "tile/0/200",
		"tile/0/258.p/188", "tile/1/000", "tile/1/001.p/2", "tile/2/000.p/1"} {
		p := filepath.Join(pub, filepath.FromSlash(victim))
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		bad := []byte(strings.Clone(string(orig)))
		bad[len(bad)/2] ^= 0x10
		os.WriteFile(p, bad, 0o644)
		if _, err := Recompute(ctx, r, Edge{}, c2.Root, nil); !errors.Is(err, ErrMismatch) {
			t.Errorf("%s altered: %v", victim, err)
		}
		os.WriteFile(p, orig, 0o644)
	}
	// A forged checkpoint root is caught as well.
	forged := c2.Root
	forged.Hash = append([]byte(nil), forged.Hash...)
	forged.Hash[0] ^= 1
	if _, err := Recompute(ctx, r, e1, forged, nil); !errors.Is(err, ErrMismatch) {
		t.Errorf("forged root: %v", err)
	}
}
