package verify_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialog/trialog/verify"
)

// TestRowsPackageCoverage (issue 12, point 4): a subject's AE rows
// verified against an AE file with another subject's row edited and two
// rows injected verifies (the package's rows are intact), and the report
// says how many rows of the file the package does not cover; with
// Complete, that fails.
func TestRowsPackageCoverage(t *testing.T) {
	p := pilotTrial(t)
	lines := strings.SplitAfter(string(readFile(t, p.ae)), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	edited := -1
	for i := 1; i < len(lines); i++ {
		if !strings.Contains(lines[i], subject) {
			lines[i] = strings.Replace(lines[i], "MILD", "SEVERE", 1)
			edited = i
			if strings.Contains(lines[i], "SEVERE") {
				break
			}
		}
	}
	if edited < 0 {
		t.Fatal("no row to edit")
	}
	lines = append(lines, lines[edited], lines[edited+1])
	data := filepath.Join(t.TempDir(), "ae.csv")
	if err := os.WriteFile(data, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	total := uint64(len(lines) - 1)
	for _, pkg := range []string{p.subjectAE, p.detachedAE} {
		for _, complete := range []bool{false, true} {
			rep, err := verify.Package(context.Background(), pkg, verify.Options{VerifierKey: p.key, Data: openData(t, data), Complete: complete})
			if err != nil {
				t.Fatal(err)
			}
			want := total - rep.Rows
			if rep.DataRows != total || rep.DataRowsNotCovered != want || rep.Rows == 0 || want == 0 {
				t.Fatalf("%s: data rows %d, not covered %d; want %d and %d", rep.Mode, rep.DataRows, rep.DataRowsNotCovered, total, want)
			}
			all := strings.Join(append(rep.Notes, rep.Problems...), "\n")
			if !strings.Contains(all, "rows of the data file") || !strings.Contains(all, "not covered by this package") {
				t.Errorf("%s: report does not say rows are not covered:\n%s", rep.Mode, all)
			}
			if rep.OK == complete {
				t.Errorf("%s, complete=%v: ok=%v\n%s", rep.Mode, complete, rep.OK, all)
			}
		}
	}
}
