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
