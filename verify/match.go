package verify

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/disclosure/ipcfile"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/source"
)

// keyedData is a recipient's data file indexed by the dataset's natural
// key (manifest "keys"), so that a copy whose rows were re-sorted, or that
// has rows the log does not, is matched row for row and not position for
// position. It holds the file's canonical cells in memory: keyed
// verification is for dataset-sized files, not for 10M-row exports (those
// verify by position).
//
// Matching, in order: a row at the same position with the same key; else
// the first unmatched row with that key (keys need not be unique: SDTM
// domain keys often are not); else the unmatched row at the same position,
// whose differing cells (key columns included) are then reported.
type keyedData struct {
	file     *source.File
	rows     []*keyedRow
	byKey    map[string][]int
	assign   []*keyedRow // by package position
	problems []string
}

type keyedRow struct {
	pos   uint64   // 0-based row position in the data file
	key   string   // canonical key cells, length-prefixed
	cells [][]byte // canonical cells in manifest name order (nil: column absent)
	used  bool
}

// appendKey appends the length-prefixed canonical cells of the key.
func appendKey(dst []byte, cells [][]byte) []byte {
	for _, c := range cells {
		dst = binary.AppendUvarint(dst, uint64(len(c)))
		dst = append(dst, c...)
	}
	return dst
}

