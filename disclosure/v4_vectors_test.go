package disclosure

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/trialog/trialog/trillian"
)

// TestVectorsV4 checks the package format v4 vectors
// (testdata/vectors/package-v4.json, computed with Python from
// docs/package-format.md alone): a range proof of a dataset's rows and its
// manifest leaf verifies against the tree root and gives the range root,
// and a derived package's metadata record encodes and decodes as
// specified.
func TestVectorsV4(t *testing.T) {
	raw, err := os.ReadFile("../testdata/vectors/package-v4.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Tree struct {
			Size   uint64   `json:"size"`
			Leaves []string `json:"leaves_hex"`
			Root   string   `json:"root_hex"`
		} `json:"tree"`
		Range struct {
			FirstIndex    uint64 `json:"first_index"`
			Rows          uint64 `json:"rows"`
			ManifestIndex uint64 `json:"manifest_index"`
			Value         string `json:"value"`
			RangeRoot     string `json:"range_root_hex"`
		} `json:"range_proof"`
		Record struct {
			Schema map[string]string `json:"schema_metadata"`
			Pairs  []struct {
				Key   string `json:"key"`
				Value string `json:"value_hex"`
			} `json:"pairs"`
			Record     string            `json:"record_hex"`
			AsMetadata map[string]string `json:"as_metadata"`
		} `json:"metadata_record"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	leafHash := func(i uint64) []byte {
		b, _ := hex.DecodeString(v.Tree.Leaves[i])
		return trillian.LeafHash(b)
	}
	root, _ := hex.DecodeString(v.Tree.Root)

	// Range proof: the rows, then the manifest leaf as the trailer.
	r := v.Range
	p, err := parseRangeProof(r.Value, r.FirstIndex, r.FirstIndex+r.Rows+1)
	if err != nil {
		t.Fatal(err)
	}
	if encodeRangeProof(p) != r.Value {
		t.Fatal("range proof does not encode back to the vector's value")
	}
	p.Size = v.Tree.Size
	check := func(manifest uint64) error {
		rv, err := trillian.NewRangeVerifier(*p)
		if err != nil {
			return err
		}
		for i := r.FirstIndex; i < r.FirstIndex+r.Rows; i++ {
			rv.Append(leafHash(i))
		}
		rv.AppendTrailer(leafHash(manifest))
		if err := rv.Verify(root); err != nil {
			return err
		}
		if got, _ := rv.RangeRoot(); hex.EncodeToString(got) != r.RangeRoot {
			t.Errorf("range root %x, want %s", got, r.RangeRoot)
		}
		return nil
	}
	if err := check(r.ManifestIndex); err != nil {
		t.Fatalf("range proof of the vectors: %v", err)
	}
	if err := check(r.ManifestIndex + 1); err == nil {
		t.Fatal("range proof verified with another leaf as the manifest")
	}

	// The metadata record of a derived package.
	rec := v.Record
	keys, vals := []string{"trialog.package", "trialog.mode"}, []string{rec.Schema["trialog.package"], rec.Schema["trialog.mode"]}
	for _, p := range rec.Pairs {
		keys, vals = append(keys, p.Key), append(vals, rec.AsMetadata[p.Key])
	}
	schema, record, err := DerivedLayout(arrow.NewMetadata(keys, vals))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(record) != rec.Record {
		t.Fatalf("record %x, want %s", record, rec.Record)
	}
	if md := schema.Metadata(); md.Len() != 2 || md.Values()[md.FindKey("trialog.package")] != Version || schema.Field(0).Name != ColDerived {
		t.Fatalf("derived schema %v", schema)
	}
	want, _ := hex.DecodeString(rec.Record)
	k, vs, err := parseRecord(want)
	if err != nil {
		t.Fatal(err)
	}
	for i := range k {
		if vs[i] != rec.AsMetadata[k[i]] {
			t.Errorf("record value of %s: %q, want %q", k[i], vs[i], rec.AsMetadata[k[i]])
		}
	}
	for _, bad := range [][]byte{
		append(bytes.Clone(want), 5, 'x'),                 // a key running past the end
		append(bytes.Clone(want), want[:len(want)/4]...),  // cut short
		append([]byte{12}, []byte("trialog.mode\x00")...), // a schema key in the record
	} {
		if _, _, err := parseRecord(bad); err == nil {
			t.Errorf("record %x accepted", bad)
		}
	}
}
