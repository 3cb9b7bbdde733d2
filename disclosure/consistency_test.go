package disclosure

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
)

// TestConsistencyPool: proofs from every earlier size to a tree, pooled
// and expanded, are the log's proofs again, each subtree's hash written
// once; a pool with a hash missing or left over, or a size listed twice
// or impossible, is refused.
func TestConsistencyPool(t *testing.T) {
	tree := testonly.New(rfc6962.DefaultHasher)
	for i := 0; i < 300; i++ {
		tree.AppendData([]byte(fmt.Sprint("leaf ", i)))
	}
	for _, n := range []uint64{1, 2, 3, 7, 8, 9, 100, 128, 255, 300} {
		var proofs []ConsistencyProof
		total := 0
		for m := n - 1; m > 0; m -= (m + 2) / 3 {
			p, err := tree.ConsistencyProof(m, n)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(consistencySubtrees(m, n)); got != len(p) {
				t.Fatalf("proof %d to %d: %d subtrees, the log's proof %d hashes", m, n, got, len(p))
			}
			proofs, total = append(proofs, ConsistencyProof{From: m, Proof: p}), total+len(p)
		}
		value, err := encodeConsistency(proofs, n)
		if err != nil {
			t.Fatal(err)
		}
		back, err := expandConsistency(value, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(back) != len(proofs) {
			t.Fatalf("size %d: %d proofs back, want %d", n, len(back), len(proofs))
		}
		for i := range back {
			if back[i].From != proofs[i].From || len(back[i].Proof) != len(proofs[i].Proof) {
				t.Fatalf("size %d: proof %d differs", n, i)
			}
			for j := range back[i].Proof {
				if !bytes.Equal(back[i].Proof[j], proofs[i].Proof[j]) {
					t.Fatalf("size %d: proof from %d hash %d differs", n, back[i].From, j)
				}
			}
		}
		t.Logf("size %d: %d proofs, %d hashes, %d pooled bytes", n, len(proofs), total, len(value))
	}
	for _, bad := range []string{
		`{"from":[5],"hashes":""}`,
		`{"from":[5,5],"hashes":""}`,
		`{"from":[],"hashes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`,
		`{"from":[0],"hashes":""}`,
	} {
		if _, err := expandConsistency(bad, 9); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if p, err := expandConsistency(`{"from":[],"hashes":""}`, 9); err != nil || len(p) != 0 {
		t.Errorf("no proofs: %v %v", p, err)
	}
}
