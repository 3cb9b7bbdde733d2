package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/commit"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/workspace"
)

// Condition selects rows whose Column equals Value (compared as canonical
// cells: "63" matches the number 63, "F" the text F).
type Condition struct {
	Column string
	Value  string
}

// ProveOptions choose what a package discloses.
type ProveOptions struct {
	Dataset string
	Version uint64 // 0: the latest version
	// Rows are half-open ranges [a, b) of dataset row indices.
	Rows [][2]uint64
	// Where conditions: rows must meet one condition per named column
	// (conditions on the same column are alternatives).
	Where []Condition
	// Redact lists columns whose values and salts stay out of the package.
	Redact []string
	// Detached leaves every value out: the recipient brings the data file.
	Detached bool
	// Form is FormAuto, FormFull or FormDerived (derived.go).
	Form string
	// Total, if set, is called once with the number of data rows the
	// package is written from; Progress, if set, with the rows read so far.
	Total    func(rows uint64)
	Progress func(rows uint64)
	// Minimal (rows selections only) discloses the dataset header instead
	// of the manifest: not the total row count, the source file's name,
	// size and SHA-256, the range root or the operator
	// (docs/package-format.md, "Sensitivity").
	Minimal bool
	// SubjectColumn holds the participant ID ("" means USUBJID when the
	// dataset has it). Consent is checked, and the disclosure log records
	// whose rows went out, by this column.
	SubjectColumn string
	// Consent, when set, is the consent rule of the disclosure's purpose:
	// the ground on which a participant's rows must be withheld, or "" if
	// they may go (consent.Book.DisclosureRule). Nil means consent was
	// not checked, which only an explicit --no-consent-check asks for.
	Consent func(subject string) string
	// Override includes the rows Consent would withhold, for a legitimate
	// exception (e.g. safety reporting); it is the logged reason.
	Override string
	// Recipient, Purpose and Operator (default: the OS user) are logged
	// in the package's disclosure record.
	Recipient, Purpose, Operator string
	// DecidedAt is when the disclosure was decided: the time its consent
	// rule was evaluated at, logged as the disclosure record's time, so
	// the audit judges the record at the moment of the decision (default:
	// when the record is logged).
	DecidedAt time.Time
}

// ErrNoRows is wrapped when a selection matches no row.
var ErrNoRows = fmt.Errorf("no matching rows: %w", workspace.ErrUsage)

// ErrWithheld is wrapped when consent withholds every selected row.
var ErrWithheld = fmt.Errorf("nothing to disclose: %w", workspace.ErrUsage)

// ProveResult summarises a written package.
type ProveResult struct {
	Dataset   string `json:"dataset"`
	Version   uint64 `json:"version"`
	Mode      string `json:"mode"`
	Selection string `json:"selection"`
	Rows      uint64 `json:"rows"`
	TreeSize  uint64 `json:"tree_size"`
	Package   string `json:"package"`
	// Consent is "checked", "overridden" or "not-checked".
	Consent string `json:"consent"`
	// Withheld counts the rows left out for consent, by ground; with an
	// override, the rows that were included only because of it.
	Withheld []Withheld `json:"withheld"`
	// Erased counts selected rows left out because their participant's
	// key was erased: they can never be proved again.
	Erased uint64 `json:"erased_rows"`
	// Subjects are the participants with rows in the package (never
	// printed: the disclosure log keeps them salted).
	Subjects []string `json:"-"`
	// DisclosureLeaf is the leaf index of the package's disclosure record,
	// PackageSHA256 the digest it logs (docs/package-format.md).
	DisclosureLeaf uint64 `json:"disclosure_leaf"`
	PackageSHA256  string `json:"package_sha256"`
}

// ParseDatasetRef splits NAME[@VERSION].
func ParseDatasetRef(ref string) (string, uint64, error) {
	name, v, found := strings.Cut(ref, "@")
	if !found {
		return name, 0, nil
	}
	var version uint64
	if _, err := fmt.Sscanf(strings.TrimPrefix(v, "v"), "%d", &version); err != nil || version == 0 {
		return "", 0, fmt.Errorf("dataset %q: version must be a positive number: %w", ref, workspace.ErrUsage)
	}
	return name, version, nil
}

