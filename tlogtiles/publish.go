package tlogtiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
)

// writers is how many bundles are prepared and written at once: hashing
// is CPU work, but creating files is mostly waiting on the file system,
// so more goroutines than cores keep both busy.
const writers = 8

// forEach runs fn(0) … fn(n-1) on up to writers goroutines.
func forEach(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, writers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// readChunk is how many leaves Publish asks the log for at a time (a
// multiple of TileWidth, so every chunk but the last ends on a full entry
// bundle): big ranges keep the store streaming, and the memory bounded.
const readChunk = 256 * TileWidth

// Result says what one Publish did.
type Result struct {
	OldSize uint64 // tree size of the checkpoint published before (0 if none)
	NewSize uint64 // tree size of the checkpoint published now
	Tiles   int    // hash tiles written
	Bundles int    // entry bundles written
}

// Publish writes the tree of the signed checkpoint cp (verified with the
// log's verifierKey) from log into dir as C2SP tlog-tiles, then cp itself.
//
// It is incremental: it reads the checkpoint already published in dir,
// checks with a consistency proof from log that cp extends it (a fork or
// rollback is refused, wrapping trillian.ErrFork or ErrRollback), and writes
// only the tiles and entry bundles that are new or grew. It restores the
// right edge of the tree from the published partial tiles and re-reads only
// the leaves of the last partial entry bundle.
//
// Order and crash safety: every file is written to a temporary name and
// renamed, so a reader never sees a half-written file; tiles and bundles
// first, then the file system is flushed (syncfs), then the checkpoint is
// written durably (temp, fsync, rename, directory fsync). A reader thus
// never sees a checkpoint its tiles do not cover, and an interrupted
// Publish leaves the old checkpoint, whose files are all durable; the next
// Publish rewrites everything beyond it. Nothing under the old checkpoint's
// coverage is ever rewritten (the grown version of a partial tile has a
// new path).
//
// Before writing cp, Publish checks that the root it computed from the
// leaves equals cp's root, so it never publishes tiles that disagree with
// the signed checkpoint.
func Publish(ctx context.Context, log trillian.Log, verifierKey string, cp []byte, dir string) (Result, error) {
	cur, err := checkpoint.Open(verifierKey, cp)
	if err != nil {
		return Result{}, fmt.Errorf("checkpoint to publish: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	old := trillian.Root{Size: 0, Hash: emptyRoot()}
	published := false
	switch data, err := os.ReadFile(filepath.Join(dir, CheckpointPath)); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return Result{}, err
	default:
		pub, err := checkpoint.Open(verifierKey, data)
		if err != nil {
			return Result{}, fmt.Errorf("%s: the published checkpoint: %w", filepath.Join(dir, CheckpointPath), err)
		}
		old, published = pub.Root, true
	}
	res := Result{OldSize: old.Size, NewSize: cur.Size}
	if published && old.Size == cur.Size && bytes.Equal(old.Hash, cur.Hash) {
		return res, nil // already published
	}
	var proof [][]byte
	if old.Size > 0 && old.Size < cur.Size {
		if proof, err = log.ConsistencyProof(ctx, old.Size, cur.Size); err != nil {
			return res, fmt.Errorf("consistency proof %d→%d: %w", old.Size, cur.Size, err)
		}
	}
	if err := trillian.CheckExtends(old, cur.Root, proof); err != nil {
		return res, fmt.Errorf("%s holds a published checkpoint the log's checkpoint does not extend: %w", dir, err)
	}

	w := newWriter(dir)
	b := &builder{dir: dir, tile: w.writeTile, bundle: w.writeTile}
	if err := b.restore(old.Size); err != nil {
		return res, err
	}
	for pos := old.Size / TileWidth * TileWidth; pos < cur.Size; {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		n := min(readChunk, cur.Size-pos)
		leaves, err := log.Leaves(ctx, pos, n)
		if err != nil {
			return res, fmt.Errorf("read leaves [%d, %d): %w", pos, pos+n, err)
		}
		if uint64(len(leaves)) != n {
			return res, fmt.Errorf("read leaves [%d, %d): got %d", pos, pos+n, len(leaves))
		}
		if err := b.addLeaves(pos, leaves); err != nil {
			return res, err
		}
		pos += n
	}
	if err := b.finish(old.Size); err != nil {
		return res, err
	}
	if root := b.root(); !bytes.Equal(root[:], cur.Hash) {
		return res, fmt.Errorf("the tiles computed from the log's leaves have root %x, the checkpoint says %x (published tiles in %s damaged? publish into an empty directory): %w",
			root, cur.Hash, dir, trillian.ErrFork)
	}
	if err := w.sync(); err != nil {
		return res, err
	}
	if err := durable.WriteFile(filepath.Join(dir, CheckpointPath), cp, 0o644); err != nil {
		return res, err
	}
	res.Tiles, res.Bundles = b.tiles, b.bundles
	return res, nil
}

// emptyRoot is the RFC 6962 root of the empty tree, SHA-256("").
func emptyRoot() []byte { return trillian.Hasher.EmptyRoot() }

// builder computes tiles left to right. levels[L] holds the hashes of the
// rightmost, unfinished tile of level L (at most TileWidth-1 of them
// between calls); count[L] is how many hashes level L has in all, i.e.
// the number of complete subtrees of 256^L leaves.
type builder struct {
	dir string
	// tile receives every hash tile that is new or grew; bundle every
	// entry bundle (nil when the bundles are the input, as in Recompute).
	tile, bundle func(t tlog.Tile, data []byte) error
	levels       [maxLevel + 1][]tlog.Hash
	count        [maxLevel + 1]uint64
	tiles        int
	bundles      int
	// pendingLeaves are the leaves of the trailing partial bundle.
	pendingLeaves [][]byte
}

// restore loads the right edge of the tree of size n from the published
// partial tiles of levels 1 and up; level 0 is rebuilt from the leaves of
// its last bundle, which Publish re-reads.
func (b *builder) restore(n uint64) error {
	b.count[0] = n / TileWidth * TileWidth
	for l := 1; l <= maxLevel; l++ {
		c := n >> (TileHeight * l)
		if c == 0 {
			break
		}
		b.count[l] = c
		w := int(c % TileWidth)
		if w == 0 {
			continue
		}
		t := tlog.Tile{H: TileHeight, L: l, N: int64(c / TileWidth), W: w}
		data, err := os.ReadFile(filepath.Join(b.dir, filepath.FromSlash(tilePath(t))))
		if err != nil {
			return fmt.Errorf("published tile %s: %w", tilePath(t), err)
		}
		if len(data) != w*tlog.HashSize {
			return fmt.Errorf("published tile %s: %d bytes, want %d", tilePath(t), len(data), w*tlog.HashSize)
		}
		for i := range w {
			b.levels[l] = append(b.levels[l], tlog.Hash(data[i*tlog.HashSize:]))
		}
	}
	return nil
}

// group is one entry bundle's worth of leaves, prepared in parallel.
type group struct {
	hashes []tlog.Hash
	bundle []byte
	root   tlog.Hash // for a full group: the level-1 hash
	err    error
}

// addLeaves adds leaves starting at index pos (a multiple of TileWidth).
// Full bundles and their level-0 tiles are written right away, in
// parallel; a trailing partial group stays in levels[0].
func (b *builder) addLeaves(pos uint64, leaves [][]byte) error {
	ng := (len(leaves) + TileWidth - 1) / TileWidth
	groups := make([]group, ng)
	forEach(ng, func(g int) {
		{
			gl := leaves[g*TileWidth : min(len(leaves), (g+1)*TileWidth)]
			gr := &groups[g]
			gr.hashes = make([]tlog.Hash, len(gl))
			size := 0
			for i, l := range gl {
				gr.hashes[i] = tlog.Hash(trillian.LeafHash(l))
				size += 2 + len(l)
			}
			if len(gl) < TileWidth {
				return // the partial bundle is written by finish
			}
			gr.root = subtreeRoot(gr.hashes)
			n := int64(pos/TileWidth) + int64(g)
			if b.bundle != nil {
				gr.bundle = make([]byte, 0, size)
				for _, l := range gl {
					if gr.bundle, gr.err = appendEntry(gr.bundle, l); gr.err != nil {
						gr.err = fmt.Errorf("leaf %d: %w", pos+uint64(g*TileWidth), gr.err)
						return
					}
				}
				if gr.err = b.bundle(tlog.Tile{H: TileHeight, L: -1, N: n, W: TileWidth}, gr.bundle); gr.err != nil {
					return
				}
			}
			gr.err = b.tile(tlog.Tile{H: TileHeight, L: 0, N: n, W: TileWidth}, hashBytes(gr.hashes))
		}
	})
	for i := range groups {
		g := &groups[i]
		if g.err != nil {
			return g.err
		}
		if len(g.hashes) < TileWidth {
			b.levels[0] = g.hashes
			b.pendingLeaves = leaves[i*TileWidth:]
			continue
		}
		b.bundles++
		b.tiles++
		b.count[0] += TileWidth
		if err := b.push(1, g.root); err != nil {
			return err
		}
	}
	return nil
}

// push adds a hash of level l (a complete subtree of 256^l leaves); a
// level tile that fills up is written and its root pushed one level up.
func (b *builder) push(l int, h tlog.Hash) error {
	if l > maxLevel {
		return fmt.Errorf("tree too large")
	}
	b.levels[l] = append(b.levels[l], h)
	b.count[l]++
	if len(b.levels[l]) < TileWidth {
		return nil
	}
	n := int64((b.count[l] - 1) / TileWidth)
	if err := b.tile(tlog.Tile{H: TileHeight, L: l, N: n, W: TileWidth}, hashBytes(b.levels[l])); err != nil {
		return err
	}
	b.tiles++
	root := subtreeRoot(b.levels[l])
	b.levels[l] = nil
	return b.push(l+1, root)
}

// finish writes the partial tiles (and the partial entry bundle) of the
// new tree that differ from those of the tree of size old.
func (b *builder) finish(old uint64) error {
	if w := len(b.levels[0]); w > 0 {
		n := int64(b.count[0] / TileWidth)
		if b.bundle != nil {
			var bundle []byte
			for i, l := range b.pendingLeaves {
				var err error
				if bundle, err = appendEntry(bundle, l); err != nil {
					return fmt.Errorf("leaf %d: %w", b.count[0]+uint64(i), err)
				}
			}
			if err := b.bundle(tlog.Tile{H: TileHeight, L: -1, N: n, W: w}, bundle); err != nil {
				return err
			}
		}
		if err := b.tile(tlog.Tile{H: TileHeight, L: 0, N: n, W: w}, hashBytes(b.levels[0])); err != nil {
			return err
		}
		b.bundles++
		b.tiles++
	}
	for l := 1; l <= maxLevel; l++ {
		w := len(b.levels[l])
		if w == 0 || b.count[l] == old>>(TileHeight*l) {
			continue
		}
		t := tlog.Tile{H: TileHeight, L: l, N: int64(b.count[l] / TileWidth), W: w}
		if err := b.tile(t, hashBytes(b.levels[l])); err != nil {
			return err
		}
		b.tiles++
	}
	return nil
}

// root returns the RFC 6962 root of the tree: the right-to-left fold of
// its perfect subtrees, largest first. Each level's unfinished tile holds
// w complete subtrees of 256^l leaves; the binary digits of w pick the
// perfect subtrees among them, so the levels from the top down list the
// perfect subtrees of the whole tree in order.
func (b *builder) root() tlog.Hash {
	var perfect []tlog.Hash
	for l := maxLevel; l >= 0; l-- {
		hs := b.levels[l]
		i := 0
		for k := TileHeight - 1; k >= 0; k-- {
			if len(hs)&(1<<k) != 0 {
				perfect = append(perfect, subtreeRoot(hs[i:i+1<<k]))
				i += 1 << k
			}
		}
	}
	if len(perfect) == 0 {
		return tlog.Hash(emptyRoot())
	}
	root := perfect[len(perfect)-1]
	for i := len(perfect) - 2; i >= 0; i-- {
		root = tlog.NodeHash(perfect[i], root)
	}
	return root
}

// subtreeRoot returns the root of a perfect subtree given its 2^k
// bottom-level hashes.
func subtreeRoot(hs []tlog.Hash) tlog.Hash {
	if len(hs) == 1 {
		return hs[0]
	}
	buf := make([]tlog.Hash, len(hs)/2)
	for i := range buf {
		buf[i] = tlog.NodeHash(hs[2*i], hs[2*i+1])
	}
	for n := len(buf); n > 1; n /= 2 {
		for i := 0; i < n/2; i++ {
			buf[i] = tlog.NodeHash(buf[2*i], buf[2*i+1])
		}
	}
	return buf[0]
}

// hashBytes concatenates hashes into a tile.
func hashBytes(hs []tlog.Hash) []byte {
	out := make([]byte, 0, len(hs)*tlog.HashSize)
	for _, h := range hs {
		out = append(out, h[:]...)
	}
	return out
}
