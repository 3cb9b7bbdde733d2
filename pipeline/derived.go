package pipeline

import (
	"context"
	"fmt"
	"os"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/commit"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/workspace"
)

// Package forms (ProveOptions.Form).
const (
	// FormAuto writes a derived package where one may be written (a whole
	// version, detached, nothing redacted) and the manifest has no natural
	// keys, a full package otherwise.
	FormAuto = ""
	// FormFull always writes per-row salts and commitments.
	FormFull = "full"
	// FormDerived writes the version's salt key and one 3-byte leaf tag
	// per row (docs/package-format.md, derived mode): packages of a few
	// percent of the data's size.
	FormDerived = "derived"
)

// derivedForm decides whether a package is derived. A salt key derives
// the salt of every cell of the rows it covers, so salt keys may travel
// only where all of those cells are disclosed: the whole version (every
// row: none withheld for consent or erased), nothing redacted. Detached
// only: an attached package carries the values anyway. Natural keys need
// the full form by default, whose key columns match a re-sorted copy row
// for row; a derived package matches by position.
func derivedForm(opts ProveOptions, hasKeys, everyRow bool) (bool, error) {
	eligible := opts.Detached && len(opts.Rows) == 0 && len(opts.Where) == 0 && len(opts.Redact) == 0
	switch opts.Form {
	case FormFull:
		return false, nil
	case FormDerived:
		if !eligible {
			return false, fmt.Errorf("a derived package proves a whole version, detached, with nothing redacted (no row selection or redaction): %w", workspace.ErrUsage)
		}
		if !everyRow {
			return false, fmt.Errorf("a derived package proves every row of a version, and rows are withheld (consent or erasure): use --form full: %w", workspace.ErrUsage)
		}
		return true, nil
	case FormAuto:
		return eligible && everyRow && !hasKeys, nil
	}
	return false, fmt.Errorf("package form %q: want %q or %q: %w", opts.Form, FormFull, FormDerived, workspace.ErrUsage)
}

// saltKeyRuns reads the data once for the salt keys of its rows: one run
// per participant (salts v2) or one for the version (salts v1), noting
// the participants for the disclosure record when no selection pass did.
func (w *packageWriter) saltKeyRuns(ctx context.Context, f *source.File) ([]commit.KeyRun, error) {
	var runs []commit.KeyRun
	_, err := source.ForEachBatch(ctx, f, func(b source.Batch) error {
		if w.noteInWrite {
			all := make([]int, b.Rec.NumRows())
			for i := range all {
				all[i] = i
			}
			if _, err := w.consentFilter(b, all); err != nil { // no rule: notes the participants
				return err
			}
		}
		var err error
		runs, err = w.committer.AppendKeyRuns(runs, b.Rec, b.First)
		return err
	})
	return runs, err
}

// writeDerived writes a derived package's one column, the leaf tag of
// every row in order, computing each row's leaf exactly as ingest did and
// folding it into the range proof's self-check.
func writeDerived(ctx context.Context, file *os.File, f *source.File, meta *disclosure.Meta, committer *commit.Committer, rangeCheck *trillian.RangeVerifier, progress func(source.Batch)) (uint64, error) {
	md, err := meta.Metadata()
	if err != nil {
		return 0, err
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: disclosure.ColLeafTag, Type: disclosure.LeafTagType}}, &md)
	mem := memory.DefaultAllocator
	w, err := ipc.NewFileWriter(file, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	if err != nil {
		return 0, err
	}
	lb := &commit.LeafBatch{Unfolded: true} // folded into the range check below
	rows, err := source.ForEachBatch(ctx, f, source.Chunked(commitChunk, func(b source.Batch) error {
		if err := committer.Fill(lb, b.Rec, b.First, 0); err != nil {
			return err
		}
		n := len(lb.Hashes)
		// A segment merged before lb's buffers are reused: a compact range
		// keeps the hashes it is given until they are merged.
		seg := rangeCheck.NewSegment(b.First)
		for _, h := range lb.Hashes {
			if err := seg.Append(h); err != nil {
				return err
			}
		}
		rangeCheck.AppendSegment(seg)
		tags := fixedSizeColumn(disclosure.LeafTagType, n, func(k int) []byte { return lb.Hashes[k][:disclosure.LeafTagSize] })
		defer tags.Release()
		rec := array.NewRecord(schema, []arrow.Array{tags}, int64(n))
		defer rec.Release()
		if err := w.Write(rec); err != nil {
			return err
		}
		progress(b)
		return nil
	}))
	if err != nil {
		return rows, err
	}
	return rows, w.Close()
}
