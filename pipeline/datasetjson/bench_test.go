package datasetjson_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/trialog/trialog/pipeline/datasetjson"
)

// BenchmarkDatasetJSONRead reports MB/s of file bytes (compressed bytes for
// .dsjc) and rows/s for the largest domain of the MSG sample in each framing.
func BenchmarkDatasetJSONRead(b *testing.B) {
	for _, name := range []string{"lb.json", "lb.ndjson", "lb.dsjc"} {
		data := readFile(b, filepath.Join(msgDir, name))
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			rows := 0
			for b.Loop() {
				r, err := datasetjson.NewReaderFor(bytes.NewReader(data), name)
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
