package trillian_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/embedded"
)

// TestHashesMatchRFC6962 pins the leaf and node hashes to RFC 6962
// section 2.1 as computed by an independent implementation (x/mod's
// sumdb/tlog), including leaves longer than LeafHash's stack buffer.
func TestHashesMatchRFC6962(t *testing.T) {
	for _, n := range []int{0, 1, 100, 2047, 2048, 5000} {
		leaf := make([]byte, n)
		for i := range leaf {
			leaf[i] = byte(i * 7)
		}
		want := tlog.RecordHash(leaf)
		if got := trillian.LeafHash(leaf); string(got) != string(want[:]) {
			t.Errorf("LeafHash of %d bytes differs from tlog.RecordHash", n)
		}
	}
	l, r := sha256.Sum256([]byte("l")), sha256.Sum256([]byte("r"))
	want := tlog.NodeHash(tlog.Hash(l), tlog.Hash(r))
	if got := trillian.HashChildren(l[:], r[:]); string(got) != string(want[:]) {
		t.Error("HashChildren differs from tlog.NodeHash")
	}
}

// TestCheckExtends: growth verifies; a rollback, a same-size fork and a
// larger fork are each refused with the right sentinel, in one line.
func TestCheckExtends(t *testing.T) {
	ctx := context.Background()
	open := func(leaves ...string) trillian.Log {
		l, err := embedded.Open(ctx, t.TempDir(), embedded.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		var b [][]byte
		for _, s := range leaves {
			b = append(b, []byte(s))
		}
		if _, err := l.AppendLeaves(ctx, 0, b); err != nil {
			t.Fatal(err)
		}
		return l
	}
	honest := open("a", "b", "c", "d", "e")
	fork := open("a", "b", "x", "d", "e")
	rootAt := func(l trillian.Log, size uint64) trillian.Root {
		// The root of a prefix: the consistency proof to the full tree
		// would do, but a fresh log of the prefix is simpler to trust.
		leaves, _ := l.Leaves(ctx, 0, size)
		var ss []string
		for _, b := range leaves {
			ss = append(ss, string(b))
		}
		r, _ := open(ss...).LatestRoot(ctx)
		return r
	}
	full, _ := honest.LatestRoot(ctx)
	forked, _ := fork.LatestRoot(ctx)
	old := rootAt(honest, 3)
	proof, err := honest.ConsistencyProof(ctx, 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := trillian.CheckExtends(old, full, proof); err != nil {
		t.Errorf("honest growth: %v", err)
	}
	if err := trillian.CheckExtends(trillian.Root{}, full, nil); err != nil {
		t.Errorf("from the empty tree: %v", err)
	}
	if err := trillian.CheckExtends(full, old, nil); !errors.Is(err, trillian.ErrRollback) {
		t.Errorf("rollback: %v", err)
	}
	if err := trillian.CheckExtends(full, forked, nil); !errors.Is(err, trillian.ErrFork) {
		t.Errorf("same-size fork: %v", err)
	}
	forkProof, _ := fork.ConsistencyProof(ctx, 3, 5)
	err = trillian.CheckExtends(old, forked, forkProof)
	if !errors.Is(err, trillian.ErrFork) {
		t.Fatalf("larger fork: %v", err)
	}
	for _, c := range err.Error() {
		if c == '\n' {
			t.Fatalf("error is not one line: %q", err)
		}
	}
}
