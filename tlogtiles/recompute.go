package tlogtiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/trillian"
)

// ErrMismatch is wrapped when published files disagree with a signed
// checkpoint: an entry bundle or tile that is not what the checkpoint's
// tree holds. It is evidence against the log's publisher.
var ErrMismatch = errors.New("published files disagree with the signed checkpoint")

// Edge is the right edge of a tree as the tile builder keeps it: for each
// level l ≥ 1, the hashes of that level's unfinished tile (concatenated).
// With it, Recompute continues from Size without reading anything before.
type Edge struct {
	Size   uint64   `json:"size"`
	Levels [][]byte `json:"levels"` // Levels[l-1] for level l
}

// Recompute reads the entry bundles of leaves [from.Size, cur.Size) from
// a published log, recomputes from them every hash tile of the tree cur
// that is new or grew, compares each with the published one, and checks
// that the recomputed root is cur's root: a publisher that lies about an
// entry or a tile is caught (errors wrap ErrMismatch). onLeaf, if set,
// sees every new leaf in order. It returns the edge of cur, from which the
// next Recompute continues.
func Recompute(ctx context.Context, r Reader, from Edge, cur trillian.Root, onLeaf func(index uint64, leaf []byte)) (Edge, error) {
	if from.Size > cur.Size {
		return Edge{}, fmt.Errorf("tree %d is smaller than tree %d: %w", cur.Size, from.Size, trillian.ErrRollback)
	}
	b := &builder{tile: func(t tlog.Tile, want []byte) error {
		got, err := r.ReadTiles(ctx, []tlog.Tile{t})
		if err != nil {
			return err
		}
		if !bytes.Equal(got[0], want) {
			return fmt.Errorf("%s is not the tile recomputed from the entries: %w", tilePath(t), ErrMismatch)
		}
		return nil
	}}
	if err := b.restoreEdge(from); err != nil {
		return Edge{}, err
	}
	// One goroutine fetches and splits the next chunk of bundles while the
	// builder hashes this one.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan fetched, 1)
	go fetchBundles(ctx, r, from.Size/TileWidth*TileWidth, cur.Size, chunks)
	for c := range chunks {
		if c.err != nil {
			return Edge{}, c.err
		}
		if onLeaf != nil {
			for i, l := range c.leaves {
				if idx := c.pos + uint64(i); idx >= from.Size {
					onLeaf(idx, l)
				}
			}
		}
		if err := b.addLeaves(c.pos, c.leaves); err != nil {
			return Edge{}, err
		}
	}
	if err := ctx.Err(); err != nil { // the fetcher stopped early
		return Edge{}, err
	}
	if err := b.finish(from.Size); err != nil {
		return Edge{}, err
	}
	if root := b.root(); !bytes.Equal(root[:], cur.Hash) {
		return Edge{}, fmt.Errorf("the entries of tree %d recompute to root %x, its checkpoint says %x: %w", cur.Size, root, cur.Hash, ErrMismatch)
	}
	return b.edge(cur.Size), nil
}

// restoreEdge sets the builder to continue after from.Size leaves.
func (b *builder) restoreEdge(from Edge) error {
	b.count[0] = from.Size / TileWidth * TileWidth
	for l := 1; l <= maxLevel; l++ {
		c := from.Size >> (TileHeight * l)
		b.count[l] = c
		var hs []byte
		if l-1 < len(from.Levels) {
			hs = from.Levels[l-1]
		}
		if len(hs) != int(c%TileWidth)*tlog.HashSize {
			return fmt.Errorf("edge of tree %d: level %d holds %d bytes, want %d", from.Size, l, len(hs), int(c%TileWidth)*tlog.HashSize)
		}
		b.levels[l] = nil
		for i := 0; i < len(hs); i += tlog.HashSize {
			b.levels[l] = append(b.levels[l], tlog.Hash(hs[i:]))
		}
	}
	return nil
}

// edge returns the builder's right edge (levels 1 and up).
func (b *builder) edge(size uint64) Edge {
	e := Edge{Size: size, Levels: make([][]byte, maxLevel)}
	for l := 1; l <= maxLevel; l++ {
		e.Levels[l-1] = hashBytes(b.levels[l])
	}
	return e
}

// fetched is one chunk of leaves read from entry bundles.
type fetched struct {
	pos    uint64
	leaves [][]byte
	err    error
}

// fetchBundles reads the entry bundles of leaves [pos, size) in chunks
// and sends them in order; it stops at the first error (sent last).
func fetchBundles(ctx context.Context, r Reader, pos, size uint64, out chan<- fetched) {
	defer close(out)
	for pos < size {
		if ctx.Err() != nil {
			return // the consumer is gone, or sees the context's error
		}
		n := min(readChunk, size-pos)
		var tiles []tlog.Tile
		for g := pos; g < pos+n; g += TileWidth {
			tiles = append(tiles, tlog.Tile{H: TileHeight, L: -1, N: int64(g / TileWidth), W: int(min(TileWidth, size-g))})
		}
		data, err := r.ReadTiles(ctx, tiles)
		if err != nil {
			send(ctx, out, fetched{err: err})
			return
		}
		leaves := make([][]byte, 0, n)
		for i, t := range tiles {
			es, err := SplitBundle(data[i], t.W)
			if err != nil {
				send(ctx, out, fetched{err: fmt.Errorf("%s: %v: %w", tilePath(t), err, ErrMismatch)})
				return
			}
			leaves = append(leaves, es...)
		}
		select {
		case out <- fetched{pos: pos, leaves: leaves}:
		case <-ctx.Done():
			return
		}
		pos += n
	}
}

// send passes f on unless the consumer has gone (ctx canceled).
func send(ctx context.Context, out chan<- fetched, f fetched) {
	select {
	case out <- f:
	case <-ctx.Done():
	}
}
