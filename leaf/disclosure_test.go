package leaf_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/trialog/trialog/internal/testutil"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
)

// DisclosureVectors are the published vectors of the disclosure leaf
// (docs/commitments.md): salts, commitments and one whole leaf.
type DisclosureVectors struct {
	Spec           string   `json:"spec"`
	Secret         string   `json:"secret_hex"`
	Trial          string   `json:"trial"`
	LeafIndex      uint64   `json:"leaf_index"`
	Salts          []string `json:"salts_hex"`
	Subjects       []string `json:"subjects"`
	SubjectsCell   string   `json:"subjects_cell_hex"`
	SubjectsCommit string   `json:"subjects_commitment_hex"`
	Reason         string   `json:"override_reason"`
	ReasonCommit   string   `json:"override_reason_commitment_hex"`
	Operator       string   `json:"operator"`
	OperatorCommit string   `json:"operator_commitment_hex"`
	Leaf           string   `json:"leaf_hex"`
	LeafHash       string   `json:"leaf_hash_hex"`
}

func buildDisclosureVectors(t *testing.T) DisclosureVectors {
	secret := bytes.Repeat([]byte{0x5a}, leaf.SecretSize)
	v := DisclosureVectors{Spec: "docs/commitments.md, disclosure leaf v1", Secret: hex.EncodeToString(secret), Trial: "CDISCPILOT01", LeafIndex: 1499,
		Subjects: []string{"01-701-1028", "01-701-1015", "01-701-1015"}, Reason: "expedited safety report", Operator: "cro"}
	salts, err := leaf.DisclosureSalts(secret, v.Trial, v.LeafIndex)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range salts {
		v.Salts = append(v.Salts, hex.EncodeToString(s))
	}
	cell, err := leaf.DisclosureSubjectsCell(v.Subjects)
	if err != nil {
		t.Fatal(err)
	}
	v.SubjectsCell = hex.EncodeToString(cell)
	c := leaf.Commit(salts[leaf.DisclosureSaltSubjects], cell)
	v.SubjectsCommit = hex.EncodeToString(c[:])
	if v.ReasonCommit, err = leaf.CommitText(salts[leaf.DisclosureSaltReason], v.Reason); err != nil {
		t.Fatal(err)
	}
	if v.OperatorCommit, err = leaf.CommitText(salts[leaf.DisclosureSaltOperator], v.Operator); err != nil {
		t.Fatal(err)
	}
	d := leaf.Disclosure{Format: leaf.DisclosureFormat, Trial: v.Trial, Dataset: "AE", Version: 1, ManifestIndex: 1498,
		Mode: "attached", Selection: "rows", Rows: 5, Disclosed: []string{"AESEQ", "AETERM", "USUBJID"}, Redacted: []string{"AESTDTC"},
		TreeSize: 1499, Recipient: "Sponsor Inc.", Purpose: "main", Operator: v.OperatorCommit, Time: "2026-12-03T10:00:00Z", Consent: "overridden",
		Withheld: []leaf.WithheldCount{{Ground: "withdrawn", Rows: 2, Participants: 1}}, Subjects: v.SubjectsCommit, OverrideReason: v.ReasonCommit,
		PackageSHA256: hex.EncodeToString(sha256.New().Sum(nil))}
	l, err := leaf.DisclosureLeaf(&d)
	if err != nil {
		t.Fatal(err)
	}
	v.Leaf, v.LeafHash = hex.EncodeToString(l), hex.EncodeToString(trillian.LeafHash(l))
	return v
}

func TestDisclosureVectors(t *testing.T) {
	want := frozenVectors(t, "../testdata/vectors/disclosure-v1.json", buildDisclosureVectors(t))
	var v DisclosureVectors
	json.Unmarshal(want, &v)
	l, _ := hex.DecodeString(v.Leaf)
	d, err := leaf.ParseDisclosure(l)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := leaf.DisclosureLeaf(d); !bytes.Equal(again, l) {
		t.Error("disclosure leaf does not round-trip")
	}
	for _, s := range v.Subjects {
		if bytes.Contains(l, []byte(s)) {
			t.Errorf("the disclosure leaf holds participant %s in clear", s)
		}
	}
	if bytes.Contains(l, []byte(v.Reason)) || bytes.Contains(l, []byte(`"`+v.Operator+`"`)) {
		t.Error("the disclosure leaf holds the override reason or the operator in clear")
	}
}

// frozenVectors is testutil.FrozenVectors with this package's -update.
func frozenVectors(t *testing.T, path string, built any) []byte {
	t.Helper()
	return testutil.FrozenVectors(t, path, built, *update)
}

// TestParseDisclosureStrict: one encoding per record; anything else is
// malformed.
func TestParseDisclosureStrict(t *testing.T) {
	v := buildDisclosureVectors(t)
	l, _ := hex.DecodeString(v.Leaf)
	body := string(l[2:])
	for name, bad := range map[string][]byte{
		"wrong kind":       append([]byte{0x02, 0x01}, body...),
		"wrong version":    append([]byte{0x05, 0x02}, body...),
		"unknown field":    append([]byte{0x05, 0x01}, strings.Replace(body, `{"format"`, `{"x":1,"format"`, 1)...),
		"indented":         append([]byte{0x05, 0x01}, strings.Replace(body, `,"trial"`, `, "trial"`, 1)...),
		"trailing":         append(bytes.Clone(l), ' '),
		"null list":        append([]byte{0x05, 0x01}, strings.Replace(body, `"redacted":["AESTDTC"]`, `"redacted":null`, 1)...),
		"fields reordered": append([]byte{0x05, 0x01}, strings.Replace(strings.Replace(body, `"dataset":"AE",`, ``, 1), `"trial"`, `"dataset":"AE","trial"`, 1)...),
		"other format":     append([]byte{0x05, 0x01}, strings.Replace(body, leaf.DisclosureFormat, "trialog-disclosure-v9", 1)...),
		"truncated":        l[:len(l)-1],
	} {
		if _, err := leaf.ParseDisclosure(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParseDisclosure: whatever the decoder accepts re-encodes to exactly
// the same bytes (one encoding per record).
func FuzzParseDisclosure(f *testing.F) {
	raw, _ := os.ReadFile("../testdata/vectors/disclosure-v1.json")
	var v DisclosureVectors
	json.Unmarshal(raw, &v)
	seed, _ := hex.DecodeString(v.Leaf)
	f.Add(seed)
	f.Add([]byte{4, 1, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := leaf.ParseDisclosure(b)
		if err != nil {
			return
		}
		got, err := leaf.DisclosureLeaf(d)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs: %v\n%x\n%x", err, got, b)
		}
	})
}
