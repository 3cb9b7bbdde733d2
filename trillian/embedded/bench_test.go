package embedded

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/trialog/trialog/trillian"
)

// BenchmarkInclusionProof measures proofs per second from a 1M-leaf tree
// (leaves of 100 bytes, the size of a row leaf v2).
func BenchmarkInclusionProof(b *testing.B) {
	ctx := context.Background()
	l, err := Open(ctx, filepath.Join(b.TempDir(), "tree"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const n = 1 << 20
	leaf := make([]byte, 100)
	for start := 0; start < n; start += 65536 {
		batch := make([][]byte, 65536)
		for i := range batch {
			v := append([]byte(nil), leaf...)
			copy(v, fmt.Sprint(start+i))
			batch[i] = v
		}
		if _, err := l.AppendLeaves(ctx, uint64(start), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx := uint64(i*7919) % n
		if _, err := l.InclusionProof(ctx, idx, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
}

// BenchmarkAppend measures appends of 32768 leaves of 100 bytes (with the
// caller's leaf hashes, as the pipeline does), fsync included.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	l, err := Open(ctx, filepath.Join(b.TempDir(), "tree"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const batch = 32768
	leaves := make([][]byte, batch)
	hashes := make([][]byte, batch)
	for i := range leaves {
		leaves[i] = make([]byte, 100)
		copy(leaves[i], fmt.Sprint(i))
		hashes[i] = trillian.LeafHash(leaves[i])
	}
	b.SetBytes(batch * 100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.AppendHashedLeaves(ctx, uint64(i*batch), leaves, hashes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "leaves/s")
}
