package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"

	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/pipeline/canonical"
	"github.com/trialog/trialog/pipeline/source"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
)

// VerifyOptions configure an offline verification.
type VerifyOptions struct {
	// VerifierKey is the trial's public checkpoint key (note format).
	VerifierKey string
	// Data is the recipient's own copy of the dataset, required for a
	// detached package and optional for an attached one (then it is
	// compared with the package's values too).
	Data *source.File
	// Dataset and Version, if set, are what the recipient expects the
	// package to prove.
	Dataset string
	Version uint64
	// MaxReportedRows bounds the rows listed in the report (default 1000);
	// every bad row is still counted.
	MaxReportedRows int
}

// Report is the outcome of Verify. OK is true only if every check passed.
type Report struct {
	OK          bool         `json:"ok"`
	Package     string       `json:"package"`
	Data        string       `json:"data,omitempty"`
	Trial       string       `json:"trial,omitempty"`
	Dataset     string       `json:"dataset,omitempty"`
	Version     uint64       `json:"version,omitempty"`
	Mode        string       `json:"mode,omitempty"`
	Selection   string       `json:"selection,omitempty"`
	TreeSize    uint64       `json:"tree_size,omitempty"`
	RootHash    string       `json:"root_hash,omitempty"`
	Rows        uint64       `json:"rows_checked"`
	BadRowCount uint64       `json:"bad_rows"`
	Problems    []string     `json:"problems,omitempty"`
	Notes       []string     `json:"notes,omitempty"`
	BadRows     []RowProblem `json:"bad_row_list,omitempty"`
	Truncated   bool         `json:"bad_row_list_truncated,omitempty"`
	Redacted    []string     `json:"redacted,omitempty"`
	keys        []string
}

// RowProblem is one row that failed, with the columns that differ.
type RowProblem struct {
	Row       uint64   `json:"row"`
	LeafIndex uint64   `json:"leaf_index"`
	Columns   []string `json:"columns,omitempty"`
	Reason    string   `json:"reason"`
}

func (r *Report) fail(format string, args ...any) {
	r.OK = false
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Verify checks a package offline against the trial's verifier key, and,
// for a detached package, the recipient's data file. It returns an error
// only when the package cannot be read at all; everything else is in the
// report.
func Verify(ctx context.Context, pkgPath string, opts VerifyOptions) (*Report, error) {
	if opts.MaxReportedRows == 0 {
		opts.MaxReportedRows = 1000
	}
	rep, fast, err := verifyOnce(ctx, pkgPath, opts, false)
	if err != nil || rep.OK || !fast {
		return rep, err
	}
	// The fast pass checked whole rows by their row hash, which says that
	// a row differs but not which commitment of it was altered. Failure is
	// the rare case: check again cell by cell, which names every column.
	rep, _, err = verifyOnce(ctx, pkgPath, opts, true)
	return rep, err
}

// verifyOnce is one verification pass. Unless exhaustive, rows whose
// every column is disclosed are checked by their row hash, and cell by
// cell only if that differs; fast reports whether that happened.
func verifyOnce(ctx context.Context, pkgPath string, opts VerifyOptions, exhaustive bool) (rep *Report, fast bool, err error) {
	fh, err := os.Open(pkgPath)
	if err != nil {
		return nil, false, err
	}
	defer fh.Close()
	fr, err := ipc.NewFileReader(fh, ipc.WithAllocator(source.NewRecycler(256<<20)))
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w: %v", pkgPath, ErrPackage, err)
	}
	defer fr.Close()
	meta, err := parsePackageMeta(fr.Schema().Metadata())
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", pkgPath, err)
	}
	m := meta.Manifest
	rep = &Report{OK: true, Package: pkgPath, Trial: m.Trial, Dataset: m.Dataset, Version: m.Version,
		Mode: meta.Mode, Selection: meta.Selection, Redacted: meta.Redacted, keys: m.Keys}
	if opts.Data != nil {
		rep.Data = opts.Data.Name
	}
	v := &verifier{rep: rep, meta: meta, opts: opts, schema: fr.Schema(), exhaustive: exhaustive}
	if !v.checkHeader() {
		return rep, false, nil
	}
	if err := v.safeRows(ctx, fr); err != nil {
		return nil, false, err
	}
	return rep, v.full && !exhaustive, nil
}

