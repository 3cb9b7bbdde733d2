package canonical_test

import (
	"math/rand"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/canonical"
)

// lbColumns are columns shaped like bench/genlb's LB table (the verify
// and ingest benchmarks): two-decimal lab values, half-integer visit
// numbers, integer sequence numbers, short text.
func lbColumns(n int) []arrow.Array {
	rng := rand.New(rand.NewSource(1))
	mem := memory.NewGoAllocator()
	vals, visits := array.NewFloat64Builder(mem), array.NewFloat64Builder(mem)
	seq, text := array.NewInt64Builder(mem), array.NewStringBuilder(mem)
	for i := 0; i < n; i++ {
		v := 1 + rng.Float64()*150
		vals.Append(float64(int(v*100)) / 100)
		visit := i % 12
		visits.Append(float64(visit) + 0.5*float64(visit%2))
		seq.Append(int64(i%200 + 1))
		text.Append("mmol/L")
	}
	return []arrow.Array{vals.NewArray(), visits.NewArray(), seq.NewArray(), text.NewArray()}
}

// BenchmarkEncodeLB encodes every cell of 100,000 LB-like rows: the
// canonical share of ingest, prove and verify.
func BenchmarkEncodeLB(b *testing.B) {
	cols := lbColumns(100000)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range cols {
			enc, err := canonical.Encoder(c)
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < c.Len(); i++ {
				if buf, err = enc(buf[:0], i); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
