package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trust"
	"github.com/trialog/trialog/witness"
)

// checkWitnessing runs the checks of docs/witnessing.md on the package's
// checkpoint (already verified with the log key by checkHeader):
//
//   - the verifier's own witness policy (Options.Witnesses): fewer than
//     its quorum of valid cosignatures from distinct listed witnesses
//     fails, naming the missing and invalid ones;
//   - the policy the package states it was made under (signed by the log
//     key): a package whose checkpoint does not meet it fails too;
//   - the verifier's memory (Options.Trust): a checkpoint that forks or
//     rolls back what this verifier accepted before fails, with both
//     checkpoints as evidence. A checkpoint is remembered only when the
//     witness checks passed; otherwise it is only checked.
func (v *verifier) checkWitnessing(ctx context.Context) {
	rep, meta := v.rep, v.meta
	for _, c := range meta.Consistency {
		if c.From >= v.cp.Size {
			rep.fail("the package carries a consistency proof from tree size %d, not below the checkpoint's %d", c.From, v.cp.Size)
			return
		}
	}
	lv, err := note.NewVerifier(strings.TrimSpace(v.opts.VerifierKey))
	if err != nil {
		rep.fail("verifier key: %v", err)
		return
	}
	ok := true
	if v.opts.Witnesses != nil {
		wr, err := witness.Check(lv, meta.Checkpoint, v.opts.Witnesses)
		if err != nil {
			rep.fail("witnesses: %v", err)
			return
		}
		rep.Witnesses = wr
		if !wr.OK() {
			rep.fail("witness quorum not met: %s", wr)
			ok = false
		}
	}
	if len(meta.WitnessPolicy) > 0 {
		p, err := witness.OpenSignedPolicy(lv, meta.WitnessPolicy)
		if err != nil {
			rep.fail("package witness policy: %v", err)
			return
		}
		if err := v.checkPolicyLogged(lv); err != nil {
			rep.fail("package witness policy: %v", err)
			return
		}
		wr, err := witness.Check(lv, meta.Checkpoint, p)
		if err != nil {
			rep.fail("package witness policy: %v", err)
			return
		}
		rep.PackagePolicy = wr
		if !wr.OK() {
			rep.fail("the package's own witness policy is not met: %s (the CRO should run trialog witness sync and make the package again)", wr)
			ok = false
		}
	}
	if v.opts.Trust == nil {
		return
	}
	proofs := func(ctx context.Context, a, b uint64) ([][]byte, error) {
		if b == v.cp.Size {
			if p, ok := meta.ConsistencyFrom(a); ok {
				return p, nil
			}
		}
		if v.opts.Proofs != nil {
			return v.opts.Proofs(ctx, a, b)
		}
		return nil, fmt.Errorf("%w: the package carries none from size %d (a log URL can supply it)", trust.ErrNoProof, a)
	}
	// Only check here; the checkpoint is remembered (rememberIfOK) once
	// the whole package has verified, so a package that fails on its rows
	// leaves the verifier's memory untouched.
	d, err := v.opts.Trust.Check(ctx, v.opts.VerifierKey, meta.Checkpoint, proofs)
	if ok && err == nil {
		carried := map[uint64][][]byte{}
		for _, c := range meta.Consistency {
			carried[c.From] = c.Proof
		}
		v.remember = func() (*trust.Decision, error) {
			return v.opts.Trust.Accept(ctx, v.opts.VerifierKey, meta.Checkpoint, proofs, carried)
		}
	}
	v.reportTrust(d, err)
}

// rememberIfOK records the package's checkpoint in the verifier's memory
// when everything verified (docs/witnessing.md).
func (v *verifier) rememberIfOK() {
	if v.remember == nil || !v.rep.OK {
		return
	}
	d, err := v.remember()
	v.reportTrust(d, err)
}

func (v *verifier) reportTrust(d *trust.Decision, err error) {
	rep := v.rep
	var fork *trust.ForkError
	switch {
	case errors.As(err, &fork):
		rep.fail("%v", fork)
		rep.ForkEvidence = fork.Evidence()
	case err != nil:
		rep.fail("trust store: %v", err)
	default:
		rep.Trust = d
	}
}

// checkPolicyLogged checks that the package's witness policy is the one
// the log holds: its policy leaf (trial, digest of the signed text) is in
// the checkpointed tree.
func (v *verifier) checkPolicyLogged(lv note.Verifier) error {
	pp := v.meta.PolicyProof
	if pp == nil {
		return errors.New("no proof that the policy is in the log")
	}
	pl, err := leaf.ParsePolicyLeaf(pp.Leaf)
	if err != nil {
		return err
	}
	n, err := note.Open(v.meta.WitnessPolicy, note.VerifierList(lv))
	if err != nil {
		return err
	}
	if want := leaf.NewPolicyLeaf(v.meta.Manifest.Trial, pl.Seq, n.Text); pl.Trial != want.Trial || pl.Digest != want.Digest {
		return fmt.Errorf("the policy leaf at %d is not this policy's (trial %s)", pp.Index, v.meta.Manifest.Trial)
	}
	if err := trillian.VerifyInclusion(pp.Index, v.cp.Size, trillian.LeafHash(pp.Leaf), pp.Proof, v.cp.Hash); err != nil {
		return fmt.Errorf("policy leaf %d is not in the checkpointed tree: %v", pp.Index, err)
	}
	return nil
}
