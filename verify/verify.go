package verify

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/commit"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/disclosure/ipcfile"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/trust"
	"github.com/trialog/trialog/witness"
)

// recycled bounds the freed Arrow buffers a verification keeps for reuse.
const recycled = disclosure.MaxBatchBody

// Options configure an offline verification.
type Options struct {
	// VerifierKey is the trial's public checkpoint key (note format).
	VerifierKey string
	// Data is the recipient's own copy of the dataset, required for a
	// detached package and optional for an attached one (then it is
	// compared with the package's values too).
	Data *source.File
	// Dataset and Version, if set, are what the recipient expects the
	// package to prove.
	Dataset string
	Version uint64
	// Strict fails a data file with columns the package does not commit
	// to; by default they are listed in Report.NotCovered and noted.
	Strict bool
	// MaxReportedRows bounds the rows listed in the report (default 1000);
	// every bad row is still counted.
	MaxReportedRows int
	// Witnesses, if set, is the verifier's own witness policy: the
	// checkpoint must carry its quorum of cosignatures (docs/witnessing.md).
	Witnesses *witness.Policy
	// Trust, if set, is the verifier's memory of the log: the checkpoint
	// must not fork or roll back what it accepted before.
	Trust *trust.Store
	// Proofs supplies consistency proofs the package does not carry (a
	// log URL client plugs in here); nil: the package's only.
	Proofs trust.ProofSource
	// Total, if set, is called with the number of package rows at the
	// start of each pass (a failed fast pass is followed by a cell-by-cell
	// one); Progress, if set, with the rows checked so far in the pass.
	Total    func(rows uint64)
	Progress func(rows uint64)
	// Complete makes rows of the data file that the package does not
	// cover a failure. Without it they are counted in the report
	// (DataRowsNotCovered) and named in a note: a rows package proves its
	// rows only, and says nothing about the rest of the file.
	Complete bool
	// Versions, if set, is asked which versions of the dataset the log
	// holds after the package's (a client of the published log, for
	// --log-url). Without it the report says that freshness was not
	// checked. A superseded version is still verified (a warning), unless
	// RequireLatest makes it a failure.
	Versions      Versions
	RequireLatest bool
}

// Report is the outcome of Verify. OK is true only if every check passed.
type Report struct {
	OK      bool   `json:"ok"`
	Package string `json:"package"`
	Data    string `json:"data,omitempty"`
	Trial   string `json:"trial,omitempty"`
	Dataset string `json:"dataset,omitempty"`
	Version uint64 `json:"version,omitempty"`
	// IngestedAt is the version's ingest time (the manifest's created_at).
	IngestedAt string `json:"ingested_at,omitempty"`
	Mode       string `json:"mode,omitempty"`
	Selection  string `json:"selection,omitempty"`
	// Disclosure is "full" (the manifest travels) or "minimal" (the
	// dataset header only).
	Disclosure string `json:"disclosure,omitempty"`
	TreeSize   uint64 `json:"tree_size,omitempty"`
	RootHash   string `json:"root_hash,omitempty"`
	Rows       uint64 `json:"rows_checked"`
	// DataRows is the number of rows of the data file given, and
	// DataRowsNotCovered those of them that the package does not prove
	// (a rows package against a whole file): verification says nothing
	// about those rows.
	DataRows           uint64 `json:"data_rows,omitempty"`
	DataRowsNotCovered uint64 `json:"data_rows_not_covered"`
	// Freshness says whether a newer version of the dataset exists:
	// "latest", "superseded", or "not checked" (no log to ask).
	// NewerVersions lists them (empty when latest, null when not checked),
	// Latest is the newest, FreshnessTreeSize the log checkpoint that
	// answered (docs/package-format.md, "Freshness").
	Freshness         string           `json:"freshness"`
	NewerVersions     []DatasetVersion `json:"newer_versions"`
	Latest            *DatasetVersion  `json:"latest_version,omitempty"`
	FreshnessTreeSize uint64           `json:"freshness_tree_size,omitempty"`
	// Warnings are what the recipient must know though the package
	// verified (a superseded version).
	Warnings    []string     `json:"warnings,omitempty"`
	BadRowCount uint64       `json:"bad_rows"`
	Problems    []string     `json:"problems,omitempty"`
	Notes       []string     `json:"notes,omitempty"`
	BadRows     []RowProblem `json:"bad_row_list,omitempty"`
	Truncated   bool         `json:"bad_row_list_truncated,omitempty"`
	Redacted    []string     `json:"redacted,omitempty"`
	// FloatDigits is the manifest's float precision: non-whole numbers
	// are compared at this many significant digits (canonical encoding).
	FloatDigits int `json:"float_digits,omitempty"`
	// Witnesses is the quorum check of Options.Witnesses, PackagePolicy
	// that of the policy the package states; Trust what the trust store
	// decided, ForkEvidence both checkpoints when it refused.
	Witnesses     *witness.Report `json:"witnesses,omitempty"`
	PackagePolicy *witness.Report `json:"package_witness_policy,omitempty"`
	Trust         *trust.Decision `json:"trust,omitempty"`
	ForkEvidence  string          `json:"fork_evidence,omitempty"`
	// NotCovered are data file columns the package does not commit to.
	NotCovered []string `json:"not_covered,omitempty"`
	// Logged is the package's logged disclosure record: to whom, for
	// what and when the CRO issued it (every package is logged).
	Logged *Disclosed `json:"logged_disclosure,omitempty"`
	keys   []string
}

