// Package disclosure is the disclosure package format (docs/package-format.md):
// one Arrow IPC file that any Arrow tool opens as a table, whose schema
// metadata carries the manifest leaf, the checkpoint, the proofs and the
// CRO's signed statement of what the package holds. It is shared by the
// writer (pipeline.Prove) and the offline verifier (verify): both read the
// format from here and nowhere else.
package disclosure

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
)

// Package format v2 (docs/package-format.md): one Arrow IPC file that any
// Arrow tool opens as a table.
const (
	Version = "2"

	ColRow       = ReservedPrefix + "_row"        // uint64: row index in the dataset version
	ColLeafIndex = ReservedPrefix + "_leaf_index" // uint64: leaf index in the tree
	ColRowHash   = ReservedPrefix + "_row_hash"   // fixed_size_binary(32): the row leaf's row hash
	ColProof     = ReservedPrefix + "_proof"      // list<fixed_size_binary(32)>: inclusion proof (rows selection)
	SaltPrefix   = ReservedPrefix + "_salt."      // fixed_size_binary(16) per column whose salt is disclosed
	CommitPrefix = ReservedPrefix + "_commit."    // fixed_size_binary(32) per column, always

	metaVersion       = "trialog.package"
	metaMode          = "trialog.mode"
	metaSelection     = "trialog.selection"
	metaManifestLeaf  = "trialog.manifest_leaf"
	metaManifestIndex = "trialog.manifest_index"
	metaManifestProof = "trialog.manifest_proof"
	metaCheckpoint    = "trialog.checkpoint"
	metaRangeProof    = "trialog.range_proof"
	metaRedacted      = "trialog.redacted"
	metaStatement     = "trialog.statement"
)

// SaltColumn and CommitColumn name the package columns of a data column.
func SaltColumn(name string) string   { return SaltPrefix + name }
func CommitColumn(name string) string { return CommitPrefix + name }

// Package modes and selections.
const (
	ModeAttached   = "attached" // disclosed values travel in the package
	ModeDetached   = "detached" // salts and commitments only: the sponsor brings the data
	SelectionRange = "range"    // every row of the version, one range proof
	SelectionRows  = "rows"     // chosen rows, one inclusion proof each
)

var (
	SaltType   = &arrow.FixedSizeBinaryType{ByteWidth: leaf.SaltSize}
	CommitType = &arrow.FixedSizeBinaryType{ByteWidth: leaf.CommitmentSize}
	ProofType  = arrow.ListOf(&arrow.FixedSizeBinaryType{ByteWidth: trillian.HashSize})
)

// Meta is what a package's schema metadata holds.
type Meta struct {
	Mode          string
	Selection     string
	ManifestLeaf  []byte
	Manifest      *leaf.Manifest
	ManifestIndex uint64
	ManifestProof [][]byte
	Checkpoint    []byte
	RangeProof    *trillian.RangeProof
	Redacted      []string
	// Statement is the CRO's signed note on what the package holds.
	Statement []byte
	// DisclosureValue is the raw value of the optional trialog.disclosure
	// key (a blank while the package is written, then the proof that its
	// issue was logged); Disclosure is its decoded proof, nil if absent
	// or still blank.
	DisclosureValue string
	Disclosure      *DisclosureProof
}

func (p *Meta) Metadata() (arrow.Metadata, error) {
	proof, err := json.Marshal(p.ManifestProof)
	if err != nil {
		return arrow.Metadata{}, err
	}
	redacted, err := json.Marshal(p.Redacted)
	if err != nil {
		return arrow.Metadata{}, err
	}
	keys := []string{metaVersion, metaMode, metaSelection, metaManifestLeaf, metaManifestIndex, metaManifestProof, metaCheckpoint, metaRedacted, metaStatement}
	vals := []string{Version, p.Mode, p.Selection, base64.StdEncoding.EncodeToString(p.ManifestLeaf),
		strconv.FormatUint(p.ManifestIndex, 10), string(proof), string(p.Checkpoint), string(redacted), string(p.Statement)}
	if p.DisclosureValue != "" {
		keys = append(keys, metaDisclosure)
		vals = append(vals, p.DisclosureValue)
	}
	if p.RangeProof != nil {
		rp, err := json.Marshal(p.RangeProof)
		if err != nil {
			return arrow.Metadata{}, err
		}
		keys = append(keys, metaRangeProof)
		vals = append(vals, string(rp))
	}
	return arrow.NewMetadata(keys, vals), nil
}

// ErrPackage is wrapped for packages that cannot be read at all.
var ErrPackage = fmt.Errorf("not a valid trialog package")

func ParseMeta(md arrow.Metadata) (*Meta, error) {
	get := func(k string) (string, error) {
		i := md.FindKey(k)
		if i < 0 {
			return "", fmt.Errorf("%w: metadata %s missing", ErrPackage, k)
		}
		return md.Values()[i], nil
	}
	v, err := get(metaVersion)
	if err != nil {
		return nil, err
	}
	if v != Version {
		return nil, fmt.Errorf("%w: package version %q, this trialog reads %q", ErrPackage, v, Version)
	}
	p := &Meta{}
	if p.Mode, err = get(metaMode); err != nil {
		return nil, err
	}
	if p.Selection, err = get(metaSelection); err != nil {
		return nil, err
	}
	if (p.Mode != ModeAttached && p.Mode != ModeDetached) || (p.Selection != SelectionRange && p.Selection != SelectionRows) {
		return nil, fmt.Errorf("%w: mode %q selection %q", ErrPackage, p.Mode, p.Selection)
	}
	s, err := get(metaManifestLeaf)
	if err != nil {
		return nil, err
	}
	if p.ManifestLeaf, err = base64.StdEncoding.DecodeString(s); err != nil {
		return nil, fmt.Errorf("%w: manifest leaf: %v", ErrPackage, err)
	}
	if p.Manifest, err = leaf.ParseManifest(p.ManifestLeaf); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPackage, err)
	}
	if s, err = get(metaManifestIndex); err != nil {
		return nil, err
	}
	if p.ManifestIndex, err = strconv.ParseUint(s, 10, 64); err != nil {
		return nil, fmt.Errorf("%w: manifest index: %v", ErrPackage, err)
	}
	if s, err = get(metaManifestProof); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(s), &p.ManifestProof); err != nil {
		return nil, fmt.Errorf("%w: manifest proof: %v", ErrPackage, err)
	}
	if s, err = get(metaCheckpoint); err != nil {
		return nil, err
	}
	p.Checkpoint = []byte(s)
	if s, err = get(metaRedacted); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(s), &p.Redacted); err != nil {
		return nil, fmt.Errorf("%w: redacted columns: %v", ErrPackage, err)
	}
	if s, err = get(metaStatement); err != nil {
		return nil, err
	}
	p.Statement = []byte(s)
	if i := md.FindKey(metaDisclosure); i >= 0 {
		p.DisclosureValue = md.Values()[i]
		if !strings.HasPrefix(p.DisclosureValue, blankPrefix) {
			if p.Disclosure, err = ParseDisclosureProof(p.DisclosureValue); err != nil {
				return nil, err
			}
		}
	}
	if p.Selection == SelectionRange {
		if s, err = get(metaRangeProof); err != nil {
			return nil, err
		}
		p.RangeProof = &trillian.RangeProof{}
		if err := json.Unmarshal([]byte(s), p.RangeProof); err != nil {
			return nil, fmt.Errorf("%w: range proof: %v", ErrPackage, err)
		}
	}
	return p, nil
}
