// Package embedded is trialog's default log: one RFC 6962 tree kept in a
// single bbolt file, with no server to run.
//
// Storage layout (format "trialog-embedded-v1"), inspired by Tessera's tiles:
//
//   - bucket "meta": "format", "size" (8-byte big-endian), "root" (32 bytes)
//     and "compact" (the compact range [0, size) as concatenated hashes), so
//     an append never has to read the tree to extend it.
//   - buckets "tiles/S" for strata S = 0, 1, ...: stratum S holds tree levels
//     8S .. 8S+7. A tile is the 510 node hashes of one perfect subtree of
//     height 8 within its stratum (256 at its bottom level, then 128, ..., 2),
//     stored as a fixed 16320-byte value under its 8-byte big-endian index;
//     missing nodes of the right-most, partial tile are zero. Any complete
//     node is one Get away, so a proof reads O(log n) nodes from at most
//     ceil(levels/8) tiles.
//   - bucket "leaves": bundles of 256 consecutive leaves, each leaf written
//     as uvarint(length) || bytes, under the bundle's 8-byte index.
//
// Each AppendLeaves is one bbolt read-write transaction, fsynced on commit:
// a batch is all-or-nothing and durable once acknowledged. bbolt's file lock
// makes a second writer wait and then fail rather than interleave.
package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	bolt "go.etcd.io/bbolt"

	"github.com/trialog/trialog/trillian"
)

const (
	formatName   = "trialog-embedded-v1"
	tileHeight   = 8
	tileWidth    = 1 << tileHeight
	tileSlots    = 2*tileWidth - 2
	tileBytes    = tileSlots * trillian.HashSize
	bundleLeaves = 256
)

var (
	bucketMeta   = []byte("meta")
	bucketLeaves = []byte("leaves")
	keyFormat    = []byte("format")
	keySize      = []byte("size")
	keyRoot      = []byte("root")
	keyCompact   = []byte("compact")
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
	factory *compact.RangeFactory
}

var _ trillian.Log = (*Log)(nil)

// Open opens (creating when allowed) the tree stored in the file at path.
func Open(ctx context.Context, path string, opts Options) (*Log, error) {
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        timeout,
		ReadOnly:       opts.ReadOnly,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	l := &Log{db: db, path: path, factory: &compact.RangeFactory{Hash: trillian.Hasher.HashChildren}}
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
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return l, nil
}

func initTree(tx *bolt.Tx) error {
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	if _, err := tx.CreateBucket(bucketLeaves); err != nil {
		return err
	}
	for _, kv := range [][2][]byte{
		{keyFormat, []byte(formatName)},
		{keySize, make([]byte, 8)},
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

// Close releases the file and its lock.
func (l *Log) Close() error { return l.db.Close() }

type state struct {
	size    uint64
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
	s := state{size: binary.BigEndian.Uint64(sizeBytes), root: bytes.Clone(meta.Get(keyRoot))}
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
	if err := ctx.Err(); err != nil {
		return trillian.Root{}, err
	}
	hashes := hashLeaves(leaves)
	var root trillian.Root
	err := l.db.Update(func(tx *bolt.Tx) error {
		s, err := readState(tx)
		if err != nil {
			return err
		}
		if start != s.size {
			return fmt.Errorf("append at %d, tree size is %d: %w", start, s.size, trillian.ErrWrongIndex)
		}
		if len(leaves) == 0 {
			root = trillian.Root{Size: s.size, Hash: s.root}
			return nil
		}
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
		if err := appendBundles(tx, s.size, leaves); err != nil {
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
	return root, nil
}

// tileWriter collects the nodes an append completes, tile by tile, and
// writes each touched tile once at the end of the transaction.
type tileWriter struct {
	tx    *bolt.Tx
	tiles map[tileKey][]byte
	err   error
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

func appendBundles(tx *bolt.Tx, size uint64, leaves [][]byte) error {
	b := tx.Bucket(bucketLeaves)
	b.FillPercent = 1.0
	bundle := size / bundleLeaves
	var buf []byte
	if size%bundleLeaves != 0 {
		buf = bytes.Clone(b.Get(binary.BigEndian.AppendUint64(nil, bundle)))
	}
	n := size % bundleLeaves
	for _, leaf := range leaves {
		buf = binary.AppendUvarint(buf, uint64(len(leaf)))
		buf = append(buf, leaf...)
		n++
		if n == bundleLeaves {
			if err := b.Put(binary.BigEndian.AppendUint64(nil, bundle), buf); err != nil {
				return err
			}
			bundle, n, buf = bundle+1, 0, nil
		}
	}
	if n > 0 {
		return b.Put(binary.BigEndian.AppendUint64(nil, bundle), buf)
	}
	return nil
}

// Leaves returns the values of leaves [start, start+count).
func (l *Log) Leaves(ctx context.Context, start, count uint64) ([][]byte, error) {
	out := make([][]byte, 0, count)
	err := l.db.View(func(tx *bolt.Tx) error {
		s, err := readState(tx)
		if err != nil {
			return err
		}
		if start+count > s.size || start+count < start {
			return fmt.Errorf("leaves [%d, %d) beyond tree size %d: %w", start, start+count, s.size, trillian.ErrNotFound)
		}
		b := tx.Bucket(bucketLeaves)
		for idx := start; idx < start+count; {
			bundle := idx / bundleLeaves
			data := b.Get(binary.BigEndian.AppendUint64(nil, bundle))
			if data == nil {
				return fmt.Errorf("leaf bundle %d missing", bundle)
			}
			for i := uint64(0); i < bundleLeaves && idx < start+count; i++ {
				n, w := binary.Uvarint(data)
				if w <= 0 || uint64(len(data)-w) < n {
					return fmt.Errorf("leaf bundle %d corrupt", bundle)
				}
				if bundle*bundleLeaves+i >= idx {
					out = append(out, bytes.Clone(data[w:w+int(n)]))
					idx++
				}
				data = data[w+int(n):]
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: leaves [%d, %d): %w", l.path, start, start+count, err)
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
	return nodes.Rehash(hashes, trillian.Hasher.HashChildren)
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
