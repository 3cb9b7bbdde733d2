package disclosure

import (
	"encoding/base64"
	"encoding/hex"
	"flag"
	"strings"
	"testing"

	"github.com/trialog/trialog/commit"
	"github.com/trialog/trialog/internal/testutil"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors/package-derived-v2.json")

// derivedV2 are the vectors of a package format 4 derived package under
// salts v2 (docs/package-format.md, derived mode; docs/commitments.md,
// salts v2): two participants' random keys, the per-version keys K_P a
// package carries, the encoded trialog.salt_keys value, and the salts,
// leaves, leaf hashes and tags a verifier derives from them.
type derivedV2 struct {
	Spec         string               `json:"spec"`
	Trial        string               `json:"trial"`
	Dataset      string               `json:"dataset"`
	Version      uint64               `json:"version"`
	Columns      []string             `json:"columns"`
	Participants []derivedParticipant `json:"participants"`
	SaltKeys     string               `json:"trialog_salt_keys"` // the metadata value (base64)
	Rows         []derivedRow         `json:"rows"`
}

type derivedParticipant struct {
	ID        string `json:"id"`
	Key       string `json:"participant_key_hex"`
	SaltKey   string `json:"salt_key_hex"` // K_P
	FirstRow  uint64 `json:"first_row"`
	RowsCount uint64 `json:"rows"`
}

type derivedRow struct {
	Row      uint64   `json:"row"`
	Cells    []string `json:"cells_hex"`
	Salts    []string `json:"salts_hex"`
	Leaf     string   `json:"leaf_hex"`
	LeafHash string   `json:"leaf_hash_hex"`
	Tag      string   `json:"leaf_tag_hex"`
}

func buildDerivedV2(t *testing.T) derivedV2 {
	v := derivedV2{Spec: "trialog package v4, derived mode; salts v2; row leaf v2", Trial: "CDISCPILOT01", Dataset: "DM", Version: 1,
		Columns: []string{"AGE", "SEX", "USUBJID"}}
	type row struct {
		row   uint64
		cells []string
	}
	people := []struct {
		id, key string
		first   uint64
		rows    []row
	}{
		{"01-701-1015", strings.Repeat("11", 32), 0, []row{
			{0, []string{"023633", "0146", "0130312d3730312d31303135"}}, // 63, "F", "01-701-1015"
			{1, []string{"023634", "0146", "0130312d3730312d31303135"}}, // 64, "F", "01-701-1015"
		}},
		{"01-701-1023", strings.Repeat("22", 32), 2, []row{
			{2, []string{"023731", "014d", "0130312d3730312d31303233"}}, // 71, "M", "01-701-1023"
		}},
	}
	enc, err := leaf.NewRowEncoder(v.Trial, v.Dataset, v.Version, v.Columns)
	if err != nil {
		t.Fatal(err)
	}
	var runs []commit.KeyRun
	for _, p := range people {
		key, _ := hex.DecodeString(p.key)
		kp, err := leaf.SaltKeyV2(key, v.Trial, v.Dataset, v.Version, len(v.Columns))
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, commit.KeyRun{First: p.first, Key: kp})
		v.Participants = append(v.Participants, derivedParticipant{p.id, p.key, hex.EncodeToString(kp), p.first, uint64(len(p.rows))})
		salter, err := leaf.NewSalterFromKey(kp, len(v.Columns))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.rows {
			salts := make([]byte, len(v.Columns)*leaf.SaltSize)
			salter.Salts(salts, r.row, 1)
			var d leaf.RowDigest
			d.Start(salts)
			out := derivedRow{Row: r.row, Cells: r.cells}
			for j, c := range r.cells {
				cell, _ := hex.DecodeString(c)
				s := salts[j*leaf.SaltSize : (j+1)*leaf.SaltSize]
				d.Cell(s, cell)
				out.Salts = append(out.Salts, hex.EncodeToString(s))
			}
			rowHash, cells := d.RowHash(), d.CellsHash()
			l := enc.Append(nil, r.row, &rowHash, &cells)
			lh := trillian.LeafHash(l)
			out.Leaf, out.LeafHash, out.Tag = hex.EncodeToString(l), hex.EncodeToString(lh), hex.EncodeToString(lh[:LeafTagSize])
			v.Rows = append(v.Rows, out)
		}
	}
	v.SaltKeys = base64.StdEncoding.EncodeToString(encodeKeyRuns(runs))
	back, err := decodeKeyRuns(encodeKeyRuns(runs))
	if err != nil || len(back) != len(runs) || back[1].First != 2 {
		t.Fatalf("salt key runs do not decode back: %v %v", back, err)
	}
	return v
}

// TestDerivedVectorsV2 freezes testdata/vectors/package-derived-v2.json.
func TestDerivedVectorsV2(t *testing.T) {
	testutil.FrozenVectors(t, "../testdata/vectors/package-derived-v2.json", buildDerivedV2(t), *update)
}

// TestDecodeKeyRunsStrict: one encoding per list of runs.
func TestDecodeKeyRunsStrict(t *testing.T) {
	key := strings.Repeat("k", leaf.SaltKeySize)
	for name, b := range map[string]string{
		"empty":              "",
		"first not at 0":     "\x01" + key,
		"not increasing":     "\x00" + key + "\x00" + key,
		"cut short":          "\x00" + key[:31],
		"non-minimal varint": "\x80\x00" + key,
	} {
		if _, err := decodeKeyRuns([]byte(b)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	if runs, err := decodeKeyRuns([]byte("\x00" + key + "\x05" + key)); err != nil || len(runs) != 2 || runs[1].First != 5 {
		t.Errorf("two runs: %v %v", runs, err)
	}
}
