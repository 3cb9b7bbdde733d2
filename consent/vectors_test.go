package consent_test

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/trillian"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors/consent-v1.json")

const vectorsPath = "../testdata/vectors/consent-v1.json"

// Vectors are the published test vectors of docs/consent.md (consent leaf
// v1): salts derived from a fixed secret, and the leaf of a form version
// and of an event.
type Vectors struct {
	Spec    string         `json:"spec"`
	Secret  string         `json:"secret_hex"`
	Trial   string         `json:"trial"`
	Records []RecordVector `json:"records"`
}

type RecordVector struct {
	Record   consent.Record `json:"record"` // salts_hex are the derived salts
	Leaf     string         `json:"leaf_hex"`
	LeafHash string         `json:"leaf_hash_hex"`
}

func buildVectors(t *testing.T) Vectors {
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i)
	}
	v := Vectors{Spec: "trialog consent leaf v1 (kind 0x03, format 0x01)", Secret: hex.EncodeToString(secret), Trial: "CDISCPILOT01"}
	recs := []consent.Record{
		{Seq: 1, LeafIndex: 0, Form: &consent.Form{ID: "MAIN-ICF", Version: "2.0", Supersedes: "1.0", IRBRef: "IRB-2014-033",
			IRBApproved: "2014-05-20", Effective: "2014-06-01", DocumentSHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			Scopes: []string{"main", "samples", "future-research"}}},
		{Seq: 2, LeafIndex: 1, Event: &consent.Event{Subject: "01-701-1015", Form: "MAIN-ICF@2.0", Type: consent.Withdrawn,
			Scopes: []string{"samples"}, Time: "2014-03-01T10:15:00Z", RecordedBy: "site 701 coordinator", SignedRef: "DocumentReference/icf-1015", Corrects: 1}},
		{Seq: 3, LeafIndex: 2, Event: &consent.Event{Subject: "01-701-1015", Form: "MAIN-ICF@2.0", Type: consent.Consented,
			Time: "2014-01", RecordedBy: "x"}},
	}
	for _, r := range recs {
		typ, _, err := r.Fields()
		if err != nil {
			t.Fatal(err)
		}
		salts, err := consent.DeriveSalts(secret, v.Trial, r.Seq, len(consent.FieldNames(typ)))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range salts {
			r.Salts = append(r.Salts, hex.EncodeToString(s))
		}
		l, err := r.Leaf(v.Trial)
		if err != nil {
			t.Fatal(err)
		}
		v.Records = append(v.Records, RecordVector{Record: r, Leaf: hex.EncodeToString(l), LeafHash: hex.EncodeToString(trillian.LeafHash(l))})
	}
	return v
}

// TestVectors checks the code against testdata/vectors/consent-v1.json
// (go test ./consent -run TestVectors -update rewrites it).
func TestVectors(t *testing.T) {
	got := buildVectors(t)
	data, _ := json.MarshalIndent(got, "", "  ")
	data = append(data, '\n')
	if *update {
		if err := os.WriteFile(vectorsPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(data) {
		t.Fatalf("consent leaf v1 changed: the code no longer matches %s (a frozen format: add a new version instead)", vectorsPath)
	}
	// And an independent read: the published leaves recompute from the
	// published records and salts.
	var v Vectors
	if err := json.Unmarshal(want, &v); err != nil {
		t.Fatal(err)
	}
	for _, rv := range v.Records {
		l, err := rv.Record.Leaf(v.Trial)
		if err != nil || hex.EncodeToString(l) != rv.Leaf {
			t.Errorf("record %d: leaf does not recompute (%v)", rv.Record.Seq, err)
		}
	}
}
