package leaf

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/trialog/trialog/canonical"
)

// ManifestFormat names this manifest schema inside the JSON itself.
const ManifestFormat = "trialog-manifest-v2"

// ManifestFormatByte is the format byte of manifest leaves. Manifest v2
// (this one) is fit to publish: the source file name and the operator are
// only inside Private, a salted commitment (docs/commitments.md,
// docs/publishing.md), and it names the canonical cell encoding and its
// parameters ("encoding", docs/canonical-encoding.md). Manifest v1 carried
// the name and operator in clear and had no encoding; it is no longer read.
const ManifestFormatByte = 0x02

// privateTag domain-separates the manifest's private commitment.
const privateTag = 0x4d

// Manifest describes one ingested dataset version. It is logged as a leaf
// right after the dataset's rows, so the rows' count, order and range root
// are themselves in the log.
//
// Source.Name and Operator are the CRO's own record (its catalog keeps
// them); the leaf holds neither, only Private, which commits to both.
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
	// CreatedAt is when the ingest started by the CRO's system clock
	// (RFC 3339, UTC): never caller-supplied (21 CFR 11.10(e)).
	CreatedAt string `json:"created_at"`
	// ClaimedCreatedAt is a time the operator asserted (ingest
	// --created-at, e.g. when replaying an ingest made elsewhere): kept
	// beside CreatedAt, marked as a claim, never in its place.
	ClaimedCreatedAt string `json:"claimed_created_at,omitempty"`
	Operator         string `json:"operator,omitempty"`
	// Private is the hex SHA-256(0x4d || salt || lp(source name) ||
	// lp(operator)), salt from ManifestPrivateSalt: the file name and the
	// operator, committed to without being shown.
	Private string `json:"private"`
}

// Source identifies the file a dataset version was read from.
type Source struct {
	Name   string `json:"name,omitempty"` // never in a leaf (see Manifest.Private)
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

// ManifestPrivateSalt derives the 16-byte salt of a dataset version's
// private manifest commitment from the trial secret:
// HMAC-SHA256(secret, "trialog/manifest-private/v2" || 0x00 || lp(trial) ||
// lp(dataset) || uvarint(version)), first 16 bytes.
func ManifestPrivateSalt(secret []byte, trial, dataset string, version uint64) ([]byte, error) {
	if len(secret) != SecretSize {
		return nil, fmt.Errorf("trial secret is %d bytes, want %d", len(secret), SecretSize)
	}
	mac := hmac.New(sha256.New, secret)
	msg := append([]byte("trialog/manifest-private/v2"), 0)
	msg = AppendString(msg, trial)
	msg = AppendString(msg, dataset)
	msg = binary.AppendUvarint(msg, version)
	mac.Write(msg)
	return mac.Sum(nil)[:SaltSize], nil
}

// ManifestPrivate returns the hex commitment SHA-256(0x4d || salt ||
// lp(sourceName) || lp(operator)).
func ManifestPrivate(salt []byte, sourceName, operator string) string {
	msg := append([]byte{privateTag}, salt...)
	msg = AppendString(msg, sourceName)
	msg = AppendString(msg, operator)
	h := sha256.Sum256(msg)
	return hex.EncodeToString(h[:])
}

// SetPrivate fills m.Private from the trial secret, m's identity, its
// source file name and its operator.
func (m *Manifest) SetPrivate(secret []byte) error {
	salt, err := ManifestPrivateSalt(secret, m.Trial, m.Dataset, m.Version)
	if err != nil {
		return err
	}
	m.Private = ManifestPrivate(salt, m.Source.Name, m.Operator)
	return nil
}

// ManifestLeaf encodes a manifest leaf: 0x02 0x02 followed by the
// manifest as compact JSON (fields in the order above), without the
// source file name and the operator (m.Private, which must be set,
// commits to them).
func ManifestLeaf(m *Manifest) ([]byte, error) {
	if len(m.Private) != 2*sha256.Size {
		return nil, fmt.Errorf("encode manifest: its private commitment is not set")
	}
	pub := *m
	pub.Source.Name, pub.Operator = "", ""
	return jsonLeaf(KindManifest, ManifestFormatByte, "manifest", &pub)
}

// ParseManifest decodes a manifest leaf.
func ParseManifest(b []byte) (*Manifest, error) {
	if err := expectHeader(b, KindManifest, ManifestFormatByte, "a v2 manifest"); err != nil {
		return nil, err
	}
	m, err := strictJSON[Manifest](b, "manifest")
	if err != nil {
		return nil, err
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("%w: manifest format %q", ErrMalformed, m.Format)
	}
	if m.Source.Name != "" || m.Operator != "" {
		return nil, fmt.Errorf("%w: a manifest leaf names its source file or operator in clear", ErrMalformed)
	}
	if p, err := hex.DecodeString(m.Private); err != nil || len(p) != sha256.Size || hex.EncodeToString(p) != m.Private {
		return nil, fmt.Errorf("%w: manifest private commitment", ErrMalformed)
	}
	if m.Encoding.Version != canonical.Version {
		return nil, fmt.Errorf("%w: manifest: canonical cell encoding %d (this verifier knows %d)", ErrMalformed, m.Encoding.Version, canonical.Version)
	}
	if err := m.Rules().Check(); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	return m, nil
}
