package source

import (
	"context"

	"github.com/apache/arrow/go/v17/arrow"
)

// Batch is one record batch and the dataset row index of its first row.
type Batch struct {
	Rec   arrow.Record
	First uint64
}

// ForEachBatch makes one pass over a file, calling fn for each non-empty
// batch in order, and returns the number of rows read.
func ForEachBatch(ctx context.Context, f *File, fn func(Batch) error) (uint64, error) {
	b, err := f.Batches(ctx)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	var rows uint64
	for b.Next() {
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		rec := b.Record()
		if rec.NumRows() == 0 {
			continue
		}
		if err := fn(Batch{Rec: rec, First: rows}); err != nil {
			return rows, err
		}
		rows += uint64(rec.NumRows())
	}
	if err := b.Err(); err != nil {
		return rows, err
	}
	return rows, nil
}

// ForEachBatchAhead is ForEachBatch with the file read one batch ahead on
// another goroutine, so that reading and decoding the next batch overlaps
// fn's work on this one.
func ForEachBatchAhead(ctx context.Context, f *File, fn func(Batch) error) (uint64, error) {
	b, err := f.Batches(ctx)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	ahead := make(chan Batch, 1)
	stop := make(chan struct{})
	var readErr error // written before ahead is closed
	go func() {
		defer close(ahead)
		var rows uint64
		for b.Next() {
			if readErr = ctx.Err(); readErr != nil {
				return
			}
			rec := b.Record()
			if rec.NumRows() == 0 {
				continue
			}
			rec.Retain() // valid past the reader's next batch
			select {
			case ahead <- Batch{Rec: rec, First: rows}:
			case <-stop:
				rec.Release()
				return
			}
			rows += uint64(rec.NumRows())
		}
		readErr = b.Err()
	}()
	var rows uint64
	var fnErr error
	for next := range ahead {
		if fnErr == nil {
			if fnErr = fn(next); fnErr == nil {
				rows = next.First + uint64(next.Rec.NumRows())
			} else {
				close(stop)
			}
		}
		next.Rec.Release()
	}
	if fnErr != nil {
		return rows, fnErr
	}
	return rows, readErr
}

// Chunked adapts fn to take batches of at most rows rows, slicing bigger
// ones: buffers and package record batches then stay small whatever batch
// size the file was written with.
func Chunked(rows int64, fn func(Batch) error) func(Batch) error {
	return func(whole Batch) error {
		n := whole.Rec.NumRows()
		if n <= rows {
			return fn(whole)
		}
		for off := int64(0); off < n; off += rows {
			part := whole.Rec.NewSlice(off, min(off+rows, n))
			err := fn(Batch{Rec: part, First: whole.First + uint64(off)})
			part.Release()
			if err != nil {
				return err
			}
		}
		return nil
	}
}
