package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/disclosure/ipcfile"
	"github.com/trialog/trialog/internal/parallel"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
)

func (v *verifier) rows(ctx context.Context, fr *ipcfile.File) error {
	m, meta := v.meta.Manifest, v.meta
	var rangeCheck *trillian.RangeVerifier
	if meta.RangeProof != nil {
		var err error
		if rangeCheck, err = trillian.NewRangeVerifier(*meta.RangeProof); err != nil {
			v.rep.fail("range proof: %v", err)
			return nil
		}
	}
	if v.data != nil {
		defer v.data.close()
	}
	// Row index at each package position (sized for the common case, a
	// package of the whole version; the manifest's count is authenticated).
	order := make([]uint64, 0, min(m.Rows, uint64(fr.Layout.Rows())))
	if v.keyed != nil {
		if err := v.planKeyed(fr); err != nil {
			return err
		}
	}
	rowIdx := fr.Schema().FieldIndices(disclosure.ColRow)[0]
	leafIdx := fr.Schema().FieldIndices(disclosure.ColLeafIndex)[0]
	var work []rowCheck
	records, stopReading := readAhead(fr)
	defer stopReading()
	var folded uint64 // rows folded into rangeCheck
	if v.opts.Total != nil {
		v.opts.Total(disclosure.CountRanges(v.expected))
	}
	for next := range records {
		if err := ctx.Err(); err != nil {
			if next.rec != nil {
				next.rec.Release()
			}
			return err
		}
		if next.err != nil {
			return fmt.Errorf("%s: batch %d: %w: %v", v.rep.Package, next.index, disclosure.ErrPackage, next.err)
		}
		rec := next.rec
		var err error
		if name := v.nullInReserved(rec); name != "" {
			v.rep.fail("column %s has nulls: every trialog column has a value in every row", name)
			rec.Release()
			return nil
		}
		rowCol := rec.Column(rowIdx).(*array.Uint64)
		leafCol := rec.Column(leafIdx).(*array.Uint64)
		encs := make([]canonical.CellEncoder, len(v.names))
		for j, idx := range v.valueCol {
			if idx >= 0 {
				if encs[j], err = v.rules.Encoder(rec.Column(idx)); err != nil {
					v.rep.fail("column %s: %v", v.names[j], err)
					rec.Release()
					return nil
				}
			}
		}
		var proofs *array.List
		if meta.Selection == disclosure.SelectionRows {
			proofs = rec.Column(fr.Schema().FieldIndices(disclosure.ColProof)[0]).(*array.List)
		}
		n := int(rec.NumRows())
		// Reused from batch to batch: fresh pages for every batch cost
		// more than the rows' checks (the range fold keeps copies).
		work = slices.Grow(work[:0], n)[:n]
		clear(work)
		// In order: row indices, and where each row's data-file copy is.
		var retained []arrow.Record
		for i := 0; i < n; i++ {
			v.rep.Rows++
			w := &work[i]
			w.row, w.li = rowCol.Value(i), leafCol.Value(i)
			if w.li != m.FirstIndex+w.row {
				w.reasons = append(w.reasons, fmt.Sprintf("leaf index %d is not row %d's (%d)", w.li, w.row, m.FirstIndex+w.row))
			}
			if w.row >= m.Rows {
				w.reasons = append(w.reasons, fmt.Sprintf("row %d is beyond the dataset's %d rows (inserted)", w.row, m.Rows))
			}
			order = append(order, w.row)
			switch {
			case v.keyed != nil:
				if r := v.keyed.assign[len(order)-1]; r != nil {
					w.keyed = r.cells
				} else {
					w.reasons = append(w.reasons, "no row with this key in the data file (missing)")
				}
			case v.data != nil:
				w.dataRec, w.dataRow, w.dataEncs, err = v.data.seek(w.row)
				if err != nil {
					for _, r := range retained {
						r.Release()
					}
					rec.Release()
					return err
				}
				if w.dataRec == nil && w.row < m.Rows {
					w.reasons = append(w.reasons, "row missing from the data file")
				}
				if w.dataRec != nil && (len(retained) == 0 || retained[len(retained)-1] != w.dataRec) {
					w.dataRec.Retain() // valid past the cursor's next batch
					retained = append(retained, w.dataRec)
				}
			}
		}
		// In parallel: the hashing (row hashes, commitments, leaves,
		// proofs) and the range fold of each part.
		segments := make([]*trillian.RangeSegment, parallel.Parts(n))
		parallel.Run(n, 0, func(_, part, lo, hi int) {
			v.checkRows(rec, encs, proofs, work[lo:hi], lo)
			if rangeCheck != nil {
				seg := rangeCheck.NewSegment(folded + uint64(lo))
				for i := range work[lo:hi] {
					if seg.Append(work[lo+i].leafHash) != nil {
						break // cannot happen: runs start at their offset
					}
				}
				segments[part] = seg
			}
		})
		// In order: the range fold's merge and the report.
		if rangeCheck != nil {
			for _, seg := range segments {
				rangeCheck.AppendSegment(seg)
			}
			folded += uint64(n)
		}
		for i := range work {
			w := &work[i]
			if len(w.columns) > 0 {
				w.reasons = append(w.reasons, "cell values differ from their commitments")
			}
			if len(w.reasons) > 0 {
				v.badRow(RowProblem{Row: w.row, LeafIndex: w.li, Columns: w.columns, Reason: strings.Join(w.reasons, "; ")})
			}
		}
		for _, r := range retained {
			r.Release()
		}
		rec.Release()
		if v.opts.Progress != nil {
			v.opts.Progress(v.rep.Rows)
		}
	}
	v.checkOrder(order)
	if meta.Selection == disclosure.SelectionRange {
		v.checkRange(rangeCheck, m.RangeRoot, "a row hash, commitment, row index or proof hash was altered")
	}
	if v.keyed != nil {
		v.keyed.finish(v.rep)
		v.rowCoverage(uint64(len(v.keyed.rows)), v.keyed.matched())
	} else if v.data != nil {
		total, extra, err := v.data.remaining()
		if err != nil {
			return err
		}
		if extra > 0 && meta.Selection == disclosure.SelectionRange {
			v.rep.fail("data file %s has %d rows more than the dataset version (%d)", v.data.file.Name, extra, m.Rows)
		}
		v.rowCoverage(total, distinctBelow(order, total))
	}
	return nil
}

