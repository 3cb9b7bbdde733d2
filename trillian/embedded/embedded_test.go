package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/trillian"
)

// reference is an independent RFC 6962 implementation (Go's sumdb tlog)
// over the same leaves, to pin roots and proofs to the standard.
type reference struct {
	stored []tlog.Hash
	n      int64
}

func (r *reference) add(leaf []byte) {
	hashes, err := tlog.StoredHashes(r.n, leaf, r)
	if err != nil {
		panic(err)
	}
	r.stored = append(r.stored, hashes...)
	r.n++
}

func (r *reference) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = r.stored[x]
	}
	return out, nil
}

func leafValue(i int) []byte { return fmt.Appendf(nil, "leaf %d", i) }

func openTemp(t *testing.T) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tree")
	l, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, path
}

func TestRootsAndProofsMatchReference(t *testing.T) {
	ctx := context.Background()
	l, _ := openTemp(t)
	ref := &reference{}
	rng := rand.New(rand.NewPCG(1, 2))
	size := 0
	for size < 3000 {
		batch := 1 + rng.IntN(700)
		if rng.IntN(4) == 0 {
			batch = 1
		}
		var leaves [][]byte
		for i := 0; i < batch; i++ {
			leaves = append(leaves, leafValue(size+i))
			ref.add(leafValue(size + i))
		}
		root, err := l.AppendLeaves(ctx, uint64(size), leaves)
		if err != nil {
			t.Fatal(err)
		}
		size += batch
		want, err := tlog.TreeHash(int64(size), ref)
		if err != nil {
			t.Fatal(err)
		}
		if root.Size != uint64(size) || !bytes.Equal(root.Hash, want[:]) {
			t.Fatalf("size %d: root %x, reference %x", size, root.Hash, want)
		}
		// Inclusion proofs for a few random leaves in a few tree sizes.
		for k := 0; k < 5; k++ {
			treeSize := 1 + rng.IntN(size)
			index := rng.IntN(treeSize)
			got, err := l.InclusionProof(ctx, uint64(index), uint64(treeSize))
			if err != nil {
				t.Fatal(err)
			}
			wantProof, err := tlog.ProveRecord(int64(treeSize), int64(index), ref)
			if err != nil {
				t.Fatal(err)
			}
			if !equalHashes(got, wantProof) {
				t.Fatalf("inclusion proof %d in %d differs from reference", index, treeSize)
			}
			treeRoot, _ := tlog.TreeHash(int64(treeSize), ref)
			if err := trillian.VerifyInclusion(uint64(index), uint64(treeSize), trillian.LeafHash(leafValue(index)), got, treeRoot[:]); err != nil {
				t.Fatalf("inclusion proof %d in %d: %v", index, treeSize, err)
			}
			old := 1 + rng.IntN(treeSize)
			cons, err := l.ConsistencyProof(ctx, uint64(old), uint64(treeSize))
			if err != nil {
				t.Fatal(err)
			}
			wantCons, err := tlog.ProveTree(int64(treeSize), int64(old), ref)
			if err != nil {
				t.Fatal(err)
			}
			if !equalHashes(cons, wantCons) {
				t.Fatalf("consistency proof %d to %d differs from reference", old, treeSize)
			}
		}
	}
}

func equalHashes(got [][]byte, want []tlog.Hash) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i][:]) {
			return false
		}
	}
	return true
}

func TestRangeProofs(t *testing.T) {
	ctx := context.Background()
	l, _ := openTemp(t)
	var leaves [][]byte
	for i := 0; i < 1000; i++ {
		leaves = append(leaves, leafValue(i))
	}
	root, err := l.AppendLeaves(ctx, 0, leaves)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]uint64{{0, 1000}, {0, 1}, {999, 1000}, {5, 77}, {256, 512}, {300, 1000}, {1, 999}} {
		p, err := trillian.ProveRange(ctx, l, r[0], r[1], root.Size)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(p.Left) + len(p.Right); n > 2*11 {
			t.Errorf("range %v: %d proof hashes, want O(log n)", r, n)
		}
		check := func(mutate func(i uint64, h []byte) []byte) error {
			v, err := trillian.NewRangeVerifier(p)
			if err != nil {
				return err
			}
			for i := r[0]; i < r[1]; i++ {
				v.Append(mutate(i, trillian.LeafHash(leaves[i])))
			}
			return v.Verify(root.Hash)
		}
		if err := check(func(_ uint64, h []byte) []byte { return h }); err != nil {
			t.Errorf("range %v: %v", r, err)
		}
		if err := check(func(i uint64, h []byte) []byte {
			if i == r[1]-1 {
				return trillian.LeafHash([]byte("forged"))
			}
			return h
		}); !errors.Is(err, trillian.ErrRangeMismatch) {
			t.Errorf("range %v with a forged leaf: got %v, want mismatch", r, err)
		}
	}
}

