package pipeline

import (
	"context"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/trialog/trialog/pipeline/source"
)

// batch is one record batch and the dataset row index of its first row.
type batch struct {
	rec   arrow.Record
	first uint64
}

// forEachBatch makes one pass over a file, calling fn for each non-empty
// batch in order, and returns the number of rows read.
func forEachBatch(ctx context.Context, f *source.File, fn func(batch) error) (uint64, error) {
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
		if err := fn(batch{rec: rec, first: rows}); err != nil {
			return rows, err
		}
		rows += uint64(rec.NumRows())
	}
	if err := b.Err(); err != nil {
		return rows, err
	}
	return rows, nil
}

// forEachBatchAhead is forEachBatch with the file read one batch ahead on
// another goroutine, so that reading and decoding the next batch overlaps
// fn's work on this one.
func forEachBatchAhead(ctx context.Context, f *source.File, fn func(batch) error) (uint64, error) {
	b, err := f.Batches(ctx)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	ahead := make(chan batch, 1)
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
			case ahead <- batch{rec: rec, first: rows}:
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
				rows = next.first + uint64(next.rec.NumRows())
			} else {
				close(stop)
			}
		}
		next.rec.Release()
	}
	if fnErr != nil {
		return rows, fnErr
	}
	return rows, readErr
}

// chunked adapts fn to take batches of at most rows rows, slicing bigger
// ones: buffers and package record batches then stay small whatever batch
// size the file was written with.
func chunked(rows int64, fn func(batch) error) func(batch) error {
	return func(whole batch) error {
		n := whole.rec.NumRows()
		if n <= rows {
			return fn(whole)
		}
		for off := int64(0); off < n; off += rows {
			part := whole.rec.NewSlice(off, min(off+rows, n))
			err := fn(batch{rec: part, first: whole.first + uint64(off)})
			part.Release()
			if err != nil {
				return err
			}
		}
		return nil
	}
}
