package verify

import (
	"context"
	"fmt"
	"os"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/trillian/checkpoint"
)

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
	// MaxReportedRows bounds the rows listed in the report (default 1000);
	// every bad row is still counted.
	MaxReportedRows int
}

// Report is the outcome of Verify. OK is true only if every check passed.
type Report struct {
	OK          bool         `json:"ok"`
	Package     string       `json:"package"`
	Data        string       `json:"data,omitempty"`
	Trial       string       `json:"trial,omitempty"`
	Dataset     string       `json:"dataset,omitempty"`
	Version     uint64       `json:"version,omitempty"`
	Mode        string       `json:"mode,omitempty"`
	Selection   string       `json:"selection,omitempty"`
	TreeSize    uint64       `json:"tree_size,omitempty"`
	RootHash    string       `json:"root_hash,omitempty"`
	Rows        uint64       `json:"rows_checked"`
	BadRowCount uint64       `json:"bad_rows"`
	Problems    []string     `json:"problems,omitempty"`
	Notes       []string     `json:"notes,omitempty"`
	BadRows     []RowProblem `json:"bad_row_list,omitempty"`
	Truncated   bool         `json:"bad_row_list_truncated,omitempty"`
	Redacted    []string     `json:"redacted,omitempty"`
	// Disclosure is the package's logged disclosure record, if it has one.
	Disclosure *Disclosed `json:"disclosure,omitempty"`
	keys       []string
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
	fh, err := os.Open(pkgPath)
	if err != nil {
		return nil, false, err
	}
	defer fh.Close()
	fr, err := ipc.NewFileReader(fh, ipc.WithAllocator(source.NewRecycler(256<<20)))
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w: %v", pkgPath, disclosure.ErrPackage, err)
	}
	defer fr.Close()
	meta, err := disclosure.ParseMeta(fr.Schema().Metadata())
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", pkgPath, err)
	}
	m := meta.Manifest
	rep = &Report{OK: true, Package: pkgPath, Trial: m.Trial, Dataset: m.Dataset, Version: m.Version,
		Mode: meta.Mode, Selection: meta.Selection, Redacted: meta.Redacted, keys: m.Keys}
	if opts.Data != nil {
		rep.Data = opts.Data.Name
	}
	v := &verifier{rep: rep, meta: meta, opts: opts, schema: fr.Schema(), exhaustive: exhaustive}
	if !v.checkHeader() {
		return rep, false, nil
	}
	v.checkDisclosure(pkgPath)
	if err := v.safeRows(ctx, fr); err != nil {
		return nil, false, err
	}
	return rep, v.full && !exhaustive, nil
}

// safeRows runs the row checks, turning a panic from malformed Arrow data
// in a crafted package into an error rather than a crash.
func (v *verifier) safeRows(ctx context.Context, fr *ipc.FileReader) (err error) {
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

type verifier struct {
	rep     *Report
	meta    *disclosure.Meta
	opts    Options
	schema  *arrow.Schema
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
	expected         [][2]uint64 // rows the signed statement lists
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