// rowCoverage reports the data file's rows the package does not prove.
func (v *verifier) rowCoverage(total, covered uint64) {
	rep := v.rep
	rep.DataRows, rep.DataRowsNotCovered = total, total-min(covered, total)
	if rep.DataRowsNotCovered == 0 || v.meta.Selection == disclosure.SelectionRange {
		return // a whole-dataset package already fails on extra rows
	}
	what := fmt.Sprintf("%d rows of the data file %s are not covered by this package (it proves %d of its %d rows): verification says nothing about them",
		rep.DataRowsNotCovered, v.opts.Data.Name, total-rep.DataRowsNotCovered, total)
	if v.opts.Complete {
		rep.fail("%s", what)
	} else {
		rep.Notes = append(rep.Notes, what)
	}
}

// distinctBelow counts the distinct row indices in order below n.
func distinctBelow(order []uint64, n uint64) uint64 {
	rows := slices.Clone(order)
	slices.Sort(rows)
	rows = slices.Compact(rows)
	i, _ := slices.BinarySearch(rows, n)
	return uint64(i)
}

// nullInReserved names a trialog column of rec with a null, if any: the
// checks read those columns' values without looking at validity.
func (v *verifier) nullInReserved(rec arrow.Record) string {
	for i, f := range rec.Schema().Fields() {
		if strings.HasPrefix(f.Name, disclosure.ReservedPrefix) && rec.Column(i).NullN() > 0 {
			return f.Name
		}
	}
	return ""
}

// rowCheck is one package row on its way through verification.
type rowCheck struct {
	row, li  uint64
	reasons  []string
	columns  []string // columns whose cells differ from their commitments
	leafHash []byte
	hash     [sha256.Size]byte // leafHash's storage
	dataRec  arrow.Record      // positional data copy, if any
	dataRow  int
	dataEncs []canonical.CellEncoder
	keyed    [][]byte // keyed data copy's cells, if any
}

