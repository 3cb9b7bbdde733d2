// Package disclosure is the disclosure package format (docs/package-format.md):
// one Arrow IPC file that any Arrow tool opens as a table, whose schema
// metadata carries the manifest leaf, the checkpoint, the proofs and the
// CRO's signed statement of what the package holds. It is shared by the
// writer (pipeline.Prove) and the offline verifier (verify): both read the
// format from here and nowhere else.
package disclosure

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/trialog/trialog/commit"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
)

// ReservedPrefix starts the names of the columns trialog adds to
// packages; datasets may not use it (commit.ColumnsOf refuses them).
const ReservedPrefix = commit.ReservedPrefix

// Package format v3 (docs/package-format.md): one Arrow IPC file that any
// Arrow tool opens as a table. v3 (all before the first release) added
// the witness policy, its proof and the consistency proofs
// (docs/witnessing.md), derived packages (a salt key and leaf tags), the
// disclosure levels (a minimal package has a dataset header instead of the
// manifest), statement v2 and the structural limits. Earlier versions are
// refused.
const (
	Version = "4"

	ColRow       = ReservedPrefix + "_row"        // uint64: row index in the dataset version
	ColLeafIndex = ReservedPrefix + "_leaf_index" // uint64: leaf index in the tree
	ColRowHash   = ReservedPrefix + "_row_hash"   // fixed_size_binary(32): the row leaf's row hash
	ColProof     = ReservedPrefix + "_proof"      // list<fixed_size_binary(32)>: inclusion proof (rows selection)
	SaltPrefix   = ReservedPrefix + "_salt."      // fixed_size_binary(16) per column whose salt is disclosed
	CommitPrefix = ReservedPrefix + "_commit."    // fixed_size_binary(32) per column, always
	ColLeafTag   = ReservedPrefix + "_leaf_tag"   // fixed_size_binary(3): derived mode, the first bytes of each row's leaf hash

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
	metaPolicy        = "trialog.witness_policy"
	metaConsistency   = "trialog.consistency"
	metaPolicyProof   = "trialog.witness_policy_proof"
	metaSaltKeys      = "trialog.salt_keys"
	metaDisclosure    = "trialog.disclosure"
	metaHeader        = "trialog.dataset_header"
)

// SaltColumn and CommitColumn name the package columns of a data column.
func SaltColumn(name string) string   { return SaltPrefix + name }
func CommitColumn(name string) string { return CommitPrefix + name }

// Package modes and selections.
const (
	ModeAttached = "attached" // disclosed values travel in the package
	ModeDetached = "detached" // salts and commitments only: the sponsor brings the data
	// ModeDerived: the version's salt key instead of per-row salts and
	// commitments, for a whole version with nothing redacted; the sponsor
	// brings the data and the verifier recomputes every leaf.
	ModeDerived    = "derived"
	SelectionRange = "range" // every row of the version, one range proof
	SelectionRows  = "rows"  // chosen rows, one inclusion proof each
)

var (
	SaltType   = &arrow.FixedSizeBinaryType{ByteWidth: leaf.SaltSize}
	CommitType = &arrow.FixedSizeBinaryType{ByteWidth: leaf.CommitmentSize}
	ProofType  = arrow.ListOf(&arrow.FixedSizeBinaryType{ByteWidth: trillian.HashSize})
	// LeafTagType is a derived package's per-row column: the first
	// LeafTagSize bytes of the row's RFC 6962 leaf hash.
	LeafTagType = &arrow.FixedSizeBinaryType{ByteWidth: LeafTagSize}
)

// Meta is what a package's schema metadata holds.
type Meta struct {
	Mode      string
	Selection string
	// Disclosure is DisclosureFull (ManifestLeaf, ManifestIndex and
	// ManifestProof present, Manifest parsed from the leaf) or
	// DisclosureMinimal (HeaderJSON present; Manifest holds only what the
	// header does, Rows 0).
	Disclosure    string
	HeaderJSON    []byte
	ManifestLeaf  []byte
	Manifest      *leaf.Manifest
	ManifestIndex uint64
	ManifestProof [][]byte
	Checkpoint    []byte
	RangeProof    *trillian.RangeProof
	Redacted      []string
	// Statement is the CRO's signed note on what the package holds.
	Statement []byte
	// WitnessPolicy is the trial's witness policy that applied when the
	// package was made, as a note signed by the trial key (empty: none).
	// Checkpoint then carries the witnesses' cosignatures as extra
	// signature lines (c2sp.org/tlog-cosignature).
	WitnessPolicy []byte
	// Consistency holds RFC 6962 consistency proofs from earlier
	// published tree sizes to the checkpoint's, so a verifier that
	// remembers an earlier checkpoint (trialog verify --trust) can check
	// this one extends it without asking the log.
	Consistency []ConsistencyProof
	// PolicyProof shows WitnessPolicy is in the log: its policy leaf
	// (leaf.PolicyLeaf), leaf index and inclusion proof against the
	// checkpoint. Nil when there is no policy.
	PolicyProof *PolicyProof
	// SaltKeys are the salt keys of the version's rows, derived mode
	// only: one run per participant under salts v2 (leaf.SaltKeyV2), one
	// for the whole version under salts v1 (leaf.SaltKey).
	SaltKeys []commit.KeyRun
	// LoggedValue is the raw value of the trialog.logged key (a blank
	// while the package is written, then the proof that its issue was
	// logged, docs/package-format.md "Disclosure proof"); Logged is its
	// decoded proof, nil while still blank.
	LoggedValue string
	Logged      *DisclosureProof
}

