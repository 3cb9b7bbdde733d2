// Package embeddedtest gives tests a real signed log: an embedded tree on
// disk whose checkpoints a note key signs. Copying a log's directory
// makes a fork signed by the same key, which the fork and rollback tests
// of the trust store, the witness client and the tile publisher need.
package embeddedtest

import (
	"context"
	"fmt"
	"testing"

	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/trillian/embedded"
)

// Open opens (creating) the embedded log in dir, closed when the test
// ends.
func Open(t testing.TB, dir string) *embedded.Log {
	t.Helper()
	l, err := embedded.Open(context.Background(), dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// AppendSigned appends the leaves next gives for the tree's current size
// (none: nothing is appended) and returns the new tree's checkpoint,
// signed with skey, and its size.
func AppendSigned(t testing.TB, l trillian.Log, skey string, next func(size uint64) [][]byte) ([]byte, uint64) {
	t.Helper()
	ctx := context.Background()
	root, err := l.LatestRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if leaves := next(root.Size); len(leaves) > 0 {
		if root, err = l.AppendLeaves(ctx, root.Size, leaves); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := checkpoint.Sign(skey, root)
	if err != nil {
		t.Fatal(err)
	}
	return cp, root.Size
}

// AppendTagged appends n leaves "TAG-SIZE-I" (SIZE the tree's size before,
// I from 0), distinct for every tag and size, and returns the signed
// checkpoint of the new tree and its size.
func AppendTagged(t testing.TB, l trillian.Log, skey, tag string, n int) ([]byte, uint64) {
	t.Helper()
	return AppendSigned(t, l, skey, func(size uint64) [][]byte {
		leaves := make([][]byte, n)
		for i := range leaves {
			leaves[i] = fmt.Appendf(nil, "%s-%d-%d", tag, size, i)
		}
		return leaves
	})
}