// checkRows does the hashing for rows [first, first+len(work)) of a
// package batch: each copy of the row's cells (the package's values, the
// data file's) against the row hash or the commitments, the leaf rebuilt
// from the row hash and the commitments, its inclusion proof. It only
// reads shared state, so batches of rows run concurrently.
func (v *verifier) checkRows(rec arrow.Record, encs []canonical.CellEncoder, proofs *array.List, work []rowCheck, first int) {
	rc := rowCells{
		rowHashes: rec.Column(v.rowHashCol).(*array.FixedSizeBinary),
		commits:   make([]*array.FixedSizeBinary, len(v.names)),
		salts:     make([]*array.FixedSizeBinary, len(v.names)),
		cells:     make([][]byte, len(v.names)),
		present:   make([]bool, len(v.names)),
		failed:    make([]bool, len(v.names)),
		bad:       make([]bool, len(v.names)),
	}
	for j := range v.names {
		rc.commits[j] = rec.Column(v.commitCol[j]).(*array.FixedSizeBinary)
		if v.saltCol[j] >= 0 {
			rc.salts[j] = rec.Column(v.saltCol[j]).(*array.FixedSizeBinary)
		}
	}
	var leafBuf []byte
	for k := range work {
		w, i := &work[k], first+k
		clear(rc.bad)
		rowHashDiffers := false
		for src := range cellSources {
			if v.loadCells(&rc, src, w, encs, i) {
				rowHashDiffers = v.checkCells(&rc, i) || rowHashDiffers
			}
		}
		for j, name := range v.names {
			if rc.bad[j] {
				w.columns = append(w.columns, name)
			}
		}
		if rowHashDiffers && len(w.columns) == 0 {
			w.reasons = append(w.reasons, "row hash differs from the row's cells (the row hash was altered, or a cell together with its commitment)")
		}
		rc.digest.Start(nil)
		for j := range v.names {
			rc.digest.Commitment(rc.commits[j].Value(i))
		}
		rowHash, cells := [sha256.Size]byte(rc.rowHashes.Value(i)), rc.digest.CellsHash()
		leafBuf = v.encoder.Append(append(leafBuf[:0], 0x00), w.row, &rowHash, &cells) // RFC 6962 leaf prefix
		w.leafHash = rc.digest.Sum(w.hash[:0], leafBuf)
		if proofs != nil {
			start, end := proofs.ValueOffsets(i)
			hashes := proofs.ListValues().(*array.FixedSizeBinary)
			var proof [][]byte
			if end-start > maxProofHashes { // a crafted list spanning a whole batch
				w.reasons = append(w.reasons, "not in the checkpointed tree: inclusion proof of more than 64 hashes")
				continue
			}
			for p := start; p < end; p++ {
				proof = append(proof, hashes.Value(int(p)))
			}
			if err := trillian.VerifyInclusion(w.li, v.cp.Size, w.leafHash, proof, v.cp.Hash); err != nil {
				w.reasons = append(w.reasons, "not in the checkpointed tree: inclusion proof fails")
			}
		}
	}
}

// maxProofHashes is the longest inclusion proof of a tree of 2^64 leaves.
const maxProofHashes = 64

// rowCells is checkRows' per-worker state: one package batch's columns and
// one copy of one row's cells, with buffers reused from row to row.
type rowCells struct {
	rowHashes      *array.FixedSizeBinary
	commits, salts []*array.FixedSizeBinary // per column; salts nil when redacted
	cells          [][]byte                 // per column: canonical cell
	present        []bool                   // per column: this copy has the cell
	failed         []bool                   // per column: the cell has no canonical form
	bad            []bool                   // per column: differs in some copy
	all            bool                     // every column present and encoded
	buf, saltBuf   []byte
	digest         leaf.RowDigest
}

// loadCells reads copy src of package row i (row w) into rc; false when
// that copy does not exist.
func (v *verifier) loadCells(rc *rowCells, src int, w *rowCheck, encs []canonical.CellEncoder, i int) bool {
	switch {
	case src == fromPackage && v.valueColumns():
	case src == fromData && w.dataRec != nil:
	case src == fromKeyed && w.keyed != nil:
	default:
		return false
	}
	rc.buf, rc.all = rc.buf[:0], true
	ends := make([]int, 0, 32)
	for j := range v.names {
		start := len(rc.buf)
		var err error
		present := true
		switch {
		case src == fromPackage && encs[j] != nil:
			rc.buf, err = encs[j](rc.buf, i)
		case src == fromData && w.dataEncs[j] != nil:
			rc.buf, err = w.dataEncs[j](rc.buf, w.dataRow)
		case src == fromKeyed && w.keyed[j] != nil:
			rc.buf = append(rc.buf, w.keyed[j]...)
		default:
			present = false
		}
		rc.present[j], rc.failed[j] = present, err != nil
		if err != nil {
			rc.buf = rc.buf[:start]
		}
		rc.all = rc.all && present && err == nil
		ends = append(ends, len(rc.buf))
	}
	start := 0
	for j, end := range ends { // slices taken once buf has stopped moving
		rc.cells[j] = rc.buf[start:end:end]
		start = end
	}
	return true
}

