package leaf

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// KindPolicy is the leaf kind of a trial's witness policy
// (docs/witnessing.md). It is declared here rather than in the kind list
// of leaf.go only to keep that list's history simple; values are never
// reused either way.
const KindPolicy Kind = 0x04

// PolicyLeaf is a witness policy leaf, kind 0x04 format 0x01:
//
//	0x04 0x01 lp(trial) uvarint(seq) SHA-256(policy note text)(32)
//
// seq counts the trial's policies from 1. The digest is over the text of
// the policy note the trial key signed ("trialog witness policy v1" and
// the policy in the Sigsum format), which packages carry: logging it puts
// every policy change into the history the witnesses cosign, so a
// package's stated policy is provably the one the log held.
type PolicyLeaf struct {
	Trial  string
	Seq    uint64
	Digest [sha256.Size]byte
}

// NewPolicyLeaf makes the leaf of a policy note's text.
func NewPolicyLeaf(trial string, seq uint64, noteText string) *PolicyLeaf {
	return &PolicyLeaf{Trial: trial, Seq: seq, Digest: sha256.Sum256([]byte(noteText))}
}

// Marshal encodes the leaf.
func (p *PolicyLeaf) Marshal() []byte {
	b := []byte{byte(KindPolicy), FormatV1}
	b = AppendString(b, p.Trial)
	b = binary.AppendUvarint(b, p.Seq)
	return append(b, p.Digest[:]...)
}

// ParsePolicyLeaf decodes a policy leaf strictly: kind and format, minimal
// varints, a 32-byte digest and no trailing bytes.
func ParsePolicyLeaf(b []byte) (*PolicyLeaf, error) {
	if err := expectHeader(b, KindPolicy, FormatV1, "a v1 witness policy leaf"); err != nil {
		return nil, err
	}
	d := &decoder{b: b[2:]}
	p := &PolicyLeaf{}
	p.Trial = string(d.bytes(d.uvarint("policy leaf trial length"), "policy leaf trial"))
	p.Seq = d.uvarint("policy leaf sequence number")
	dg := d.bytes(sha256.Size, "policy leaf digest")
	if d.err != nil {
		return nil, d.err
	}
	copy(p.Digest[:], dg)
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the policy leaf's digest", ErrMalformed, len(d.b))
	}
	return p, nil
}
