package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/commit"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/internal/parallel"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/trillian"
)

// packageWriter writes one package: the Arrow IPC file of the selected
// rows, their salts and commitments (and, attached, values), in batches
// that stay within the format's limits.
type packageWriter struct {
	ctx        context.Context
	log        trillian.Log
	meta       *disclosure.Meta
	committer  *commit.Committer
	schema     *arrow.Schema
	opts       ProveOptions
	size       uint64
	root       []byte
	mem        memory.Allocator
	rangeCheck *trillian.RangeVerifier
	out        *arrow.Schema
	writer     *ipc.FileWriter
	rows       [][2]uint64 // the selected rows
	written    uint64
	consentTally
	blank, nonce string // the disclosure value's placeholder and its nonce (disclose.go)
	noteInWrite  bool   // note the participants while writing (no first pass ran)
}

func (w *packageWriter) disclosed(name string) bool {
	return !slices.Contains(w.opts.Redact, name)
}

// carriesValues says whether a disclosed column's values go in the
// package: always when attached; when detached, only the natural key
// columns, which let the recipient's copy be matched row for row.
func (w *packageWriter) carriesValues(name string) bool {
	return !w.opts.Detached || slices.Contains(w.meta.Manifest.Keys, name)
}

func (w *packageWriter) start(file *os.File) error {
	fields := []arrow.Field{
		{Name: disclosure.ColRow, Type: arrow.PrimitiveTypes.Uint64},
		{Name: disclosure.ColLeafIndex, Type: arrow.PrimitiveTypes.Uint64},
		{Name: disclosure.ColRowHash, Type: disclosure.CommitType},
	}
	for _, fl := range w.schema.Fields() {
		if w.disclosed(fl.Name) {
			if w.carriesValues(fl.Name) {
				fields = append(fields, arrow.Field{Name: fl.Name, Type: fl.Type, Nullable: true, Metadata: fl.Metadata})
			}
			fields = append(fields, arrow.Field{Name: disclosure.SaltColumn(fl.Name), Type: disclosure.SaltType})
		}
		fields = append(fields, arrow.Field{Name: disclosure.CommitColumn(fl.Name), Type: disclosure.CommitType})
	}
	if w.meta.Selection == disclosure.SelectionRows {
		fields = append(fields, arrow.Field{Name: disclosure.ColProof, Type: disclosure.ProofType})
	}
	md, err := w.meta.Metadata()
	if err != nil {
		return err
	}
	w.out = arrow.NewSchema(fields, &md)
	w.writer, err = ipc.NewFileWriter(file, ipc.WithSchema(w.out), ipc.WithAllocator(w.mem))
	return err
}

// selected returns the batch rows (positions) that the options select.
func (w *packageWriter) selected(b source.Batch) ([]int, error) {
	n := int(b.Rec.NumRows())
	if w.meta.Selection == disclosure.SelectionRange {
		return nil, nil // all
	}
	var conds map[int][][]byte // source column index → accepted canonical cells
	if len(w.opts.Where) > 0 {
		conds = map[int][][]byte{}
		for _, c := range w.opts.Where {
			idx := w.schema.FieldIndices(c.Column)[0]
			conds[idx] = append(conds[idx], conditionCells(w.committer.Rules, c.Value)...)
		}
	}
	encs := map[int]canonical.CellEncoder{}
	for idx := range conds {
		enc, err := w.committer.Rules.Encoder(b.Rec.Column(idx))
		if err != nil {
			return nil, err
		}
		encs[idx] = enc
	}
	var out []int
	var buf []byte
rows:
	for i := 0; i < n; i++ {
		row := b.First + uint64(i)
		if len(w.opts.Rows) > 0 {
			in := false
			for _, r := range w.opts.Rows {
				if row >= r[0] && row < r[1] {
					in = true
					break
				}
			}
			if !in {
				continue
			}
		}
		for idx, accepted := range conds {
			var err error
			if buf, err = encs[idx](buf[:0], i); err != nil {
				return nil, err
			}
			if !slices.ContainsFunc(accepted, func(c []byte) bool { return string(c) == string(buf) }) {
				continue rows
			}
		}
		out = append(out, i)
	}
	if out == nil {
		out = []int{}
	}
	return out, nil
}

