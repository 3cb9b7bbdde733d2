package disclosure

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/trialog/trialog/trillian"
)

// Consistency proofs, v4 (docs/package-format.md, "Consistency proofs").
//
// A package carries one RFC 6962 consistency proof from each earlier
// published checkpoint size to its own (up to 1000). Every hash of such a
// proof is the root of a subtree [lo, hi) of the package's tree, and which
// subtrees a proof from m to n holds follows from m and n alone (RFC 6962
// section 2.1.2, SUBPROOF). Proofs to the same tree share most of them, so
// v4 writes each subtree's hash once: the sizes, and the distinct hashes in
// the order the proofs, expanded in the listed order, first use them.

// maxCarried bounds the proofs a package may list, as writers do; each
// expands to at most 2 × 64 subtrees.
const maxCarried = 1000

// pooledConsistency is the metadata value of trialog.consistency.
type pooledConsistency struct {
	From   []uint64 `json:"from"`
	Hashes string   `json:"hashes"` // base64 of the distinct hashes, 32 bytes each
}

// consistencySubtrees lists the subtrees [lo, hi) whose roots form the RFC
// 6962 consistency proof from size m to size n, in proof order. Empty when
// m is 0 or m >= n (no proof).
func consistencySubtrees(m, n uint64) [][2]uint64 {
	if m == 0 || m >= n {
		return nil
	}
	var out [][2]uint64
	var sub func(lo, m, n uint64, whole bool)
	// sub is SUBPROOF(m, D[lo:lo+n], whole) of RFC 6962 section 2.1.2.
	sub = func(lo, m, n uint64, whole bool) {
		if m == n {
			if !whole {
				out = append(out, [2]uint64{lo, lo + n})
			}
			return
		}
		k := uint64(1) << (bits.Len64(n-1) - 1) // largest power of two < n
		if m <= k {
			sub(lo, m, k, whole)
			out = append(out, [2]uint64{lo + k, lo + n})
		} else {
			sub(lo+k, m-k, n-k, false)
			out = append(out, [2]uint64{lo, lo + k})
		}
	}
	sub(0, m, n, true)
	return out
}

// encodeConsistency pools proofs to tree size n. A proof whose length is
// not its sizes' RFC 6962 shape, or two proofs that disagree on a subtree,
// are an error: the log served something wrong.
func encodeConsistency(proofs []ConsistencyProof, n uint64) (string, error) {
	v := pooledConsistency{From: []uint64{}}
	var hashes []byte
	seen := map[[2]uint64][]byte{}
	for _, p := range proofs {
		subtrees := consistencySubtrees(p.From, n)
		if len(subtrees) != len(p.Proof) {
			return "", fmt.Errorf("consistency proof from %d to %d has %d hashes, want %d", p.From, n, len(p.Proof), len(subtrees))
		}
		v.From = append(v.From, p.From)
		for i, st := range subtrees {
			h := p.Proof[i]
			if len(h) != trillian.HashSize {
				return "", fmt.Errorf("consistency proof from %d: hash of %d bytes", p.From, len(h))
			}
			if prev, ok := seen[st]; ok {
				if !bytes.Equal(prev, h) {
					return "", fmt.Errorf("consistency proofs to %d disagree on subtree [%d, %d)", n, st[0], st[1])
				}
				continue
			}
			seen[st] = h
			hashes = append(hashes, h...)
		}
	}
	v.Hashes = base64.StdEncoding.EncodeToString(hashes)
	b, err := json.Marshal(v)
	return string(b), err
}

// expandConsistency is encodeConsistency's inverse for tree size n. Every
// pooled hash must be used, and the hashes must be exactly enough.
func expandConsistency(value string, n uint64) ([]ConsistencyProof, error) {
	var v pooledConsistency
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		return nil, fmt.Errorf("consistency proofs: %v", err)
	}
	if len(v.From) > maxCarried {
		return nil, fmt.Errorf("consistency proofs: %d listed, at most %d", len(v.From), maxCarried)
	}
	raw, err := base64.StdEncoding.DecodeString(v.Hashes)
	if err != nil || len(raw)%trillian.HashSize != 0 {
		return nil, fmt.Errorf("consistency proofs: hashes are not base64 of 32-byte hashes")
	}
	out := []ConsistencyProof{}
	seen := map[[2]uint64][]byte{}
	listed := map[uint64]bool{}
	for _, from := range v.From {
		subtrees := consistencySubtrees(from, n)
		if len(subtrees) == 0 || listed[from] {
			return nil, fmt.Errorf("consistency proofs: a proof from %d to %d listed twice or not possible", from, n)
		}
		listed[from] = true
		p := ConsistencyProof{From: from}
		for _, st := range subtrees {
			h, ok := seen[st]
			if !ok {
				if len(raw) == 0 {
					return nil, fmt.Errorf("consistency proofs: too few hashes for the sizes listed")
				}
				h, raw = raw[:trillian.HashSize:trillian.HashSize], raw[trillian.HashSize:]
				seen[st] = h
			}
			p.Proof = append(p.Proof, h)
		}
		out = append(out, p)
	}
	if len(raw) != 0 {
		return nil, fmt.Errorf("consistency proofs: %d hashes left over", len(raw)/trillian.HashSize)
	}
	return out, nil
}

// treeSizeOf reads the tree size of a checkpoint note (its second line;
// c2sp.org/tlog-checkpoint) without checking its signature: the writer's
// own checkpoint.
func treeSizeOf(signed []byte) (uint64, error) {
	lines := strings.SplitN(string(signed), "\n", 3)
	if len(lines) < 3 {
		return 0, fmt.Errorf("checkpoint has no tree size line")
	}
	return strconv.ParseUint(lines[1], 10, 64)
}

// Bind completes, once the verifier has opened the package's checkpoint,
// what v4 leaves implied by its tree size: the range proof's Size, and
// the consistency proofs, expanded from their pool into Consistency.
func (p *Meta) Bind(size uint64) error {
	if p.RangeProof != nil {
		p.RangeProof.Size = size
	}
	if p.consistencyValue == "" {
		return nil
	}
	c, err := expandConsistency(p.consistencyValue, size)
	if err != nil {
		return err
	}
	p.Consistency = c
	return nil
}