// valueColumns reports whether the package carries values at all.
func (v *verifier) valueColumns() bool {
	for _, c := range v.valueCol {
		if c >= 0 {
			return true
		}
	}
	return false
}

// checkCells checks the copy of package row i in rc, marking the columns
// that differ in rc.bad. A whole row (nothing redacted) is checked with
// one hash, its row hash; cell by cell only if that differs, to say
// which column. It reports whether the row hash differs from the cells.
func (v *verifier) checkCells(rc *rowCells, i int) (rowHashDiffers bool) {
	whole := v.full && rc.all
	if whole {
		rc.saltBuf = rc.saltBuf[:0]
		for j := range v.names {
			rc.saltBuf = append(rc.saltBuf, rc.salts[j].Value(i)...)
		}
		rc.digest.Start(rc.saltBuf)
		for j := range v.names {
			rc.digest.RowCell(rc.cells[j])
		}
		rowHash := rc.digest.RowHash()
		if rowHashDiffers = !bytes.Equal(rowHash[:], rc.rowHashes.Value(i)); !rowHashDiffers && !v.exhaustive {
			return false
		}
	}
	for j := range v.names {
		if rc.salts[j] == nil || !rc.present[j] {
			continue
		}
		if rc.failed[j] {
			rc.bad[j] = true
		} else if c := leaf.Commit(rc.salts[j].Value(i), rc.cells[j]); !bytes.Equal(c[:], rc.commits[j].Value(i)) {
			rc.bad[j] = true
		}
	}
	return rowHashDiffers
}

// readResult is one record batch of a package, or why it could not be read.
type readResult struct {
	rec   arrow.Record
	index int
	err   error
}

// readAhead reads a package's record batches in order on another
// goroutine, one batch ahead of the consumer, so reading overlaps hashing.
// A panic of the Arrow reader on a crafted file becomes an error. Call
// stop when done: it ends the reader and releases unconsumed batches.
func readAhead(fr *ipcfile.File) (<-chan readResult, func()) {
	out := make(chan readResult, 1)
	quit := make(chan struct{})
	go func() {
		defer close(out)
		for b := 0; b < fr.NumRecords(); b++ {
			rec, err := fr.RecordAt(b) // guarded: a reader panic is an error
			select {
			case out <- readResult{rec, b, err}:
			case <-quit:
				if rec != nil {
					rec.Release()
				}
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return out, func() {
		close(quit)
		for r := range out {
			if r.rec != nil {
				r.rec.Release()
			}
		}
	}
}

// The copies of a row's cells a verifier may hold.
const (
	fromPackage = iota // the package's values (attached)
	fromData           // the data file's row at the same index (detached)
	fromKeyed          // the data file's row with the same natural key
	cellSources
)

// checkRange checks that the rows' leaves, folded with the range proof,
// give the checkpoint's root and the manifest's range root (hex). suspect
// says what to suspect when they do not and no row was found bad: the
// rows' own checks did not show where.
func (v *verifier) checkRange(rangeCheck *trillian.RangeVerifier, rangeRoot, suspect string) {
	if err := rangeCheck.Verify(v.cp.Hash); err != nil {
		if v.rep.BadRowCount == 0 {
			v.rep.fail("the rows do not hash to the checkpointed tree (%s): %v", suspect, err)
		} else {
			v.rep.fail("the rows do not hash to the checkpointed tree: %v", err)
		}
	} else if root, _ := rangeCheck.RangeRoot(); hex.EncodeToString(root) != rangeRoot {
		v.rep.fail("dataset range root %x differs from the manifest's %s", root, rangeRoot)
	}
}
