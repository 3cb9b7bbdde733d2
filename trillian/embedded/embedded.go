// Package embedded is trialog's default log: one RFC 6962 tree kept in a
// single local directory, with no server to run.
//
// Storage layout (format "trialog-embedded-v2"), inspired by Tessera's
// layering of tiles and entry bundles:
//
//   - tree.db, a bbolt file, is the commit point. Bucket "meta": "format",
//     "size" (8-byte big-endian), "root" (32 bytes), "compact" (the compact
//     range [0, size) as concatenated hashes, so an append never reads the
//     tree) and "data" (committed length of leaves.dat).
//   - buckets "tiles/S" for strata S = 0, 1, ...: stratum S holds tree levels
//     8S .. 8S+7. A tile is the 510 node hashes of one perfect subtree of
//     height 8 within its stratum (256 at its bottom level, then 128, ..., 2),
//     stored as a fixed 16320-byte value under its 8-byte big-endian index;
//     missing nodes of the right-most, partial tile are zero. Any complete
//     node is one Get away, so a proof reads O(log n) nodes from at most
//     ceil(levels/8) tiles.
//   - leaves.dat holds the leaf values back to back and leaves.idx the end
//     offset of each (8-byte big-endian per leaf). Both are append-only
//     and only their committed prefix (per "size" and "data") is ever read:
//     leaf bytes are large and written once, so they stay out of the B+tree,
//     whose page copying made them the bottleneck.
//
// An append writes the leaf files at their committed lengths (overwriting
// whatever an interrupted append left there), fsyncs them, then commits one
// bbolt transaction with the new tiles and sizes, fsynced too: a batch is
// all-or-nothing and durable once acknowledged. bbolt's file lock makes a
// second writer wait and then fail rather than interleave.
package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/trillian"
)

const (
	formatName = "trialog-embedded-v2"
	tileHeight = 8
	tileWidth  = 1 << tileHeight
	tileSlots  = 2*tileWidth - 2
	tileBytes  = tileSlots * trillian.HashSize
)

var (
	bucketMeta = []byte("meta")
	keyData    = []byte("data")
	keyFormat  = []byte("format")
	keySize    = []byte("size")
	keyRoot    = []byte("root")
	keyCompact = []byte("compact")
)

// ErrLocked is returned by Open when another process holds the log.
var ErrLocked = errors.New("log is in use by another trialog process")

// Options tune Open.
type Options struct {
	// ReadOnly opens the tree for proofs and reads only; several read-only
	// opens may share the file, but not with a writer.
	ReadOnly bool
	// LockTimeout bounds the wait for the file lock (default 5s).
	LockTimeout time.Duration
}

// Log is an embedded tree. It implements trillian.Log.
type Log struct {
	db      *bolt.DB
	path    string
	data    *os.File // leaves.dat
	index   *os.File // leaves.idx
	factory *compact.RangeFactory
	buf     []byte // reused write buffer (one writer)
}

var _ trillian.Log = (*Log)(nil)

// Open opens (creating when allowed) the tree stored in directory dir.
func Open(ctx context.Context, dir string, opts Options) (*Log, error) {
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	path := dir
	db, err := bolt.Open(filepath.Join(dir, "tree.db"), 0o600, &bolt.Options{
		Timeout:        timeout,
		ReadOnly:       opts.ReadOnly,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// Reserve address space up front: growing the map remaps the file
		// and copies every live node, which dominated ingest time. Only the
		// pages touched count towards resident memory.
		InitialMmapSize: 1 << 36,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	l := &Log{db: db, path: path, factory: &compact.RangeFactory{Hash: trillian.HashChildren}}
	flags := os.O_RDWR | os.O_CREATE
	if opts.ReadOnly {
		flags = os.O_RDONLY
	}
	if l.data, err = os.OpenFile(filepath.Join(dir, "leaves.dat"), flags, 0o600); err == nil {
		l.index, err = os.OpenFile(filepath.Join(dir, "leaves.idx"), flags, 0o600)
	}
	if err == nil && !opts.ReadOnly {
		err = durable.SyncDir(dir) // the leaf files' directory entries are durable too
	}
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if opts.ReadOnly {
		err = db.View(func(tx *bolt.Tx) error { return checkFormat(tx) })
	} else {
		err = db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta == nil {
				return initTree(tx)
			}
			return checkFormat(tx)
		})
	}
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return l, nil
}