func (w *packageWriter) addBatch(b source.Batch) error {
	n := int(b.Rec.NumRows())
	var sel []int // nil: every row
	if w.meta.Selection == disclosure.SelectionRows {
		sel = []int{}
		for i := 0; i < n; i++ {
			if disclosure.InRanges(w.rows, b.First+uint64(i)) {
				sel = append(sel, i)
			}
		}
	}
	positions := sel
	if positions == nil {
		positions = make([]int, n)
		for i := range positions {
			positions[i] = i
		}
	}
	if w.noteInWrite {
		if _, err := w.consentFilter(b, slices.Clone(positions)); err != nil { // no rule: notes the participants
			return err
		}
	}
	encs, err := w.committer.Encoders(b.Rec)
	if err != nil {
		return err
	}
	ncols := len(w.committer.Columns.Sorted)
	// Commitments and row hashes of the selected rows, name order, and
	// their leaves, on every core; in range mode also the range fold.
	commits := make([][]byte, len(positions))
	rowHashes := make([][sha256.Size]byte, len(positions))
	leaves := make([][]byte, len(positions))
	subjects, err := w.committer.Subjects(b.Rec, b.First)
	if err != nil {
		return err
	}
	salters, err := w.committer.RowSalters(subjects, n, b.First, false)
	if err != nil {
		return err
	}
	salts := w.committer.SaltsOf(nil, salters, b.First, 0, n)
	rowSalts := ncols * leaf.SaltSize
	segments := make([]*trillian.RangeSegment, parallel.Parts(len(positions)))
	failures := make([]error, len(segments))
	parallel.Run(len(positions), 0, func(_, part, lo, hi int) {
		var (
			scratch []byte
			digest  leaf.RowDigest
			seg     *trillian.RangeSegment
		)
		if w.rangeCheck != nil {
			seg = w.rangeCheck.NewSegment(w.written + uint64(lo))
		}
		for k := lo; k < hi; k++ {
			i := positions[k]
			row := b.First + uint64(i)
			var err error
			if scratch, err = w.committer.CommitRow(&digest, encs, i, row, salts[i*rowSalts:(i+1)*rowSalts], scratch); err != nil {
				failures[part] = err
				return
			}
			commits[k] = slices.Clone(digest.Commitments())
			rowHashes[k] = digest.RowHash()
			leaves[k] = w.committer.AppendLeaf(nil, row, &digest)
			if seg != nil {
				if err := seg.Append(trillian.LeafHash(leaves[k])); err != nil {
					failures[part] = err
					return
				}
			}
		}
		segments[part] = seg
	})
	for _, err := range failures { // the first part's error is the first row's
		if err != nil {
			return err
		}
	}
	if w.rangeCheck != nil {
		for _, seg := range segments {
			w.rangeCheck.AppendSegment(seg)
		}
	}
	if sel != nil && len(sel) == 0 {
		return nil
	}
	first := w.meta.Manifest.FirstIndex
	arrays := make([]arrow.Array, 0, len(w.out.Fields())) // in w.out's field order
	defer func() {
		for _, a := range arrays {
			a.Release()
		}
	}()
	var rowIdx, leafIdx []byte
	for _, i := range positions {
		rowIdx = binary.LittleEndian.AppendUint64(rowIdx, b.First+uint64(i))
		leafIdx = binary.LittleEndian.AppendUint64(leafIdx, first+b.First+uint64(i))
	}
	arrays = append(arrays,
		columnOf(arrow.PrimitiveTypes.Uint64, len(positions), rowIdx),
		columnOf(arrow.PrimitiveTypes.Uint64, len(positions), leafIdx),
		fixedSizeColumn(disclosure.CommitType, len(positions), func(k int) []byte { return rowHashes[k][:] }))
	// Per data column: value (taken), salt, commitment.
	var indices arrow.Array
	if sel != nil {
		ib := array.NewInt64Builder(w.mem)
		for _, i := range sel {
			ib.Append(int64(i))
		}
		indices = ib.NewArray()
		ib.Release()
		defer indices.Release()
	}
	sortedPos := map[string]int{}
	for j, name := range w.committer.Columns.Sorted {
		sortedPos[name] = j
	}
	for srcIdx, fl := range w.schema.Fields() {
		j := sortedPos[fl.Name]
		if w.disclosed(fl.Name) {
			if w.carriesValues(fl.Name) {
				col, err := takeColumn(w.ctx, w.mem, b.Rec.Column(srcIdx), indices)
				if err != nil {
					return fmt.Errorf("column %s: %w", fl.Name, err)
				}
				arrays = append(arrays, col)
			}
			arrays = append(arrays, fixedSizeColumn(disclosure.SaltType, len(positions), func(k int) []byte {
				i := positions[k]
				return salts[i*rowSalts+j*leaf.SaltSize : i*rowSalts+(j+1)*leaf.SaltSize]
			}))
		}
		arrays = append(arrays, fixedSizeColumn(disclosure.CommitType, len(positions), func(k int) []byte {
			return commits[k][j*leaf.CommitmentSize : (j+1)*leaf.CommitmentSize]
		}))
	}
	if w.meta.Selection == disclosure.SelectionRows {
		lb := array.NewListBuilder(w.mem, disclosure.ProofType.Elem())
		defer lb.Release()
		hb := lb.ValueBuilder().(*array.FixedSizeBinaryBuilder)
		for k, i := range positions {
			index := first + b.First + uint64(i)
			proof, err := w.log.InclusionProof(w.ctx, index, w.size)
			if err != nil {
				return err
			}
			if err := trillian.VerifyInclusion(index, w.size, trillian.LeafHash(leaves[k]), proof, w.root); err != nil {
				return fmt.Errorf("self-check: row %d does not match leaf %d in the log: %w", b.First+uint64(i), index, err)
			}
			lb.Append(true)
			for _, h := range proof {
				hb.Append(h)
			}
		}
		arrays = append(arrays, lb.NewArray())
	}
	out := array.NewRecord(w.out, arrays, int64(len(positions)))
	defer out.Release()
	w.written += uint64(len(positions))
	return w.writeBounded(out)
}

// writeBounded writes rec as one or more record batches whose bodies stay
// well within the format's disclosure.MaxBatchBody (a reader rejects a
// larger one): wide rows of long text are split into smaller batches.
func (w *packageWriter) writeBounded(rec arrow.Record) error {
	n := rec.NumRows()
	size := int64(0)
	for _, col := range rec.Columns() {
		size += dataBytes(col.Data())
	}
	per := n
	if target := int64(disclosure.MaxBatchBody / 2); size > target {
		per = max(1, n*target/size)
	}
	for off := int64(0); off < n; off += per {
		part := rec.NewSlice(off, min(off+per, n))
		err := w.writer.Write(part)
		part.Release()
		if err != nil {
			return errors.Join(fmt.Errorf("write package"), err)
		}
	}
	return nil
}
