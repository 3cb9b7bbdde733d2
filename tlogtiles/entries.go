package tlogtiles

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/trillian"
)

// EdgeAt returns the right edge of the tree of size leaves (see Edge) as
// the published tree cur holds it, so that Recompute can start at any
// leaf without reading what lies before. Each level's hashes are the
// complete subtrees of the tree of size leaves, read with x/mod's tile
// hash reader over torchwood's, which checks every tile against cur's
// root; Recompute then checks again that the edge and the entries after it
// recompute to that root.
func EdgeAt(ctx context.Context, r Reader, size uint64, cur trillian.Root) (Edge, error) {
	if size > cur.Size {
		return Edge{}, fmt.Errorf("tree %d is smaller than tree %d: %w", cur.Size, size, trillian.ErrRollback)
	}
	e := Edge{Size: size, Levels: make([][]byte, maxLevel)}
	var indexes []int64
	var widths [maxLevel]int
	for l := 1; l <= maxLevel; l++ {
		c := size >> (TileHeight * l)
		w := int(c % TileWidth)
		widths[l-1] = w
		for n := c - uint64(w); n < c; n++ {
			indexes = append(indexes, tlog.StoredHashIndex(TileHeight*l, int64(n)))
		}
	}
	if len(indexes) == 0 {
		return e, nil
	}
	hr, _, err := hashReader(ctx, r, cur)
	if err != nil {
		return Edge{}, err
	}
	hs, err := hr.ReadHashes(indexes)
	if err != nil {
		return Edge{}, fmt.Errorf("edge of tree %d in tree %d: %w", size, cur.Size, tileError(err))
	}
	for l, w := range widths {
		e.Levels[l] = hashBytes(hs[:w])
		hs = hs[w:]
	}
	return e, nil
}

// Entries reads the leaves [from, cur.Size) of a published log in order
// and checks them against the tree cur (whose checkpoint the caller
// verified): the tree's edge at from comes from EdgeAt, and Recompute
// recomputes every tile and the root from it and the entry bundles, so an
// entry that a server drops, alters or invents is caught (ErrMismatch).
// onLeaf sees every leaf; nothing it saw is to be trusted unless Entries
// returns nil.
func Entries(ctx context.Context, r Reader, from uint64, cur trillian.Root, onLeaf func(index uint64, leaf []byte)) error {
	edge, err := EdgeAt(ctx, r, from, cur)
	if err != nil {
		return err
	}
	_, err = Recompute(ctx, r, edge, cur, onLeaf)
	return err
}

// tileError marks an error of x/mod's tile hash reader that is not a
// fetch failure as a disagreement with the signed root.
func tileError(err error) error {
	if errors.Is(err, ErrFetch) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%v: %w", err, ErrMismatch)
}
