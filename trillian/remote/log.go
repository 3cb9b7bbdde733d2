package remote

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	tpb "github.com/google/trillian"
	"github.com/google/trillian/types"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trialog/trialog/trillian"
)

// maxCachedRoots bounds the verified roots kept by size; they spare the
// extra RPCs of re-deriving a past root when a proof is asked at that size.
const maxCachedRoots = 4096

// Log is one trial's tree in a Trillian deployment. It implements
// trillian.Log. Readers may share a Log; appends are serialised.
type Log struct {
	c          *Client
	treeID     int64
	trialID    string
	ownsClient bool

	writeMu sync.Mutex     // serialises Send, Settle and AppendLeaves
	compact *compact.Range // [0, size) after our last append, or nil
	pending unsettled      // sent but not yet settled, under writeMu

	rootMu sync.Mutex // serialises root fetches so each is checked against the last
	mu     sync.Mutex // guards the fields below
	last   trillian.Root
	roots  map[uint64][]byte
	order  []uint64 // insertion order of roots, for eviction
	closed bool
}

var _ trillian.Log = (*Log)(nil)

func newLog(c *Client, id int64, trialID string) *Log {
	return &Log{c: c, treeID: id, trialID: trialID, roots: make(map[uint64][]byte)}
}

// TreeID is the Trillian tree ID.
func (l *Log) TreeID() int64 { return l.treeID }

// TrialID is the trial the tree belongs to ("" for a tree opened by ID
// that is not a trialog tree).
func (l *Log) TrialID() string { return l.trialID }

// Close releases the writer reservation, and the connection if OpenURL
// made it.
func (l *Log) Close() error {
	l.mu.Lock()
	closed := l.closed
	l.closed = true
	l.mu.Unlock()
	if closed {
		return nil
	}
	l.c.releaseWriter(l)
	if l.ownsClient {
		return l.c.Close()
	}
	return nil
}

func (l *Log) where() string { return fmt.Sprintf("%s: tree %d", l.c.where(), l.treeID) }

func (l *Log) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", l.where(), fmt.Errorf(format, args...))
}

// parseRoot decodes the LogRootV1 inside a SignedLogRoot. Trillian v1.8.0
// no longer signs roots, so its content is all there is to check.
func parseRoot(slr *tpb.SignedLogRoot) (trillian.Root, error) {
	if slr == nil {
		return trillian.Root{}, fmt.Errorf("no log root in response: %w", ErrVerification)
	}
	var r types.LogRootV1
	if err := r.UnmarshalBinary(slr.GetLogRoot()); err != nil {
		return trillian.Root{}, fmt.Errorf("log root: %v: %w", err, ErrVerification)
	}
	if len(r.RootHash) != trillian.HashSize {
		return trillian.Root{}, fmt.Errorf("log root hash of %d bytes: %w", len(r.RootHash), ErrVerification)
	}
	return trillian.Root{Size: r.TreeSize, Hash: r.RootHash}, nil
}

// LatestRoot returns the server's latest root after checking that it is
// consistent with every root this Log saw before (so the server cannot
// roll the tree back or fork it unnoticed).
func (l *Log) LatestRoot(ctx context.Context) (trillian.Root, error) {
	l.rootMu.Lock()
	defer l.rootMu.Unlock()
	l.mu.Lock()
	prev := l.last
	l.mu.Unlock()
	req := &tpb.GetLatestSignedLogRootRequest{LogId: l.treeID, FirstTreeSize: int64(prev.Size)}
	var resp *tpb.GetLatestSignedLogRootResponse
	err := l.c.retry(ctx, "latest root", func(ctx context.Context) (err error) {
		resp, err = l.c.log.GetLatestSignedLogRoot(ctx, req)
		return err
	})
	if status.Code(err) == codes.InvalidArgument && prev.Size > 0 {
		// FirstTreeSize beyond the server's tree: it went backwards.
		return trillian.Root{}, l.errorf("server tree is smaller than the verified size %d (%v): %w", prev.Size, err, ErrVerification)
	}
	if err != nil {
		return trillian.Root{}, l.errorf("%w", err)
	}
	root, err := parseRoot(resp.GetSignedLogRoot())
	if err != nil {
		return trillian.Root{}, l.errorf("%w", err)
	}
	if prev.Size > 0 || prev.Hash != nil {
		if root.Size < prev.Size {
			return trillian.Root{}, l.errorf("server root size %d is below the verified size %d: %w", root.Size, prev.Size, ErrVerification)
		}
		if err := proof.VerifyConsistency(trillian.Hasher, prev.Size, root.Size, resp.GetProof().GetHashes(), prev.Hash, root.Hash); err != nil {
			return trillian.Root{}, l.errorf("root %d is not consistent with verified root %d: %v: %w", root.Size, prev.Size, err, ErrVerification)
		}
	} else if root.Size == 0 && !bytes.Equal(root.Hash, trillian.Hasher.EmptyRoot()) {
		return trillian.Root{}, l.errorf("empty tree with root %x: %w", root.Hash, ErrVerification)
	}
	l.mu.Lock()
	l.last = root
	l.cacheRootLocked(root.Size, root.Hash)
	l.mu.Unlock()
	return root, nil
}

