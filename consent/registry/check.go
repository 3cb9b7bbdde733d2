package registry

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"slices"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/workspace"
)

// CheckReport is the outcome of Registry.Check. OK only if every check
// passed.
type CheckReport struct {
	OK            bool     `json:"ok"`
	Trial         string   `json:"trial"`
	Records       int      `json:"records"`
	Forms         int      `json:"forms"`
	Events        int      `json:"events"`
	ConsentLeaves int      `json:"consent_leaves_in_log"`
	TreeSize      uint64   `json:"tree_size"`
	RootHash      string   `json:"root_hash"`
	Problems      []string `json:"problems,omitempty"`
}

func (c *CheckReport) fail(format string, args ...any) {
	c.OK = false
	c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
}

// Check proves that the registry equals the replay of the logged consent
// records: every stored record, with salts rederived from the trial
// secret, recomputes the leaf at its index; the records replay in seq
// order under the registry's rules; every consent leaf in the log is in the
// registry; the latest signed checkpoint verifies and covers every record
// by an inclusion proof. Any edit to consent.db behind trialog's back
// breaks at least one of these. An error is returned only when the check
// cannot run.
func (r *Registry) Check(ctx context.Context) (*CheckReport, error) {
	t := r.t
	rep := &CheckReport{OK: true, Trial: t.ID}
	if j, err := t.Journal(); err != nil {
		rep.fail("write journal unreadable: %v", err)
	} else if j != nil && j.Kind == workspace.KindConsent {
		rep.fail("an interrupted consent append is pending: any consent command that writes finishes it")
	}
	recs, err := r.Records()
	if err != nil {
		rep.fail("registry unreadable: %v", err)
		return rep, nil
	}
	rep.Records = len(recs)
	signed, err := t.LatestCheckpoint()
	if err != nil {
		return nil, err
	}
	cp, err := checkpoint.Open(t.VerifierKey, signed)
	if err != nil {
		rep.fail("latest checkpoint: %v", err)
		return rep, nil
	}
	root, err := t.Log.LatestRoot(ctx)
	if err != nil {
		return nil, err
	}
	rep.TreeSize, rep.RootHash = cp.Size, hex.EncodeToString(cp.Hash)
	switch {
	case cp.Size > root.Size:
		rep.fail("the signed checkpoint has %d leaves, the log only %d: the log was rolled back", cp.Size, root.Size)
		return rep, nil
	case cp.Size == root.Size && !bytes.Equal(cp.Hash, root.Hash):
		rep.fail("the log's root differs from the signed checkpoint at size %d", cp.Size)
		return rep, nil
	case cp.Size < root.Size && cp.Size > 0:
		proof, err := t.Log.ConsistencyProof(ctx, cp.Size, root.Size)
		if err != nil {
			return nil, err
		}
		if err := trillian.VerifyConsistency(cp.Size, root.Size, proof, cp.Hash, root.Hash); err != nil {
			rep.fail("the log is not an extension of the signed checkpoint: %v", err)
			return rep, nil
		}
	}

	// Replay: every record, in order, under the rules it was written with,
	// recomputing its leaf from the stored fields and rederived salts.
	book := consent.NewBook()
	byIndex := map[uint64]uint64{}
	for i, rec := range recs {
		if rec.Seq != uint64(i)+1 {
			rep.fail("record %d is missing from the registry (found seq %d next)", i+1, rec.Seq)
			break
		}
		if err := book.Add(rec); err != nil {
			rep.fail("record %d does not replay: %v", rec.Seq, err)
			continue
		}
		if rec.Form != nil {
			rep.Forms++
		} else {
			rep.Events++
		}
		byIndex[rec.LeafIndex] = rec.Seq
		typ, _, err := rec.Fields()
		if err != nil {
			rep.fail("record %d: %v", rec.Seq, err)
			continue
		}
		salts, err := consent.DeriveSalts(t.Secret(), t.ID, rec.Seq, len(consent.FieldNames(typ)))
		if err != nil {
			return nil, err
		}
		for j, s := range salts {
			if j >= len(rec.Salts) || rec.Salts[j] != hex.EncodeToString(s) {
				rep.fail("record %d: stored salt of %s is not the one the trial secret derives", rec.Seq, consent.FieldNames(typ)[j])
				break
			}
		}
		want, err := rec.Leaf(t.ID)
		if err != nil {
			rep.fail("record %d: %v", rec.Seq, err)
			continue
		}
		if rec.LeafIndex >= root.Size {
			rep.fail("record %d: leaf index %d is past the log's end (%d)", rec.Seq, rec.LeafIndex, root.Size)
			continue
		}
		got, err := t.Log.Leaves(ctx, rec.LeafIndex, 1)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(got[0], want) {
			rep.fail("record %d (%s): does not match the logged leaf %d: the registry was edited", rec.Seq, describe(rec), rec.LeafIndex)
			continue
		}
		if rec.LeafIndex >= cp.Size {
			rep.fail("record %d: leaf %d is not yet covered by a signed checkpoint (size %d)", rec.Seq, rec.LeafIndex, cp.Size)
			continue
		}
		proof, err := t.Log.InclusionProof(ctx, rec.LeafIndex, cp.Size)
		if err != nil {
			return nil, err
		}
		if err := trillian.VerifyInclusion(rec.LeafIndex, cp.Size, trillian.LeafHash(want), proof, cp.Hash); err != nil {
			rep.fail("record %d: inclusion proof of leaf %d fails against the signed checkpoint: %v", rec.Seq, rec.LeafIndex, err)
		}
	}

	// Completeness: every consent leaf of the log must be a stored record.
	// Dataset rows and manifests are skipped by their catalogued ranges;
	// everything else is read.
	skip, err := r.datasetRanges()
	if err != nil {
		return nil, err
	}
	var next uint64
	scan := func(from, to uint64) error {
		if to <= from {
			return nil
		}
		return logLeaves(ctx, t.Log, from, to-from, func(idx uint64, l []byte) error {
			kind, _, err := leaf.Header(l)
			if err != nil || kind != leaf.KindConsent {
				return nil
			}
			rep.ConsentLeaves++
			if _, ok := byIndex[idx]; !ok {
				h, herr := leaf.ParseConsentLeaf(l)
				if herr != nil {
					rep.fail("leaf %d is a malformed consent leaf: %v", idx, herr)
				} else {
					rep.fail("leaf %d is consent record %d, which the registry does not hold: the registry lost it", idx, h.Seq)
				}
			}
			return nil
		})
	}
	for _, s := range skip {
		if err := scan(next, min(s[0], root.Size)); err != nil {
			return nil, err
		}
		next = max(next, s[1])
	}
	if err := scan(next, root.Size); err != nil {
		return nil, err
	}
	return rep, nil
}

// datasetRanges returns the leaf ranges [first, manifest+1) of every
// catalogued dataset version, sorted.
func (r *Registry) datasetRanges() ([][2]uint64, error) {
	names, err := r.t.Datasets()
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	var out [][2]uint64
	for _, n := range names {
		vs, err := r.t.Versions(n)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			out = append(out, [2]uint64{v.Manifest.FirstIndex, v.ManifestIndex + 1})
		}
	}
	slices.SortFunc(out, func(a, b [2]uint64) int { return cmp.Compare(a[0], b[0]) })
	return out, nil
}

func describe(r *consent.Record) string {
	if r.Form != nil {
		return "form " + r.Form.Ref()
	}
	return "event of subject " + r.Event.Subject
}
