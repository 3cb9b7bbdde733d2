package pipeline

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/pipeline/canonical"
	"github.com/trialog/trialog/pipeline/definexml"
	"github.com/trialog/trialog/pipeline/source"
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
	var extra []string
	for _, fl := range schema.Fields() {
		if !slices.Contains(names, fl.Name) {
			extra = append(extra, fl.Name)
		}
	}
	if len(extra) > 0 {
		k.problems = append(k.problems, fmt.Sprintf("data file %s: columns not in the manifest: %s", f.Name, strings.Join(extra, ", ")))
	}
	keyCols := make([]int, len(m.Keys))
	for i, key := range m.Keys {
		keyCols[i] = slices.Index(names, key)
		if colIdx[keyCols[i]] < 0 {
			return nil, fmt.Errorf("data file %s: key column %s missing", f.Name, key)
		}
	}
	_, err := forEachBatch(context.Background(), f, func(b batch) error {
		encs := make([]canonical.CellEncoder, len(names))
		for j, idx := range colIdx {
			if idx >= 0 {
				enc, err := canonical.Encoder(b.rec.Column(idx))
				if err != nil {
					return fmt.Errorf("data file %s: column %s: %w", f.Name, names[j], err)
				}
				encs[j] = enc
			}
		}
		for i := 0; i < int(b.rec.NumRows()); i++ {
			r := &keyedRow{pos: b.first + uint64(i), cells: make([][]byte, len(names))}
			for j, enc := range encs {
				if enc == nil {
					continue
				}
				cell, err := enc(nil, i)
				if err != nil {
					return fmt.Errorf("data file %s: row %d: column %s: %w", f.Name, r.pos+1, names[j], err)
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

// finish reports data rows that no package row matched, and notes when
// the file's row order differs from the log's.
func (k *keyedData) finish(rep *Report) {
	var unmatched []uint64
	for _, r := range k.rows {
		if !r.used {
			unmatched = append(unmatched, r.pos)
		}
	}
	if len(unmatched) > 0 && rep.Selection == SelectionRange {
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

// DefineKeys returns a dataset's key variables, in KeySequence order, from
// a Define-XML (1.0 or 2.x) file.
func DefineKeys(path, dataset string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	def, err := definexml.Parse(fh, filepath.Base(path))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", source.ErrInput, err)
	}
	ds, ok := def.Dataset(dataset)
	if !ok {
		return nil, fmt.Errorf("%s: no dataset %s: %w", filepath.Base(path), dataset, source.ErrInput)
	}
	if len(ds.Keys) == 0 {
		return nil, fmt.Errorf("%s: dataset %s declares no key variables: %w", filepath.Base(path), dataset, source.ErrInput)
	}
	return ds.Keys, nil
}
