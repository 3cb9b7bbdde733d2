package tlogtiles

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/trillian"
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
	// bundleBufs and tileBufs recycle the byte buffers of full bundles
	// and level-0 tiles, which tile and bundle do not keep: a large
	// publish would otherwise allocate (and clear, and collect) the size
	// of its output again.
	bundleBufs, tileBufs sync.Pool
}

// buffer returns an empty buffer of capacity at least n from pool.
func buffer(pool *sync.Pool, n int) *[]byte {
	if p, ok := pool.Get().(*[]byte); ok && cap(*p) >= n {
		*p = (*p)[:0]
		return p
	}
	buf := make([]byte, 0, n)
	return &buf
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
		groups[g] = b.prepare(pos, g, leaves[g*TileWidth:min(len(leaves), (g+1)*TileWidth)])
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

// prepare hashes the leaves of group g (entry bundle pos/256+g); for a
// full group it also computes its level-1 hash and hands its bundle and
// level-0 tile over. A partial group is left to finish.
func (b *builder) prepare(pos uint64, g int, leaves [][]byte) group {
	gr := group{hashes: make([]tlog.Hash, len(leaves))}
	size := 0
	for i, l := range leaves {
		gr.hashes[i] = tlog.Hash(trillian.LeafHash(l))
		size += 2 + len(l)
	}
	if len(leaves) < TileWidth {
		return gr
	}
	gr.root = subtreeRoot(gr.hashes)
	n := int64(pos/TileWidth) + int64(g)
	if b.bundle != nil {
		bundle := buffer(&b.bundleBufs, size)
		for _, l := range leaves {
			var err error
			if *bundle, err = appendEntry(*bundle, l); err != nil {
				gr.err = fmt.Errorf("leaf %d: %w", pos+uint64(g*TileWidth), err)
				return gr
			}
		}
		gr.err = b.bundle(tlog.Tile{H: TileHeight, L: -1, N: n, W: TileWidth}, *bundle)
		b.bundleBufs.Put(bundle)
		if gr.err != nil {
			return gr
		}
	}
	tile := buffer(&b.tileBufs, TileWidth*tlog.HashSize)
	for _, h := range gr.hashes {
		*tile = append(*tile, h[:]...)
	}
	gr.err = b.tile(tlog.Tile{H: TileHeight, L: 0, N: n, W: TileWidth}, *tile)
	b.tileBufs.Put(tile)
	return gr
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
