package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/internal/shareddata"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/definexml"
	"github.com/trialog/trialog/verify"
	"github.com/trialog/trialog/workspace"
)

var (
	msgDir = filepath.Join(shareddata.Dir(), "datasetjson-msg")
)

func ingestKeyed(t *testing.T, tr *workspace.Trial, path, dataset, define string) {
	t.Helper()
	keys, err := definexml.KeysFromFile(define, dataset)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.Ingest(context.Background(), tr, openFile(t, path, source.Options{}), pipeline.IngestOptions{Dataset: dataset, Keys: keys}); err != nil {
		t.Fatal(err)
	}
}

func verifyCopy(t *testing.T, tr *workspace.Trial, pkg, data string) *verify.Report {
	t.Helper()
	m, err := disclosure.ReadManifest(pkg)
	if err != nil {
		t.Fatal(err)
	}
	return verifyPackage(t, tr, pkg, openFile(t, data, source.Options{TypeHints: disclosure.SchemaHints(m)}))
}

// TestDatasetJSONFormatsAgree: for every domain of the MSG sample, ingest
// the Dataset-JSON file and verify the NDJSON, compressed and XPT copies
// against it: every row of every format verifies.
func TestDatasetJSONFormatsAgree(t *testing.T) {
	tr, _ := newTrial(t)
	define := filepath.Join(msgDir, "define.xml")
	for _, d := range []string{"ae", "dm", "ds", "ex", "lb", "sv", "ts", "vs"} {
		dataset := strings.ToUpper(d)
		jsonPath := filepath.Join(msgDir, d+".json")
		ingestKeyed(t, tr, jsonPath, dataset, define)
		pkg := prove(t, tr, jsonPath, pipeline.ProveOptions{Dataset: dataset, Detached: true})
		rec, _ := tr.Version(dataset, 0)
		for _, ext := range []string{"ndjson", "dsjc", "xpt"} {
			rep := verifyCopy(t, tr, pkg, filepath.Join(msgDir, d+"."+ext))
			if !rep.OK || rep.Rows != rec.Manifest.Rows || len(rep.Notes) != 0 {
				t.Errorf("%s.%s against %s.json: ok=%v rows=%d/%d\n%s%v", d, ext, d, rep.OK, rep.Rows, rec.Manifest.Rows, badRowsString(rep), rep.Notes)
			}
		}
	}
}

// TestPilotXPTAgainstCSV: ingest the full pilot as XPT (keys from its
// Define-XML 1.0) and verify the later CSV re-release against it. The
// report must name exactly the real differences documented in
// shared/data/README.md, and find every other row identical — including
// IBM-float numbers that the CSV writes as decimal text.
func TestPilotXPTAgainstCSV(t *testing.T) {
	tr, _ := newTrial(t)
	define := shareddata.Path(t, "cdiscpilot01/xpt/define.xml")
	type want struct {
		extraColumns string // "" for none
		badRows      uint64
		badColumns   string // columns of every bad row
		extraRows    int
	}
	cases := map[string]want{
		"dm":     {extraColumns: "BRTHDTC, ARMNRS, ACTARMUD"},
		"ae":     {},
		"cm":     {extraColumns: "CMENRTPT"},
		"mh":     {extraColumns: "MHENDTC, MHPRESP, MHOCCUR, MHSTRTPT, MHENRTPT, MHSTTPT, MHENTPT, MHENRF, MHSTAT"},
		"sv":     {badRows: 1, badColumns: "VISIT,VISITNUM"},
		"ds":     {badRows: 521, badColumns: "DSSEQ", extraRows: 254},
		"ex":     {},
		"suppdm": {},
		"suppae": {},
	}
	for d, w := range cases {
		dataset := strings.ToUpper(d)
		xptPath := shareddata.Path(t, "cdiscpilot01/xpt/"+d+".xpt")
		ingestKeyed(t, tr, xptPath, dataset, define)
		pkg := prove(t, tr, xptPath, pipeline.ProveOptions{Dataset: dataset, Detached: true})
		rep := verifyCopy(t, tr, pkg, pilotFile(t, d+".csv"))
		report := badRowsString(rep)
		var wantProblems []string
		// Columns the package does not commit to are not covered: a note,
		// not a failure (verify --strict makes them one).
		if got := strings.Join(rep.NotCovered, ", "); got != w.extraColumns {
			t.Errorf("%s: not covered %q, want %q", d, got, w.extraColumns)
		}
		if w.extraColumns != "" && !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "not covered by the package") }) {
			t.Errorf("%s: no note on the columns not covered: %q", d, rep.Notes)
		}
		if w.extraRows > 0 {
			wantProblems = append(wantProblems, "data file "+d+".csv has 254 rows that are not in the dataset version")
		}
		if len(rep.Problems) != len(wantProblems) {
			t.Errorf("%s: problems\n%s\nwant %q", d, report, wantProblems)
			continue
		}
		for i, p := range wantProblems {
			if !strings.HasPrefix(rep.Problems[i], p) {
				t.Errorf("%s: problem %q, want %q", d, rep.Problems[i], p)
			}
		}
		if rep.BadRowCount != w.badRows {
			t.Errorf("%s: %d bad rows, want %d\n%s", d, rep.BadRowCount, w.badRows, report)
		}
		for _, r := range rep.BadRows {
			if got := strings.Join(r.Columns, ","); got != w.badColumns {
				t.Errorf("%s row %d: columns %s, want %s (%s)", d, r.Row, got, w.badColumns, r.Reason)
			}
		}
		if w.badRows == 0 && w.extraRows == 0 && !rep.OK {
			t.Errorf("%s: should verify:\n%s", d, report)
		}
	}
}

// TestResortedCopyVerifies: a sponsor's copy with its rows in another
// order verifies by natural key, and the report says the order differs.
func TestResortedCopyVerifies(t *testing.T) {
	tr, _ := newTrial(t)
	csvPath := pilotFile(t, "ae.csv")
	if _, err := pipeline.Ingest(context.Background(), tr, openFile(t, csvPath, source.Options{}), pipeline.IngestOptions{Dataset: "AE", Keys: []string{"USUBJID", "AESEQ"}}); err != nil {
		t.Fatal(err)
	}
	pkg := prove(t, tr, csvPath, pipeline.ProveOptions{Dataset: "AE", Detached: true})
	raw, _ := os.ReadFile(csvPath)
	lines := strings.SplitAfter(strings.TrimSuffix(string(raw), "\n"), "\n")
	body := lines[1:]
	for i, j := 0, len(body)-1; i < j; i, j = i+1, j-1 {
		body[i], body[j] = body[j], body[i]
	}
	for i := range body {
		body[i] = strings.TrimSuffix(body[i], "\n") + "\n"
	}
	resorted := filepath.Join(t.TempDir(), "ae-resorted.csv")
	os.WriteFile(resorted, []byte(lines[0]+strings.Join(body, "")), 0o644)
	rep := verifyCopy(t, tr, pkg, resorted)
	if !rep.OK || rep.Rows != 1191 {
		t.Fatalf("re-sorted copy: ok=%v\n%s", rep.OK, badRowsString(rep))
	}
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "different order") }) {
		t.Fatalf("notes %q, want one saying the order differs", rep.Notes)
	}
	// The detached package carries the key values and nothing else.
	tb := readTable(t, pkg)
	for _, f := range tb.schema.Fields() {
		if !strings.HasPrefix(f.Name, disclosure.ReservedPrefix) && f.Name != "USUBJID" && f.Name != "AESEQ" {
			t.Errorf("detached package carries values of %s", f.Name)
		}
	}
}
