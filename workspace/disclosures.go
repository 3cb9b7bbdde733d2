package workspace

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
)

// KindDisclosure is the journal kind of a disclosure record.
const KindDisclosure = "disclosure"

// DisclosureRecord and ProvenDisclosure are leaf.DisclosureRecord and
// leaf.ProvenDisclosure, kept here under the names the workspace's API
// has always used.
type (
	DisclosureRecord = leaf.DisclosureRecord
	ProvenDisclosure = leaf.ProvenDisclosure
)

func (t *Trial) disclosureDir() string { return filepath.Join(t.Dir, "disclosures") }

// LogDisclosure appends a disclosure leaf through the journal: d is
// complete but for its commitments, which are computed here from
// subjects, reason and d.Operator (in clear on the way in, a commitment
// in the leaf) with the salts of the leaf's index. deliver (may be
// nil) runs after the leaf is logged and checkpointed, with the record
// and the signed checkpoint, before the record is kept: prove writes the
// package with the leaf's inclusion proof there. A crash anywhere leaves
// either no leaf (the journal is dropped) or a leaf whose record the next
// LogDisclosure or RecoverDisclosure keeps.
func (t *Trial) LogDisclosure(ctx context.Context, d leaf.Disclosure, subjects []string, reason string, deliver func(rec *DisclosureRecord, signed []byte) error) (*DisclosureRecord, error) {
	if err := t.RecoverDisclosure(ctx); err != nil {
		return nil, err
	}
	rec := &DisclosureRecord{Subjects: slices.Compact(slices.Sorted(slices.Values(subjects))), OverrideReason: reason, Operator: d.Operator}
	if rec.Subjects == nil {
		rec.Subjects = []string{}
	}
	build := func(start uint64) (any, [][]byte, error) {
		salts, err := leaf.DisclosureSalts(t.secret, t.ID, start)
		if err != nil {
			return nil, nil, err
		}
		rec.LeafIndex = start
		rec.SaltsHex = nil
		for _, s := range salts {
			rec.SaltsHex = append(rec.SaltsHex, hex.EncodeToString(s))
		}
		if d.Subjects, d.OverrideReason, d.Operator, err = leaf.DisclosureCommitments(salts, rec.Subjects, reason, rec.Operator); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", err, ErrUsage)
		}
		rec.Leaf = d
		l, err := rec.Bytes()
		if err != nil {
			return nil, nil, err
		}
		return rec, [][]byte{l}, nil
	}
	store := func(signed []byte) error {
		rec.Checkpoint = string(signed)
		if deliver != nil {
			if err := deliver(rec, signed); err != nil {
				return err
			}
		}
		return t.saveDisclosure(rec)
	}
	what := fmt.Sprintf("disclosure record of %s version %d to %s (any trialog prove finishes it)", d.Dataset, d.Version, d.Recipient)
	if _, _, err := t.Write(ctx, KindDisclosure, what, build, store); err != nil {
		return nil, err
	}
	return rec, nil
}

// RecoverDisclosure finishes a disclosure record interrupted after it was
// journaled: if the log holds its leaf, a checkpoint is signed and the
// record kept (the package may not have been written; the disclosure is
// listed all the same, erring towards reporting); if not, the journal is
// dropped. Other kinds of unfinished writes are left alone.
func (t *Trial) RecoverDisclosure(ctx context.Context) error {
	var rec DisclosureRecord
	leafOf := func(body json.RawMessage) ([]byte, error) {
		if err := json.Unmarshal(body, &rec); err != nil {
			return nil, err
		}
		return rec.Bytes()
	}
	return t.recoverSingle(ctx, KindDisclosure, leafOf, func(_ json.RawMessage, signed []byte) error {
		rec.Checkpoint, rec.Package = string(signed), ""
		return t.saveDisclosure(&rec)
	})
}

func (t *Trial) saveDisclosure(rec *DisclosureRecord) error {
	if err := os.MkdirAll(t.disclosureDir(), 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(t.disclosureDir(), fmt.Sprintf("%020d.json", rec.LeafIndex)), append(data, '\n'), 0o600)
}

