package verify

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText writes the report as people read it: one status line, then
// one line per problem, note and bad row (with its columns). The CLI and
// the browser verifier both print this, so a sponsor sees the same report
// wherever they verify.
func (rep *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	status := "OK"
	if !rep.OK {
		status = "FAILED"
	}
	fmt.Fprintf(&b, "%s: %s version %d (ingested %s) of trial %s, %s package (%s proof), %d rows checked against tree size %d: %s\n",
		rep.Package, rep.Dataset, rep.Version, rep.IngestedAt, rep.Trial, rep.Mode, rep.Selection, rep.Rows, rep.TreeSize, status)
	if rep.Data != "" && rep.DataRows > 0 {
		fmt.Fprintf(&b, "  data file %s: %d rows, %d not covered by this package\n", rep.Data, rep.DataRows, rep.DataRowsNotCovered)
	}
	switch {
	case rep.Freshness == FreshnessNotChecked || rep.Freshness == "":
		fmt.Fprintf(&b, "  newer version: not checked (no log to ask)\n")
	case rep.Latest != nil:
		fmt.Fprintf(&b, "  newer version: %s (latest in the log of tree size %d: version %d)\n", rep.Freshness, rep.FreshnessTreeSize, rep.Latest.Version)
	default:
		fmt.Fprintf(&b, "  newer version: none (%s in the log of tree size %d)\n", rep.Freshness, rep.FreshnessTreeSize)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(&b, "  WARNING: %s\n", w)
	}
	if rep.FloatDigits > 0 {
		fmt.Fprintf(&b, "  numbers: whole values exact, others compared at %d significant digits (the manifest's rule)\n", rep.FloatDigits)
	}
	if len(rep.Redacted) > 0 {
		fmt.Fprintf(&b, "  redacted columns: %s\n", strings.Join(rep.Redacted, ", "))
	}
	if rep.Logged != nil {
		fmt.Fprintf(&b, "  disclosure: %s\n", rep.Logged)
	}
	writeWitnessing(&b, rep)
	for _, p := range rep.Problems {
		fmt.Fprintf(&b, "  problem: %s\n", p)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	for _, r := range rep.BadRows {
		cols := ""
		if len(r.Columns) > 0 {
			cols = " columns " + strings.Join(r.Columns, ", ") + ":"
		}
		fmt.Fprintf(&b, "  row %d (leaf %d):%s %s\n", r.Row, r.LeafIndex, cols, r.Reason)
	}
	if rep.Truncated {
		fmt.Fprintf(&b, "  … %d bad rows in all\n", rep.BadRowCount)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeWitnessing writes what the witness and trust checks found.
func writeWitnessing(b *strings.Builder, rep *Report) {
	if rep.Witnesses != nil {
		fmt.Fprintf(b, "  witnesses (your policy): %s\n", rep.Witnesses)
		for _, v := range rep.Witnesses.Valid {
			fmt.Fprintf(b, "    cosigned by %s at %s\n", v.Witness, v.Time.UTC().Format(time.RFC3339))
		}
	}
	if rep.PackagePolicy != nil {
		fmt.Fprintf(b, "  witnesses (the package's policy): %s\n", rep.PackagePolicy)
	}
	if rep.Trust != nil {
		fmt.Fprintf(b, "  trust: %s (remembered tree size %d)\n", rep.Trust.Outcome, rep.Trust.StoredSize)
	}
	for _, l := range strings.SplitAfter(rep.ForkEvidence, "\n") {
		if l != "" {
			b.WriteString("  " + l)
		}
	}
}
