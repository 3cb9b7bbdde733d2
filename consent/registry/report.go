package registry

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/witness"
	"github.com/trialog/trialog/workspace"
)

// maxCarriedProofs bounds a report's consistency proofs, as a package's.
const maxCarriedProofs = 1000

// MakeReport builds the IRB report (consent.BuildReport) from a registry
// that passes Check and a disclosure log that passes its check, against
// the trial's latest signed checkpoint, with the log's inclusion proofs,
// the consistency proofs from the trial's earlier checkpoints and the
// witness check of the checkpoint.
func MakeReport(ctx context.Context, t *workspace.Trial, reg *Registry, audits []*consent.AuditResult, now time.Time) (*consent.Report, error) {
	chk, err := reg.Check(ctx)
	if err != nil {
		return nil, err
	}
	if !chk.OK {
		return nil, fmt.Errorf("consent registry of trial %s fails its check (%s): no report from it", t.ID, strings.Join(chk.Problems, "; "))
	}
	book, err := reg.Book()
	if err != nil {
		return nil, err
	}
	signed, cp, err := t.LatestOpened()
	if err != nil {
		return nil, err
	}
	disclosures, problems, err := t.ProveDisclosures(ctx, cp)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("disclosure log of trial %s fails its check (%s): no report from it", t.ID, strings.Join(problems, "; "))
	}
	prove := func(index, size uint64) ([][]byte, error) { return t.Log.InclusionProof(ctx, index, size) }
	rep, err := consent.BuildReport(t.ID, signed, cp, book, audits, disclosures, now, prove, t.SignStatement)
	if err != nil {
		return nil, err
	}
	if rep.Witnesses, err = checkpointWitnesses(t, signed); err != nil {
		return nil, err
	}
	if rep.Consistency, err = t.ConsistencyProofsTo(ctx, cp.Size, maxCarriedProofs); err != nil {
		return nil, err
	}
	return rep, nil
}

// checkpointWitnesses checks a signed checkpoint's cosignatures under the
// trial's witness policy; nil without a policy.
func checkpointWitnesses(t *workspace.Trial, signed []byte) (*witness.Report, error) {
	p, err := t.WitnessPolicy()
	if err != nil || p == nil {
		return nil, err
	}
	lv, err := note.NewVerifier(t.VerifierKey)
	if err != nil {
		return nil, err
	}
	return witness.Check(lv, signed, p)
}