// Disclosures lists the trial's logged disclosures, oldest first.
func (t *Trial) Disclosures() ([]*DisclosureRecord, error) {
	entries, err := readDirIfAny(t.disclosureDir())
	if err != nil || entries == nil {
		return nil, err
	}
	var out []*DisclosureRecord
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(t.disclosureDir(), e.Name()))
		if err != nil {
			return nil, err
		}
		var r DisclosureRecord
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		out = append(out, &r)
	}
	return out, nil
}

// ProveDisclosures checks every kept disclosure record against the log
// and the trial's latest signed checkpoint: its commitments open with the
// kept participants, reason and salts; its leaf is the log's leaf at its
// index; its inclusion proof verifies. It also reads every leaf outside
// the catalogued dataset ranges and reports disclosure leaves no record
// is kept for (problems), so a deleted record does not go unseen.
func (t *Trial) ProveDisclosures(ctx context.Context, cp checkpoint.Checkpoint) ([]ProvenDisclosure, []string, error) {
	recs, err := t.Disclosures()
	if err != nil {
		return nil, nil, err
	}
	var problems []string
	out := []ProvenDisclosure{}
	byIndex := map[uint64]bool{}
	for _, r := range recs {
		byIndex[r.LeafIndex] = true
		pd := ProvenDisclosure{DisclosureRecord: *r}
		l, err := r.Bytes()
		if err != nil {
			return nil, nil, err
		}
		pd.LeafHash = hex.EncodeToString(trillian.LeafHash(l))
		pd.Verified, pd.OK = "verified: leaf and inclusion proof against the checkpoint", true
		fail := func(format string, args ...any) {
			pd.OK, pd.Verified = false, fmt.Sprintf(format, args...)
			problems = append(problems, fmt.Sprintf("disclosure at leaf %d: %s", r.LeafIndex, pd.Verified))
		}
		switch {
		case r.Open() != nil:
			fail("%v", r.Open())
		case r.LeafIndex >= cp.Size:
			fail("leaf %d is not covered by the checkpoint (size %d)", r.LeafIndex, cp.Size)
		default:
			got, err := t.Log.Leaves(ctx, r.LeafIndex, 1)
			if err != nil {
				return nil, nil, err
			}
			if !bytes.Equal(got[0], l) {
				fail("the kept record does not match the logged leaf: the record was edited")
				break
			}
			if pd.Proof, err = t.Log.InclusionProof(ctx, r.LeafIndex, cp.Size); err != nil {
				return nil, nil, err
			}
			if err := trillian.VerifyInclusion(r.LeafIndex, cp.Size, trillian.LeafHash(l), pd.Proof, cp.Hash); err != nil {
				fail("inclusion proof fails: %v", err)
			}
		}
		out = append(out, pd)
	}
	missing, err := t.unrecordedDisclosures(ctx, cp.Size, byIndex)
	if err != nil {
		return nil, nil, err
	}
	for _, idx := range missing {
		problems = append(problems, fmt.Sprintf("leaf %d is a disclosure leaf with no kept record: the record was lost or deleted", idx))
	}
	return out, problems, nil
}

// unrecordedDisclosures scans the leaves outside dataset ranges for
// disclosure leaves not in byIndex.
func (t *Trial) unrecordedDisclosures(ctx context.Context, size uint64, byIndex map[uint64]bool) ([]uint64, error) {
	var ranges [][2]uint64
	names, err := t.Datasets()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, n := range names {
		vs, err := t.Versions(n)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			ranges = append(ranges, [2]uint64{v.Manifest.FirstIndex, v.ManifestIndex + 1})
		}
	}
	slices.SortFunc(ranges, func(a, b [2]uint64) int { return cmp.Compare(a[0], b[0]) })
	var missing []uint64
	scan := func(from, to uint64) error {
		for from < to {
			n := min(to-from, 4096)
			leaves, err := t.Log.Leaves(ctx, from, n)
			if err != nil {
				return err
			}
			for i, l := range leaves {
				if k, _, err := leaf.Header(l); err == nil && k == leaf.KindDisclosure && !byIndex[from+uint64(i)] {
					missing = append(missing, from+uint64(i))
				}
			}
			from += n
		}
		return nil
	}
	var next uint64
	for _, r := range ranges {
		if err := scan(next, min(r[0], size)); err != nil {
			return nil, err
		}
		next = max(next, r[1])
	}
	if err := scan(next, size); err != nil {
		return nil, err
	}
	return missing, nil
}
