package verify_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/readers"
	"github.com/trialog/trialog/verify"
	"github.com/trialog/trialog/workspace"
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

// catalog answers Versions from a CRO's catalog: in tests, the trial's
// own; in the field, a client of the published log (--log-url).
type catalog struct{ t *workspace.Trial }

func (c catalog) Latest(_ context.Context, _, dataset string) (verify.DatasetVersion, error) {
	vs, err := c.t.Versions(dataset)
	if err != nil || len(vs) == 0 {
		return verify.DatasetVersion{}, err
	}
	m := vs[len(vs)-1].Manifest
	return verify.DatasetVersion{Version: m.Version, IngestedAt: m.CreatedAt}, nil
}

// TestFreshness (point 5): the report names the version and its ingest
// time; a superseded version fails when the log says a newer one exists,
// unless it was pinned with NAME@VERSION; a pinned version is enforced.
func TestFreshness(t *testing.T) {
	ctx := context.Background()
	p := pilotTrial(t)
	dir := t.TempDir()
	tr, err := workspace.Init(ctx, dir, "CDISCPILOT01", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	lines := strings.SplitAfter(string(readFile(t, p.dm)), "\n")[:21]
	v1 := filepath.Join(dir, "dm1.csv")
	v2 := filepath.Join(dir, "dm2.csv")
	os.WriteFile(v1, []byte(strings.Join(lines, "")), 0o644)
	lines = append(lines, lines[1]) // version 2: a row added
	os.WriteFile(v2, []byte(strings.Join(lines, "")), 0o644)
	times := []time.Time{time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
	var pkgs []string
	for i, data := range []string{v1, v2} {
		f, err := readers.Open(ctx, data, source.Options{})
		if err != nil {
			t.Fatal(err)
		}
		at := times[i]
		if _, err := pipeline.Ingest(ctx, tr, f, pipeline.IngestOptions{Dataset: "DM", Operator: "test", NewVersion: true, Now: func() time.Time { return at }}); err != nil {
			t.Fatal(err)
		}
	}
	for i, data := range []string{v1, v2} {
		f, _ := readers.Open(ctx, data, source.Options{})
		out := filepath.Join(dir, "v"+string(rune('1'+i))+".arrow")
		if _, err := pipeline.Prove(ctx, tr, f, out, pipeline.ProveOptions{Dataset: "DM", Version: uint64(i + 1), Rows: [][2]uint64{{0, 3}}, Recipient: "test sponsor", Purpose: "main"}); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, out)
	}
	check := func(pkg string, opts verify.Options, ok bool, freshness, text string) {
		t.Helper()
		opts.VerifierKey = tr.VerifierKey
		rep, err := verify.Package(ctx, pkg, opts)
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(append(rep.Problems, rep.Notes...), "\n")
		if rep.OK != ok || rep.Freshness != freshness || !strings.Contains(all, text) {
			t.Errorf("%s: ok=%v freshness=%q, want %v %q and %q in:\n%s", filepath.Base(pkg), rep.OK, rep.Freshness, ok, freshness, text, all)
		}
		if want := times[rep.Version-1].Format(time.RFC3339); rep.IngestedAt != want {
			t.Errorf("ingested_at %q, want %q", rep.IngestedAt, want)
		}
	}
	log := catalog{tr}
	check(pkgs[0], verify.Options{}, true, verify.FreshnessNotChecked, "")
	check(pkgs[0], verify.Options{Versions: log}, false, verify.FreshnessSuperseded, "superseded by version 2 (ingested 2026-11-20T09:00:00Z)")
	check(pkgs[0], verify.Options{Versions: log, Dataset: "DM", Version: 1}, true, verify.FreshnessSuperseded, "version 1 was asked for")
	check(pkgs[1], verify.Options{Versions: log}, true, verify.FreshnessLatest, "")
	check(pkgs[1], verify.Options{Versions: log, Dataset: "DM", Version: 1}, false, verify.FreshnessLatest, "expected version 1")
}
