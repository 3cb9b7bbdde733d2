package disclosure

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/trialog/trialog/leaf"
)

// Disclosure levels of a package (docs/package-format.md, "Sensitivity").
const (
	// DisclosureFull carries the dataset version's whole manifest leaf
	// and its inclusion proof: the total row count, the source file's
	// name, size and SHA-256, the range root and the operator included.
	DisclosureFull = "full"
	// DisclosureMinimal (rows selection only; the default of partner
	// packages) carries only the DatasetHeader, bound by the CRO's signed
	// statement; the rest of the manifest stays committed in the log.
	DisclosureMinimal = "minimal"
)

// DatasetHeader is what a verifier needs of a dataset version's manifest
// to check rows of it: identity (which builds the row leaves' context),
// column types, natural keys, where its rows start in the log, and when
// it was ingested. A minimal package discloses this and nothing else of
// the manifest.
type DatasetHeader struct {
	Trial      string        `json:"trial"`
	Dataset    string        `json:"dataset"`
	Version    uint64        `json:"version"`
	Schema     []leaf.Column `json:"schema"`
	Keys       []string      `json:"keys,omitempty"`
	FirstIndex uint64        `json:"first_index"`
	CreatedAt  string        `json:"created_at"`
}

// HeaderOf returns the header of a manifest.
func HeaderOf(m *leaf.Manifest) DatasetHeader {
	return DatasetHeader{Trial: m.Trial, Dataset: m.Dataset, Version: m.Version, Schema: m.Schema, Keys: m.Keys,
		FirstIndex: m.FirstIndex, CreatedAt: m.CreatedAt}
}

// headerDomain separates header digests from every other SHA-256 input.
const headerDomain = "trialog-dataset-header-v1\n"

// Encode is the header's canonical JSON: compact, fields in struct order.
func (h DatasetHeader) Encode() ([]byte, error) { return json.Marshal(h) }

// Digest is the hex SHA-256 of headerDomain || the encoded header, as the
// package statement names it.
func (h DatasetHeader) Digest() (string, error) {
	b, err := h.Encode()
	if err != nil {
		return "", err
	}
	return DigestOf(b), nil
}

// DigestOf is the statement digest of an encoded header.
func DigestOf(encoded []byte) string {
	sum := sha256.Sum256(append([]byte(headerDomain), encoded...))
	return hex.EncodeToString(sum[:])
}

// ParseHeader parses an encoded header and checks that it is canonical
// (re-encodes to the same bytes), so that its digest is the one signed.
func ParseHeader(b []byte) (DatasetHeader, error) {
	var h DatasetHeader
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("dataset header: %v", err)
	}
	if again, err := h.Encode(); err != nil || string(again) != string(b) {
		return h, fmt.Errorf("dataset header is not in canonical form")
	}
	if h.Trial == "" || h.Dataset == "" || h.Version == 0 || len(h.Schema) == 0 {
		return h, fmt.Errorf("dataset header lacks trial, dataset, version or schema")
	}
	return h, nil
}

// Manifest returns the parts of a manifest the header holds; Rows is
// unknown (0), Source, RangeRoot and Operator are withheld.
func (h DatasetHeader) Manifest() *leaf.Manifest {
	return &leaf.Manifest{Format: leaf.ManifestFormat, Trial: h.Trial, Dataset: h.Dataset, Version: h.Version,
		Schema: h.Schema, Keys: h.Keys, FirstIndex: h.FirstIndex, CreatedAt: h.CreatedAt}
}
