package ipcfile_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/disclosure/ipcfile"
	"github.com/trialog/trialog/internal/hostile"
)

// file writes batches of n rows (a uint64 and a dictionary-encoded text
// column) with the writer options given.
func file(t *testing.T, batches, n int, opts ...ipc.Option) []byte {
	t.Helper()
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	schema := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Uint64}, {Name: "s", Type: dictType}}, nil)
	var out bytes.Buffer
	w, err := ipc.NewFileWriter(&seeker{&out}, append([]ipc.Option{ipc.WithSchema(schema)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	for b := 0; b < batches; b++ {
		nb := array.NewUint64Builder(memory.DefaultAllocator)
		db := array.NewDictionaryBuilder(memory.DefaultAllocator, dictType).(*array.BinaryDictionaryBuilder)
		for i := 0; i < n; i++ {
			nb.Append(uint64(b*n + i))
			db.AppendString([]string{"F", "M"}[i%2])
		}
		rec := array.NewRecord(schema, []arrow.Array{nb.NewArray(), db.NewArray()}, int64(n))
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

type seeker struct{ b *bytes.Buffer }

func (s *seeker) Write(p []byte) (int, error)    { return s.b.Write(p) }
func (s *seeker) Seek(int64, int) (int64, error) { return int64(s.b.Len()), nil }

func check(b []byte, lim ipcfile.Limits) (*ipcfile.Layout, error) {
	return ipcfile.Check(bytes.NewReader(b), int64(len(b)), lim)
}

func TestCheckHonestFile(t *testing.T) {
	b := file(t, 3, 100)
	l, err := check(b, ipcfile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Records) != 3 || l.Rows() != 300 || len(l.Dicts) != 1 {
		t.Fatalf("layout: %d records, %d rows, %d dictionaries", len(l.Records), l.Rows(), len(l.Dicts))
	}
	path := filepath.Join(t.TempDir(), "f.arrow")
	os.WriteFile(path, b, 0o644)
	budget := ipcfile.NewBudget(nil, 1<<20)
	f, err := ipcfile.Open(path, ipcfile.Limits{}, budget)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < f.NumRecords(); i++ {
		rec, err := f.RecordAt(i)
		if err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	f.Close()
	if budget.Peak() == 0 || budget.Peak() > 1<<20 {
		t.Fatalf("budget peak %d", budget.Peak())
	}
}

func TestLimits(t *testing.T) {
	b := file(t, 1, 100)
	if _, err := check(b, ipcfile.Limits{MaxBatchRows: 99}); !errors.Is(err, ipcfile.ErrStructure) || !strings.Contains(err.Error(), "rows (limit 99)") {
		t.Errorf("100-row batch under a 99-row limit: %v", err)
	}
	if _, err := check(b, ipcfile.Limits{MaxBatchBody: 64}); !errors.Is(err, ipcfile.ErrStructure) || !strings.Contains(err.Error(), "limit 64") {
		t.Errorf("body over the limit: %v", err)
	}
	l, err := check(b, ipcfile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d := l.Dicts[0]
	for _, blk := range [][2]int64{{d.Offset, 1 << 40}, {1 << 40, d.Body}, {d.Offset, d.Body + 8}, {l.Records[0].Offset, d.Body}} {
		crafted, err := hostile.SetDictionaryBlock(b, 0, blk[0], blk[1])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := check(crafted, ipcfile.Limits{}); !errors.Is(err, ipcfile.ErrStructure) || !strings.Contains(err.Error(), "dictionary b") {
			t.Errorf("dictionary block at %d of %d bytes: %v", blk[0], blk[1], err)
		}
	}
	for _, cut := range []int{0, 7, 16, len(b) / 2, len(b) - 1} {
		if _, err := check(b[:cut], ipcfile.Limits{}); err == nil {
			t.Errorf("file cut at %d accepted", cut)
		}
	}
}

// TestBudgetStopsBomb: even without Check, the budget allocator stops
// the Arrow reader from inflating a buffer declaring 2 GiB, and Guard
// turns that into an error. Check rejects the file outright.
func TestBudgetStopsBomb(t *testing.T) {
	b := file(t, 1, 1000, ipc.WithZstd(), ipc.WithMinSpaceSavings(0))
	bomb, ok := hostile.PatchInt64(b, 8, 1000*8, 2<<30) // the uint64 column's uncompressed size
	if !ok {
		t.Fatal("no buffer of 1000 uint64 in the file")
	}
	if _, err := check(bomb, ipcfile.Limits{}); err == nil || !strings.Contains(err.Error(), "compressed") {
		t.Fatalf("Check: %v", err)
	}
	budget := ipcfile.NewBudget(nil, 64<<20)
	err := ipcfile.Guard(func() error {
		fr, err := ipc.NewFileReader(bytes.NewReader(bomb), ipc.WithAllocator(budget))
		if err != nil {
			return err
		}
		defer fr.Close()
		rec, err := fr.RecordAt(0)
		if err == nil {
			rec.Release()
		}
		return err
	})
	if !errors.Is(err, ipcfile.ErrStructure) || !strings.Contains(err.Error(), "budget") || budget.Peak() > 64<<20 {
		t.Fatalf("bomb read under a 64 MiB budget: %v (peak %d)", err, budget.Peak())
	}
}

// TestStreamDictionaryIDs: a stream schema that assigns the dictionaries
// to other fields than the footer's schema (which Arrow's decoded schemas
// do not show) is rejected.
func TestStreamDictionaryIDs(t *testing.T) {
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: dictType}, {Name: "b", Type: dictType}}, nil)
	var out bytes.Buffer
	w, err := ipc.NewFileWriter(&seeker{&out}, ipc.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	var cols []arrow.Array
	for _, v := range []string{"F", "M"} {
		db := array.NewDictionaryBuilder(memory.DefaultAllocator, dictType).(*array.BinaryDictionaryBuilder)
		db.AppendString(v)
		cols = append(cols, db.NewArray())
	}
	if err := w.Write(array.NewRecord(schema, cols, 1)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b := out.Bytes()
	l, err := check(b, ipcfile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	schemaEnd := 8 + int(l.Schema.Meta)
	crafted, ok := hostile.PatchInt64(b, 8, 1, 0) // field b's dictionary id, in the stream schema
	if !ok || !bytes.Equal(crafted[schemaEnd:], b[schemaEnd:]) {
		t.Fatal("dictionary id 1 not found in the schema message")
	}
	if _, err := check(crafted, ipcfile.Limits{}); !errors.Is(err, ipcfile.ErrStructure) || !strings.Contains(err.Error(), "assigns dictionaries") {
		t.Fatalf("swapped dictionary ids: %v", err)
	}
}
