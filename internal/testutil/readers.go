package testutil

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// ReadFileOrSkip reads path, skipping the test when it cannot: the real
// pilot data under ../shared/data is not in every checkout.
func ReadFileOrSkip(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("real data not available: %v", err)
	}
	return b
}

// CheckMalformed fails the test unless err is a reader's bad-input error:
// it wraps malformed (the reader's ErrMalformed), is one line, starts with
// the file name and contains wantSub.
func CheckMalformed(t testing.TB, err, malformed error, name, wantSub string) {
	t.Helper()
	if err == nil {
		t.Errorf("no error, want %q", wantSub)
		return
	}
	msg := err.Error()
	if !errors.Is(err, malformed) {
		t.Errorf("%q does not wrap %v", msg, malformed)
	}
	if !strings.HasPrefix(msg, name+": ") || strings.Contains(msg, "\n") || !strings.Contains(msg, wantSub) {
		t.Errorf("error %q: want one line starting with %q containing %q", msg, name, wantSub)
	}
}

// Stream reads as Head, then Row's bytes for each row index in [0, N),
// then Tail, generated as they are read: the memory tests feed readers
// more rows than a test should hold.
type Stream struct {
	Head, Tail []byte
	N          int
	// Row appends row i to dst.
	Row func(dst []byte, i int) []byte

	i          int
	head, tail bool
	buf        []byte
}

func (s *Stream) Read(p []byte) (int, error) {
	if !s.head {
		s.buf, s.head = append(s.buf, s.Head...), true
	}
	for len(s.buf) < len(p) && s.i < s.N {
		s.buf = s.Row(s.buf, s.i)
		s.i++
	}
	if s.i == s.N && !s.tail {
		s.buf, s.tail = append(s.buf, s.Tail...), true
	}
	if len(s.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

// CheckFlatMemory reads r to its end and releases it, failing the test
// unless it gives rows rows and the Arrow memory in use (mem, which r
// allocates from) never exceeds maxPeak bytes after a batch: a reader's
// memory must not grow with the rows.
func CheckFlatMemory(t testing.TB, r array.RecordReader, mem *memory.CheckedAllocator, rows, maxPeak int) {
	t.Helper()
	defer r.Release()
	total, peak, err := ReadAll(r, mem)
	if err != nil || total != rows {
		t.Fatalf("%d rows, %v", total, err)
	}
	if peak > maxPeak {
		t.Errorf("peak Arrow memory %d bytes, want at most %d", peak, maxPeak)
	}
}

// Rows reads r to its end, failing the test when a batch's schema is not
// r's, and returns every row as the values cell gives for its columns.
func Rows(t testing.TB, r array.RecordReader, cell func(col arrow.Array, i int) any) ([][]any, error) {
	t.Helper()
	var rows [][]any
	for r.Next() {
		rec := r.Record()
		if !rec.Schema().Equal(r.Schema()) {
			t.Fatalf("batch schema differs from reader schema")
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]any, rec.NumCols())
			for j, col := range rec.Columns() {
				row[j] = cell(col, i)
			}
			rows = append(rows, row)
		}
	}
	return rows, r.Err()
}

// BatchSizes reads r to its end and returns its batches' row counts,
// e.g. "[1000 1000 488]".
func BatchSizes(r array.RecordReader) (string, error) {
	var sizes []int64
	for r.Next() {
		sizes = append(sizes, r.Record().NumRows())
	}
	return fmt.Sprint(sizes), r.Err()
}