// RowProblem is one row that failed, with the columns that differ.
type RowProblem struct {
	Row       uint64   `json:"row"`
	LeafIndex uint64   `json:"leaf_index"`
	Columns   []string `json:"columns,omitempty"`
	Reason    string   `json:"reason"`
}

func (r *Report) fail(format string, args ...any) {
	r.OK = false
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Package checks a package offline against the trial's verifier key, and,
// for a detached package, the recipient's data file. It returns an error
// only when the package cannot be read at all; everything else is in the
// report.
func Package(ctx context.Context, pkgPath string, opts Options) (*Report, error) {
	if opts.MaxReportedRows == 0 {
		opts.MaxReportedRows = 1000
	}
	if opts.Versions != nil {
		// A failed fast pass is followed by a second one: ask the log once.
		opts.Versions = &askOnce{v: opts.Versions}
	}
	rep, fast, err := verifyOnce(ctx, pkgPath, opts, false)
	if err != nil || rep.OK || !fast {
		return rep, err
	}
	// The fast pass checked whole rows by their row hash, which says that
	// a row differs but not which commitment of it was altered. Failure is
	// the rare case: check again cell by cell, which names every column.
	rep, _, err = verifyOnce(ctx, pkgPath, opts, true)
	return rep, err
}

// verifyOnce is one verification pass. Unless exhaustive, rows whose
// every column is disclosed are checked by their row hash, and cell by
// cell only if that differs; fast reports whether that happened.
func verifyOnce(ctx context.Context, pkgPath string, opts Options, exhaustive bool) (rep *Report, fast bool, err error) {
	// Everything the package's Arrow reader holds is bounded by the
	// budget, whatever the package declares (docs/package-format.md,
	// "Limits"), the recycler's cache of freed buffers for the next batch
	// and its rounding to size classes included.
	mem := source.NewRecyclerOver(ipcfile.NewBudget(nil, disclosure.ReadBudget), recycled)
	fr, meta, err := disclosure.Open(pkgPath, mem)
	if err != nil {
		return nil, false, err
	}
	defer fr.Close()
	m := meta.Manifest
	rep = &Report{OK: true, Package: pkgPath, Trial: m.Trial, Dataset: m.Dataset, Version: m.Version, IngestedAt: m.CreatedAt,
		Mode: meta.Mode, Selection: meta.Selection, Disclosure: meta.Disclosure, Redacted: meta.Redacted, keys: m.Keys, Freshness: FreshnessNotChecked,
		FloatDigits: m.Encoding.FloatDigits}
	if opts.Data != nil {
		rep.Data = opts.Data.Name
	}
	v := &verifier{rep: rep, meta: meta, rules: m.Rules(), opts: opts, schema: fr.Schema(), layout: fr.Layout, exhaustive: exhaustive}
	if !v.checkHeader() {
		return rep, false, nil
	}
	v.checkWitnessing(ctx)
	logged := v.checkLogged(ctx, pkgPath)
	defer logged() // on an error return too: the digest's goroutine ends
	rows := v.safeRows
	if meta.Mode == disclosure.ModeDerived {
		rows = v.safeDerived
	}
	err = rows(ctx, fr)
	logged()
	if err != nil {
		return nil, false, err
	}
	if err := v.checkFreshness(ctx); err != nil {
		return nil, false, err
	}
	v.rememberIfOK()
	// A derived package has no fast pass to retry exhaustively.
	return rep, meta.Mode != disclosure.ModeDerived && v.full && !exhaustive, nil
}

// safeRows runs the row checks, turning a panic from malformed Arrow data
// in a crafted package into an error rather than a crash.
func (v *verifier) safeRows(ctx context.Context, fr *ipcfile.File) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if v.opts.Data != nil { // the data file is read in the same loop
				err = fmt.Errorf("%s or %s: %w: malformed Arrow data (%v)", v.rep.Package, v.opts.Data.Name, disclosure.ErrPackage, r)
				return
			}
			err = fmt.Errorf("%s: %w: malformed Arrow data (%v)", v.rep.Package, disclosure.ErrPackage, r)
		}
	}()
	return v.rows(ctx, fr)
}

// safeDerived is safeRows for a derived package.
func (v *verifier) safeDerived(ctx context.Context, fr *ipcfile.File) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s or %s: %w: malformed Arrow data (%v)", v.rep.Package, v.opts.Data.Name, disclosure.ErrPackage, r)
		}
	}()
	return v.derivedRows(ctx, fr)
}

type verifier struct {
	rep     *Report
	meta    *disclosure.Meta
	rules   canonical.Rules // the manifest's: cells are encoded under them
	opts    Options
	schema  *arrow.Schema
	layout  *ipcfile.Layout // the file's checked structure
	cp      checkpoint.Checkpoint
	names   []string // manifest columns in name order
	encoder *leaf.RowEncoder
	// per column in name order: package field indices (-1 when absent)
	valueCol, saltCol, commitCol []int
	rowHashCol                   int
	// full: no column is redacted, so a row's cells can be checked
	// together by its row hash; exhaustive: check every cell anyway.
	full, exhaustive bool
	data             *dataCursor
	keyed            *keyedData
	expected         [][2]uint64    // rows the signed statement lists
	derivedCols      commit.Columns // derived mode: the data file's columns in name order
	// remember records the checkpoint in the trust store; set when the
	// witness and trust checks passed, run only if the whole package did.
	remember func() (*trust.Decision, error)
}

func (v *verifier) badRow(p RowProblem) {
	v.rep.OK = false
	v.rep.BadRowCount++
	if len(v.rep.BadRows) < v.opts.MaxReportedRows {
		v.rep.BadRows = append(v.rep.BadRows, p)
	} else {
		v.rep.Truncated = true
	}
}
