package leaf

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ManifestFormat names this manifest schema inside the JSON itself.
// Version 2 added claimed_created_at: created_at is always the system's
// clock, a caller-supplied time is only kept beside it, marked claimed.
const ManifestFormat = "trialog-manifest-v2"

// FormatManifestV2 is the format byte of manifest leaves.
const FormatManifestV2 = 0x02

// Manifest describes one ingested dataset version. It is logged as a leaf
// right after the dataset's rows, so the rows' count, order and range root
// are themselves in the log.
type Manifest struct {
	Format     string   `json:"format"`
	Trial      string   `json:"trial"`
	Dataset    string   `json:"dataset"`
	Version    uint64   `json:"version"`
	Source     Source   `json:"source"`
	Schema     []Column `json:"schema"`
	Keys       []string `json:"keys,omitempty"`
	Rows       uint64   `json:"rows"`
	FirstIndex uint64   `json:"first_index"`
	// RangeRoot is the hex RFC 6962 root of the dataset's row leaves taken
	// as a tree of their own: it commits to the whole dataset version.
	RangeRoot string `json:"range_root"`
	// CreatedAt is when the ingest started by the CRO's system clock
	// (RFC 3339, UTC): never caller-supplied (21 CFR 11.10(e)).
	CreatedAt string `json:"created_at"`
	// ClaimedCreatedAt is a time the operator asserted (ingest
	// --created-at, e.g. when replaying an ingest made elsewhere): kept
	// beside CreatedAt, marked as a claim, never in its place.
	ClaimedCreatedAt string `json:"claimed_created_at,omitempty"`
	Operator         string `json:"operator"`
}

// Source identifies the file a dataset version was read from.
type Source struct {
	Name   string `json:"name"`
	Format string `json:"format"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Column is one column of the pinned schema: its name and logical type in
// Arrow's type notation (e.g. "utf8", "int64", "float64", "date32[day]").
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// ColumnNames returns the schema's column names in source order.
func (m *Manifest) ColumnNames() []string {
	out := make([]string, len(m.Schema))
	for i, c := range m.Schema {
		out[i] = c.Name
	}
	return out
}

// ManifestLeaf encodes a manifest leaf: 0x02 0x02 followed by the
// manifest as compact JSON (fields in the order above).
func ManifestLeaf(m *Manifest) ([]byte, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append([]byte{byte(KindManifest), FormatManifestV2}, body...), nil
}

// ParseManifest decodes a manifest leaf.
func ParseManifest(b []byte) (*Manifest, error) {
	kind, format, err := Header(b)
	if err != nil {
		return nil, err
	}
	if kind != KindManifest || format != FormatManifestV2 {
		return nil, fmt.Errorf("%w: kind %#x format %#x is not a v2 manifest", ErrMalformed, kind, format)
	}
	dec := json.NewDecoder(bytes.NewReader(b[2:]))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("%w: manifest format %q", ErrMalformed, m.Format)
	}
	return &m, nil
}
