package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/internal/shareddata"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/readers"
	"github.com/trialog/trialog/verify"
	"github.com/trialog/trialog/workspace"
)

// pilotFile is a CSV domain of the real CDISC pilot study.
func pilotFile(t *testing.T, name string) string {
	t.Helper()
	return shareddata.Path(t, filepath.Join("cdiscpilot01", "csv", name))
}

func newTrial(t *testing.T) (*workspace.Trial, string) {
	t.Helper()
	dir := t.TempDir()
	tr, err := workspace.Init(context.Background(), dir, "CDISCPILOT01", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, dir
}

func openFile(t *testing.T, path string, opts source.Options) *source.File {
	t.Helper()
	f, err := readers.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func ingest(t *testing.T, tr *workspace.Trial, path, dataset string) *pipeline.IngestResult {
	t.Helper()
	res, err := pipeline.Ingest(context.Background(), tr, openFile(t, path, source.Options{}), pipeline.IngestOptions{Dataset: dataset, Operator: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func prove(t *testing.T, tr *workspace.Trial, path string, opts pipeline.ProveOptions) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pkg.arrow")
	if opts.Recipient == "" {
		opts.Recipient, opts.Purpose = "test sponsor", "main"
	}
	if _, err := pipeline.Prove(context.Background(), tr, openFile(t, path, source.Options{}), out, opts); err != nil {
		t.Fatal(err)
	}
	return out
}

func verifyPackage(t *testing.T, tr *workspace.Trial, pkg string, data *source.File) *verify.Report {
	t.Helper()
	rep, err := verify.Package(context.Background(), pkg, verify.Options{VerifierKey: tr.VerifierKey, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// table is a whole package in memory, for tampering.
type table struct {
	schema *arrow.Schema
	cols   []arrow.Array
}

func readTable(t *testing.T, path string) *table {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fr, err := ipc.NewFileReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	var recs []arrow.Record
	for i := 0; i < fr.NumRecords(); i++ {
		r, err := fr.RecordAt(i)
		if err != nil {
			t.Fatal(err)
		}
		r.Retain()
		recs = append(recs, r)
	}
	tb := &table{schema: fr.Schema()}
	for c := range tb.schema.Fields() {
		var parts []arrow.Array
		for _, r := range recs {
			parts = append(parts, r.Column(c))
		}
		col, err := array.Concatenate(parts, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tb.cols = append(tb.cols, col)
	}
	return tb
}

func (tb *table) write(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "tampered.arrow")
	fh, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	w, err := ipc.NewFileWriter(fh, ipc.WithSchema(tb.schema))
	if err != nil {
		t.Fatal(err)
	}
	rec := array.NewRecord(tb.schema, tb.cols, int64(tb.cols[0].Len()))
	defer rec.Release()
	for off := int64(0); off < rec.NumRows(); off += disclosure.MaxBatchRows { // the format's batch limit
		part := rec.NewSlice(off, min(off+disclosure.MaxBatchRows, rec.NumRows()))
		err := w.Write(part)
		part.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (tb *table) col(t *testing.T, name string) int {
	t.Helper()
	idx := tb.schema.FieldIndices(name)
	if len(idx) != 1 {
		t.Fatalf("no column %s", name)
	}
	return idx[0]
}

// take reorders/filters every column by row positions.
func (tb *table) take(t *testing.T, positions []int) {
	t.Helper()
	ib := array.NewInt64Builder(memory.DefaultAllocator)
	for _, p := range positions {
		ib.Append(int64(p))
	}
	idx := ib.NewArray()
	for i, c := range tb.cols {
		out, err := compute.TakeArray(context.Background(), c, idx)
		if err != nil {
			t.Fatal(err)
		}
		tb.cols[i] = out
	}
}

// setCell replaces one cell with a value given as text (via the array's
// own string round trip: fine for test tables).
func (tb *table) setCell(t *testing.T, col string, row int, value string) {
	t.Helper()
	c := tb.col(t, col)
	arr := tb.cols[c]
	b := array.NewBuilder(memory.DefaultAllocator, arr.DataType())
	for i := 0; i < arr.Len(); i++ {
		v := arr.ValueStr(i)
		if i == row {
			v = value
		}
		if arr.IsNull(i) && i != row {
			b.AppendNull()
			continue
		}
		if err := b.AppendValueFromString(v); err != nil {
			t.Fatal(err)
		}
	}
	tb.cols[c] = b.NewArray()
}

// flipBytes flips the first byte of a fixed-size binary cell.
func (tb *table) flipBytes(t *testing.T, col string, row int) {
	t.Helper()
	v := append([]byte(nil), tb.cols[tb.col(t, col)].(*array.FixedSizeBinary).Value(row)...)
	v[0] ^= 0xff
	tb.setFixed(t, col, row, v)
}

// setFixed rebuilds a fixed_size_binary column with row's value set to v.
func (tb *table) setFixed(t *testing.T, col string, row int, v []byte) {
	t.Helper()
	c := tb.col(t, col)
	arr := tb.cols[c].(*array.FixedSizeBinary)
	b := array.NewFixedSizeBinaryBuilder(memory.DefaultAllocator, arr.DataType().(*arrow.FixedSizeBinaryType))
	for i := 0; i < arr.Len(); i++ {
		if i == row {
			b.Append(v)
		} else {
			b.Append(arr.Value(i))
		}
	}
	tb.cols[c] = b.NewArray()
}

// setCommitted edits a text cell and its commitment together (the salt is
// in the package), as an attacker who knows the format would.
func (tb *table) setCommitted(t *testing.T, col string, row int, value string) {
	t.Helper()
	tb.setCell(t, col, row, value)
	salt := tb.cols[tb.col(t, disclosure.SaltColumn(col))].(*array.FixedSizeBinary).Value(row)
	cell, err := canonical.AppendText(nil, value)
	if err != nil {
		t.Fatal(err)
	}
	c := leaf.Commit(salt, cell)
	tb.setFixed(t, disclosure.CommitColumn(col), row, c[:])
}

// retype casts a column to another Arrow type (same canonical values).
func (tb *table) retype(t *testing.T, col string, to arrow.DataType) {
	t.Helper()
	c := tb.col(t, col)
	out, err := compute.CastArray(context.Background(), tb.cols[c], compute.SafeCastOptions(to))
	if err != nil {
		t.Fatal(err)
	}
	tb.cols[c] = out
	fields := tb.schema.Fields()
	fields[c].Type = to
	md := tb.schema.Metadata()
	tb.schema = arrow.NewSchema(fields, &md)
}

// setNull makes one cell of a uint64 column null.
func (tb *table) setNull(t *testing.T, col string, row int) {
	t.Helper()
	tb.editUint(t, col, row, func(b *array.Uint64Builder) { b.AppendNull() })
}

func (tb *table) setUint(t *testing.T, col string, row int, v uint64) {
	t.Helper()
	tb.editUint(t, col, row, func(b *array.Uint64Builder) { b.Append(v) })
}

// editUint rebuilds a uint64 column with row's cell written by set.
func (tb *table) editUint(t *testing.T, col string, row int, set func(*array.Uint64Builder)) {
	t.Helper()
	c := tb.col(t, col)
	arr := tb.cols[c].(*array.Uint64)
	b := array.NewUint64Builder(memory.DefaultAllocator)
	for i := 0; i < arr.Len(); i++ {
		if i == row {
			set(b)
		} else {
			b.Append(arr.Value(i))
		}
	}
	tb.cols[c] = b.NewArray()
}

func (tb *table) rename(t *testing.T, from, to string) {
	t.Helper()
	c := tb.col(t, from)
	fields := tb.schema.Fields()
	fields[c].Name = to
	md := tb.schema.Metadata()
	tb.schema = arrow.NewSchema(fields, &md)
}

func (tb *table) drop(t *testing.T, name string) {
	t.Helper()
	c := tb.col(t, name)
	fields := append(tb.schema.Fields()[:c:c], tb.schema.Fields()[c+1:]...)
	md := tb.schema.Metadata()
	tb.schema = arrow.NewSchema(fields, &md)
	tb.cols = append(tb.cols[:c:c], tb.cols[c+1:]...)
}

func (tb *table) setMeta(t *testing.T, key string, edit func(string) string) {
	t.Helper()
	md := tb.schema.Metadata()
	keys, vals := md.Keys(), append([]string(nil), md.Values()...)
	found := false
	for i, k := range keys {
		if k == key {
			vals[i] = edit(vals[i])
			found = true
		}
	}
	if !found {
		t.Fatalf("no metadata %s", key)
	}
	nmd := arrow.NewMetadata(keys, vals)
	tb.schema = arrow.NewSchema(tb.schema.Fields(), &nmd)
}

func (tb *table) meta(t *testing.T, key string) string {
	md := tb.schema.Metadata()
	i := md.FindKey(key)
	if i < 0 {
		t.Fatalf("no metadata %s", key)
	}
	return md.Values()[i]
}

func badRowsString(rep *verify.Report) string {
	var b strings.Builder
	for _, p := range rep.Problems {
		b.WriteString("problem: " + p + "\n")
	}
	for _, r := range rep.BadRows {
		b.WriteString(strings.Join(r.Columns, ",") + " " + r.Reason + "\n")
	}
	return b.String()
}
