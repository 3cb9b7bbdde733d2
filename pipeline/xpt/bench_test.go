package xpt_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/trialog/trialog/pipeline/xpt"
)

func arrowTypeEqual(a, b arrow.DataType) bool { return arrow.TypeEqual(a, b) }

// BenchmarkXPTRead reports decoding throughput in MB/s of file bytes and
// rows/s on the largest real files.
func BenchmarkXPTRead(b *testing.B) {
	for _, name := range []string{"cdiscpilot01/xpt/cm.xpt", "datasetjson-msg/lb.xpt"} {
		p := filepath.Join("../../../shared/data", name)
		data := readFile(b, p)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			rows := 0
			for b.Loop() {
				r, err := xpt.NewReader(bytes.NewReader(data), p)
				if err != nil {
					b.Fatal(err)
				}
				for r.Next() {
					rows += int(r.Record().NumRows())
				}
				if r.Err() != nil {
					b.Fatal(r.Err())
				}
				r.Release()
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
