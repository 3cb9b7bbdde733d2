package datasetjson_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/internal/testutil"
	"github.com/trialog/trialog/source/datasetjson"
)

// TestMain caps fuzz-input minimization (see testutil).
func TestMain(m *testing.M) { os.Exit(testutil.MainCappingMinimization(m)) }

func addSeeds(f *testing.F, pattern string, extra ...string) {
	paths, _ := filepath.Glob(filepath.Join("../../testdata/datasetjson", pattern))
	if len(paths) == 0 {
		f.Fatalf("no seeds %s", pattern)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

// fuzzRead asserts the reader invariants on any input: an error that wraps
// ErrMalformed, or batches that match the schema; no panic, no leak.
func fuzzRead(t *testing.T, data []byte, name string) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := datasetjson.NewReaderFor(bytes.NewReader(data), name,
		datasetjson.WithAllocator(mem), datasetjson.WithBatchSize(5))
	if err != nil {
		if !errors.Is(err, datasetjson.ErrMalformed) {
			t.Fatalf("error does not wrap ErrMalformed: %v", err)
		}
		return
	}
	defer r.Release()
	schema := r.Schema()
	if schema.NumFields() == 0 {
		t.Fatal("schema without fields")
	}
	var rows int64
	for r.Next() {
		rec := r.Record()
		if !rec.Schema().Equal(schema) || rec.NumRows() < 1 || rec.NumRows() > 5 {
			t.Fatalf("bad batch: %d rows", rec.NumRows())
		}
		for i, col := range rec.Columns() {
			if int64(col.Len()) != rec.NumRows() || !arrow.TypeEqual(col.DataType(), schema.Field(i).Type) {
				t.Fatalf("column %d: len %d type %s", i, col.Len(), col.DataType())
			}
		}
		rows += rec.NumRows()
	}
	if err := r.Err(); err != nil {
		if !errors.Is(err, datasetjson.ErrMalformed) {
			t.Fatalf("error does not wrap ErrMalformed: %v", err)
		}
		return
	}
	if rc := r.Metadata().Records; rc != nil && *rc != rows {
		t.Fatalf("clean end with %d rows but records %d", rows, *rc)
	}
}

func FuzzDatasetJSON(f *testing.F) {
	addSeeds(f, "*.json", small,
		`{"columns":[{"name":"A","dataType":"integer"}],"rows":[[1],[null]],"records":2}`,
		`{"columns":[{"name":"D","dataType":"date","targetDataType":"integer"},{"name":"T","dataType":"datetime","targetDataType":"integer"},`+
			`{"name":"M","dataType":"time","targetDataType":"integer"},{"name":"X","dataType":"decimal"},{"name":"S","dataType":"string"}],`+
			`"rows":[["2014-01-02","2014-01-02T10:30:00.5","10:30","-8.550","a\u00e9\ud83d\ude00\n"],[null,null,null,"1e-3","\\"]]}`)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, "fuzz.json") })
}

func FuzzNDJSON(f *testing.F) {
	addSeeds(f, "*.ndjson", string(ndjsonOf(smallMeta, `["a",1]`, `["b",null]`)))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, "fuzz.ndjson") })
}

// FuzzDSJC feeds compressed input; most mutations break the checksum, so it
// mainly exercises the framing and error paths.
func FuzzDSJC(f *testing.F) {
	addSeeds(f, "*.dsjc")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, "fuzz.dsjc") })
}