func (l *Log) cacheRootLocked(size uint64, hash []byte) {
	if _, ok := l.roots[size]; ok {
		return
	}
	if len(l.order) >= maxCachedRoots {
		delete(l.roots, l.order[0])
		l.order = l.order[1:]
	}
	l.roots[size] = bytes.Clone(hash)
	l.order = append(l.order, size)
}

func (l *Log) cachedRoot(size uint64) []byte {
	if size == 0 {
		return trillian.Hasher.EmptyRoot()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.roots[size]
}

func (l *Log) cacheRoot(size uint64, hash []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cacheRootLocked(size, hash)
}

// consistency fetches the server's consistency proof between two sizes.
func (l *Log) consistency(ctx context.Context, size1, size2 uint64) ([][]byte, error) {
	if size1 == 0 || size1 == size2 {
		return [][]byte{}, nil
	}
	var resp *tpb.GetConsistencyProofResponse
	err := l.c.retry(ctx, fmt.Sprintf("consistency proof %d to %d", size1, size2), func(ctx context.Context) (err error) {
		resp, err = l.c.log.GetConsistencyProof(ctx, &tpb.GetConsistencyProofRequest{
			LogId: l.treeID, FirstTreeSize: int64(size1), SecondTreeSize: int64(size2),
		})
		return err
	})
	if err != nil {
		return nil, l.errorf("%w", err)
	}
	if resp.GetProof() == nil {
		return nil, l.errorf("consistency proof %d to %d: server has no tree of size %d: %w", size1, size2, size2, trillian.ErrNotFound)
	}
	return resp.GetProof().GetHashes(), nil
}

// entry fetches the leaf at index and its inclusion proof in the tree of
// the given size, checking the leaf's own hash.
func (l *Log) entry(ctx context.Context, index, size uint64) (leafHash []byte, hashes [][]byte, err error) {
	var resp *tpb.GetEntryAndProofResponse
	err = l.c.retry(ctx, fmt.Sprintf("entry %d and proof in %d", index, size), func(ctx context.Context) (err error) {
		resp, err = l.c.log.GetEntryAndProof(ctx, &tpb.GetEntryAndProofRequest{
			LogId: l.treeID, LeafIndex: int64(index), TreeSize: int64(size),
		})
		return err
	})
	if err != nil {
		return nil, nil, l.errorf("%w", err)
	}
	leaf := resp.GetLeaf()
	if leaf == nil || resp.GetProof() == nil {
		return nil, nil, l.errorf("entry %d in tree of size %d: not served: %w", index, size, trillian.ErrNotFound)
	}
	if leaf.GetLeafIndex() != int64(index) {
		return nil, nil, l.errorf("asked for leaf %d, got leaf %d: %w", index, leaf.GetLeafIndex(), ErrVerification)
	}
	leafHash = trillian.LeafHash(leaf.GetLeafValue())
	if mh := leaf.GetMerkleLeafHash(); mh != nil && !bytes.Equal(mh, leafHash) {
		return nil, nil, l.errorf("leaf %d: Merkle leaf hash does not match its value: %w", index, ErrVerification)
	}
	return leafHash, resp.GetProof().GetHashes(), nil
}

// rootAt returns the verified root hash of the tree of the given size,
// which must not exceed latest. A size seen before comes from the cache;
// any other is derived from the last leaf's inclusion proof in that tree
// and checked against latest with a consistency proof.
func (l *Log) rootAt(ctx context.Context, size uint64, latest trillian.Root) ([]byte, error) {
	if size == latest.Size {
		return latest.Hash, nil
	}
	if h := l.cachedRoot(size); h != nil {
		return h, nil
	}
	leafHash, incl, err := l.entry(ctx, size-1, size)
	if err != nil {
		return nil, err
	}
	candidate, err := proof.RootFromInclusionProof(trillian.Hasher, size-1, size, leafHash, incl)
	if err != nil {
		return nil, l.errorf("root of size %d: %v: %w", size, err, ErrVerification)
	}
	cons, err := l.consistency(ctx, size, latest.Size)
	if err != nil {
		return nil, err
	}
	if err := proof.VerifyConsistency(trillian.Hasher, size, latest.Size, cons, candidate, latest.Hash); err != nil {
		return nil, l.errorf("root of size %d does not lead to root of size %d: %v: %w", size, latest.Size, err, ErrVerification)
	}
	l.cacheRoot(size, candidate)
	return candidate, nil
}

// InclusionProof returns the audit path of the leaf at index in the tree of
// the given size, verified against that tree's root (itself verified
// against the latest root) before it is returned.
func (l *Log) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	if index >= size {
		return nil, l.errorf("inclusion proof: index %d not below tree size %d", index, size)
	}
	latest, err := l.LatestRoot(ctx)
	if err != nil {
		return nil, err
	}
	if size > latest.Size {
		return nil, l.errorf("inclusion proof %d in %d: tree size beyond latest %d: %w", index, size, latest.Size, trillian.ErrNotFound)
	}
	leafHash, hashes, err := l.entry(ctx, index, size)
	if err != nil {
		return nil, err
	}
	if root := l.cachedRoot(size); root != nil || size == latest.Size {
		if root == nil {
			root = latest.Hash
		}
		if err := proof.VerifyInclusion(trillian.Hasher, index, size, leafHash, hashes, root); err != nil {
			return nil, l.errorf("inclusion proof %d in %d: %v: %w", index, size, err, ErrVerification)
		}
		return hashes, nil
	}
	candidate, err := proof.RootFromInclusionProof(trillian.Hasher, index, size, leafHash, hashes)
	if err != nil {
		return nil, l.errorf("inclusion proof %d in %d: %v: %w", index, size, err, ErrVerification)
	}
	cons, err := l.consistency(ctx, size, latest.Size)
	if err != nil {
		return nil, err
	}
	if err := proof.VerifyConsistency(trillian.Hasher, size, latest.Size, cons, candidate, latest.Hash); err != nil {
		return nil, l.errorf("inclusion proof %d in %d does not lead to root of size %d: %v: %w", index, size, latest.Size, err, ErrVerification)
	}
	l.cacheRoot(size, candidate)
	return hashes, nil
}

