// Package trillian defines the verifiable log that trialog appends to, shaped
// like a Trillian PREORDERED_LOG tree, and the proof helpers built on it.
//
// A Log is one RFC 6962 Merkle tree. Callers choose every leaf's index
// themselves (the "pre-ordered" model): a batch is appended at exactly the
// current tree size, so a retried or resumed append can never land twice.
// Two implementations live in sub-packages: embedded (one local directory,
// the default) and remote (a real Trillian deployment over gRPC). Both must
// give byte-identical roots and proofs for the same leaves, which is what the
// RFC 6962 hashing in this package pins down.
package trillian

import (
	"context"
	"crypto/sha256"
	"errors"

	"github.com/transparency-dev/merkle/rfc6962"
)

// HashSize is the size in bytes of every leaf and node hash (SHA-256).
const HashSize = sha256.Size

// Hasher is the RFC 6962 hasher used by every tree: leaf hash
// SHA-256(0x00 || leaf), node hash SHA-256(0x01 || left || right).
var Hasher = rfc6962.DefaultHasher

// LeafHash returns the RFC 6962 hash of a leaf value, SHA-256(0x00 || leaf).
func LeafHash(leaf []byte) []byte {
	var buf [2048]byte
	if len(leaf) < len(buf) {
		buf[0] = 0
		n := copy(buf[1:], leaf)
		h := sha256.Sum256(buf[:1+n])
		return h[:]
	}
	return Hasher.HashLeaf(leaf)
}

// HashChildren returns the RFC 6962 node hash SHA-256(0x01 || l || r),
// without the hasher allocation of rfc6962.Hasher (it runs once per leaf
// on every append).
func HashChildren(l, r []byte) []byte {
	var buf [1 + 2*HashSize]byte
	buf[0] = 1
	copy(buf[1:], l)
	copy(buf[1+HashSize:], r)
	h := sha256.Sum256(buf[:])
	return h[:]
}

// Root is the state of a tree: how many leaves it has and their Merkle root.
type Root struct {
	Size uint64
	Hash []byte
}

// ErrWrongIndex is returned by AppendLeaves when the batch does not start at
// the tree's current size: it would leave a gap or overwrite leaves.
var ErrWrongIndex = errors.New("batch does not start at the tree size")

// ErrNotFound is returned when a tree, leaf or proof asked for does not exist.
var ErrNotFound = errors.New("not found")

// Log is one append-only Merkle tree.
//
// Implementations must be safe for use by one writer and any number of
// readers; a second writer on the same tree must be refused, not interleaved.
type Log interface {
	// AppendLeaves appends leaves at indices start, start+1, ... and returns
	// the new root. start must equal the current tree size, otherwise
	// ErrWrongIndex is returned and nothing is written. The batch is durable
	// when AppendLeaves returns nil. The embedded log makes a batch
	// all-or-nothing; Trillian commits each request on its own, so there a
	// failed append may leave a prefix stored: appending the same leaves
	// again from LatestRoot completes it (trialog's ingest resumes that way).
	AppendLeaves(ctx context.Context, start uint64, leaves [][]byte) (Root, error)

	// LatestRoot returns the root over every integrated leaf.
	LatestRoot(ctx context.Context) (Root, error)

	// InclusionProof returns the RFC 6962 audit path for the leaf at index in
	// the tree of the given size (index < size <= latest size), bottom-up.
	InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error)

	// ConsistencyProof returns the RFC 6962 consistency proof between two
	// tree sizes (size1 <= size2 <= latest size).
	ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][]byte, error)

	// Leaves returns the leaf values at indices [start, start+count), all of
	// which must be below the latest size.
	Leaves(ctx context.Context, start, count uint64) ([][]byte, error)

	// Close releases the tree (and the writer lock, if held).
	Close() error
}

// HashedAppender is an optional fast path of a Log that hashes leaves
// itself: the caller hands over the leaf hashes it has already computed
// (hashes[i] must be LeafHash(leaves[i])), so each leaf is hashed once.
type HashedAppender interface {
	AppendHashedLeaves(ctx context.Context, start uint64, leaves, hashes [][]byte) (Root, error)
}

// PipelinedAppender is an optional fast path of a remote log, whose
// appends wait for a separate signer: Send hands over a contiguous batch
// (at the tree size, or where the previous unsettled Send ended) and
// returns once it is durable but before it is integrated; Settle waits for
// everything sent, verifies the tree and returns its root. Overlapping the
// next Send with the previous batch's integration keeps the server busy.
type PipelinedAppender interface {
	Send(ctx context.Context, start uint64, leaves [][]byte) error
	Settle(ctx context.Context) (Root, error)
}

// Append appends leaves through the HashedAppender fast path when the log
// has one.
func Append(ctx context.Context, log Log, start uint64, leaves, hashes [][]byte) (Root, error) {
	if h, ok := log.(HashedAppender); ok && hashes != nil {
		return h.AppendHashedLeaves(ctx, start, leaves, hashes)
	}
	return log.AppendLeaves(ctx, start, leaves)
}
