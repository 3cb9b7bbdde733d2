package verify

import (
	"fmt"
	"io"
	"strings"
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
	fmt.Fprintf(&b, "%s: %s version %d of trial %s, %s package (%s proof), %d rows checked against tree size %d: %s\n",
		rep.Package, rep.Dataset, rep.Version, rep.Trial, rep.Mode, rep.Selection, rep.Rows, rep.TreeSize, status)
	if len(rep.Redacted) > 0 {
		fmt.Fprintf(&b, "  redacted columns: %s\n", strings.Join(rep.Redacted, ", "))
	}
	rep.writeWitnessing(&b)
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
