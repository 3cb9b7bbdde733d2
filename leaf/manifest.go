package leaf

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/trialog/trialog/canonical"
)

// ManifestFormat names this manifest schema inside the JSON itself.
const ManifestFormat = "trialog-manifest-v2"

// FormatManifestV2 is the format byte of manifest leaves: v2 added the
// canonical cell encoding ("encoding"). Manifest v1 (canonical encoding v1) is
// no longer read.
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
	Encoding   Encoding `json:"encoding"` // how cells were made canonical
	Keys       []string `json:"keys,omitempty"`
	Rows       uint64   `json:"rows"`
	FirstIndex uint64   `json:"first_index"`
	// RangeRoot is the hex RFC 6962 root of the dataset's row leaves taken
	// as a tree of their own: it commits to the whole dataset version.
	RangeRoot string `json:"range_root"`
	CreatedAt string `json:"created_at"` // RFC 3339, UTC
	Operator  string `json:"operator"`
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

// Encoding names the canonical cell encoding version the rows were
// committed under and its parameters (docs/canonical-encoding.md): a
// verifier encodes a copy under the same ones.
type Encoding struct {
	Version     int `json:"version"`      // canonical encoding version (2)
	FloatDigits int `json:"float_digits"` // significant digits of non-whole numbers
}

// NewEncoding records rules of the current canonical encoding.
func NewEncoding(r canonical.Rules) Encoding {
	return Encoding{Version: canonical.Version, FloatDigits: r.FloatDigits}
}

// Rules returns the canonical rules to encode this dataset's cells with.
func (m *Manifest) Rules() canonical.Rules {
	return canonical.Rules{FloatDigits: m.Encoding.FloatDigits}
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
	if m.Encoding.Version != canonical.Version {
		return nil, fmt.Errorf("%w: manifest: canonical cell encoding %d (this verifier knows %d)", ErrMalformed, m.Encoding.Version, canonical.Version)
	}
	if err := m.Rules().Check(); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	return &m, nil
}
