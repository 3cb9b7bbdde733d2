package verify

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/trialog/trialog/commit"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/disclosure/ipcfile"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/trillian"
)

// A derived package (docs/package-format.md, derived mode) carries the
// dataset version's salt key instead of per-row salts and commitments,
// and one 3-byte leaf tag per row. The verifier derives every salt,
// recomputes every cell commitment, row hash, cells digest and leaf of
// the recipient's data file exactly as ingest did, checks the leaves
// against the range proof and the manifest's range root, and uses the
// tags only to say which rows differ. Naming the column of a differing
// row needs its logged commitments: a follow-up package of just those
// rows (trialog prove --rows … --detached --form full) gives them.

// followUp is the advice attached to rows a derived package finds.
const followUp = "differs from the logged row; a derived package carries no per-cell commitments: ask the CRO for a follow-up package of this row (trialog prove --rows R --detached --form full) to name the column"

// checkDerivedColumns checks a derived package's one column and the data
// file's columns against the manifest.
func (v *verifier) checkDerivedColumns() bool {
	rep := v.rep
	// The package's one column was checked when its metadata record was
	// read (disclosure.Open).
	if v.opts.Data == nil {
		rep.fail("a derived package needs the data file to verify")
		return false
	}
	schema := v.opts.Data.Schema()
	ok := true
	v.derivedCols = commit.Columns{Sorted: v.names}
	for _, n := range v.names {
		idx := schema.FieldIndices(n)
		if len(idx) != 1 {
			rep.fail("data file %s: column %s missing (dropped or renamed)", v.opts.Data.Name, n)
			ok = false
			continue
		}
		v.derivedCols.SourceIndex = append(v.derivedCols.SourceIndex, idx[0])
	}
	var extra []string
	for _, f := range schema.Fields() {
		if !slices.Contains(v.names, f.Name) {
			extra = append(extra, f.Name)
		}
	}
	if len(extra) > 0 {
		rep.fail("data file %s: columns not in the manifest: %s", v.opts.Data.Name, strings.Join(extra, ", "))
	}
	return ok
}

// derivedTags reads the leaf tags, at most one per row of the version.
func (v *verifier) derivedTags(fr *ipcfile.File) ([]byte, error) {
	rows := v.meta.Manifest.Rows
	// Sized by the signed statement's rows (checkStatement), but no more
	// than the chunks the file holds could fill.
	capacity := min(rows, uint64(fr.Layout.Rows())*disclosure.MaxTagChunk)
	tags, ok, err := disclosure.LeafTags(fr, make([]byte, 0, capacity*disclosure.LeafTagSize), rows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.rep.Package, err)
	}
	if !ok {
		v.rep.fail("the package holds more leaf tags than the version's %d rows", rows)
		return nil, nil
	}
	if got := uint64(len(tags)) / disclosure.LeafTagSize; got != rows {
		v.rep.fail("the package holds %d leaf tags for the version's %d rows", got, rows)
		return nil, nil
	}
	return tags, nil
}

// derivedRows verifies the data file against a derived package.
func (v *verifier) derivedRows(ctx context.Context, fr *ipcfile.File) error {
	m, data := v.meta.Manifest, v.opts.Data
	tags, err := v.derivedTags(fr)
	if err != nil || tags == nil {
		return err
	}
	if runs := v.meta.SaltKeys; runs[len(runs)-1].First >= m.Rows {
		v.rep.fail("the package's salt keys start at row %d, beyond the version's %d rows", runs[len(runs)-1].First, m.Rows)
		return nil
	}
	committer, err := commit.NewCommitterFromKeys(v.meta.SaltKeys, m.Trial, m.Dataset, m.Version, data.Name, v.derivedCols, v.rules)
	if err != nil {
		v.rep.fail("salt keys: %v", err)
		return nil
	}
	rangeCheck, err := trillian.NewRangeVerifier(*v.meta.RangeProof)
	if err != nil {
		v.rep.fail("%v", err)
		return nil
	}
	if v.opts.Total != nil {
		v.opts.Total(m.Rows)
	}
	// The workers fold the leaf hashes into range segments as they compute
	// them; merging the segments in order costs O(log n) each.
	lb := &commit.LeafBatch{Unfolded: true, Segment: rangeCheck.NewSegment}
	rows, err := source.ForEachBatchAhead(ctx, data, source.Chunked(derivedChunk, func(b source.Batch) error {
		if err := committer.Fill(lb, b.Rec, b.First, 0); err != nil {
			return err
		}
		for i, h := range lb.Hashes {
			r := b.First + uint64(i)
			if r >= m.Rows {
				break // rows beyond the version: reported below
			}
			if !bytes.Equal(h[:disclosure.LeafTagSize], tags[r*disclosure.LeafTagSize:(r+1)*disclosure.LeafTagSize]) {
				v.badRow(RowProblem{Row: r, LeafIndex: m.FirstIndex + r, Reason: followUp})
			}
		}
		for _, seg := range lb.Segments {
			rangeCheck.AppendSegment(seg)
		}
		if v.opts.Progress != nil {
			v.opts.Progress(min(b.First+uint64(len(lb.Hashes)), m.Rows))
		}
		return nil
	}))
	if err != nil {
		return err
	}
	v.rep.Rows = min(rows, m.Rows)
	switch {
	case rows > m.Rows:
		v.rep.fail("data file %s has %d rows, the dataset version %d: rows %d-%d are not in it", data.Name, rows, m.Rows, m.Rows, rows-1)
	case rows < m.Rows:
		v.rep.fail("data file %s has %d rows, the dataset version %d: rows %d-%d are missing", data.Name, rows, m.Rows, rows, m.Rows-1)
	default:
		v.checkRange(rangeCheck, m.RangeRoot, "a row differs where its leaf tag does not show it, or the manifest leaf or a proof hash was altered")
	}
	v.rep.Notes = append(v.rep.Notes, "derived package: the data file's rows were matched to the log by position, every leaf recomputed from the package's salt keys")
	return nil
}

// derivedChunk is the rows one Fill of a derived verification takes: the
// workers meet once per chunk, so fewer, larger chunks keep both cores
// busier; the leaf buffers it needs (~200 bytes a row) stay small.
const derivedChunk = 65536
