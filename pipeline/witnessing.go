package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/workspace"
)

// maxCarriedProofs bounds the consistency proofs a package carries (one
// per earlier published checkpoint, newest first): a verifier whose
// remembered checkpoint is older than those needs the log's URL.
const maxCarriedProofs = disclosure.MaxConsistencyProofs

// addWitnessing puts the trial's signed witness policy and the
// consistency proofs from earlier published checkpoints into a package
// (docs/witnessing.md), so a verifier can demand the policy's quorum and
// check the checkpoint against the one it remembers, offline.
func addWitnessing(ctx context.Context, t *workspace.Trial, meta *disclosure.Meta, size uint64) error {
	policy, err := t.SignedWitnessPolicy()
	if err != nil {
		return err
	}
	meta.WitnessPolicy = policy
	if policy != nil {
		rec, err := t.WitnessPolicyRecord()
		if err != nil {
			return err
		}
		if rec == nil {
			return fmt.Errorf("trial %s: witness policy without a log record (run trialog witness add again)", t.ID)
		}
		leaves, err := t.Log.Leaves(ctx, rec.LeafIndex, 1)
		if err != nil {
			return err
		}
		proof, err := t.Log.InclusionProof(ctx, rec.LeafIndex, size)
		if err != nil {
			return err
		}
		meta.PolicyProof = &disclosure.PolicyProof{Leaf: leaves[0], Index: rec.LeafIndex, Proof: proof}
	}
	proofs, err := t.ConsistencyProofsTo(ctx, size, maxCarriedProofs)
	if err != nil {
		return err
	}
	meta.Consistency = []disclosure.ConsistencyProof{}
	for from, p := range proofs {
		meta.Consistency = append(meta.Consistency, disclosure.ConsistencyProof{From: from, Proof: p})
	}
	slices.SortFunc(meta.Consistency, func(a, b disclosure.ConsistencyProof) int { return cmp.Compare(b.From, a.From) })
	return nil
}