// safeRows runs the row checks, turning a panic from malformed Arrow data
// in a crafted package into an error rather than a crash.
func (v *verifier) safeRows(ctx context.Context, fr *ipc.FileReader) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if v.opts.Data != nil { // the data file is read in the same loop
				err = fmt.Errorf("%s or %s: %w: malformed Arrow data (%v)", v.rep.Package, v.opts.Data.Name, ErrPackage, r)
				return
			}
			err = fmt.Errorf("%s: %w: malformed Arrow data (%v)", v.rep.Package, ErrPackage, r)
		}
	}()
	return v.rows(ctx, fr)
}

type verifier struct {
	rep     *Report
	meta    *PackageMeta
	opts    VerifyOptions
	schema  *arrow.Schema
	cp      checkpoint.Checkpoint
	names   []string // manifest columns in name order
	encoder *leaf.RowEncoder
	// per column in name order: package field indices (-1 when absent)
	valueCol, saltCol, commitCol []int
	rowHashCol                   int
	// full: no column is redacted, so a row's cells can be checked
	// together by its row hash; exhaustive: check every cell anyway.
	full, exhaustive bool
	data             *dataCursor
	keyed            *keyedData
	expected         [][2]uint64 // rows the signed statement lists
}

// checkHeader verifies the checkpoint, the manifest and the package
// columns; it returns false when no row can be checked.
func (v *verifier) checkHeader() bool {
	rep, meta, m := v.rep, v.meta, v.meta.Manifest
	cp, err := checkpoint.Open(v.opts.VerifierKey, meta.Checkpoint)
	if err != nil {
		rep.fail("checkpoint: %v (signed by another key, or altered)", err)
		return false
	}
	v.cp = cp
	rep.TreeSize, rep.RootHash = cp.Size, hex.EncodeToString(cp.Hash)
	if want := checkpoint.Origin(m.Trial); cp.Origin != want {
		rep.fail("checkpoint origin %q is not trial %s's (%q)", cp.Origin, m.Trial, want)
	}
	if !v.checkStatement() {
		return false
	}
	if v.opts.Dataset != "" && v.opts.Dataset != m.Dataset {
		rep.fail("package proves dataset %s, expected %s", m.Dataset, v.opts.Dataset)
	}
	if v.opts.Version != 0 && v.opts.Version != m.Version {
		rep.fail("package proves %s version %d, expected version %d", m.Dataset, m.Version, v.opts.Version)
	}
	if meta.ManifestIndex != m.FirstIndex+m.Rows {
		rep.fail("manifest index %d is not right after the dataset's rows [%d, %d)", meta.ManifestIndex, m.FirstIndex, m.FirstIndex+m.Rows)
	}
	if meta.ManifestIndex >= cp.Size {
		rep.fail("checkpoint is for a tree of %d leaves, which does not reach the manifest at leaf %d (rolled back or stale checkpoint)", cp.Size, meta.ManifestIndex)
		return false
	}
	if err := trillian.VerifyInclusion(meta.ManifestIndex, cp.Size, trillian.LeafHash(meta.ManifestLeaf), meta.ManifestProof, cp.Hash); err != nil {
		rep.fail("manifest of %s version %d is not in the checkpointed tree at leaf %d: %v", m.Dataset, m.Version, meta.ManifestIndex, err)
		return false
	}
	if meta.RangeProof != nil {
		rp := meta.RangeProof
		if rp.Begin != m.FirstIndex || rp.End != m.FirstIndex+m.Rows || rp.Size != cp.Size {
			rep.fail("range proof covers [%d, %d) of %d, the manifest [%d, %d) of %d", rp.Begin, rp.End, rp.Size, m.FirstIndex, m.FirstIndex+m.Rows, cp.Size)
			return false
		}
	}
	v.names = m.ColumnNames()
	slices.Sort(v.names)
	if v.encoder, err = leaf.NewRowEncoder(m.Trial, m.Dataset, m.Version, v.names); err != nil {
		rep.fail("manifest columns: %v", err)
		return false
	}
	seenField := map[string]bool{}
	for _, f := range v.schema.Fields() {
		if seenField[f.Name] {
			rep.fail("column %s appears more than once", f.Name)
			return false
		}
		seenField[f.Name] = true
	}
	find := func(name string) int {
		if idx := v.schema.FieldIndices(name); len(idx) == 1 {
			return idx[0]
		}
		return -1
	}
	ok := true
	for _, name := range v.names {
		value, salt, commit := find(name), find(SaltColumn(name)), find(CommitColumn(name))
		redacted := slices.Contains(meta.Redacted, name)
		switch {
		case commit < 0 || !arrow.TypeEqual(v.schema.Field(commit).Type, commitArrowType):
			rep.fail("column %s: commitment column missing or of the wrong type (column dropped or renamed)", name)
			ok = false
		case redacted && (value >= 0 || salt >= 0):
			rep.fail("column %s: declared redacted but its value or salt is present", name)
			ok = false
		case !redacted && (salt < 0 || !arrow.TypeEqual(v.schema.Field(salt).Type, saltArrowType)):
			rep.fail("column %s: salt column missing or of the wrong type", name)
			ok = false
		case !redacted && meta.Mode == ModeAttached && value < 0:
			rep.fail("column %s: missing from the package (dropped or renamed)", name)
		}
		if value >= 0 && meta.Mode == ModeDetached && !slices.Contains(m.Keys, name) {
			rep.fail("column %s: a detached package carries values", name)
		}
		if value >= 0 {
			// The values must reach the recipient as they were ingested:
			// equal canonical cells would hide e.g. int64 turned float64.
			if i := slices.IndexFunc(m.Schema, func(c leaf.Column) bool { return c.Name == name }); i >= 0 && v.schema.Field(value).Type.String() != m.Schema[i].Type {
				rep.fail("column %s: type %s in the package, %s when ingested", name, v.schema.Field(value).Type, m.Schema[i].Type)
			}
		}
		v.valueCol = append(v.valueCol, value)
		v.saltCol = append(v.saltCol, salt)
		v.commitCol = append(v.commitCol, commit)
	}
	for _, f := range v.schema.Fields() {
		switch {
		case f.Name == ColProof && meta.Selection != SelectionRows:
			rep.fail("column %s in a package with a range proof", ColProof)
		case f.Name == ColRow || f.Name == ColLeafIndex || f.Name == ColRowHash || f.Name == ColProof:
		case strings.HasPrefix(f.Name, saltPrefix) || strings.HasPrefix(f.Name, commitPrefix):
			base := strings.TrimPrefix(strings.TrimPrefix(f.Name, saltPrefix), commitPrefix)
			if !slices.Contains(v.names, base) {
				rep.fail("column %s: not in the manifest", f.Name)
			}
		case !slices.Contains(v.names, f.Name):
			rep.fail("column %s: not in the manifest (renamed or added)", f.Name)
		}
	}
	for _, name := range []string{ColRow, ColLeafIndex} {
		if idx := find(name); idx < 0 || v.schema.Field(idx).Type.ID() != arrow.UINT64 {
			rep.fail("column %s missing", name)
			ok = false
		}
	}
	if v.rowHashCol = find(ColRowHash); v.rowHashCol < 0 || !arrow.TypeEqual(v.schema.Field(v.rowHashCol).Type, commitArrowType) {
		rep.fail("column %s missing or of the wrong type", ColRowHash)
		ok = false
	}
	v.full = len(meta.Redacted) == 0
	if meta.Selection == SelectionRows {
		if idx := find(ColProof); idx < 0 || !arrow.TypeEqual(v.schema.Field(idx).Type, proofArrowType) {
			rep.fail("column %s missing", ColProof)
			ok = false
		}
	}
	if meta.Mode == ModeDetached && v.opts.Data == nil {
		rep.fail("a detached package needs the data file to verify")
		ok = false
	}
	if v.opts.Data != nil && len(m.Keys) > 0 {
		for _, k := range m.Keys {
			if j := slices.Index(v.names, k); j < 0 || v.valueCol[j] < 0 {
				rep.fail("key column %s: no values in the package to match the data file's rows by", k)
				return false
			}
		}
		if v.keyed, err = loadKeyed(v.opts.Data, m, v.names); err != nil {
			rep.fail("%v", err)
			return false
		}
		for _, p := range v.keyed.problems {
			rep.fail("%s", p)
		}
	} else if v.opts.Data != nil {
		if v.data, err = newDataCursor(v.opts.Data, m, v.names); err != nil {
			rep.fail("%v", err)
			ok = false
		} else {
			for _, p := range v.data.problems {
				rep.fail("%s", p)
			}
		}
	}
	return ok
}

