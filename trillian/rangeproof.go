package trillian

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// RangeProof proves that a contiguous run of leaves [Begin, End) sits at
// exactly those indices of the tree of size Size, with O(log Size) hashes
// instead of one inclusion proof per leaf.
//
// The verifier rebuilds the compact range [0, Begin) from Left, appends the
// hashes of the leaves it holds to reach [0, End), takes that tree's root and
// checks it against the checkpoint root with the RFC 6962 consistency proof
// Right (from End to Size). Both halves come from ordinary Trillian RPCs, so
// any RFC 6962 log can serve them.
type RangeProof struct {
	Begin uint64   `json:"begin"`
	End   uint64   `json:"end"`
	Size  uint64   `json:"size"`
	Left  [][]byte `json:"left"`  // compact range of [0, Begin), left to right
	Right [][]byte `json:"right"` // consistency proof from End to Size
}

// ProveRange builds a RangeProof for leaves [begin, end) in the tree of the
// given size from the log's inclusion and consistency proofs.
func ProveRange(ctx context.Context, log Log, begin, end, size uint64) (RangeProof, error) {
	if begin >= end || end > size {
		return RangeProof{}, fmt.Errorf("range proof: invalid range [%d, %d) in tree of size %d", begin, end, size)
	}
	p := RangeProof{Begin: begin, End: end, Size: size}
	if begin > 0 {
		incl, err := log.InclusionProof(ctx, begin, size)
		if err != nil {
			return RangeProof{}, fmt.Errorf("range proof: left boundary: %w", err)
		}
		left, err := LeftBoundary(begin, size, incl)
		if err != nil {
			return RangeProof{}, err
		}
		p.Left = left
	}
	if end < size {
		cons, err := log.ConsistencyProof(ctx, end, size)
		if err != nil {
			return RangeProof{}, fmt.Errorf("range proof: right boundary: %w", err)
		}
		p.Right = cons
	}
	return p, nil
}

// LeftBoundary extracts, from the inclusion proof of the leaf at index in a
// tree of the given size, the hashes of the perfect subtrees covering
// [0, index), ordered left to right (the compact range of [0, index)).
// Those are the proof's left siblings; right siblings are dropped.
func LeftBoundary(index, size uint64, inclusion [][]byte) ([][]byte, error) {
	inner := bits.Len64(index ^ (size - 1))
	if len(inclusion) < inner {
		return nil, fmt.Errorf("inclusion proof for %d in %d has %d hashes, want at least %d", index, size, len(inclusion), inner)
	}
	var left [][]byte
	for i := 0; i < inner; i++ {
		if index>>uint(i)&1 == 1 {
			left = append(left, inclusion[i])
		}
	}
	left = append(left, inclusion[inner:]...)
	// Bottom-up to left-to-right.
	for i, j := 0, len(left)-1; i < j; i, j = i+1, j-1 {
		left[i], left[j] = left[j], left[i]
	}
	if want := compact.RangeSize(0, index); len(left) != want {
		return nil, fmt.Errorf("inclusion proof for %d in %d gives %d left hashes, want %d", index, size, len(left), want)
	}
	return left, nil
}

// RangeVerifier checks a RangeProof while the leaf hashes of the range are
// streamed into it, so a whole dataset verifies in memory bounded by
// O(log n), not by its row count.
type RangeVerifier struct {
	proof RangeProof
	tree  *compact.Range // [0, next)
	local *compact.Range // [Begin, next) re-based at 0: the range's own root
	// trailer: a leaf outside the range's own was appended (AppendTrailer);
	// nothing may follow it.
	trailer bool
	err     error
}

// ErrRangeMismatch is wrapped by RangeVerifier.Verify when the leaves do not
// hash to the checkpoint root.
var ErrRangeMismatch = errors.New("range does not match the tree root")

var rangeFactory = &compact.RangeFactory{Hash: HashChildren}

