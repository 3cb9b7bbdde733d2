package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	tpb "github.com/google/trillian"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"google.golang.org/grpc/codes"

	"github.com/trialog/trialog/trillian"
)

// identityDomain separates trialog's leaf identity hashes from anything
// else hashed with SHA-256.
const identityDomain = "trialog/trillian-leaf-identity/v1\x00"

// LeafIdentityHash is the identity Trillian deduplicates a leaf by:
// SHA-256(domain || index || leaf hash). Trillian's default identity is the
// leaf hash alone, under which two equal rows (equal leaf values) would
// collide; including the index makes every position unique, and makes a
// retried batch recognisable: the same leaf at the same index has the same
// identity.
func LeafIdentityHash(index uint64, leafHash []byte) []byte {
	h := sha256.New()
	h.Write([]byte(identityDomain))
	h.Write(binary.BigEndian.AppendUint64(nil, index))
	h.Write(leafHash)
	return h.Sum(nil)
}

var rangeFactory = &compact.RangeFactory{Hash: trillian.Hasher.HashChildren}

// AppendLeaves appends leaves at start, which must be the tree's verified
// size, and returns the root of the tree of size start+len(leaves).
//
// The leaves go out as AddSequencedLeaves batches (several in flight), then
// AppendLeaves waits for the signer to integrate them and verifies that the
// tree's first start+len(leaves) leaves are the old tree followed by exactly
// these leaves. Only then does it return.
//
// Unlike the embedded log a failed append can leave some batches sequenced
// (Trillian commits each request on its own). They are harmless: rerun the
// append from the tree's current size (LatestRoot) with the same leaves and
// the batches already there count as done. Leaves beyond the first
// unsequenced index wait for the gap to be filled; an append of different
// leaves at those indices fails with ErrConflict.
func (l *Log) AppendLeaves(ctx context.Context, start uint64, leaves [][]byte) (trillian.Root, error) {
	if err := l.Send(ctx, start, leaves); err != nil {
		return trillian.Root{}, err
	}
	return l.Settle(ctx)
}

// unsettled is what Send has sequenced and Settle has not yet verified.
type unsettled struct {
	active bool
	old    trillian.Root // the verified root before the first Send
	end    uint64        // one past the last leaf sent
	hashes [][]byte      // leaf hashes of [old.Size, end)
}

// Send sequences leaves at start without waiting for the signer
// (trillian.PipelinedAppender): start must be the verified tree size, or
// the end of the previous Send when one is unsettled. The leaves are
// durable in Trillian's database when Send returns; Settle waits for their
// integration and verifies the tree. Sending the next batch while the
// signer integrates the previous one keeps the request pipeline full.
func (l *Log) Send(ctx context.Context, start uint64, leaves [][]byte) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return l.errorf("append to a closed log")
	}
	if err := l.c.acquireWriter(l); err != nil {
		return err
	}
	if !l.pending.active {
		old, err := l.LatestRoot(ctx)
		if err != nil {
			return err
		}
		// Appending anywhere but at the verified size would leave a gap
		// (which Trillian v1.8.0 accepts, and then never integrates past)
		// or collide with integrated leaves.
		if start != old.Size {
			return l.errorf("append %d leaves at %d, tree size is %d: %w", len(leaves), start, old.Size, trillian.ErrWrongIndex)
		}
		l.pending = unsettled{active: true, old: old, end: old.Size}
	} else if start != l.pending.end {
		return l.errorf("append %d leaves at %d, unsettled appends end at %d: %w", len(leaves), start, l.pending.end, trillian.ErrWrongIndex)
	}
	if len(leaves) == 0 {
		return nil
	}
	hashes := make([][]byte, len(leaves))
	for i, leaf := range leaves {
		hashes[i] = trillian.LeafHash(leaf)
	}
	if err := l.sequence(ctx, start, leaves, hashes); err != nil {
		// Start over from the verified size: batches that did go in are
		// recognised as done when the same leaves are sent again.
		l.pending = unsettled{}
		return err
	}
	l.pending.hashes = append(l.pending.hashes, hashes...)
	l.pending.end = start + uint64(len(leaves))
	return nil
}

