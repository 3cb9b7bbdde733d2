package datasetjson_test

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/trialog/trialog/internal/testutil"
	"github.com/trialog/trialog/source/datasetjson"
)

// BenchmarkDatasetJSONRead reports MB/s of file bytes (compressed bytes for
// .dsjc) and rows/s for the largest domain of the MSG sample in each framing.
func BenchmarkDatasetJSONRead(b *testing.B) {
	for _, name := range []string{"lb.json", "lb.ndjson", "lb.dsjc"} {
		testutil.BenchmarkRead(b, name, testutil.ReadFileOrSkip(b, filepath.Join(msgDir, name)), func(r io.Reader) (array.RecordReader, error) {
			return datasetjson.NewReaderFor(r, name)
		})
	}
}