// NewRangeVerifier starts verifying p.
func NewRangeVerifier(p RangeProof) (*RangeVerifier, error) {
	if p.Begin >= p.End || p.End > p.Size {
		return nil, fmt.Errorf("range proof: invalid range [%d, %d) in tree of size %d", p.Begin, p.End, p.Size)
	}
	for _, h := range append(append([][]byte{}, p.Left...), p.Right...) {
		if len(h) != HashSize {
			return nil, fmt.Errorf("range proof: hash of %d bytes, want %d", len(h), HashSize)
		}
	}
	// A compact range appends into the slice it is given: hand it a copy,
	// or two verifiers of one proof would write over each other's hashes.
	tree, err := rangeFactory.NewRange(0, p.Begin, slices.Clone(p.Left))
	if err != nil {
		return nil, fmt.Errorf("range proof: left boundary: %w", err)
	}
	return &RangeVerifier{proof: p, tree: tree, local: rangeFactory.NewEmptyRange(0)}, nil
}

// Append adds the hash of the next leaf of the range.
func (v *RangeVerifier) Append(leafHash []byte) {
	if v.err != nil {
		return
	}
	if v.tree.End() >= v.proof.End || v.trailer {
		v.err = fmt.Errorf("range proof: more than %d leaves", v.proof.End-v.proof.Begin)
		return
	}
	if err := v.tree.Append(leafHash, nil); err != nil {
		v.err = err
		return
	}
	v.err = v.local.Append(leafHash, nil)
}

// RangeSegment folds a contiguous run of the range's leaf hashes on its
// own, so that runs can be hashed on several goroutines and merged in order
// (AppendSegment): merging costs O(log n) hashes, the fold itself one per
// leaf for each of the two trees it builds.
type RangeSegment struct {
	tree, local *compact.Range
}

// NewSegment starts a run whose first leaf is the range's leaf number
// offset (0 for the range's first). It only reads v, so it may be called
// from any goroutine.
func (v *RangeVerifier) NewSegment(offset uint64) *RangeSegment {
	return &RangeSegment{tree: rangeFactory.NewEmptyRange(v.proof.Begin + offset), local: rangeFactory.NewEmptyRange(offset)}
}

// Append adds the hash of the run's next leaf.
func (s *RangeSegment) Append(leafHash []byte) error {
	if err := s.tree.Append(leafHash, nil); err != nil {
		return err
	}
	return s.local.Append(leafHash, nil)
}

// AppendSegment merges the next run, which must start where the leaves
// appended so far end. It keeps copies of the hashes it retains (O(log n)),
// so the leaf hashes given to the run may be reused afterwards.
func (v *RangeVerifier) AppendSegment(s *RangeSegment) {
	if v.err != nil {
		return
	}
	if n := s.tree.End() - s.tree.Begin(); v.tree.End()+n > v.proof.End || v.trailer {
		v.err = fmt.Errorf("range proof: more than %d leaves", v.proof.End-v.proof.Begin)
		return
	}
	if err := v.tree.AppendRange(s.tree, nil); err != nil {
		v.err = err
		return
	}
	if v.err = v.local.AppendRange(s.local, nil); v.err != nil {
		return
	}
	for _, r := range []*compact.Range{v.tree, v.local} {
		for i, h := range r.Hashes() {
			r.Hashes()[i] = bytes.Clone(h)
		}
	}
}

// AppendTrailer adds the hash of a leaf that the proof covers but that is
// not one of the range's own: a dataset's manifest leaf, which follows its
// rows in the log, so that one range proof also proves the manifest
// (package format v4) instead of a separate inclusion proof. RangeRoot
// leaves it out; nothing may be appended after it.
func (v *RangeVerifier) AppendTrailer(leafHash []byte) {
	if v.err != nil {
		return
	}
	if v.tree.End() >= v.proof.End || v.trailer {
		v.err = fmt.Errorf("range proof: more than %d leaves", v.proof.End-v.proof.Begin)
		return
	}
	v.trailer = true
	v.err = v.tree.Append(leafHash, nil)
}

// RangeRoot returns the RFC 6962 root of the appended leaves alone, as if
// they formed a tree of their own (the dataset range root of a manifest).
func (v *RangeVerifier) RangeRoot() ([]byte, error) {
	if v.local.End() == 0 {
		return Hasher.EmptyRoot(), nil
	}
	return v.local.GetRootHash(nil)
}