// Settle waits until the signer has integrated everything sent, verifies
// that the tree is the old verified tree followed by exactly those leaves,
// and returns its root.
func (l *Log) Settle(ctx context.Context) (trillian.Root, error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	p := l.pending
	l.pending = unsettled{}
	if !p.active {
		return l.LatestRoot(ctx)
	}
	if p.end == p.old.Size {
		return p.old, nil
	}
	latest, err := l.waitIntegrated(ctx, p.old.Size, p.end)
	if err != nil {
		return trillian.Root{}, err
	}
	rootHash, err := l.verifyAppend(ctx, p.old, p.end, p.hashes, latest)
	if err != nil {
		return trillian.Root{}, err
	}
	return trillian.Root{Size: p.end, Hash: rootHash}, nil
}

type span struct{ lo, hi int } // leaves[lo:hi]

// batches splits leaves into requests within the count and size limits.
func (l *Log) batches(leaves [][]byte) ([]span, error) {
	var (
		out   []span
		lo    int
		bytes int
	)
	for i, leaf := range leaves {
		n := len(leaf) + leafOverhead
		if n > l.c.cfg.batchBytes {
			return nil, fmt.Errorf("leaf of %d bytes exceeds the request limit of %d bytes", len(leaf), l.c.cfg.batchBytes)
		}
		if i > lo && (i-lo >= l.c.cfg.batchLeaves || bytes+n > l.c.cfg.batchBytes) {
			out = append(out, span{lo, i})
			lo, bytes = i, 0
		}
		bytes += n
	}
	return append(out, span{lo, len(leaves)}), nil
}

// sequence sends every batch, inFlight at a time, in index order. The
// first failure cancels the batches not yet sent.
func (l *Log) sequence(ctx context.Context, start uint64, leaves, hashes [][]byte) error {
	spans, err := l.batches(leaves)
	if err != nil {
		return l.errorf("append at %d: %w", start, err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, l.c.cfg.inFlight)
		once sync.Once
		fail error
	)
	for _, s := range spans {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(s span) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := l.addBatch(ctx, start+uint64(s.lo), leaves[s.lo:s.hi], hashes[s.lo:s.hi]); err != nil {
				once.Do(func() { fail = err; cancel(err) })
			}
		}(s)
	}
	wg.Wait()
	if fail != nil {
		return fail
	}
	if err := context.Cause(ctx); err != nil {
		return l.errorf("append [%d, %d): %w", start, start+uint64(len(leaves)), err)
	}
	return nil
}

// addBatch sequences leaves at first, first+1, ... and checks each leaf's
// outcome. A leaf reported as a duplicate identity is one this very batch
// (or a crashed earlier run of it) already stored: same index, same value.
func (l *Log) addBatch(ctx context.Context, first uint64, leaves, hashes [][]byte) error {
	req := &tpb.AddSequencedLeavesRequest{LogId: l.treeID, Leaves: make([]*tpb.LogLeaf, len(leaves))}
	for i, leaf := range leaves {
		idx := first + uint64(i)
		req.Leaves[i] = &tpb.LogLeaf{
			LeafValue:        leaf,
			LeafIndex:        int64(idx),
			LeafIdentityHash: LeafIdentityHash(idx, hashes[i]),
		}
	}
	what := fmt.Sprintf("add leaves [%d, %d)", first, first+uint64(len(leaves)))
	var resp *tpb.AddSequencedLeavesResponse
	err := l.c.retry(ctx, what, func(ctx context.Context) (err error) {
		resp, err = l.c.log.AddSequencedLeaves(ctx, req)
		return err
	})
	if err != nil {
		return l.errorf("%w", err)
	}
	results := resp.GetResults()
	if len(results) != len(leaves) {
		return l.errorf("%s: %d results for %d leaves: %w", what, len(results), len(leaves), ErrVerification)
	}
	for i, r := range results {
		st := r.GetStatus()
		if st == nil || codes.Code(st.GetCode()) == codes.OK {
			continue
		}
		idx := first + uint64(i)
		code, msg := codes.Code(st.GetCode()), st.GetMessage()
		switch {
		case (code == codes.FailedPrecondition || code == codes.AlreadyExists) && strings.Contains(msg, "LeafIdentityHash"):
			// Already sequenced by an earlier attempt: same index and value.
		case (code == codes.FailedPrecondition || code == codes.AlreadyExists) && strings.Contains(msg, "LeafIndex"):
			return l.errorf("leaf %d: %w", idx, ErrConflict)
		default:
			return l.errorf("leaf %d: %s: %s", idx, code, msg)
		}
	}
	return nil
}

