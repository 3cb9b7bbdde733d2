package leaf

import (
	"bytes"
	"crypto/aes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/trialog/trialog/canonical"
)

// DisclosureFormat names the disclosure leaf's schema inside its JSON.
const DisclosureFormat = "trialog-disclosure-v1"

// Disclosure is the disclosure leaf, kind 0x05 format 0x01: one record per
// package a CRO issued (docs/commitments.md). Everything about the
// package is in clear — what was disclosed, to whom, why, by whom, when,
// under which consent decision and the package's digest — except what
// could name a person: the participants whose rows went out, the
// free-text override reason and the operator are salted commitments
// (DisclosureSalts), as the manifest's operator is (docs/publishing.md).
type Disclosure struct {
	Format        string `json:"format"`
	Trial         string `json:"trial"`
	Dataset       string `json:"dataset"`
	Version       uint64 `json:"version"`
	ManifestIndex uint64 `json:"manifest_index"`
	Mode          string `json:"mode"`
	Selection     string `json:"selection"`
	// Rows is the number of rows in the package.
	Rows uint64 `json:"rows"`
	// Disclosed and Redacted are the dataset's columns whose values and
	// salts the package carries, and those it withholds (name order).
	Disclosed []string `json:"disclosed"`
	Redacted  []string `json:"redacted"`
	// TreeSize is the size of the checkpoint the package's row proofs are
	// against (its signed statement's tree-size).
	TreeSize  uint64 `json:"tree_size"`
	Recipient string `json:"recipient"`
	Purpose   string `json:"purpose"`
	// Operator is the hex commitment to who issued the package.
	Operator string `json:"operator"`
	// Time is when the package was issued: the CRO's system clock, UTC,
	// RFC 3339 (never a caller-supplied time).
	Time string `json:"time"`
	// Consent is "checked", "overridden" or "not-checked".
	Consent string `json:"consent"`
	// Withheld counts rows and participants withheld for consent (or, when
	// overridden, included only because of the override), by ground.
	Withheld []WithheldCount `json:"withheld"`
	// Subjects is the hex commitment to the participants with rows in the
	// package (DisclosureSubjectsCell), OverrideReason the hex commitment
	// to the override reason ("" when there is none).
	Subjects       string `json:"subjects"`
	OverrideReason string `json:"override_reason"`
	// PackageSHA256 is the package's digest with its disclosure proof
	// blanked (docs/package-format.md): the proof is added after this
	// leaf is logged, so it cannot be in what the leaf commits to.
	PackageSHA256 string `json:"package_sha256"`
}

// WithheldCount is the number of rows and participants on one ground.
type WithheldCount struct {
	Ground       string `json:"ground"`
	Rows         uint64 `json:"rows"`
	Participants uint64 `json:"participants"`
}

// Disclosure salt positions, and their count.
const (
	DisclosureSaltSubjects = 0
	DisclosureSaltReason   = 1
	DisclosureSaltOperator = 2
	DisclosureSaltCount    = 3
)

// DisclosureSalts derives the salts of the disclosure leaf at a leaf
// index: K = HMAC-SHA256(secret, "trialog/disclosure-salt/v1" || 0x00 ||
// lp(trial) || uvarint(index)), salt(i) = AES-256_K(uint128be(i)), i = 0
// for the subjects, 1 for the override reason, 2 for the operator. The index keys it, so an
// interrupted write recomputes the same leaf and no two records share a
// salt.
func DisclosureSalts(secret []byte, trial string, index uint64) ([][]byte, error) {
	return RecordSalts("trialog/disclosure-salt/v1", secret, trial, index, DisclosureSaltCount)
}

// RecordSalts derives n salts of one logged record under a domain:
// AES-256_K(uint128be(i)), K = HMAC-SHA256(secret, domain || 0x00 ||
// lp(trial) || uvarint(index)), index being the record's leaf index
// (disclosure, erasure) or sequence number (consent).
func RecordSalts(domain string, secret []byte, trial string, index uint64, n int) ([][]byte, error) {
	if len(secret) != SecretSize {
		return nil, fmt.Errorf("trial secret is %d bytes, want %d", len(secret), SecretSize)
	}
	mac := hmac.New(sha256.New, secret)
	msg := append([]byte(domain), 0)
	msg = AppendString(msg, trial)
	msg = binary.AppendUvarint(msg, index)
	mac.Write(msg)
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	out := make([][]byte, n)
	for i := range out {
		var ctr [16]byte
		binary.BigEndian.PutUint64(ctr[8:], uint64(i))
		out[i] = make([]byte, SaltSize)
		block.Encrypt(out[i], ctr[:])
	}
	return out, nil
}

// DisclosureSubjectsCell is the canonical text cell of a set of
// participant IDs: sorted, distinct, joined by "\n" (missing when empty).
func DisclosureSubjectsCell(subjects []string) ([]byte, error) {
	s := slices.Clone(subjects)
	slices.Sort(s)
	s = slices.Compact(s)
	return canonical.AppendText(nil, strings.Join(s, "\n"))
}

// CommitText returns the hex commitment to a text value as a canonical
// text cell ("" is missing).
func CommitText(salt []byte, text string) (string, error) {
	cell, err := canonical.AppendText(nil, text)
	if err != nil {
		return "", err
	}
	c := Commit(salt, cell)
	return hex.EncodeToString(c[:]), nil
}

// DisclosureLeaf encodes a disclosure leaf: 0x05 0x01 followed by the
// record as compact JSON, fields in the order of Disclosure.
// Absent lists are written as [] (never null).
func DisclosureLeaf(d *Disclosure) ([]byte, error) {
	c := *d
	for _, l := range []*[]string{&c.Disclosed, &c.Redacted} {
		if *l == nil {
			*l = []string{}
		}
	}
	if c.Withheld == nil {
		c.Withheld = []WithheldCount{}
	}
	return jsonLeaf(KindDisclosure, FormatV1, "disclosure", &c)
}

// ParseDisclosure decodes a disclosure leaf strictly: kind and format,
// known fields only, the v1 format tag, and exactly the bytes
// DisclosureLeaf writes for the decoded record (one encoding per record).
func ParseDisclosure(b []byte) (*Disclosure, error) {
	if err := expectHeader(b, KindDisclosure, FormatV1, "a v1 disclosure leaf"); err != nil {
		return nil, err
	}
	d, err := strictJSON[Disclosure](b, "disclosure")
	if err != nil {
		return nil, err
	}
	if d.Format != DisclosureFormat {
		return nil, fmt.Errorf("%w: disclosure format %q", ErrMalformed, d.Format)
	}
	if again, err := DisclosureLeaf(d); err != nil || !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: disclosure leaf is not in its one encoding (compact JSON, fields in order, nothing after)", ErrMalformed)
	}
	return d, nil
}