// Prove writes a disclosure package for a dataset version to out. The data
// file must be the one that was ingested.
func Prove(ctx context.Context, t *workspace.Trial, f *source.File, out string, opts ProveOptions) (*ProveResult, error) {
	rec, err := t.Version(opts.Dataset, opts.Version)
	if err != nil {
		return nil, err
	}
	m := &rec.Manifest
	digest, err := durable.FileSHA256(ctx, f.Path)
	if err != nil {
		return nil, err
	}
	if digest != m.Source.SHA256 {
		return nil, fmt.Errorf("%s is not the file ingested as %s version %d (%s, sha256 %s…): %w",
			f.Name, m.Dataset, m.Version, m.Source.Name, m.Source.SHA256[:12], source.ErrInput)
	}
	if got := schemaOf(f); !slices.Equal(got, m.Schema) {
		return nil, fmt.Errorf("%s: read with columns %v, but ingested as %v: use the --format, --schema and --null of the ingest: %w",
			f.Name, got, m.Schema, workspace.ErrUsage)
	}
	cols, err := commit.ColumnsOf(f.Name, f.Schema())
	if err != nil {
		return nil, err
	}
	for _, r := range opts.Redact {
		if !slices.Contains(cols.Sorted, r) {
			return nil, fmt.Errorf("cannot redact column %s: dataset %s has no such column: %w", r, m.Dataset, workspace.ErrUsage)
		}
	}
	for _, w := range opts.Where {
		if !slices.Contains(cols.Sorted, w.Column) {
			return nil, fmt.Errorf("cannot select rows by column %s: dataset %s has no such column: %w", w.Column, m.Dataset, workspace.ErrUsage)
		}
	}
	signed, cp, err := t.LatestOpened()
	if err != nil {
		return nil, err
	}
	if cp.Size <= rec.ManifestIndex {
		return nil, fmt.Errorf("latest checkpoint (size %d) predates %s version %d", cp.Size, m.Dataset, m.Version)
	}
	manifestLeaf, err := leaf.ManifestLeaf(m)
	if err != nil {
		return nil, err
	}
	manifestProof, err := t.Log.InclusionProof(ctx, rec.ManifestIndex, cp.Size)
	if err != nil {
		return nil, err
	}
	if err := trillian.VerifyInclusion(rec.ManifestIndex, cp.Size, trillian.LeafHash(manifestLeaf), manifestProof, cp.Hash); err != nil {
		return nil, fmt.Errorf("the log does not hold manifest %s version %d at %d: %w", m.Dataset, m.Version, rec.ManifestIndex, err)
	}
	meta := &disclosure.Meta{
		Mode: disclosure.ModeAttached, Selection: disclosure.SelectionRows, Disclosure: disclosure.DisclosureFull, ManifestLeaf: manifestLeaf, Manifest: m,
		ManifestIndex: rec.ManifestIndex, ManifestProof: manifestProof, Checkpoint: signed, Redacted: opts.Redact,
	}
	header := disclosure.HeaderOf(m)
	headerDigest, err := header.Digest()
	if err != nil {
		return nil, err
	}
	if opts.Minimal {
		if len(opts.Rows) == 0 && len(opts.Where) == 0 {
			return nil, fmt.Errorf("a minimal package proves selected rows: give --rows or --where: %w", workspace.ErrUsage)
		}
		meta.Disclosure, meta.ManifestLeaf, meta.ManifestIndex, meta.ManifestProof = disclosure.DisclosureMinimal, nil, 0, nil
		if meta.HeaderJSON, err = header.Encode(); err != nil {
			return nil, err
		}
	}
	if meta.Redacted == nil {
		meta.Redacted = []string{}
	}
	if err := addWitnessing(ctx, t, meta, cp.Size); err != nil {
		return nil, err
	}
	if opts.Detached {
		meta.Mode = disclosure.ModeDetached
	}
	w := &packageWriter{
		ctx: ctx, log: t.Log, meta: meta, schema: f.Schema(), opts: opts,
		size: cp.Size, root: cp.Hash, mem: memory.DefaultAllocator,
	}
	if err := w.checkSubjectColumn(cols.Sorted); err != nil {
		return nil, err
	}
	if err := t.RecoverWrites(ctx); err != nil {
		return nil, err
	}
	keys, err := t.Keys()
	if err != nil {
		return nil, err
	}
	if opts.Recipient == "" || opts.Purpose == "" {
		return nil, fmt.Errorf("a disclosure needs a recipient and a purpose: %w", workspace.ErrUsage)
	}
	if keys.Mentions(opts.Recipient) || keys.Mentions(opts.Purpose) {
		return nil, fmt.Errorf("the recipient and the purpose are logged in clear in the disclosure record and must not name a participant: %w", workspace.ErrUsage)
	}
	if w.committer, err = commit.NewCommitter(t.Secret(), keys, rec.Salting, t.ID, m.Dataset, m.Version, f.Name, cols, m.Rules()); err != nil {
		return nil, err
	}
	// Which rows: all, or those the options and consent select (a first
	// pass, so the signed statement can name them before the file is
	// written). A whole version with nothing withheld keeps its range proof.
	whole := len(opts.Rows) == 0 && len(opts.Where) == 0
	// Without a selection, a consent rule or an erased participant, every
	// row goes: no first pass (the write pass notes the participants).
	w.noteInWrite = whole && opts.Consent == nil && !keys.AnyErased()
	if !w.noteInWrite {
		var selected []uint64
		if _, err := source.ForEachBatch(ctx, f, func(b source.Batch) error {
			pos, err := w.selected(b)
			if err != nil {
				return err
			}
			if pos, err = w.erasedFilter(b, pos); err != nil {
				return err
			}
			if pos, err = w.consentFilter(b, pos); err != nil {
				return err
			}
			for _, i := range pos {
				selected = append(selected, b.First+uint64(i))
			}
			return nil
		}); err != nil {
			return nil, err
		}
		if len(selected) == 0 {
			if w.erased > 0 {
				return nil, fmt.Errorf("every selected row of %s version %d belongs to a participant whose key was erased (trialog consent erase): %d rows can never be proved: %w", m.Dataset, m.Version, w.erased, ErrWithheld)
			}
			if n := w.withheldRows(); n > 0 && opts.Override == "" {
				return nil, fmt.Errorf("every selected row of %s version %d (%d) is withheld for consent (%s): %w", m.Dataset, m.Version, n, w.withheldText(), ErrWithheld)
			}
			return nil, fmt.Errorf("no row of %s version %d matches the selection: %w", m.Dataset, m.Version, ErrNoRows)
		}
		w.rows = disclosure.RangesOf(selected)
		if whole && uint64(len(selected)) == m.Rows {
			w.rows = nil // every row: a range proof
		}
	}
	derived, err := derivedForm(opts, len(m.Keys) > 0, whole && w.rows == nil)
	if err != nil {
		return nil, err
	}
	if derived {
		meta.Mode = disclosure.ModeDerived
		if meta.SaltKeys, err = w.saltKeyRuns(ctx, f); err != nil {
			return nil, err
		}
	}
	var rangeCheck *trillian.RangeVerifier
	if whole && w.rows == nil {
		meta.Selection = disclosure.SelectionRange
		if m.Rows == 0 {
			return nil, fmt.Errorf("%s version %d has no rows to prove: %w", m.Dataset, m.Version, workspace.ErrUsage)
		}
		// The rows and then the manifest's leaf: one proof for both (v4).
		rp, err := trillian.ProveRange(ctx, t.Log, m.FirstIndex, m.FirstIndex+m.Rows+1, cp.Size)
		if err != nil {
			return nil, err
		}
		meta.RangeProof = &rp
		if rangeCheck, err = trillian.NewRangeVerifier(rp); err != nil {
			return nil, err
		}
		w.rows = [][2]uint64{{0, m.Rows}}
	}
	w.rangeCheck = rangeCheck
	st := disclosure.Statement{Origin: cp.Origin, Dataset: m.Dataset, Version: m.Version, Mode: meta.Mode, Selection: meta.Selection,
		Disclosure: meta.Disclosure, Header: headerDigest, TreeSize: cp.Size, Redacted: meta.Redacted, Rows: w.rows}
	if meta.Statement, err = t.SignStatement(st.Text()); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := w.reserveDisclosure(t, cp.Size); err != nil {
		return nil, err
	}
	var rows uint64
	if opts.Total != nil {
		opts.Total(m.Rows)
	}
	progress := func(b source.Batch) {
		if opts.Progress != nil {
			opts.Progress(b.First + uint64(b.Rec.NumRows()))
		}
	}
	if derived {
		if rows, err = writeDerived(ctx, tmp, f, meta, w.committer, rangeCheck, progress); err != nil {
			return nil, err
		}
		w.written = rows
	} else {
		if err := w.start(tmp); err != nil {
			return nil, err
		}
		add := func(b source.Batch) error {
			err := w.addBatch(b)
			progress(b)
			return err
		}
		if rows, err = source.ForEachBatch(ctx, f, source.Chunked(disclosure.MaxBatchRows, add)); err != nil {
			return nil, err
		}
	}
	if rows != m.Rows {
		return nil, fmt.Errorf("%s has %d rows, the manifest %d", f.Name, rows, m.Rows)
	}
	if rangeCheck != nil {
		rangeCheck.AppendTrailer(trillian.LeafHash(manifestLeaf))
		if err := rangeCheck.Verify(cp.Hash); err != nil {
			return nil, fmt.Errorf("self-check of the range proof failed: %w", err)
		}
	}
	if w.written != disclosure.CountRanges(w.rows) {
		return nil, fmt.Errorf("%s changed while the package was written", f.Name)
	}
	if !derived {
		if err := w.writer.Close(); err != nil {
			return nil, err
		}
	}
	res := &ProveResult{Dataset: m.Dataset, Version: m.Version, Mode: meta.Mode, Selection: meta.Selection,
		Rows: w.written, TreeSize: cp.Size, Package: out, Consent: w.consentState(), Withheld: w.withheldList(), Subjects: w.subjectList(), Erased: w.erased}
	if err := w.logDisclosure(ctx, t, tmp, res); err != nil {
		return nil, err
	}
	return res, nil
}