// Verify checks, once every leaf was appended, that the range is part of
// the tree whose root is root (of size p.Size).
func (v *RangeVerifier) Verify(root []byte) error {
	if v.err != nil {
		return v.err
	}
	if got := v.tree.End(); got != v.proof.End {
		return fmt.Errorf("range proof: got %d leaves, want %d: %w", got-v.proof.Begin, v.proof.End-v.proof.Begin, ErrRangeMismatch)
	}
	endRoot, err := v.tree.GetRootHash(nil)
	if err != nil {
		return fmt.Errorf("range proof: %w", err)
	}
	if v.proof.End == v.proof.Size {
		if !bytes.Equal(endRoot, root) {
			return fmt.Errorf("range proof: root of [0, %d) differs from the checkpoint: %w", v.proof.Size, ErrRangeMismatch)
		}
		return nil
	}
	if err := proof.VerifyConsistency(Hasher, v.proof.End, v.proof.Size, v.proof.Right, endRoot, root); err != nil {
		return fmt.Errorf("range proof: %v: %w", oneLine(err), ErrRangeMismatch)
	}
	return nil
}

// NewCompactRange returns an empty compact range at begin using the tree
// hasher, for callers that fold leaf hashes incrementally.
func NewCompactRange(begin uint64) *compact.Range { return rangeFactory.NewEmptyRange(begin) }

// VerifyInclusion checks an inclusion proof of leafHash at index in the tree
// of the given size and root.
func VerifyInclusion(index, size uint64, leafHash []byte, proofHashes [][]byte, root []byte) error {
	return oneLine(proof.VerifyInclusion(Hasher, index, size, leafHash, proofHashes, root))
}

// VerifyConsistency checks a consistency proof between two roots.
func VerifyConsistency(size1, size2 uint64, proofHashes [][]byte, root1, root2 []byte) error {
	return oneLine(proof.VerifyConsistency(Hasher, size1, size2, proofHashes, root1, root2))
}

// ErrRollback and ErrFork are the two ways a later tree head can fail to
// extend an earlier one.
var (
	ErrRollback = errors.New("the log was rolled back")
	ErrFork     = errors.New("the log forked")
)

// CheckExtends checks that the tree new extends the tree old (RFC 6962
// section 2.1.2), given the consistency proof between their sizes (none
// when either is empty or they are the same size). Its errors wrap
// ErrRollback or ErrFork and are one line: the proof library's own
// messages print hashes as Go byte slices over several lines.
func CheckExtends(old, new Root, proofHashes [][]byte) error {
	switch {
	case old.Size > new.Size:
		return fmt.Errorf("tree %d is smaller than tree %d: %w", new.Size, old.Size, ErrRollback)
	case old.Size == 0:
		return nil // the empty tree is a prefix of every tree
	case old.Size == new.Size && !bytes.Equal(old.Hash, new.Hash):
		return fmt.Errorf("two trees of %d leaves with roots %x and %x: %w", old.Size, old.Hash, new.Hash, ErrFork)
	}
	if err := VerifyConsistency(old.Size, new.Size, proofHashes, old.Hash, new.Hash); err != nil {
		return fmt.Errorf("tree %d (root %x) does not extend tree %d (root %x): the consistency proof fails: %w", new.Size, new.Hash, old.Size, old.Hash, ErrFork)
	}
	return nil
}

// oneLine keeps the proof library's errors to one line: its root mismatch
// prints both roots as Go byte slices over four lines, and trialog's
// errors and reports are one line each.
func oneLine(err error) error {
	var mismatch proof.RootMismatchError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &mismatch):
		return fmt.Errorf("calculated root %x does not match the expected root %x", mismatch.CalculatedRoot, mismatch.ExpectedRoot)
	case strings.Contains(err.Error(), "\n"):
		return errors.New(strings.Join(strings.Fields(err.Error()), " "))
	}
	return err
}
