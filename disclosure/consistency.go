package disclosure

import "fmt"

// Bounds of the consistency proofs a package carries (trialog.consistency,
// docs/package-format.md). They exist so that a verifier whose trust store
// remembers an earlier checkpoint can check, offline, that the package's
// checkpoint extends it (docs/witnessing.md); the proof from any other
// size is of no use to it.
const (
	// MaxConsistencyProofs is how many a package carries at most: those
	// from the most recent earlier checkpoints. All of them go in the
	// schema message's metadata, which is limited to 1 MiB with the
	// manifest beside them: 64 proofs of at most MaxProofHashes hashes
	// take at most 64 × 128 × 47 bytes of JSON (385 KiB; about 90 KiB for
	// a log of 2^30 leaves). A verifier that remembers an older checkpoint
	// gets its proof from the published log (verify --log-url).
	MaxConsistencyProofs = 64
	// MaxProofHashes bounds the hashes of one RFC 6962 consistency proof:
	// at most one per level on each of the two paths it follows, so fewer
	// than 2 × 64 for any tree of fewer than 2^64 leaves.
	MaxProofHashes = 128
)

// checkConsistency checks the carried consistency proofs against the
// format's rules: at most MaxConsistencyProofs, newest first, one per
// earlier size (strictly decreasing sizes, none from the empty tree, whose
// proof would be empty and prove nothing), each of at most MaxProofHashes
// hashes. A proof that is not from a size below the checkpoint's is the
// verifier's to refuse (it opens the checkpoint).
func checkConsistency(cps []ConsistencyProof) error {
	if len(cps) > MaxConsistencyProofs {
		return fmt.Errorf("%w: %d consistency proofs, at most %d", ErrPackage, len(cps), MaxConsistencyProofs)
	}
	for i, c := range cps {
		switch {
		case c.From == 0:
			return fmt.Errorf("%w: a consistency proof from the empty tree", ErrPackage)
		case i > 0 && c.From >= cps[i-1].From:
			return fmt.Errorf("%w: consistency proofs not in decreasing order of size, or two from size %d", ErrPackage, c.From)
		case len(c.Proof) > MaxProofHashes:
			return fmt.Errorf("%w: consistency proof from %d has %d hashes, at most %d", ErrPackage, c.From, len(c.Proof), MaxProofHashes)
		}
	}
	return nil
}