func initTree(tx *bolt.Tx) error {
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	for _, kv := range [][2][]byte{
		{keyFormat, []byte(formatName)},
		{keySize, make([]byte, 8)},
		{keyData, make([]byte, 8)},
		{keyRoot, trillian.Hasher.EmptyRoot()},
		{keyCompact, nil},
	} {
		if err := meta.Put(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

func checkFormat(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return fmt.Errorf("not a trialog tree (no metadata)")
	}
	if f := meta.Get(keyFormat); string(f) != formatName {
		return fmt.Errorf("unsupported tree format %q, want %q", f, formatName)
	}
	return nil
}

// Close releases the files and the lock.
func (l *Log) Close() error {
	var err error
	for _, f := range []*os.File{l.data, l.index} {
		if f != nil {
			err = errors.Join(err, f.Close())
		}
	}
	return errors.Join(err, l.db.Close())
}

type state struct {
	size    uint64
	data    uint64 // committed length of leaves.dat
	root    []byte
	compact [][]byte
}

func readState(tx *bolt.Tx) (state, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return state{}, fmt.Errorf("tree metadata missing")
	}
	sizeBytes := meta.Get(keySize)
	if len(sizeBytes) != 8 {
		return state{}, fmt.Errorf("tree metadata: bad size record")
	}
	dataBytes := meta.Get(keyData)
	if len(dataBytes) != 8 {
		return state{}, fmt.Errorf("tree metadata: bad data length record")
	}
	s := state{size: binary.BigEndian.Uint64(sizeBytes), data: binary.BigEndian.Uint64(dataBytes), root: bytes.Clone(meta.Get(keyRoot))}
	flat := meta.Get(keyCompact)
	if len(flat)%trillian.HashSize != 0 || len(flat)/trillian.HashSize != compact.RangeSize(0, s.size) {
		return state{}, fmt.Errorf("tree metadata: compact range does not match size %d", s.size)
	}
	for i := 0; i < len(flat); i += trillian.HashSize {
		s.compact = append(s.compact, bytes.Clone(flat[i:i+trillian.HashSize]))
	}
	return s, nil
}

// LatestRoot returns the committed root.
func (l *Log) LatestRoot(ctx context.Context) (trillian.Root, error) {
	var r trillian.Root
	err := l.db.View(func(tx *bolt.Tx) error {
		s, err := readState(tx)
		r = trillian.Root{Size: s.size, Hash: s.root}
		return err
	})
	if err != nil {
		return trillian.Root{}, fmt.Errorf("%s: latest root: %w", l.path, err)
	}
	return r, nil
}

// AppendLeaves appends leaves at start, which must equal the tree size, in
// one fsynced transaction.
func (l *Log) AppendLeaves(ctx context.Context, start uint64, leaves [][]byte) (trillian.Root, error) {
	return l.AppendHashedLeaves(ctx, start, leaves, hashLeaves(leaves))
}

// AppendHashedLeaves is AppendLeaves with the leaf hashes precomputed by
// the caller (trillian.HashedAppender).
func (l *Log) AppendHashedLeaves(ctx context.Context, start uint64, leaves, hashes [][]byte) (trillian.Root, error) {
	if err := ctx.Err(); err != nil {
		return trillian.Root{}, err
	}
	if len(hashes) != len(leaves) {
		return trillian.Root{}, fmt.Errorf("%s: %d hashes for %d leaves", l.path, len(hashes), len(leaves))
	}
	var root trillian.Root
	// Only this process writes (bbolt's lock), so the state read here
	// stays current until the transaction below commits.
	var s state
	if err := l.db.View(func(tx *bolt.Tx) (err error) { s, err = readState(tx); return err }); err != nil {
		return trillian.Root{}, fmt.Errorf("%s: %w", l.path, err)
	}
	if start != s.size {
		return trillian.Root{}, fmt.Errorf("%s: append at %d, tree size is %d: %w", l.path, start, s.size, trillian.ErrWrongIndex)
	}
	if len(leaves) == 0 {
		return trillian.Root{Size: s.size, Hash: s.root}, nil
	}
	dataEnd, err := l.writeLeaves(s, leaves)
	if err != nil {
		return trillian.Root{}, fmt.Errorf("%s: append %d leaves at %d: %w", l.path, len(leaves), start, err)
	}
	err = l.db.Update(func(tx *bolt.Tx) error {
		cr, err := l.factory.NewRange(0, s.size, s.compact)
		if err != nil {
			return err
		}
		tiles := newTileWriter(tx)
		for _, h := range hashes {
			if err := cr.Append(h, tiles.visit); err != nil {
				return err
			}
		}
		if err := tiles.flush(); err != nil {
			return err
		}
		rootHash, err := cr.GetRootHash(nil)
		if err != nil {
			return err
		}
		newSize := s.size + uint64(len(leaves))
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keySize, binary.BigEndian.AppendUint64(nil, newSize)); err != nil {
			return err
		}
		if err := meta.Put(keyData, binary.BigEndian.AppendUint64(nil, dataEnd)); err != nil {
			return err
		}
		if err := meta.Put(keyRoot, rootHash); err != nil {
			return err
		}
		if err := meta.Put(keyCompact, bytes.Join(cr.Hashes(), nil)); err != nil {
			return err
		}
		root = trillian.Root{Size: newSize, Hash: rootHash}
		return nil
	})
	if err != nil {
		return trillian.Root{}, fmt.Errorf("%s: append %d leaves at %d: %w", l.path, len(leaves), start, err)
	}
	l.releaseMapped()
	return root, nil
}

