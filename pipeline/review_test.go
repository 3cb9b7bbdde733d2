package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/internal/hostile"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/verify"
	"github.com/trialog/trialog/workspace"
)

// TestSubstitutedRowsCaught: a subject package whose rows were swapped
// for authentic rows of another subject's package (same dataset, same
// checkpoint) no longer matches the rows its signed statement lists.
func TestSubstitutedRowsCaught(t *testing.T) {
	tr, _ := newTrial(t)
	ae := pilotFile(t, "ae.csv")
	ingest(t, tr, ae, "AE")
	a := readTable(t, prove(t, tr, ae, pipeline.ProveOptions{Dataset: "AE", Rows: [][2]uint64{{0, 2}, {10, 11}}}))
	b := readTable(t, prove(t, tr, ae, pipeline.ProveOptions{Dataset: "AE", Rows: [][2]uint64{{5, 7}}}))
	// A's metadata and row 10, with B's rows 5 and 6 instead of A's 0 and 1.
	for i := range a.cols {
		part, err := array.Concatenate([]arrow.Array{array.NewSlice(b.cols[i], 0, 2), array.NewSlice(a.cols[i], 2, 3)}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		a.cols[i] = part
	}
	rep := verifyPackage(t, tr, a.write(t), nil)
	if rep.OK || !strings.Contains(badRowsString(rep), "not among the rows") || !strings.Contains(badRowsString(rep), "missing") {
		t.Fatalf("substituted rows not caught:\n%s", badRowsString(rep))
	}
}

// TestDuplicateAndMistypedColumnsCaught: columns added twice (invisible to
// name lookups) and a mistyped salt of a redacted column are reported,
// never accepted and never a crash.
func TestDuplicateAndMistypedColumnsCaught(t *testing.T) {
	tr, _ := newTrial(t)
	dm := pilotFile(t, "dm.csv")
	ingest(t, tr, dm, "DM")
	pkg := prove(t, tr, dm, pipeline.ProveOptions{Dataset: "DM", Redact: []string{"SEX"}})
	addColumn := func(tb *table, name string, arr arrow.Array) {
		md := tb.schema.Metadata()
		tb.schema = arrow.NewSchema(append(tb.schema.Fields(), arrow.Field{Name: name, Type: arr.DataType(), Nullable: true}), &md)
		tb.cols = append(tb.cols, arr)
	}
	text := func(n int, v string) arrow.Array {
		sb := array.NewStringBuilder(memory.DefaultAllocator)
		for i := 0; i < n; i++ {
			sb.Append(v)
		}
		return sb.NewArray()
	}
	tb := readTable(t, pkg)
	n := tb.cols[0].Len()
	addColumn(tb, "SEX", text(n, "F"))
	addColumn(tb, "SEX", text(n, "F"))
	if rep := verifyPackage(t, tr, tb.write(t), nil); rep.OK || !strings.Contains(badRowsString(rep), "more than once") {
		t.Errorf("duplicated SEX columns accepted:\n%s", badRowsString(rep))
	}
	tb = readTable(t, pkg)
	addColumn(tb, disclosure.SaltColumn("SEX"), text(n, "not a salt"))
	if rep := verifyPackage(t, tr, tb.write(t), nil); rep.OK {
		t.Errorf("mistyped salt of a redacted column accepted")
	}
}

// TestWhereNumbersExact: a typed-in number matches by exact value, and
// text that merely starts like a number is text.
func TestWhereNumbersExact(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"63", "\x0263", true}, {"63.0", "\x0263", true}, {"-8.55", "\x02-855e-2", true}, {"1e-5", "\x021e-5", true},
		{"1234567890123456", "\x021234567890123456", true}, {"1-2", "", false}, {"2014-01", "", false}, {"1.2.3", "", false}, {"", "", false}, {"e5", "", false},
	} {
		got, ok := canonical.ParseNumber(c.in)
		if ok != c.ok || (ok && string(got) != c.want) {
			t.Errorf("ParseNumber(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// TestResumeNeedsSameReading: an interrupted ingest resumed with other
// missing-value tokens is refused rather than committing rows differently.
func TestResumeNeedsSameReading(t *testing.T) {
	ctx := context.Background()
	tr, _ := newTrial(t)
	cm := pilotFile(t, "cm.csv")
	real := tr.Log
	tr.Log = &failingLog{Log: real, n: 1}
	if _, err := pipeline.Ingest(ctx, tr, openFile(t, cm, source.Options{BatchRows: 500}), pipeline.IngestOptions{Dataset: "CM", AppendLeaves: 1000}); err == nil {
		t.Fatal("simulated crash did not fail the ingest")
	}
	tr.Log = real
	_, err := pipeline.Ingest(ctx, tr, openFile(t, cm, source.Options{NullValues: []string{""}}), pipeline.IngestOptions{Dataset: "CM"})
	if !errors.Is(err, workspace.ErrUsage) || !strings.Contains(err.Error(), "--null") {
		t.Fatalf("resume with other null tokens: %v", err)
	}
	if _, err := pipeline.Ingest(ctx, tr, openFile(t, cm, source.Options{}), pipeline.IngestOptions{Dataset: "CM"}); err != nil {
		t.Fatalf("resume with the same reading: %v", err)
	}
}

// writeArrowFile writes one record batch as an Arrow IPC file.
func writeArrowFile(t *testing.T, path string, schema *arrow.Schema, cols []arrow.Array, n int) {
	t.Helper()
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	w, err := ipc.NewFileWriter(fh, ipc.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	rec := array.NewRecord(schema, cols, int64(n))
	defer rec.Release()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCraftedStringOffsets: an Arrow file whose string offsets go
// backwards (Arrow checks only the last one) is an input error for ingest
// and a reported problem for verify, positional or keyed, never a crash.
func TestCraftedStringOffsets(t *testing.T) {
	dir := t.TempDir()
	kb := array.NewInt64Builder(memory.DefaultAllocator)
	kb.AppendValues([]int64{1, 2, 3}, nil)
	offsets := arrow.Int32Traits.CastToBytes([]int32{0, -5, 3, 3})
	sd := array.NewData(arrow.BinaryTypes.String, 3, []*memory.Buffer{nil, memory.NewBufferBytes(offsets), memory.NewBufferBytes([]byte("abc"))}, nil, 0, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "K", Type: arrow.PrimitiveTypes.Int64}, {Name: "S", Type: arrow.BinaryTypes.String}}, nil)
	crafted := filepath.Join(dir, "crafted.arrow")
	writeArrowFile(t, crafted, schema, []arrow.Array{kb.NewArray(), array.MakeFromData(sd)}, 3)

	tr, _ := newTrial(t)
	if _, err := pipeline.Ingest(context.Background(), tr, openFile(t, crafted, source.Options{}), pipeline.IngestOptions{Dataset: "X"}); !errors.Is(err, source.ErrInput) {
		t.Fatalf("ingest of crafted offsets: %v, want an input error", err)
	}
	for _, keys := range [][]string{nil, {"K"}} {
		csvPath := filepath.Join(dir, "k.csv")
		if err := os.WriteFile(csvPath, []byte("K,S\n1,abc\n2,def\n3,ghi\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		tr, _ := newTrial(t)
		if _, err := pipeline.Ingest(context.Background(), tr, openFile(t, csvPath, source.Options{}), pipeline.IngestOptions{Dataset: "K", Keys: keys}); err != nil {
			t.Fatal(err)
		}
		pkg := prove(t, tr, csvPath, pipeline.ProveOptions{Dataset: "K", Detached: true})
		rep, err := verify.Package(context.Background(), pkg, verify.Options{VerifierKey: tr.VerifierKey, Data: openFile(t, crafted, source.Options{})})
		if err == nil && rep.OK {
			t.Fatalf("keys %v: crafted data file verified", keys)
		}
		if err != nil && !strings.Contains(err.Error(), "crafted.arrow") {
			t.Fatalf("keys %v: error does not name the data file: %v", keys, err)
		}
	}
}

// TestDictionaryNotLeaked: a package of some rows of a dictionary-encoded
// column carries only the entries those rows use, not the values of the
// other rows (or entries no row uses), and still verifies.
func TestDictionaryNotLeaked(t *testing.T) {
	tr, _ := newTrial(t)
	dir := t.TempDir()
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	vb := array.NewStringBuilder(memory.DefaultAllocator)
	vb.AppendValues([]string{"alice-SECRET", "bob-SECRET", "carol-SECRET", "nobody-SECRET"}, nil)
	xb := array.NewInt32Builder(memory.DefaultAllocator)
	xb.AppendValues([]int32{0, 1, 2}, nil)
	subj := array.NewDictionaryArray(dt, xb.NewArray(), vb.NewArray())
	ib := array.NewInt64Builder(memory.DefaultAllocator)
	ib.AppendValues([]int64{1, 2, 3}, nil)
	schema := arrow.NewSchema([]arrow.Field{{Name: "ID", Type: arrow.PrimitiveTypes.Int64}, {Name: "SUBJ", Type: dt}}, nil)
	path := filepath.Join(dir, "d.arrow")
	writeArrowFile(t, path, schema, []arrow.Array{ib.NewArray(), subj}, 3)
	ingest(t, tr, path, "D")
	for _, opts := range []pipeline.ProveOptions{
		{Dataset: "D", Rows: [][2]uint64{{1, 2}}},
		{Dataset: "D"},
	} {
		pkg := prove(t, tr, path, opts)
		if rep := verifyPackage(t, tr, pkg, nil); !rep.OK {
			t.Fatalf("%+v: package fails:\n%s", opts, badRowsString(rep))
		}
		raw, err := os.ReadFile(pkg)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"alice-SECRET", "carol-SECRET", "nobody-SECRET"} {
			if opts.Rows == nil && secret != "nobody-SECRET" {
				continue // the whole dataset discloses every row's value
			}
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("%+v: package carries %s", opts, secret)
			}
		}
		if !bytes.Contains(raw, []byte("bob-SECRET")) {
			t.Errorf("%+v: package lacks the disclosed value", opts)
		}
	}
}

// TestLargeTableParallelChecks: a table of several package batches
// (16,384 rows each), each checked in parallel parts, verifies, and an
// edited cell deep inside it is named by row and column.
func TestLargeTableParallelChecks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.csv")
	var b strings.Builder
	b.WriteString("USUBJID,LBSEQ,LBTESTCD,LBSTRESN\n")
	const rows = 40000
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "01-%04d,%d,T%d,%d.%d\n", i/7, i, i%13, i%500, i%10)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, _ := newTrial(t)
	small := filepath.Join(dir, "small.csv") // so LB starts at an odd leaf index
	if err := os.WriteFile(small, []byte("A\n1\n2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ingest(t, tr, small, "S")
	ingest(t, tr, path, "LB")
	pkg := prove(t, tr, path, pipeline.ProveOptions{Dataset: "LB"})
	if rep := verifyPackage(t, tr, pkg, nil); !rep.OK || rep.Rows != rows {
		t.Fatalf("untampered: %d rows checked\n%s", rep.Rows, badRowsString(rep))
	}
	tb := readTable(t, pkg)
	tb.setCell(t, "LBTESTCD", 33333, "GLUC")
	rep := verifyPackage(t, tr, tb.write(t), nil)
	if rep.OK || rep.BadRowCount != 1 || rep.BadRows[0].Row != 33333 || strings.Join(rep.BadRows[0].Columns, ",") != "LBTESTCD" {
		t.Fatalf("edited row 33333 LBTESTCD:\n%s", badRowsString(rep))
	}
}

// TestWideRowsSplitIntoBoundedBatches: rows of long text, 9000 of which
// would make a ~36 MB batch body, are written in several batches well
// within the format's body limit, and the package verifies.
func TestWideRowsSplitIntoBoundedBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 36 MB data file")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "wide.csv")
	var b strings.Builder
	b.WriteString("USUBJID,COVAL\n")
	long := strings.Repeat("x", 4000)
	for i := 0; i < 9000; i++ {
		fmt.Fprintf(&b, "01-%04d,%s%d\n", i, long, i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, _ := newTrial(t)
	ingest(t, tr, path, "CO")
	pkg := prove(t, tr, path, pipeline.ProveOptions{Dataset: "CO"})
	l, err := hostile.Layout(mustRead(t, pkg))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Records) < 2 || l.Rows() != 9000 {
		t.Fatalf("%d batches, %d rows: want the 9000 rows split", len(l.Records), l.Rows())
	}
	for i, r := range l.Records {
		if r.Body > disclosure.MaxBatchBody/2+1<<20 {
			t.Errorf("batch %d: body %d bytes", i, r.Body)
		}
	}
	if rep := verifyPackage(t, tr, pkg, nil); !rep.OK || rep.Rows != 9000 {
		t.Fatalf("wide package: ok=%v rows=%d\n%s", rep.OK, rep.Rows, badRowsString(rep))
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