func TestWrongIndexAndPersistence(t *testing.T) {
	ctx := context.Background()
	l, path := openTemp(t)
	if _, err := l.AppendLeaves(ctx, 1, [][]byte{[]byte("gap")}); !errors.Is(err, trillian.ErrWrongIndex) {
		t.Fatalf("append past the end: got %v, want ErrWrongIndex", err)
	}
	if _, err := l.AppendLeaves(ctx, 0, [][]byte{[]byte("a"), []byte("b"), []byte("")}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendLeaves(ctx, 0, [][]byte{[]byte("again")}); !errors.Is(err, trillian.ErrWrongIndex) {
		t.Fatalf("overwrite: got %v, want ErrWrongIndex", err)
	}
	// A second writer must be refused while the first holds the tree.
	if _, err := Open(ctx, path, Options{LockTimeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second writer: got %v, want ErrLocked", err)
	}
	root, _ := l.LatestRoot(ctx)
	l.Close()
	l2, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	root2, err := l2.LatestRoot(ctx)
	if err != nil || root2.Size != 3 || !bytes.Equal(root.Hash, root2.Hash) {
		t.Fatalf("after reopen: %v %v, want %v", root2, err, root)
	}
	got, err := l2.Leaves(ctx, 1, 2)
	if err != nil || len(got) != 2 || string(got[0]) != "b" || string(got[1]) != "" {
		t.Fatalf("leaves: %q %v", got, err)
	}
	if _, err := l2.Leaves(ctx, 2, 2); !errors.Is(err, trillian.ErrNotFound) {
		t.Fatalf("leaves past the end: %v", err)
	}
}

func TestLeavesAcrossBundles(t *testing.T) {
	ctx := context.Background()
	l, _ := openTemp(t)
	var all [][]byte
	for size := 0; size < 1500; {
		n := 1 + (size*7)%300
		var batch [][]byte
		for i := 0; i < n; i++ {
			batch = append(batch, leafValue(size+i))
		}
		if _, err := l.AppendLeaves(ctx, uint64(size), batch); err != nil {
			t.Fatal(err)
		}
		all = append(all, batch...)
		size += n
	}
	for _, r := range [][2]uint64{{0, 1}, {255, 2}, {0, 1500}, {700, 300}, {1499, 1}} {
		got, err := l.Leaves(ctx, r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		for i, leaf := range got {
			if !bytes.Equal(leaf, all[r[0]+uint64(i)]) {
				t.Fatalf("leaf %d: %q, want %q", r[0]+uint64(i), leaf, all[r[0]+uint64(i)])
			}
		}
	}
}

// TestTornAppendIgnored: bytes an interrupted append left past the
// committed end of the leaf files are never read and get overwritten.
func TestTornAppendIgnored(t *testing.T) {
	ctx := context.Background()
	l, dir := openTemp(t)
	if _, err := l.AppendLeaves(ctx, 0, [][]byte{[]byte("one"), []byte("two")}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	for _, name := range []string{"leaves.dat", "leaves.idx"} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(bytes.Repeat([]byte{0xee}, 100))
		f.Close()
	}
	l, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if root, _ := l.LatestRoot(ctx); root.Size != 2 {
		t.Fatalf("size %d after a torn append, want 2", root.Size)
	}
	if _, err := l.AppendLeaves(ctx, 2, [][]byte{[]byte("three")}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Leaves(ctx, 0, 3)
	if err != nil || string(got[0]) != "one" || string(got[1]) != "two" || string(got[2]) != "three" {
		t.Fatalf("leaves after a torn append: %q %v", got, err)
	}
}