// tileWriter collects the nodes an append completes, tile by tile, and
// writes each touched tile once at the end of the transaction.
type tileWriter struct {
	tx    *bolt.Tx
	tiles map[tileKey][]byte
	err   error
	// The last tile visited: consecutive nodes of an append mostly fall
	// in the same tile, so most visits skip the map.
	lastKey  tileKey
	lastTile []byte
}

type tileKey struct {
	stratum uint
	index   uint64
}

func newTileWriter(tx *bolt.Tx) *tileWriter {
	return &tileWriter{tx: tx, tiles: make(map[tileKey][]byte)}
}

func locate(id compact.NodeID) (tileKey, int) {
	level := id.Level % tileHeight
	width := uint64(tileWidth) >> level
	key := tileKey{stratum: id.Level / tileHeight, index: id.Index / width}
	offset := 2*tileWidth - 2*tileWidth>>level
	return key, offset + int(id.Index%width)
}

func stratumBucket(stratum uint) []byte { return fmt.Appendf(nil, "tiles/%d", stratum) }

func (w *tileWriter) visit(id compact.NodeID, hash []byte) {
	if w.err != nil {
		return
	}
	key, slot := locate(id)
	if w.lastTile != nil && key == w.lastKey {
		copy(w.lastTile[slot*trillian.HashSize:], hash)
		return
	}
	tile, ok := w.tiles[key]
	if !ok {
		tile = make([]byte, tileBytes)
		if b := w.tx.Bucket(stratumBucket(key.stratum)); b != nil {
			if old := b.Get(binary.BigEndian.AppendUint64(nil, key.index)); old != nil {
				copy(tile, old)
			}
		}
		w.tiles[key] = tile
	}
	w.lastKey, w.lastTile = key, tile
	copy(tile[slot*trillian.HashSize:], hash)
}

func (w *tileWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	for key, tile := range w.tiles {
		b, err := w.tx.CreateBucketIfNotExists(stratumBucket(key.stratum))
		if err != nil {
			return err
		}
		b.FillPercent = 1.0 // Tiles are appended in index order.
		if err := b.Put(binary.BigEndian.AppendUint64(nil, key.index), tile); err != nil {
			return err
		}
	}
	return nil
}

// writeLeaves writes leaf values and end offsets at the committed ends of
// the leaf files and fsyncs them; it returns the new data length.
func (l *Log) writeLeaves(s state, leaves [][]byte) (uint64, error) {
	// Leaf data in chunks through one reused buffer, then the offsets.
	const chunk = 4 << 20
	if cap(l.buf) < chunk {
		l.buf = make([]byte, 0, chunk)
	}
	buf := l.buf[:0]
	at := int64(s.data)
	end := s.data
	for _, leaf := range leaves {
		if len(buf)+len(leaf) > chunk && len(buf) > 0 {
			if _, err := l.data.WriteAt(buf, at); err != nil {
				return 0, err
			}
			at += int64(len(buf))
			buf = buf[:0]
		}
		buf = append(buf, leaf...)
		end += uint64(len(leaf))
	}
	if _, err := l.data.WriteAt(buf, at); err != nil {
		return 0, err
	}
	buf = buf[:0]
	at = int64(s.size * 8)
	off := s.data
	for _, leaf := range leaves {
		if len(buf)+8 > chunk {
			if _, err := l.index.WriteAt(buf, at); err != nil {
				return 0, err
			}
			at += int64(len(buf))
			buf = buf[:0]
		}
		off += uint64(len(leaf))
		buf = binary.BigEndian.AppendUint64(buf, off)
	}
	if _, err := l.index.WriteAt(buf, at); err != nil {
		return 0, err
	}
	if err := l.data.Sync(); err != nil {
		return 0, err
	}
	if err := l.index.Sync(); err != nil {
		return 0, err
	}
	return end, nil
}

