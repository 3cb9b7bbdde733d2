package xpt_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/internal/testutil"
	"github.com/trialog/trialog/source/xpt"
)

// TestMain caps fuzz-input minimization (see testutil).
func TestMain(m *testing.M) { os.Exit(testutil.MainCappingMinimization(m)) }

// FuzzXPT checks that any input yields either an error wrapping ErrMalformed
// or a stream of batches that match the schema, without panics or leaks.
func FuzzXPT(f *testing.F) {
	seeds, _ := filepath.Glob("../../testdata/xpt/*.xpt")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		// Seed with the headers and the first observations only, cut on an
		// observation boundary (a valid file): the fuzzing engine minimizes
		// every input that finds new coverage, which takes minutes on a
		// 50 KB input and would stall a 10 s run.
		obsLen := observationLength(f, b, p)
		obs := bytes.Index(b, []byte("HEADER RECORD*******OBS")) + 80
		f.Add(b[:obs+3*obsLen])
		f.Add(b[:obs+obsLen+obsLen/2]) // truncated in the second observation
	}
	f.Add(buildXPT([]fixVar{{"A", false, 3}, {"N", true, 3}}, []byte("ab\x41\x10\x00x  .\x00\x00")))
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		r, err := xpt.NewReader(bytes.NewReader(data), "fuzz.xpt", xpt.WithAllocator(mem), xpt.WithBatchSize(7))
		if err != nil {
			if !errors.Is(err, xpt.ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		defer r.Release()
		schema := r.Schema()
		for r.Next() {
			rec := r.Record()
			if !rec.Schema().Equal(schema) || rec.NumRows() < 1 || rec.NumRows() > 7 {
				t.Fatalf("bad batch: %d rows, schema %v", rec.NumRows(), rec.Schema())
			}
			for i, col := range rec.Columns() {
				if int64(col.Len()) != rec.NumRows() || !arrowTypeEqual(col.DataType(), schema.Field(i).Type) {
					t.Fatalf("column %d: len %d type %v", i, col.Len(), col.DataType())
				}
			}
		}
		if err := r.Err(); err != nil && !errors.Is(err, xpt.ErrMalformed) {
			t.Fatalf("error does not wrap ErrMalformed: %v", err)
		}
	})
}
