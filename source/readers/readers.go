// Package readers opens a dataset file in any format trialog reads: the
// Arrow IPC and CSV readers of package source, plus Parquet (Arrow's
// pqarrow), CDISC Dataset-JSON (source/datasetjson) and SAS XPORT
// (source/xpt). Writers (ingest, prove) and the CLI open files here; the
// offline verifier only consumes opened files, so it links none of this.
package readers

import (
	"bufio"
	"context"
	"io"
	"os"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/datasetjson"
	"github.com/trialog/trialog/source/xpt"
)

// Open is source.Open with every format's reader plugged in.
func Open(ctx context.Context, path string, opts source.Options) (*source.File, error) {
	opts.Readers = All()
	return source.Open(ctx, path, opts)
}

// All returns the readers of the formats package source does not read
// itself.
func All() map[source.Format]source.ReaderFunc {
	return map[source.Format]source.ReaderFunc{
		source.Parquet:     parquet,
		source.XPT:         buffered(xptReader),
		source.DatasetJSON: buffered(jsonReader),
		source.NDJSON:      buffered(ndjsonReader),
		source.DSJC:        buffered(dsjcReader),
	}
}

func parquet(ctx context.Context, fh *os.File, _ string, o source.Options) (array.RecordReader, []io.Closer, error) {
	pf, err := file.NewParquetReader(fh)
	if err != nil {
		return nil, nil, err
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(o.BatchRows)}, o.Allocator)
	if err != nil {
		pf.Close()
		return nil, nil, err
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		pf.Close()
		return nil, nil, err
	}
	return rr, []io.Closer{pf}, nil
}

// buffered adapts a streaming reader constructor to a ReaderFunc, reading
// the file through a 1 MiB buffer.
func buffered(open func(r io.Reader, name string, o source.Options) (array.RecordReader, error)) source.ReaderFunc {
	return func(_ context.Context, fh *os.File, name string, o source.Options) (array.RecordReader, []io.Closer, error) {
		rr, err := open(bufio.NewReaderSize(fh, 1<<20), name, o)
		return rr, nil, err
	}
}

func xptReader(r io.Reader, name string, o source.Options) (array.RecordReader, error) {
	return xpt.NewReader(r, name, xpt.WithAllocator(o.Allocator), xpt.WithBatchSize(o.BatchRows),
		xpt.WithEncoding(o.Encoding), xpt.WithFormats(o.Formats))
}

func jsonOptions(o source.Options) []datasetjson.Option {
	return []datasetjson.Option{datasetjson.WithAllocator(o.Allocator), datasetjson.WithBatchSize(o.BatchRows), datasetjson.WithWarn(o.Warn), datasetjson.WithMaxRowBytes(o.Limits.MaxRecordBytes)}
}

func jsonReader(r io.Reader, name string, o source.Options) (array.RecordReader, error) {
	return datasetjson.NewReader(r, name, jsonOptions(o)...)
}

func ndjsonReader(r io.Reader, name string, o source.Options) (array.RecordReader, error) {
	return datasetjson.NewNDJSONReader(r, name, jsonOptions(o)...)
}

func dsjcReader(r io.Reader, name string, o source.Options) (array.RecordReader, error) {
	return datasetjson.NewCompressedReader(r, name, jsonOptions(o)...)
}
