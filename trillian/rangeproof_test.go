package trillian_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/transparency-dev/merkle/compact"

	"github.com/trialog/trialog/trillian"
)

// TestRangeSegments: folding a range in segments (on several goroutines,
// merged in order) verifies exactly as appending leaf by leaf does, and
// catches the same altered leaf.
func TestRangeSegments(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	factory := &compact.RangeFactory{Hash: trillian.HashChildren}
	for trial := 0; trial < 200; trial++ {
		size := 1 + rng.Uint64N(3000)
		begin := rng.Uint64N(size)
		hashes := make([][]byte, size)
		for i := range hashes {
			hashes[i] = trillian.LeafHash(fmt.Appendf(nil, "leaf %d", i))
		}
		whole, left := factory.NewEmptyRange(0), factory.NewEmptyRange(0)
		for i, h := range hashes {
			if uint64(i) == begin {
				left, _ = factory.NewRange(0, begin, append([][]byte(nil), whole.Hashes()...))
			}
			if err := whole.Append(h, nil); err != nil {
				t.Fatal(err)
			}
		}
		root, err := whole.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		p := trillian.RangeProof{Begin: begin, End: size, Size: size, Left: left.Hashes()}
		for _, tamper := range []int{-1, int(rng.Uint64N(size - begin))} {
			leaves := hashes[begin:]
			if tamper >= 0 {
				leaves = append([][]byte(nil), leaves...)
				leaves[tamper] = trillian.LeafHash([]byte("altered"))
			}
			seq, err := trillian.NewRangeVerifier(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range leaves {
				seq.Append(h)
			}
			seg, _ := trillian.NewRangeVerifier(p)
			for lo := 0; lo < len(leaves); {
				hi := min(len(leaves), lo+1+int(rng.Uint64N(300)))
				s := seg.NewSegment(uint64(lo))
				for _, h := range leaves[lo:hi] {
					if err := s.Append(h); err != nil {
						t.Fatal(err)
					}
				}
				seg.AppendSegment(s)
				lo = hi
			}
			seqErr, segErr := seq.Verify(root), seg.Verify(root)
			if (seqErr == nil) != (tamper < 0) || (segErr == nil) != (tamper < 0) {
				t.Fatalf("size %d begin %d tamper %d: sequential %v, segments %v", size, begin, tamper, seqErr, segErr)
			}
			r1, _ := seq.RangeRoot()
			r2, _ := seg.RangeRoot()
			if !bytes.Equal(r1, r2) {
				t.Fatalf("size %d begin %d: range roots differ", size, begin)
			}
		}
	}
}
