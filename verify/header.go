package verify

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
)

// checkHeader verifies the checkpoint, the manifest and the package
// columns; it returns false when no row can be checked.
func (v *verifier) checkHeader() bool {
	rep, meta, m := v.rep, v.meta, v.meta.Manifest
	cp, err := checkpoint.Open(v.opts.VerifierKey, meta.Checkpoint)
	if err != nil {
		rep.fail("checkpoint: %v (signed by another key, or altered)", err)
		return false
	}
	v.cp = cp
	rep.TreeSize, rep.RootHash = cp.Size, hex.EncodeToString(cp.Hash)
	if want := checkpoint.Origin(m.Trial); cp.Origin != want {
		rep.fail("checkpoint origin %q is not trial %s's (%q)", cp.Origin, m.Trial, want)
	}
	if !v.checkStatement() {
		return false
	}
	if v.opts.Dataset != "" && v.opts.Dataset != m.Dataset {
		rep.fail("package proves dataset %s, expected %s", m.Dataset, v.opts.Dataset)
	}
	if v.opts.Version != 0 && v.opts.Version != m.Version {
		rep.fail("package proves %s version %d, expected version %d", m.Dataset, m.Version, v.opts.Version)
	}
	if meta.Disclosure == disclosure.DisclosureMinimal {
		// No manifest: the signed statement vouches for the header, and
		// each row's inclusion proof for the row. The row count is not
		// disclosed; rows can only lie inside the checkpointed tree.
		if m.FirstIndex >= cp.Size {
			rep.fail("dataset rows start at leaf %d, beyond the checkpointed tree of %d leaves", m.FirstIndex, cp.Size)
			return false
		}
		m.Rows = cp.Size - m.FirstIndex
		rep.Notes = append(rep.Notes, fmt.Sprintf("minimal package: %s version %d's manifest (row count, source file digest, operator) is not disclosed; the CRO's signed statement vouches for its header", m.Dataset, m.Version))
	} else {
		if meta.ManifestIndex != m.FirstIndex+m.Rows {
			rep.fail("manifest index %d is not right after the dataset's rows [%d, %d)", meta.ManifestIndex, m.FirstIndex, m.FirstIndex+m.Rows)
		}
		if meta.ManifestIndex >= cp.Size {
			rep.fail("checkpoint is for a tree of %d leaves, which does not reach the manifest at leaf %d (rolled back or stale checkpoint)", cp.Size, meta.ManifestIndex)
			return false
		}
		// A range package's manifest leaf is proven with its rows, by the
		// range proof (v4): checked once the rows are folded.
		if meta.RangeProof == nil {
			if err := trillian.VerifyInclusion(meta.ManifestIndex, cp.Size, trillian.LeafHash(meta.ManifestLeaf), meta.ManifestProof, cp.Hash); err != nil {
				rep.fail("manifest of %s version %d is not in the checkpointed tree at leaf %d: %v", m.Dataset, m.Version, meta.ManifestIndex, err)
				return false
			}
		}
	}
	// The range proof's range is [first_index, first_index + rows + 1):
	// the rows, then the manifest's leaf; its bounds are the manifest's,
	// its tree the checkpoint's (v4 writes neither).
	meta.Bind(cp.Size)
	v.names = m.ColumnNames()
	slices.Sort(v.names)
	if v.encoder, err = leaf.NewRowEncoder(m.Trial, m.Dataset, m.Version, v.names); err != nil {
		rep.fail("manifest columns: %v", err)
		return false
	}
	if meta.Mode == disclosure.ModeDerived {
		return v.checkDerivedColumns()
	}
	seenField := map[string]bool{}
	for _, f := range v.schema.Fields() {
		if seenField[f.Name] {
			rep.fail("column %s appears more than once", f.Name)
			return false
		}
		seenField[f.Name] = true
	}
	find := func(name string) int {
		if idx := v.schema.FieldIndices(name); len(idx) == 1 {
			return idx[0]
		}
		return -1
	}
	ok := true
	for _, name := range v.names {
		value, salt, commit := find(name), find(disclosure.SaltColumn(name)), find(disclosure.CommitColumn(name))
		redacted := slices.Contains(meta.Redacted, name)
		switch {
		case commit < 0 || !arrow.TypeEqual(v.schema.Field(commit).Type, disclosure.CommitType):
			rep.fail("column %s: commitment column missing or of the wrong type (column dropped or renamed)", name)
			ok = false
		case redacted && (value >= 0 || salt >= 0):
			rep.fail("column %s: declared redacted but its value or salt is present", name)
			ok = false
		case !redacted && (salt < 0 || !arrow.TypeEqual(v.schema.Field(salt).Type, disclosure.SaltType)):
			rep.fail("column %s: salt column missing or of the wrong type", name)
			ok = false
		case !redacted && meta.Mode == disclosure.ModeAttached && value < 0:
			rep.fail("column %s: missing from the package (dropped or renamed)", name)
		}
		if value >= 0 && meta.Mode == disclosure.ModeDetached && !slices.Contains(m.Keys, name) {
			rep.fail("column %s: a detached package carries values", name)
		}
		if value >= 0 {
			// The values must reach the recipient as they were ingested:
			// equal canonical cells would hide e.g. int64 turned float64.
			if i := slices.IndexFunc(m.Schema, func(c leaf.Column) bool { return c.Name == name }); i >= 0 && v.schema.Field(value).Type.String() != m.Schema[i].Type {
				rep.fail("column %s: type %s in the package, %s when ingested", name, v.schema.Field(value).Type, m.Schema[i].Type)
			}
		}
		v.valueCol = append(v.valueCol, value)
		v.saltCol = append(v.saltCol, salt)
		v.commitCol = append(v.commitCol, commit)
	}
	for _, f := range v.schema.Fields() {
		switch {
		case f.Name == disclosure.ColProof && meta.Selection != disclosure.SelectionRows:
			rep.fail("column %s in a package with a range proof", disclosure.ColProof)
		case f.Name == disclosure.ColRow || f.Name == disclosure.ColLeafIndex || f.Name == disclosure.ColRowHash || f.Name == disclosure.ColProof:
		case strings.HasPrefix(f.Name, disclosure.SaltPrefix) || strings.HasPrefix(f.Name, disclosure.CommitPrefix):
			base := strings.TrimPrefix(strings.TrimPrefix(f.Name, disclosure.SaltPrefix), disclosure.CommitPrefix)
			if !slices.Contains(v.names, base) {
				rep.fail("column %s: not in the manifest", f.Name)
			}
		case !slices.Contains(v.names, f.Name):
			rep.fail("column %s: not in the manifest (renamed or added)", f.Name)
		}
	}
	for _, name := range []string{disclosure.ColRow, disclosure.ColLeafIndex} {
		if idx := find(name); idx < 0 || v.schema.Field(idx).Type.ID() != arrow.UINT64 {
			rep.fail("column %s missing", name)
			ok = false
		}
	}
	if v.rowHashCol = find(disclosure.ColRowHash); v.rowHashCol < 0 || !arrow.TypeEqual(v.schema.Field(v.rowHashCol).Type, disclosure.CommitType) {
		rep.fail("column %s missing or of the wrong type", disclosure.ColRowHash)
		ok = false
	}
	v.full = len(meta.Redacted) == 0
	if meta.Selection == disclosure.SelectionRows {
		if idx := find(disclosure.ColProof); idx < 0 || !arrow.TypeEqual(v.schema.Field(idx).Type, disclosure.ProofType) {
			rep.fail("column %s missing", disclosure.ColProof)
			ok = false
		}
	}
	if meta.Mode == disclosure.ModeDetached && v.opts.Data == nil {
		rep.fail("a detached package needs the data file to verify")
		ok = false
	}
	if v.opts.Data != nil {
		v.columnCoverage()
	}
	if v.opts.Data != nil && len(m.Keys) > 0 {
		for _, k := range m.Keys {
			if j := slices.Index(v.names, k); j < 0 || v.valueCol[j] < 0 {
				rep.fail("key column %s: no values in the package to match the data file's rows by", k)
				return false
			}
		}
		if v.keyed, err = loadKeyed(v.opts.Data, m, v.names); err != nil {
			rep.fail("%v", err)
			return false
		}
		for _, p := range v.keyed.problems {
			rep.fail("%s", p)
		}
	} else if v.opts.Data != nil {
		if v.data, err = newDataCursor(v.opts.Data, m, v.names); err != nil {
			rep.fail("%v", err)
			ok = false
		} else {
			for _, p := range v.data.problems {
				rep.fail("%s", p)
			}
		}
	}
	return ok
}