// waitIntegrated polls the root, with backoff, until the signer has
// integrated up to end. Progress resets the stall clock; none for the
// stall timeout is an error, since the tree will not recover by itself
// (signer down, or a gap below end that nobody is filling).
func (l *Log) waitIntegrated(ctx context.Context, start, end uint64) (trillian.Root, error) {
	delay := l.c.cfg.pollMin
	var (
		lastSize     uint64
		lastProgress = time.Now()
	)
	for {
		root, err := l.LatestRoot(ctx)
		if err != nil {
			return trillian.Root{}, err
		}
		if root.Size >= end {
			return root, nil
		}
		if root.Size > lastSize {
			lastSize, lastProgress, delay = root.Size, time.Now(), l.c.cfg.pollMin
		}
		if stalled := time.Since(lastProgress); stalled > l.c.cfg.stallTimeout {
			return trillian.Root{}, l.errorf("append [%d, %d): tree size stuck at %d for %s (is trillian_log_signer running? is a leaf below %d missing?): %w",
				start, end, root.Size, stalled.Round(time.Second), end, ErrStalled)
		}
		if err := sleep(ctx, delay); err != nil {
			return trillian.Root{}, l.errorf("append [%d, %d): waiting for integration at size %d: %w", start, end, root.Size, err)
		}
		delay = min(2*delay, l.c.cfg.pollMax)
	}
}

// verifyAppend checks that the tree of size end is the verified old tree
// followed by exactly the appended leaves, and returns its root. The
// compact range of the old tree comes from the previous append or, after
// an open, from the inclusion proof of the first new leaf, and is checked
// against the old root; the new leaves are folded in locally and the result
// is checked against the server's latest root.
func (l *Log) verifyAppend(ctx context.Context, old trillian.Root, end uint64, hashes [][]byte, latest trillian.Root) ([]byte, error) {
	start := old.Size
	cr := l.compact
	l.compact = nil
	if cr == nil || cr.End() != start {
		var left [][]byte
		if start > 0 {
			_, incl, err := l.entry(ctx, start, latest.Size)
			if err != nil {
				return nil, err
			}
			if left, err = trillian.LeftBoundary(start, latest.Size, incl); err != nil {
				return nil, l.errorf("append at %d: %v: %w", start, err, ErrVerification)
			}
		}
		var err error
		if cr, err = rangeFactory.NewRange(0, start, left); err != nil {
			return nil, l.errorf("append at %d: %v: %w", start, err, ErrVerification)
		}
	}
	if start > 0 {
		oldRoot, err := cr.GetRootHash(nil)
		if err != nil || !bytes.Equal(oldRoot, old.Hash) {
			return nil, l.errorf("append at %d: the tree below the new leaves does not match the verified root: %w", start, ErrVerification)
		}
	}
	for _, h := range hashes {
		if err := cr.Append(h, nil); err != nil {
			return nil, l.errorf("append at %d: %w", start, err)
		}
	}
	newRoot, err := cr.GetRootHash(nil)
	if err != nil {
		return nil, l.errorf("append at %d: %w", start, err)
	}
	if latest.Size == end {
		if !bytes.Equal(newRoot, latest.Hash) {
			return nil, l.errorf("append [%d, %d): server root differs from the root of the appended leaves: %w", start, end, errors.Join(ErrVerification, ErrConflict))
		}
	} else {
		// A crashed earlier append had sequenced leaves beyond end, and the
		// signer integrated them too.
		cons, err := l.consistency(ctx, end, latest.Size)
		if err != nil {
			return nil, err
		}
		if err := proof.VerifyConsistency(trillian.Hasher, end, latest.Size, cons, newRoot, latest.Hash); err != nil {
			return nil, l.errorf("append [%d, %d): server tree of size %d does not hold the appended leaves: %v: %w", start, end, latest.Size, err, errors.Join(ErrVerification, ErrConflict))
		}
	}
	l.cacheRoot(end, newRoot)
	l.compact = cr
	return newRoot, nil
}
