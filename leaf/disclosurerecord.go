package leaf

import (
	"encoding/hex"
	"fmt"
)

// DisclosureRecord is a logged disclosure as the CRO keeps it (the
// workspace's DIR/trials/ID/disclosures/INDEX.json) and as the IRB report
// carries it (docs/consent.md): the leaf's record, and what opens its
// commitments (the participants and the override reason with their
// salts) for the consent audit. The log holds only the leaf. It lives
// here, beside the leaf it opens, so the report's offline verifier needs
// no workspace.
type DisclosureRecord struct {
	LeafIndex uint64     `json:"leaf_index"`
	Leaf      Disclosure `json:"leaf"`
	// Subjects are the participants with rows in the package.
	Subjects       []string `json:"subjects"`
	OverrideReason string   `json:"override_reason,omitempty"`
	// Operator is who issued the package: the leaf, which may be
	// published, holds only its commitment (docs/publishing.md).
	Operator string   `json:"operator"`
	SaltsHex []string `json:"salts_hex"`
	// Package is where the package was written (empty if the write was
	// interrupted after the leaf was logged: the disclosure still counts).
	Package string `json:"package,omitempty"`
	// Checkpoint is the one signed right after the leaf was appended.
	Checkpoint string `json:"checkpoint"`
}

// Bytes returns the record's leaf.
func (r *DisclosureRecord) Bytes() ([]byte, error) { return DisclosureLeaf(&r.Leaf) }

// Open recomputes the leaf's commitments from the kept subjects, reason,
// operator and salts; it returns an error if they do not match (a record edited
// behind trialog's back).
func (r *DisclosureRecord) Open() error {
	if len(r.SaltsHex) != DisclosureSaltCount {
		return fmt.Errorf("disclosure %d: %d salts", r.LeafIndex, len(r.SaltsHex))
	}
	var salts [][]byte
	for _, h := range r.SaltsHex {
		s, err := hex.DecodeString(h)
		if err != nil || len(s) != SaltSize {
			return fmt.Errorf("disclosure %d: bad salt", r.LeafIndex)
		}
		salts = append(salts, s)
	}
	subjects, reason, operator, err := DisclosureCommitments(salts, r.Subjects, r.OverrideReason, r.Operator)
	if err != nil {
		return err
	}
	if subjects != r.Leaf.Subjects || reason != r.Leaf.OverrideReason || operator != r.Leaf.Operator {
		return fmt.Errorf("disclosure %d: the kept participants, override reason or operator do not open the leaf's commitments", r.LeafIndex)
	}
	return nil
}

// DisclosureCommitments returns the hex commitments of a disclosure
// leaf's Subjects, OverrideReason ("" when there is no reason) and
// Operator under the leaf's salts (DisclosureSalts).
func DisclosureCommitments(salts [][]byte, subjects []string, reason, operator string) (string, string, string, error) {
	cell, err := DisclosureSubjectsCell(subjects)
	if err != nil {
		return "", "", "", fmt.Errorf("participant IDs: %w", err)
	}
	c := Commit(salts[DisclosureSaltSubjects], cell)
	r := ""
	if reason != "" {
		if r, err = CommitText(salts[DisclosureSaltReason], reason); err != nil {
			return "", "", "", fmt.Errorf("override reason: %w", err)
		}
	}
	o, err := CommitText(salts[DisclosureSaltOperator], operator)
	if err != nil {
		return "", "", "", fmt.Errorf("operator: %w", err)
	}
	return hex.EncodeToString(c[:]), r, o, nil
}

// ProvenDisclosure is a disclosure record with its leaf hash and its
// inclusion proof against one signed checkpoint, and the one-line outcome
// of checking it against the log.
type ProvenDisclosure struct {
	DisclosureRecord
	LeafHash string   `json:"leaf_hash"`
	Proof    [][]byte `json:"inclusion_proof"` // bottom-up (base64 in JSON)
	Verified string   `json:"verified"`
	OK       bool     `json:"ok"`
}
