package leaf

import (
	"encoding/binary"
	"fmt"
)

// Consent record types: the third byte of a consent leaf.
const (
	ConsentForm  byte = 0x01
	ConsentEvent byte = 0x02
)

// ConsentLeaf is a consent leaf, kind 0x03 format 0x01
// (docs/consent.md):
//
//	0x03 0x01 type lp(trial) uvarint(seq) uvarint(n) lp(name)... commitment(32)...
//
// Only the record type, the trial, the sequence number and the (fixed)
// field names are in clear; every value, the event type included, is a
// salted commitment (Commit). The field semantics, salts and the registry
// that holds the records live in package consent; the bytes live here,
// beside the other leaf kinds, with one strict decoder.
type ConsentLeaf struct {
	Type        byte
	Trial       string
	Seq         uint64
	Names       []string
	Commitments [][CommitmentSize]byte // one per name
}

// Marshal encodes the leaf.
func (c *ConsentLeaf) Marshal() ([]byte, error) {
	if len(c.Names) != len(c.Commitments) {
		return nil, fmt.Errorf("consent leaf: %d names for %d commitments", len(c.Names), len(c.Commitments))
	}
	if c.Type != ConsentForm && c.Type != ConsentEvent {
		return nil, fmt.Errorf("consent leaf: record type %#x", c.Type)
	}
	b := []byte{byte(KindConsent), FormatV1, c.Type}
	b = AppendString(b, c.Trial)
	b = binary.AppendUvarint(b, c.Seq)
	b = binary.AppendUvarint(b, uint64(len(c.Names)))
	for _, n := range c.Names {
		b = AppendString(b, n)
	}
	for _, cm := range c.Commitments {
		b = append(b, cm[:]...)
	}
	return b, nil
}

// maxConsentFields bounds the field count a decoder accepts, so a crafted
// leaf cannot make it allocate much; today's records have 8 and 9.
const maxConsentFields = 64

// ParseConsentLeaf decodes a consent leaf strictly: kind and format,
// a known record type, minimal varints, exactly n names and n commitments
// and no trailing bytes.
func ParseConsentLeaf(b []byte) (*ConsentLeaf, error) {
	kind, format, err := Header(b)
	if err != nil {
		return nil, err
	}
	if kind != KindConsent || format != FormatV1 || len(b) < 3 {
		return nil, fmt.Errorf("%w: kind %#x format %#x is not a v1 consent leaf", ErrMalformed, kind, format)
	}
	c := &ConsentLeaf{Type: b[2]}
	if c.Type != ConsentForm && c.Type != ConsentEvent {
		return nil, fmt.Errorf("%w: consent record type %#x", ErrMalformed, c.Type)
	}
	d := &decoder{b: b[3:]}
	c.Trial = string(d.bytes(d.uvarint("consent leaf trial length"), "consent leaf trial"))
	c.Seq = d.uvarint("consent leaf sequence number")
	n := d.uvarint("consent leaf field count")
	if d.err == nil && n > maxConsentFields {
		return nil, fmt.Errorf("%w: consent leaf with %d fields", ErrMalformed, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		c.Names = append(c.Names, string(d.bytes(d.uvarint("consent field name length"), "consent field name")))
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		if cm := d.bytes(CommitmentSize, "consent commitment"); d.err == nil {
			c.Commitments = append(c.Commitments, [CommitmentSize]byte(cm))
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the consent leaf's commitments", ErrMalformed, len(d.b))
	}
	return c, nil
}
