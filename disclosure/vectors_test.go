package disclosure_test

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/trialog/trialog/disclosure"
)

// TestVectorsV3 checks the package format v3 vectors
// (testdata/vectors/package-v3.json, computed with Python from
// docs/package-format.md alone): the dataset header's encoding and
// digest, and the statement v2 text, both ways.
func TestVectorsV3(t *testing.T) {
	raw, err := os.ReadFile("../testdata/vectors/package-v3.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Header struct {
			Header  disclosure.DatasetHeader `json:"header"`
			Encoded string                   `json:"encoded"`
			Digest  string                   `json:"digest"`
		} `json:"dataset_header"`
		Statement struct {
			Origin, Dataset, Mode, Selection, Disclosure, Header, Text string
			Version                                                    uint64
			TreeSize                                                   uint64 `json:"tree_size"`
			Redacted                                                   []string
			Rows                                                       [][2]uint64
		} `json:"statement"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	enc, err := v.Header.Header.Encode()
	if err != nil || string(enc) != v.Header.Encoded {
		t.Fatalf("header encodes to %s, want %s", enc, v.Header.Encoded)
	}
	if d, _ := v.Header.Header.Digest(); d != v.Header.Digest || disclosure.DigestOf(enc) != v.Header.Digest {
		t.Fatalf("header digest %s, want %s", d, v.Header.Digest)
	}
	if h, err := disclosure.ParseHeader([]byte(v.Header.Encoded)); err != nil || h.FirstIndex != v.Header.Header.FirstIndex {
		t.Fatalf("ParseHeader: %v", err)
	}
	if _, err := disclosure.ParseHeader([]byte(" " + v.Header.Encoded)); err == nil {
		t.Fatal("non-canonical header accepted")
	}
	s := v.Statement
	st := disclosure.Statement{Origin: s.Origin, Dataset: s.Dataset, Version: s.Version, Mode: s.Mode, Selection: s.Selection,
		Disclosure: s.Disclosure, Header: s.Header, TreeSize: s.TreeSize, Redacted: s.Redacted, Rows: s.Rows}
	if st.Text() != s.Text {
		t.Fatalf("statement text:\n%s\nwant:\n%s", st.Text(), s.Text)
	}
	back, err := disclosure.ParseStatement(s.Text)
	if err != nil || back.Header != s.Header || back.Disclosure != s.Disclosure || !slices.Equal(back.Rows, s.Rows) || back.TreeSize != s.TreeSize {
		t.Fatalf("ParseStatement: %+v %v", back, err)
	}
}
