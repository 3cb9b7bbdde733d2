// Package testutil holds what the reader packages' tests and benchmarks
// share: capped fuzz minimization, reading a reader to its end, and the
// read-throughput benchmark.
package testutil

import (
	"bytes"
	"encoding/binary"
	"flag"
	"io"
	"math"
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

// IBM encodes a float64 as an 8-byte IBM-370 hexadecimal float, as SAS
// XPORT stores numerics. Every float64 in the IBM range is exactly
// representable (53 significand bits plus at most 3 bits of hexadecimal
// alignment fit in 56), so this is exact; tests use it to write XPT
// values.
func IBM(f float64) [8]byte {
	var out [8]byte
	if f == 0 {
		return out
	}
	var sign uint64
	if f < 0 {
		sign, f = 1, -f
	}
	frac, e := math.Frexp(f) // f = frac * 2^e, frac in [0.5,1)
	mant := uint64(math.Ldexp(frac, 53))
	s := ((e+3)%4 + 4) % 4
	x := (e + 3 - s) / 4
	binary.BigEndian.PutUint64(out[:], sign<<63|uint64(x+64)<<56|mant<<s)
	return out
}
