package tlogtiles

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/trillian"
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

// TestEntriesFromAnyLeaf: Entries started at any leaf (the edge read from
// the published tiles) sees exactly the leaves from there, and catches a
// dropped, altered or invented entry after it, as well as a forged root.
func TestEntriesFromAnyLeaf(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	tl := newTestLog(t, filepath.Join(base, "tree"))
	pub := filepath.Join(base, "public")
	signed := tl.grow(t, 7, 65536+700)
	if _, err := Publish(ctx, tl.log, tl.vkey, signed, pub); err != nil {
		t.Fatal(err)
	}
	cp, _ := checkpoint.Open(tl.vkey, signed)
	r, _ := OpenReader(pub)
	whole, err := Recompute(ctx, r, Edge{}, cp.Root, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []uint64{0, 1, 255, 256, 257, 300, 65535, 65536, 65537, cp.Size - 1, cp.Size} {
		e, err := EdgeAt(ctx, r, from, cp.Root)
		if err != nil {
			t.Fatalf("edge at %d: %v", from, err)
		}
		if from == 65536 || from == cp.Size {
			if mid, err := Recompute(ctx, r, Edge{}, trillian.Root{Size: from, Hash: rootOf(t, r, cp.Root, from)}, nil); err != nil || !sameEdge(mid, e) {
				t.Fatalf("edge at %d differs from the recomputed one: %v", from, err)
			}
		}
		next := from
		err = Entries(ctx, r, from, cp.Root, func(i uint64, l []byte) {
			if i != next || string(l) != string(leafAt(7, i)) {
				t.Fatalf("from %d: leaf %d, want %d", from, i, next)
			}
			next++
		})
		if err != nil || next != cp.Size {
			t.Fatalf("entries from %d: %v (stopped at %d)", from, err, next)
		}
	}
	if !sameEdge(whole, mustEdge(t, r, cp.Size, cp.Root)) {
		t.Fatal("edge of the whole tree differs")
	}
	// A bundle after the start with its first entry dropped, moved,
	// altered, or replaced by an invented one.
	victim := filepath.Join(pub, "tile", "entries", "128")
	orig, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := torchwood.ReadTileEntry(orig)
	invented, _ := torchwood.AppendTileEntry(nil, []byte("a newer version"))
	for name, bad := range map[string][]byte{
		"dropped":   rest,
		"reordered": append(append([]byte(nil), rest...), orig[:2+len(first)]...),
		"altered":   append([]byte{orig[0], orig[1], orig[2] ^ 1}, orig[3:]...),
		"invented":  append(invented, rest...),
	} {
		os.WriteFile(victim, bad, 0o644)
		if err := Entries(ctx, r, 300, cp.Root, nil); !errors.Is(err, ErrMismatch) {
			t.Errorf("entry %s: %v", name, err)
		}
	}
	os.WriteFile(victim, orig, 0o644)
	forged := cp.Root
	forged.Hash = append([]byte(nil), forged.Hash...)
	forged.Hash[0] ^= 1
	if err := Entries(ctx, r, 65537, forged, nil); !errors.Is(err, ErrMismatch) {
		t.Errorf("forged root: %v", err)
	}
}

func mustEdge(t *testing.T, r Reader, size uint64, cur trillian.Root) Edge {
	t.Helper()
	e, err := EdgeAt(context.Background(), r, size, cur)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func sameEdge(a, b Edge) bool {
	if a.Size != b.Size {
		return false
	}
	for l := range a.Levels {
		if string(a.Levels[l]) != string(b.Levels[l]) {
			return false
		}
	}
	return true
}

func rootOf(t *testing.T, r Reader, cur trillian.Root, size uint64) []byte {
	t.Helper()
	hr, _, err := hashReader(context.Background(), r, cur)
	if err != nil {
		t.Fatal(err)
	}
	h, err := tlog.TreeHash(int64(size), hr)
	if err != nil {
		t.Fatal(err)
	}
	return h[:]
}