// Leaves returns the values of leaves [start, start+count).
func (l *Log) Leaves(ctx context.Context, start, count uint64) ([][]byte, error) {
	var s state
	if err := l.db.View(func(tx *bolt.Tx) (err error) { s, err = readState(tx); return err }); err != nil {
		return nil, fmt.Errorf("%s: %w", l.path, err)
	}
	if start+count > s.size || start+count < start {
		return nil, fmt.Errorf("%s: leaves [%d, %d) beyond tree size %d: %w", l.path, start, start+count, s.size, trillian.ErrNotFound)
	}
	if count == 0 {
		return nil, nil
	}
	// Offsets of leaf start-1 (its end is our start) to start+count-1.
	first := start
	if first > 0 {
		first--
	}
	idx := make([]byte, 8*(start+count-first))
	if _, err := l.index.ReadAt(idx, int64(first*8)); err != nil {
		return nil, fmt.Errorf("%s: leaf index: %w", l.path, err)
	}
	ends := make([]uint64, 0, count+1)
	if start == 0 {
		ends = append(ends, 0)
	}
	for i := 0; i < len(idx); i += 8 {
		ends = append(ends, binary.BigEndian.Uint64(idx[i:]))
	}
	if !slices.IsSorted(ends) || ends[len(ends)-1] > s.data {
		return nil, fmt.Errorf("%s: leaf index corrupt around leaves [%d, %d)", l.path, start, start+count)
	}
	data := make([]byte, ends[len(ends)-1]-ends[0])
	if _, err := l.data.ReadAt(data, int64(ends[0])); err != nil {
		return nil, fmt.Errorf("%s: leaf data: %w", l.path, err)
	}
	out := make([][]byte, count)
	for i := range out {
		a, b := ends[i]-ends[0], ends[i+1]-ends[0]
		out[i] = data[a:b:b]
	}
	return out, nil
}

// InclusionProof returns the audit path of leaf index in the tree of size.
func (l *Log) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return l.proof(nodes, size, fmt.Sprintf("inclusion proof %d in %d", index, size))
}

// ConsistencyProof returns the proof that the tree of size1 is a prefix of
// the tree of size2.
func (l *Log) ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return l.proof(nodes, size2, fmt.Sprintf("consistency proof %d to %d", size1, size2))
}

func (l *Log) proof(nodes proof.Nodes, size uint64, what string) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	err := l.db.View(func(tx *bolt.Tx) error {
		s, err := readState(tx)
		if err != nil {
			return err
		}
		if size > s.size {
			return fmt.Errorf("tree size %d beyond latest %d: %w", size, s.size, trillian.ErrNotFound)
		}
		var (
			lastKey  tileKey
			lastTile []byte
		)
		for i, id := range nodes.IDs {
			key, slot := locate(id)
			if lastTile == nil || key != lastKey {
				b := tx.Bucket(stratumBucket(key.stratum))
				if b == nil {
					return fmt.Errorf("node %d/%d: stratum %d missing", id.Level, id.Index, key.stratum)
				}
				lastTile = b.Get(binary.BigEndian.AppendUint64(nil, key.index))
				lastKey = key
				if len(lastTile) != tileBytes {
					return fmt.Errorf("node %d/%d: tile %d/%d missing", id.Level, id.Index, key.stratum, key.index)
				}
			}
			hashes[i] = bytes.Clone(lastTile[slot*trillian.HashSize : (slot+1)*trillian.HashSize])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", l.path, what, err)
	}
	return nodes.Rehash(hashes, trillian.HashChildren)
}

// hashLeaves computes leaf hashes before the write transaction opens, so
// the lock is held for storage work only.
func hashLeaves(leaves [][]byte) [][]byte {
	out := make([][]byte, len(leaves))
	for i, leaf := range leaves {
		out[i] = trillian.LeafHash(leaf)
	}
	return out
}