// checkStatement verifies the CRO's signed statement and that the
// package's metadata says the same.
func (v *verifier) checkStatement() bool {
	rep, meta, m := v.rep, v.meta, v.meta.Manifest
	text, err := checkpoint.OpenNote(v.opts.VerifierKey, meta.Statement)
	if err != nil {
		rep.fail("package statement: %v (not signed by the trial's key, or altered)", err)
		return false
	}
	st, err := disclosure.ParseStatement(text)
	if err != nil {
		rep.fail("package statement: %v", err)
		return false
	}
	redacted := slices.Clone(meta.Redacted)
	slices.Sort(redacted)
	stRedacted := slices.Clone(st.Redacted)
	slices.Sort(stRedacted)
	digest, err := disclosure.HeaderOf(m).Digest()
	if meta.Disclosure == disclosure.DisclosureMinimal {
		digest = disclosure.DigestOf(meta.HeaderJSON)
	}
	switch {
	case err != nil:
		rep.fail("dataset header: %v", err)
	case st.Origin != v.cp.Origin:
		rep.fail("package statement is for %q, the checkpoint for %q", st.Origin, v.cp.Origin)
	case st.Dataset != m.Dataset || st.Version != m.Version:
		rep.fail("package statement is for %s version %d, the manifest for %s version %d (package from another dataset version)", st.Dataset, st.Version, m.Dataset, m.Version)
	case st.Mode != meta.Mode || st.Selection != meta.Selection:
		rep.fail("package statement says %s/%s, the package %s/%s", st.Mode, st.Selection, meta.Mode, meta.Selection)
	case st.Disclosure != meta.Disclosure:
		rep.fail("package statement says disclosure %s, the package %s", st.Disclosure, meta.Disclosure)
	case st.Header != digest:
		rep.fail("dataset header (identity, columns, first leaf, ingest time) differs from the one the CRO's signed statement names")
	case st.TreeSize != v.cp.Size:
		rep.fail("package statement was made at tree size %d, the checkpoint is for %d (checkpoint replaced or rolled back)", st.TreeSize, v.cp.Size)
	case !slices.Equal(redacted, stRedacted):
		rep.fail("package declares redacted columns %v, the signed statement %v (column withheld)", meta.Redacted, st.Redacted)
	case meta.Selection == disclosure.SelectionRange && !slices.Equal(st.Rows, [][2]uint64{{0, m.Rows}}):
		rep.fail("whole-dataset package statement lists rows %s", disclosure.FormatRanges(st.Rows))
	default:
		v.expected = st.Rows
		// Before any batch is read: the rows the package's batches declare
		// are bounded by the signed statement, so that the verifier's
		// per-row bookkeeping is too. Up to twice as many (and a batch)
		// still get a row-by-row report of what was inserted.
		listed := disclosure.CountRanges(st.Rows)
		if held := uint64(v.layout.Rows()); held > 2*listed+disclosure.MaxBatchRows {
			rep.fail("the package's batches declare %d rows, far more than the %d rows the signed statement lists", held, listed)
			return false
		}
		return true
	}
	return false
}