// ConsistencyProof returns the proof that the tree of size1 is a prefix of
// the tree of size2, verified against both trees' roots.
func (l *Log) ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][]byte, error) {
	if size1 > size2 {
		return nil, l.errorf("consistency proof: size %d above size %d", size1, size2)
	}
	latest, err := l.LatestRoot(ctx)
	if err != nil {
		return nil, err
	}
	if size2 > latest.Size {
		return nil, l.errorf("consistency proof %d to %d: tree size beyond latest %d: %w", size1, size2, latest.Size, trillian.ErrNotFound)
	}
	if size1 == 0 || size1 == size2 {
		return [][]byte{}, nil
	}
	root2, err := l.rootAt(ctx, size2, latest)
	if err != nil {
		return nil, err
	}
	root1, err := l.rootAt(ctx, size1, latest)
	if err != nil {
		return nil, err
	}
	hashes, err := l.consistency(ctx, size1, size2)
	if err != nil {
		return nil, err
	}
	if err := proof.VerifyConsistency(trillian.Hasher, size1, size2, hashes, root1, root2); err != nil {
		return nil, l.errorf("consistency proof %d to %d: %v: %w", size1, size2, err, ErrVerification)
	}
	return hashes, nil
}

// Leaves returns leaves [start, start+count). PREORDERED trees in Trillian
// v1.8.0 serve sequenced leaves beyond the integrated size, so the range is
// checked against the verified root here, and every leaf's index and hash
// is checked.
func (l *Log) Leaves(ctx context.Context, start, count uint64) ([][]byte, error) {
	latest, err := l.LatestRoot(ctx)
	if err != nil {
		return nil, err
	}
	end := start + count
	if end < start || end > latest.Size {
		return nil, l.errorf("leaves [%d, %d) beyond tree size %d: %w", start, end, latest.Size, trillian.ErrNotFound)
	}
	out := make([][]byte, 0, count)
	page := uint64(l.c.cfg.readPage)
	for next := start; next < end; {
		n := min(page, end-next)
		var resp *tpb.GetLeavesByRangeResponse
		err := l.c.retry(ctx, fmt.Sprintf("leaves [%d, %d)", next, next+n), func(ctx context.Context) (err error) {
			resp, err = l.c.log.GetLeavesByRange(ctx, &tpb.GetLeavesByRangeRequest{
				LogId: l.treeID, StartIndex: int64(next), Count: int64(n),
			})
			return err
		})
		if status.Code(err) == codes.ResourceExhausted && page > 1 {
			page /= 2 // The page was over the message size limit.
			continue
		}
		if err != nil {
			return nil, l.errorf("%w", err)
		}
		got := resp.GetLeaves()
		if len(got) == 0 {
			return nil, l.errorf("leaves [%d, %d): server returned none below size %d: %w", next, next+n, latest.Size, ErrVerification)
		}
		for _, leaf := range got {
			if next == end {
				break // Not clipped by the server: ignore what lies beyond.
			}
			if leaf.GetLeafIndex() != int64(next) {
				return nil, l.errorf("leaves: want index %d, got %d: %w", next, leaf.GetLeafIndex(), ErrVerification)
			}
			if mh := leaf.GetMerkleLeafHash(); !bytes.Equal(mh, trillian.LeafHash(leaf.GetLeafValue())) {
				return nil, l.errorf("leaf %d: Merkle leaf hash does not match its value: %w", next, ErrVerification)
			}
			out = append(out, leaf.GetLeafValue())
			next++
		}
	}
	return out, nil
}
