package xpt_test

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/trialog/trialog/internal/testutil"
	"github.com/trialog/trialog/source/xpt"
)

func arrowTypeEqual(a, b arrow.DataType) bool { return arrow.TypeEqual(a, b) }

// BenchmarkXPTRead reports decoding throughput in MB/s of file bytes and
// rows/s on the largest real files.
func BenchmarkXPTRead(b *testing.B) {
	for _, name := range []string{"cdiscpilot01/xpt/cm.xpt", "datasetjson-msg/lb.xpt"} {
		p := filepath.Join("../../../shared/data", name)
		testutil.BenchmarkRead(b, name, testutil.ReadFileOrSkip(b, p), func(r io.Reader) (array.RecordReader, error) {
			return xpt.NewReader(r, p)
		})
	}
}
