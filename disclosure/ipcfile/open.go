package ipcfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// ErrBudget is the panic value, and then the wrapped error, of an
// allocation beyond a Budget.
var ErrBudget = errors.New("memory budget exceeded")

// Budget is an Arrow allocator that refuses (by panicking with ErrBudget,
// which Open and Guard turn into an error) any allocation that would take
// the bytes it has handed out and not yet had back above Max. It bounds
// what the Arrow reader holds whatever sizes a file declares.
type Budget struct {
	Base memory.Allocator
	Max  int64

	mu   sync.Mutex
	live int64
	peak int64
}

// NewBudget returns a Budget of max bytes over base (Go's allocator if nil).
func NewBudget(base memory.Allocator, max int64) *Budget {
	if base == nil {
		base = memory.NewGoAllocator()
	}
	return &Budget{Base: base, Max: max}
}

func (b *Budget) take(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n < 0 || b.live+n > b.Max {
		panic(fmt.Errorf("%w: %d bytes wanted, %d of %d in use", ErrBudget, n, b.live, b.Max))
	}
	b.live += n
	b.peak = max(b.peak, b.live)
}

func (b *Budget) give(n int64) {
	b.mu.Lock()
	b.live -= n
	b.mu.Unlock()
}

// Allocate implements memory.Allocator.
func (b *Budget) Allocate(size int) []byte {
	b.take(int64(size))
	return b.Base.Allocate(size)
}

// Reallocate implements memory.Allocator.
func (b *Budget) Reallocate(size int, buf []byte) []byte {
	b.take(int64(size) - int64(len(buf)))
	return b.Base.Reallocate(size, buf)
}

// Free implements memory.Allocator.
func (b *Budget) Free(buf []byte) {
	b.give(int64(len(buf)))
	b.Base.Free(buf)
}

// Peak is the most bytes ever held at once.
func (b *Budget) Peak() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak
}

// Guard runs fn, turning a panic (of the Arrow reader on a crafted file,
// or a Budget refusal) into an error wrapping ErrStructure.
func Guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok && errors.Is(e, ErrBudget) {
				err = fmt.Errorf("%w: %v", ErrStructure, e)
				return
			}
			err = fmt.Errorf("%w: Arrow reader failed (%v)", ErrStructure, r)
		}
	}()
	return fn()
}

// File is a checked Arrow IPC file opened for reading.
type File struct {
	*ipc.FileReader
	Layout *Layout
	fh     *os.File
}

// Close releases the reader and closes the file.
func (f *File) Close() error {
	f.FileReader.Close()
	return f.fh.Close()
}

// Open checks the file at path (Check), opens it with Arrow's file reader
// allocating through mem, and checks that the schema of the stream
// section is the footer's, metadata included. Every failure other than
// the file's absence wraps ErrStructure.
func Open(path string, lim Limits, mem memory.Allocator) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	layout, err := Check(fh, st.Size(), lim)
	if err != nil {
		fh.Close()
		return nil, err
	}
	var fr *ipc.FileReader
	err = Guard(func() error {
		var err error
		if fr, err = ipc.NewFileReader(fh, ipc.WithAllocator(mem)); err != nil {
			return fmt.Errorf("%w: %v", ErrStructure, err)
		}
		// The stream section's schema, as a stream reader sees it.
		sr, err := ipc.NewReader(io.NewSectionReader(fh, 8, int64(layout.Schema.Meta)), ipc.WithAllocator(mem))
		if err != nil {
			return fmt.Errorf("%w: stream schema: %v", ErrStructure, err)
		}
		defer sr.Release()
		if !sameSchema(sr.Schema(), fr.Schema()) {
			return fmt.Errorf("%w: the stream section's schema differs from the footer's (two readings of one file)", ErrStructure)
		}
		return nil
	})
	if err != nil {
		if fr != nil {
			fr.Close()
		}
		fh.Close()
		return nil, err
	}
	return &File{FileReader: fr, Layout: layout, fh: fh}, nil
}

func sameSchema(a, b *arrow.Schema) bool {
	if !a.Equal(b) || !a.Metadata().Equal(b.Metadata()) {
		return false
	}
	return true
}

// RecordAt reads record batch i under Guard.
func (f *File) RecordAt(i int) (rec arrow.Record, err error) {
	err = Guard(func() error {
		var err error
		rec, err = f.FileReader.RecordAt(i)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrStructure, err)
		}
		return nil
	})
	return rec, err
}