func (v *verifier) badRow(p RowProblem) {
	v.rep.OK = false
	v.rep.BadRowCount++
	if len(v.rep.BadRows) < v.opts.MaxReportedRows {
		v.rep.BadRows = append(v.rep.BadRows, p)
	} else {
		v.rep.Truncated = true
	}
}

func (v *verifier) rows(ctx context.Context, fr *ipc.FileReader) error {
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
	order := make([]uint64, 0, min(m.Rows, 1<<24))
	if v.keyed != nil {
		if err := v.planKeyed(fr); err != nil {
			return err
		}
	}
	rowIdx := fr.Schema().FieldIndices(ColRow)[0]
	leafIdx := fr.Schema().FieldIndices(ColLeafIndex)[0]
	var work []rowCheck
	records, stopReading := readAhead(fr)
	defer stopReading()
	var folded uint64 // rows folded into rangeCheck
	for next := range records {
		if err := ctx.Err(); err != nil {
			if next.rec != nil {
				next.rec.Release()
			}
			return err
		}
		if next.err != nil {
			return fmt.Errorf("%s: batch %d: %w: %v", v.rep.Package, next.index, ErrPackage, next.err)
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
				if encs[j], err = canonical.Encoder(rec.Column(idx)); err != nil {
					v.rep.fail("column %s: %v", v.names[j], err)
					rec.Release()
					return nil
				}
			}
		}
		var proofs *array.List
		if meta.Selection == SelectionRows {
			proofs = rec.Column(fr.Schema().FieldIndices(ColProof)[0]).(*array.List)
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
		segments := make([]*trillian.RangeSegment, parts(n))
		parallel(n, 0, func(_, part, lo, hi int) {
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
	}
	v.checkOrder(order)
	if meta.Selection == SelectionRange {
		if err := rangeCheck.Verify(v.cp.Hash); err != nil {
			if v.rep.BadRowCount == 0 {
				v.rep.fail("the rows do not hash to the checkpointed tree (a row hash, commitment, row index or proof hash was altered): %v", err)
			} else {
				v.rep.fail("the rows do not hash to the checkpointed tree: %v", err)
			}
		} else if root, _ := rangeCheck.RangeRoot(); hex.EncodeToString(root) != m.RangeRoot {
			v.rep.fail("dataset range root %x differs from the manifest's %s", root, m.RangeRoot)
		}
	}
	if v.keyed != nil {
		v.keyed.finish(v.rep)
	} else if v.data != nil {
		if extra, err := v.data.remaining(); err != nil {
			return err
		} else if extra > 0 && meta.Selection == SelectionRange {
			v.rep.fail("data file %s has %d rows more than the dataset version (%d)", v.data.file.Name, extra, m.Rows)
		}
	}
	return nil
}

// nullInReserved names a trialog column of rec with a null, if any: the
// checks read those columns' values without looking at validity.
func (v *verifier) nullInReserved(rec arrow.Record) string {
	for i, f := range rec.Schema().Fields() {
		if strings.HasPrefix(f.Name, ReservedPrefix) && rec.Column(i).NullN() > 0 {
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
			for p := start; p < end; p++ {
				proof = append(proof, hashes.Value(int(p)))
			}
			if err := trillian.VerifyInclusion(w.li, v.cp.Size, w.leafHash, proof, v.cp.Hash); err != nil {
				w.reasons = append(w.reasons, "not in the checkpointed tree: inclusion proof fails")
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
func readAhead(fr *ipc.FileReader) (<-chan readResult, func()) {
	out := make(chan readResult, 1)
	quit := make(chan struct{})
	go func() {
		defer close(out)
		for b := 0; b < fr.NumRecords(); b++ {
			rec, err := recordAt(fr, b)
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

func recordAt(fr *ipc.FileReader, b int) (rec arrow.Record, err error) {
	defer func() {
		if r := recover(); r != nil {
			rec, err = nil, fmt.Errorf("malformed Arrow data (%v)", r)
		}
	}()
	return fr.RecordAt(b)
}

// planKeyed reads the package's key columns and row indices and matches
// its rows to the data file's.
func (v *verifier) planKeyed(fr *ipc.FileReader) error {
	var keys []string
	var rows []uint64
	rowIdx := fr.Schema().FieldIndices(ColRow)[0]
	for b := 0; b < fr.NumRecords(); b++ {
		rec, err := fr.RecordAt(b)
		if err != nil {
			return fmt.Errorf("%s: batch %d: %w: %v", v.rep.Package, b, ErrPackage, err)
		}
		encs := make([]canonical.CellEncoder, len(v.names))
		for _, key := range v.meta.Manifest.Keys {
			j := slices.Index(v.names, key)
			if encs[j], err = canonical.Encoder(rec.Column(v.valueCol[j])); err != nil {
				rec.Release()
				return fmt.Errorf("%s: key column %s: %w: %v", v.rep.Package, key, ErrPackage, err)
			}
		}
		rowCol := rec.Column(rowIdx).(*array.Uint64)
		for i := 0; i < int(rec.NumRows()); i++ {
			key, err := v.packageKey(encs, i)
			if err != nil {
				key = "" // matches nothing; the row is reported
			}
			keys = append(keys, key)
			rows = append(rows, rowCol.Value(i))
		}
		rec.Release()
	}
	v.keyed.plan(keys, rows)
	return nil
}

// checkStatement verifies the CRO's signed statement and that the
// package's metadata says the same.
func (v *verifier) checkStatement() bool {
	rep, meta, m := v.rep, v.meta, v.meta.Manifest
	text, err := checkpoint.OpenNote(v.opts.VerifierKey, meta.Statement)
	if err != nil {
		rep.fail("package statement: %v (not signed by the trial's key, or altered)", err)
		return false
	}
	st, err := parseStatement(text)
	if err != nil {
		rep.fail("package statement: %v", err)
		return false
	}
	redacted := slices.Clone(meta.Redacted)
	slices.Sort(redacted)
	stRedacted := slices.Clone(st.Redacted)
	slices.Sort(stRedacted)
	switch {
	case st.Origin != v.cp.Origin:
		rep.fail("package statement is for %q, the checkpoint for %q", st.Origin, v.cp.Origin)
	case st.Dataset != m.Dataset || st.Version != m.Version:
		rep.fail("package statement is for %s version %d, the manifest for %s version %d (package from another dataset version)", st.Dataset, st.Version, m.Dataset, m.Version)
	case st.Mode != meta.Mode || st.Selection != meta.Selection:
		rep.fail("package statement says %s/%s, the package %s/%s", st.Mode, st.Selection, meta.Mode, meta.Selection)
	case st.TreeSize != v.cp.Size:
		rep.fail("package statement was made at tree size %d, the checkpoint is for %d (checkpoint replaced or rolled back)", st.TreeSize, v.cp.Size)
	case !slices.Equal(redacted, stRedacted):
		rep.fail("package declares redacted columns %v, the signed statement %v (column withheld)", meta.Redacted, st.Redacted)
	case meta.Selection == SelectionRange && !slices.Equal(st.Rows, [][2]uint64{{0, m.Rows}}):
		rep.fail("whole-dataset package statement lists rows %s", formatRanges(st.Rows))
	default:
		v.expected = st.Rows
		return true
	}
	return false
}

// checkOrder reports duplicated, moved and (for a whole-dataset package)
// missing rows. Rows must appear once each in increasing order; the rows
// outside a longest increasing run are the ones that moved, so one moved
// row is reported once rather than blaming every row it jumped over.
func (v *verifier) checkOrder(order []uint64) {
	m := v.meta.Manifest
	inOrder := true
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			inOrder = false
			break
		}
	}
	if inOrder && uint64(len(order)) == countRanges(v.expected) && allInRanges(v.expected, order) {
		return
	}
	seen := make(map[uint64]bool, len(order))
	var candidates []int // positions of first occurrences within the dataset
	for pos, r := range order {
		switch {
		case r >= m.Rows:
			// already reported as beyond the dataset
		case !inRanges(v.expected, r):
			v.badRow(RowProblem{Row: r, LeafIndex: m.FirstIndex + r, Reason: "row is not among the rows the CRO's signed statement lists (inserted)"})
		case seen[r]:
			v.badRow(RowProblem{Row: r, LeafIndex: m.FirstIndex + r, Reason: fmt.Sprintf("row appears again at package position %d (duplicated)", pos)})
		default:
			seen[r] = true
			candidates = append(candidates, pos)
		}
	}
	keep := longestIncreasing(order, candidates)
	for _, pos := range candidates {
		if !keep[pos] {
			r := order[pos]
			v.badRow(RowProblem{Row: r, LeafIndex: m.FirstIndex + r, Reason: fmt.Sprintf("row out of order at package position %d (moved)", pos)})
		}
	}
	for _, rg := range v.expected {
		for r := rg[0]; r < rg[1]; r++ {
			if seen[r] {
				continue
			}
			end := r
			for end+1 < rg[1] && !seen[end+1] {
				end++
			}
			what := fmt.Sprintf("rows %d to %d missing (removed)", r, end)
			if end == r {
				what = fmt.Sprintf("row %d missing (removed)", r)
			}
			v.badRow(RowProblem{Row: r, LeafIndex: m.FirstIndex + r, Reason: what})
			r = end
		}
	}
}

// allInRanges reports whether every row is one the statement lists.
func allInRanges(rs [][2]uint64, rows []uint64) bool {
	for _, r := range rows {
		if !inRanges(rs, r) {
			return false
		}
	}
	return true
}

// longestIncreasing returns the positions (among candidates) of a longest
// strictly increasing subsequence of order, by patience sorting.
func longestIncreasing(order []uint64, candidates []int) map[int]bool {
	var tails []int // positions: tails[k] ends the best run of length k+1
	prev := make(map[int]int, len(candidates))
	for _, pos := range candidates {
		lo, hi := 0, len(tails)
		for lo < hi {
			mid := (lo + hi) / 2
			if order[tails[mid]] < order[pos] {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if lo > 0 {
			prev[pos] = tails[lo-1]
		} else {
			prev[pos] = -1
		}
		if lo == len(tails) {
			tails = append(tails, pos)
		} else {
			tails[lo] = pos
		}
	}
	keep := map[int]bool{}
	if len(tails) == 0 {
		return keep
	}
	for pos := tails[len(tails)-1]; pos >= 0; pos = prev[pos] {
		keep[pos] = true
	}
	return keep
}

// dataCursor walks a recipient's data file in row order alongside the
// package.
type dataCursor struct {
	file     *source.File
	batches  *source.Batches
	rec      arrow.Record
	first    uint64 // row index of rec's first row
	encs     []canonical.CellEncoder
	names    []string
	colIdx   []int // per name-ordered manifest column: data field index or -1
	problems []string
	done     bool
	seen     uint64 // one past the highest row asked for
}

func newDataCursor(f *source.File, m *leaf.Manifest, names []string) (*dataCursor, error) {
	b, err := f.Batches(context.Background())
	if err != nil {
		return nil, err
	}
	d := &dataCursor{file: f, batches: b, names: names}
	schema := f.Schema()
	for _, n := range names {
		idx := schema.FieldIndices(n)
		if len(idx) == 1 {
			d.colIdx = append(d.colIdx, idx[0])
		} else {
			d.colIdx = append(d.colIdx, -1)
			d.problems = append(d.problems, fmt.Sprintf("data file %s: column %s missing (dropped or renamed)", f.Name, n))
		}
	}
	var extra []string
	for _, fl := range schema.Fields() {
		if !slices.Contains(names, fl.Name) {
			extra = append(extra, fl.Name)
		}
	}
	if len(extra) > 0 {
		d.problems = append(d.problems, fmt.Sprintf("data file %s: columns not in the manifest: %s", f.Name, strings.Join(extra, ", ")))
	}
	return d, nil
}

// seek returns the batch and position of data row r (rows are visited in
// increasing order), or a nil record past the end.
func (d *dataCursor) seek(r uint64) (arrow.Record, int, []canonical.CellEncoder, error) {
	d.seen = max(d.seen, r+1)
	for !d.done && (d.rec == nil || r >= d.first+uint64(d.rec.NumRows())) {
		if d.rec != nil {
			d.first += uint64(d.rec.NumRows())
			d.rec = nil
		}
		if !d.batches.Next() {
			d.done = true
			if err := d.batches.Err(); err != nil {
				return nil, 0, nil, err
			}
			break
		}
		d.rec = d.batches.Record()
		d.encs = make([]canonical.CellEncoder, len(d.names))
		for j, idx := range d.colIdx {
			if idx >= 0 {
				enc, err := canonical.Encoder(d.rec.Column(idx))
				if err != nil {
					return nil, 0, nil, fmt.Errorf("data file %s: column %s: %w", d.file.Name, d.names[j], err)
				}
				d.encs[j] = enc
			}
		}
	}
	if d.rec == nil || r < d.first {
		return nil, 0, nil, nil
	}
	return d.rec, int(r - d.first), d.encs, nil
}

// remaining counts the data rows after the last one asked for.
func (d *dataCursor) remaining() (uint64, error) {
	total := d.first
	if d.rec != nil {
		total += uint64(d.rec.NumRows())
	}
	for !d.done && d.batches.Next() {
		total += uint64(d.batches.Record().NumRows())
	}
	if err := d.batches.Err(); err != nil {
		return 0, err
	}
	return total - min(total, d.seen), nil
}

func (d *dataCursor) close() { d.batches.Close() }
