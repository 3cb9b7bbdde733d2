// Package testutil holds what the reader packages' tests and benchmarks
// share: capped fuzz minimization, reading a reader to its end, and the
// read-throughput benchmark.
package testutil

import (
	"bytes"
	"flag"
	"io"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// MainCappingMinimization runs m with the minimization of interesting fuzz
// inputs capped at 1000 executions unless -test.fuzzminimizetime is given:
// Go minimizes every input that finds new coverage, with a minimizer
// quadratic in the input size and a default budget of 60 s, which would
// stall a short "-fuzztime=10s" run on its first real seed. Use it as
// TestMain's body: os.Exit(testutil.MainCappingMinimization(m)).
func MainCappingMinimization(m *testing.M) int {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.fuzzminimizetime" })
	if !set {
		if err := flag.Set("test.fuzzminimizetime", "1000x"); err != nil {
			panic(err)
		}
	}
	return m.Run()
}

// ReadAll reads r to its end and returns its rows and, if mem is not nil,
// the most Arrow memory in use after any batch.
func ReadAll(r array.RecordReader, mem *memory.CheckedAllocator) (rows, peak int, err error) {
	for r.Next() {
		rows += int(r.Record().NumRows())
		if mem != nil {
			peak = max(peak, mem.CurrentAlloc())
		}
	}
	return rows, peak, r.Err()
}

// BenchmarkRead is a sub-benchmark named name that opens data and reads
// every batch, reporting MB/s of the file's bytes and rows/s.
func BenchmarkRead(b *testing.B, name string, data []byte, open func(io.Reader) (array.RecordReader, error)) {
	b.Run(name, func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		rows := 0
		for b.Loop() {
			r, err := open(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			n, _, err := ReadAll(r, nil)
			if err != nil {
				b.Fatal(err)
			}
			rows += n
			r.Release()
		}
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	})
}