func loadKeyed(f *source.File, m *leaf.Manifest, names []string) (*keyedData, error) {
	k := &keyedData{file: f, byKey: map[string][]int{}}
	schema := f.Schema()
	colIdx := make([]int, len(names))
	for j, n := range names {
		if idx := schema.FieldIndices(n); len(idx) == 1 {
			colIdx[j] = idx[0]
		} else {
			colIdx[j] = -1
			k.problems = append(k.problems, fmt.Sprintf("data file %s: column %s missing (dropped or renamed)", f.Name, n))
		}
	}
	keyCols := make([]int, len(m.Keys))
	for i, key := range m.Keys {
		keyCols[i] = slices.Index(names, key)
		if colIdx[keyCols[i]] < 0 {
			return nil, fmt.Errorf("data file %s: key column %s missing", f.Name, key)
		}
	}
	_, err := source.ForEachBatch(context.Background(), f, func(b source.Batch) error {
		encs := make([]canonical.CellEncoder, len(names))
		for j, idx := range colIdx {
			if idx >= 0 {
				enc, err := m.Rules().Encoder(b.Rec.Column(idx))
				if err != nil {
					return fmt.Errorf("data file %s: column %s: %w", f.Name, names[j], err)
				}
				encs[j] = enc
			}
		}
		for i := 0; i < int(b.Rec.NumRows()); i++ {
			r := &keyedRow{pos: b.First + uint64(i), cells: make([][]byte, len(names))}
			for j, enc := range encs {
				if enc == nil {
					continue
				}
				cell, err := enc(nil, i)
				if err != nil {
					return fmt.Errorf("data file %s: row %d: column %s: %w", f.Name, r.pos, names[j], err)
				}
				r.cells[j] = cell
			}
			key := make([][]byte, len(keyCols))
			for i, j := range keyCols {
				key[i] = r.cells[j]
			}
			r.key = string(appendKey(nil, key))
			k.byKey[r.key] = append(k.byKey[r.key], len(k.rows))
			k.rows = append(k.rows, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// plan matches package rows (their keys and dataset row indices, in
// package order) to data rows.
func (k *keyedData) plan(keys []string, rows []uint64) {
	k.assign = make([]*keyedRow, len(keys))
	take := func(p int, r *keyedRow) {
		r.used = true
		k.assign[p] = r
	}
	for p, key := range keys {
		if r := rows[p]; r < uint64(len(k.rows)) && !k.rows[r].used && k.rows[r].key == key {
			take(p, k.rows[r])
		}
	}
	for p, key := range keys {
		if k.assign[p] != nil {
			continue
		}
		for _, i := range k.byKey[key] {
			if !k.rows[i].used {
				take(p, k.rows[i])
				break
			}
		}
	}
	for p := range keys {
		if r := rows[p]; k.assign[p] == nil && r < uint64(len(k.rows)) && !k.rows[r].used {
			take(p, k.rows[r])
		}
	}
}

// packageKey returns the key of package row i from its key value columns.
func (v *verifier) packageKey(encs []canonical.CellEncoder, i int) (string, error) {
	var cells [][]byte
	for _, key := range v.meta.Manifest.Keys {
		j := slices.Index(v.names, key)
		cell, err := encs[j](nil, i)
		if err != nil {
			return "", err
		}
		cells = append(cells, cell)
	}
	return string(appendKey(nil, cells)), nil
}

// matched counts the data rows a package row was matched to.
func (k *keyedData) matched() uint64 {
	var n uint64
	for _, r := range k.rows {
		if r.used {
			n++
		}
	}
	return n
}

// finish reports data rows that no package row matched, and notes when
// the file's row order differs from the log's.
func (k *keyedData) finish(rep *Report) {
	var unmatched []uint64
	for _, r := range k.rows {
		if !r.used {
			unmatched = append(unmatched, r.pos)
		}
	}
	if len(unmatched) > 0 && rep.Selection == disclosure.SelectionRange {
		shown := unmatched[:min(len(unmatched), 10)]
		var s []string
		for _, p := range shown {
			s = append(s, fmt.Sprint(p+1))
		}
		more := ""
		if len(unmatched) > len(shown) {
			more = ", …"
		}
		rep.fail("data file %s has %d rows that are not in the dataset version (data rows %s%s)", k.file.Name, len(unmatched), strings.Join(s, ", "), more)
	}
	moved := 0
	var last *keyedRow
	for _, r := range k.assign {
		if r == nil {
			continue
		}
		if last != nil && r.pos < last.pos {
			moved++
		}
		last = r
	}
	if moved > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("data file %s lists the rows in a different order from the log (%d places out of order); rows were matched by key (%s)",
			k.file.Name, moved, strings.Join(rep.keys, ", ")))
	}
}

// planKeyed reads the package's key columns and row indices and matches
// its rows to the data file's.
func (v *verifier) planKeyed(fr *ipcfile.File) error {
	var keys []string
	var rows []uint64
	rowIdx := fr.Schema().FieldIndices(disclosure.ColRow)[0]
	for b := 0; b < fr.NumRecords(); b++ {
		rec, err := fr.RecordAt(b)
		if err != nil {
			return fmt.Errorf("%s: batch %d: %w: %v", v.rep.Package, b, disclosure.ErrPackage, err)
		}
		encs := make([]canonical.CellEncoder, len(v.names))
		for _, key := range v.meta.Manifest.Keys {
			j := slices.Index(v.names, key)
			if encs[j], err = v.rules.Encoder(rec.Column(v.valueCol[j])); err != nil {
				rec.Release()
				return fmt.Errorf("%s: key column %s: %w: %v", v.rep.Package, key, disclosure.ErrPackage, err)
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
	if inOrder && uint64(len(order)) == disclosure.CountRanges(v.expected) && allInRanges(v.expected, order) {
		return
	}
	seen := make(map[uint64]bool, len(order))
	var candidates []int // positions of first occurrences within the dataset
	for pos, r := range order {
		switch {
		case r >= m.Rows:
			// already reported as beyond the dataset
		case !disclosure.InRanges(v.expected, r):
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
		if !disclosure.InRanges(rs, r) {
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
	rules    canonical.Rules
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
	d := &dataCursor{file: f, batches: b, names: names, rules: m.Rules()}
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
				enc, err := d.rules.Encoder(d.rec.Column(idx))
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

// remaining reads the data file to its end and returns its row count and
// the rows after the last one asked for.
func (d *dataCursor) remaining() (total, extra uint64, err error) {
	total = d.first
	if d.rec != nil {
		total += uint64(d.rec.NumRows())
	}
	for !d.done && d.batches.Next() {
		total += uint64(d.batches.Record().NumRows())
	}
	if err := d.batches.Err(); err != nil {
		return 0, 0, err
	}
	return total, total - min(total, d.seen), nil
}

func (d *dataCursor) close() { d.batches.Close() }