// PolicyProof is the inclusion of the witness policy's leaf.
type PolicyProof struct {
	Leaf  []byte   `json:"leaf"`
	Index uint64   `json:"index"`
	Proof [][]byte `json:"proof"`
}

// LeafTagSize is the size of a derived package's leaf tags. They only
// locate the rows that differ; what proves the rows is the range root
// recomputed from every full leaf hash, so a tag collision can hide where
// a difference is (1 in 2^24 per altered row), never that there is one.
const LeafTagSize = 3

// ConsistencyProof is a consistency proof from tree size From to the
// package checkpoint's size.
type ConsistencyProof struct {
	From  uint64   `json:"from"`
	Proof [][]byte `json:"proof"`
}

// ConsistencyFrom returns the carried proof from size from, if any.
func (p *Meta) ConsistencyFrom(from uint64) ([][]byte, bool) {
	for _, c := range p.Consistency {
		if c.From == from {
			return c.Proof, true
		}
	}
	return nil, false
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
	consistency := p.Consistency
	if consistency == nil {
		consistency = []ConsistencyProof{}
	}
	cons, err := json.Marshal(consistency)
	if err != nil {
		return arrow.Metadata{}, err
	}
	policyProof := []byte{}
	if p.PolicyProof != nil {
		if policyProof, err = json.Marshal(p.PolicyProof); err != nil {
			return arrow.Metadata{}, err
		}
	}
	keys := []string{metaVersion, metaMode, metaSelection, metaDisclosure, metaCheckpoint, metaRedacted, metaStatement, metaPolicy, metaConsistency, metaPolicyProof}
	vals := []string{Version, p.Mode, p.Selection, p.Disclosure, string(p.Checkpoint), string(redacted), string(p.Statement),
		string(p.WitnessPolicy), string(cons), string(policyProof)}
	switch p.Disclosure {
	case DisclosureFull:
		keys = append(keys, metaManifestLeaf, metaManifestIndex, metaManifestProof)
		vals = append(vals, base64.StdEncoding.EncodeToString(p.ManifestLeaf), strconv.FormatUint(p.ManifestIndex, 10), string(proof))
	case DisclosureMinimal:
		keys = append(keys, metaHeader)
		vals = append(vals, string(p.HeaderJSON))
	default:
		return arrow.Metadata{}, fmt.Errorf("disclosure %q", p.Disclosure)
	}
	if p.Mode == ModeDerived {
		keys = append(keys, metaSaltKeys)
		vals = append(vals, base64.StdEncoding.EncodeToString(encodeKeyRuns(p.SaltKeys)))
	}
	if p.LoggedValue != "" {
		keys = append(keys, metaLogged)
		vals = append(vals, p.LoggedValue)
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
	if (p.Mode != ModeAttached && p.Mode != ModeDetached && p.Mode != ModeDerived) || (p.Selection != SelectionRange && p.Selection != SelectionRows) {
		return nil, fmt.Errorf("%w: mode %q selection %q", ErrPackage, p.Mode, p.Selection)
	}
	if p.Disclosure, err = get(metaDisclosure); err != nil {
		return nil, err
	}
	switch {
	case p.Disclosure == DisclosureMinimal && p.Selection == SelectionRows:
		s, err := get(metaHeader)
		if err != nil {
			return nil, err
		}
		p.HeaderJSON = []byte(s)
		h, err := ParseHeader(p.HeaderJSON)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrPackage, err)
		}
		p.Manifest = h.Manifest()
	case p.Disclosure == DisclosureFull:
		if err := p.parseManifest(get); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: disclosure %q with selection %q", ErrPackage, p.Disclosure, p.Selection)
	}
	s, err := get(metaCheckpoint)
	if err != nil {
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
	{
		if s, err = get(metaPolicy); err != nil {
			return nil, err
		}
		p.WitnessPolicy = []byte(s)
		if s, err = get(metaConsistency); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(s), &p.Consistency); err != nil {
			return nil, fmt.Errorf("%w: consistency proofs: %v", ErrPackage, err)
		}
		if s, err = get(metaPolicyProof); err != nil {
			return nil, err
		}
		if s != "" {
			p.PolicyProof = &PolicyProof{}
			if err := json.Unmarshal([]byte(s), p.PolicyProof); err != nil {
				return nil, fmt.Errorf("%w: witness policy proof: %v", ErrPackage, err)
			}
		}
		for _, c := range p.Consistency {
			for _, h := range c.Proof {
				if len(h) != trillian.HashSize {
					return nil, fmt.Errorf("%w: consistency proof from %d: hash of %d bytes", ErrPackage, c.From, len(h))
				}
			}
		}
	}
	if p.Mode == ModeDerived {
		// The salt key derives every cell's salt: it may travel only with
		// a whole version and nothing redacted (docs/package-format.md).
		if p.Selection != SelectionRange || len(p.Redacted) > 0 {
			return nil, fmt.Errorf("%w: a derived package must cover the whole version with nothing redacted", ErrPackage)
		}
		if s, err = get(metaSaltKeys); err != nil {
			return nil, err
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: salt keys are not base64", ErrPackage)
		}
		if p.SaltKeys, err = decodeKeyRuns(raw); err != nil {
			return nil, err
		}
	}
	if i := md.FindKey(metaLogged); i >= 0 {
		p.LoggedValue = md.Values()[i]
		if !strings.HasPrefix(p.LoggedValue, blankPrefix) {
			if p.Logged, err = ParseDisclosureProof(p.LoggedValue); err != nil {
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

// parseManifest reads a full package's manifest leaf, index and proof.
func (p *Meta) parseManifest(get func(string) (string, error)) error {
	s, err := get(metaManifestLeaf)
	if err != nil {
		return err
	}
	if p.ManifestLeaf, err = base64.StdEncoding.DecodeString(s); err != nil {
		return fmt.Errorf("%w: manifest leaf: %v", ErrPackage, err)
	}
	if p.Manifest, err = leaf.ParseManifest(p.ManifestLeaf); err != nil {
		return fmt.Errorf("%w: %v", ErrPackage, err)
	}
	if s, err = get(metaManifestIndex); err != nil {
		return err
	}
	if p.ManifestIndex, err = strconv.ParseUint(s, 10, 64); err != nil {
		return fmt.Errorf("%w: manifest index: %v", ErrPackage, err)
	}
	if s, err = get(metaManifestProof); err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(s), &p.ManifestProof); err != nil {
		return fmt.Errorf("%w: manifest proof: %v", ErrPackage, err)
	}
	return nil
}

// encodeKeyRuns is the binary form of salt key runs: for each run,
// uvarint(first row) || 32-byte key (docs/package-format.md, derived mode).
func encodeKeyRuns(runs []commit.KeyRun) []byte {
	out := make([]byte, 0, len(runs)*(leaf.SaltKeySize+3))
	for _, r := range runs {
		out = binary.AppendUvarint(out, r.First)
		out = append(out, r.Key...)
	}
	return out
}

// decodeKeyRuns reads encodeKeyRuns strictly: minimal varints, the first
// run at row 0, rows strictly increasing. That a run starts before the
// version's end is checked against the manifest by the verifier.
func decodeKeyRuns(b []byte) ([]commit.KeyRun, error) {
	var runs []commit.KeyRun
	for len(b) > 0 {
		first, n := binary.Uvarint(b)
		if n <= 0 || n != len(binary.AppendUvarint(nil, first)) {
			return nil, fmt.Errorf("%w: salt key run %d: bad row number", ErrPackage, len(runs))
		}
		b = b[n:]
		if len(b) < leaf.SaltKeySize {
			return nil, fmt.Errorf("%w: salt key run %d is cut short", ErrPackage, len(runs))
		}
		if (len(runs) == 0 && first != 0) || (len(runs) > 0 && first <= runs[len(runs)-1].First) {
			return nil, fmt.Errorf("%w: salt key run %d: rows out of order", ErrPackage, len(runs))
		}
		runs = append(runs, commit.KeyRun{First: first, Key: b[:leaf.SaltKeySize:leaf.SaltKeySize]})
		b = b[leaf.SaltKeySize:]
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("%w: a derived package has no salt keys", ErrPackage)
	}
	return runs, nil
}
