package verify_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/verify"
)

// TestCarriedProofsBounded: the consistency proofs a package carries are
// at most disclosure.MaxConsistencyProofs, newest first, one per earlier
// size (none from the empty tree), each of at most MaxProofHashes hashes;
// anything else is a malformed package. A proof from a size that is not
// below the checkpoint's fails verification.
func TestCarriedProofsBounded(t *testing.T) {
	p := pilotTrial(t)
	hash := make([]byte, 32)
	proofs := func(from ...uint64) []disclosure.ConsistencyProof {
		var out []disclosure.ConsistencyProof
		for _, f := range from {
			out = append(out, disclosure.ConsistencyProof{From: f, Proof: [][]byte{hash}})
		}
		return out
	}
	many := make([]uint64, disclosure.MaxConsistencyProofs+1)
	for i := range many {
		many[i] = uint64(len(many) - i)
	}
	long := proofs(3)
	long[0].Proof = make([][]byte, disclosure.MaxProofHashes+1)
	for i := range long[0].Proof {
		long[0].Proof[i] = hash
	}
	with := func(cps []disclosure.ConsistencyProof) string {
		b, err := json.Marshal(cps)
		if err != nil {
			t.Fatal(err)
		}
		return rewriteMeta(t, p.subjectDM, func(md map[string]string) { md["trialog.consistency"] = string(b) })
	}
	for _, c := range []struct {
		name string
		cps  []disclosure.ConsistencyProof
		want string
	}{
		{"too many", proofs(many...), "65 consistency proofs, at most 64"},
		{"duplicate", proofs(5, 5), "two from size 5"},
		{"ascending", proofs(3, 5), "decreasing order"},
		{"from the empty tree", proofs(0), "from the empty tree"},
		{"too long", long, "129 hashes, at most 128"},
	} {
		t.Run(c.name, func(t *testing.T) { mustReject(t, p, readFile(t, with(c.cps)), c.want) })
	}

	rep, err := verifyFile(p, with(proofs(1<<40)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || !strings.Contains(strings.Join(rep.Problems, "\n"), "not below the checkpoint's") {
		t.Errorf("a proof from beyond the checkpoint: ok=%v %v", rep.OK, rep.Problems)
	}
	if rep, err := verifyFile(p, with(proofs(2, 1)), nil); err != nil || !onlyDigestChanged(rep) {
		t.Errorf("well-formed proofs (unused without a trust store): %v %+v", err, rep)
	}

	// The bound's reason: the largest carry allowed fits the schema
	// message's 1 MiB metadata limit; the old bound of 1000 proofs, at 31
	// hashes each (a log of about 2^30 leaves), did not.
	carry := func(n, hashes int) []disclosure.ConsistencyProof {
		out := make([]disclosure.ConsistencyProof, n)
		for i := range out {
			out[i] = disclosure.ConsistencyProof{From: uint64(n - i), Proof: make([][]byte, hashes)}
			for j := range out[i].Proof {
				out[i].Proof[j] = hash
			}
		}
		return out
	}
	if rep, err := verifyFile(p, with(carry(disclosure.MaxConsistencyProofs, disclosure.MaxProofHashes)), nil); err != nil || !onlyDigestChanged(rep) {
		t.Errorf("%d proofs of %d hashes: %v %+v", disclosure.MaxConsistencyProofs, disclosure.MaxProofHashes, err, rep)
	}
	mustReject(t, p, readFile(t, with(carry(1000, 31))), "metadata length")
}

// onlyDigestChanged: a package the test edited after it was issued reads
// and verifies but for the digest its disclosure record logged.
func onlyDigestChanged(rep *verify.Report) bool {
	return len(rep.Problems) == 1 && strings.Contains(rep.Problems[0], "altered after it was issued")
}
