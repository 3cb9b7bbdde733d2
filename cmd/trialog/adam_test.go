package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const adam = "../../../shared/data/cdiscpilot01-adam"

// TestBadDatasetJSONAndXPT: input the readers must refuse — invalid UTF-8
// in a Dataset-JSON string, a value that is not a number in a numeric
// column, Latin-1 XPT text read as UTF-8 — exits 2 with one line naming
// file, row and column and never the value, and appends nothing to the
// log. A column declared integer holding 2.5 is accepted with one warning;
// XPT numeric dates verify against a Dataset-JSON copy through the CLI.
func TestBadDatasetJSONAndXPT(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	mustRun(t, 0, "init", "--log", log, "--trial", "CDISCPILOT01")
	t.Setenv("TRIALOG_LOG", log)
	t.Setenv("TRIALOG_TRIAL", "CDISCPILOT01")
	size := func() string {
		out := mustRun(t, 0, "checkpoint")
		return strings.Split(out, "\n")[1]
	}
	before := size()
	head := `{"datasetJSONCreationDateTime":"2026-12-03T10:00:00","datasetJSONVersion":"1.1.0","itemGroupOID":"IG.ADSL","records":2,"name":"ADSL","label":"Subject-Level Analysis Dataset",` +
		`"columns":[{"itemOID":"IT.USUBJID","name":"USUBJID","label":"Subject","dataType":"string"},{"itemOID":"IT.PCHG","name":"PCHG","label":"Percent Change","dataType":"integer"}],"rows":[`
	for name, body := range map[string]string{
		"utf8.json":    head + "[\"01-701-1015\",1],[\"SECRET\xffVALUE\",2]]}",
		"notnum.json":  head + `["01-701-1015",1],["01-701-1023","SECRETVALUE"]]}`,
		"surrog.json":  head + `["01-701-1015",1],["SECRET\udc00VALUE",2]]}`,
		"latin1.xpt":   "",
		"baddate.json": strings.Replace(head, `"dataType":"integer"`, `"dataType":"date","targetDataType":"integer"`, 1) + `["01-701-1015","2014-01-02"],["01-701-1023","SECRET-03"]]}`,
	} {
		path := filepath.Join(dir, name)
		if name == "latin1.xpt" {
			raw, err := os.ReadFile(filepath.Join(adam, "adsl.xpt"))
			if err != nil {
				t.Skip(err)
			}
			// A Latin-1 "é" inside the second subject's USUBJID.
			i := strings.Index(string(raw), "01-701-1023")
			raw[i+3] = 0xe9
			os.WriteFile(path, raw, 0o644)
		} else {
			os.WriteFile(path, []byte(body), 0o644)
		}
		code, out, errOut := trialog(t, "ingest", "--dataset", "ADSL", path)
		line := strings.TrimSpace(errOut)
		if code != 2 || line == "" || strings.Contains(line, "\n") || out != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2 and one line", name, code, out, errOut)
		}
		if !strings.HasPrefix(line, "trialog: "+name+": ") || strings.Contains(line, "SECRET") || strings.Contains(line, "VALUE") {
			t.Errorf("%s: %q: want the file name first and no value", name, line)
		}
		want := map[string]string{"utf8.json": "row 1: column USUBJID: text is not valid UTF-8", "surrog.json": "row 1: column USUBJID: text is not valid UTF-8",
			"notnum.json": "row 1: column PCHG: want integer, got a string", "latin1.xpt": "observation 2: variable USUBJID: text is not valid UTF-8",
			"baddate.json": "row 1: column PCHG: want a complete ISO 8601 date"}[name]
		if !strings.Contains(line, want) {
			t.Errorf("%s: %q lacks %q", name, line, want)
		}
		if got := size(); got != before {
			t.Fatalf("%s: the log grew from %s to %s leaves", name, before, got)
		}
	}
	// The Latin-1 XPT, read as such, ingests.
	mustRun(t, 0, "ingest", "--dataset", "ADSL", "--encoding", "latin1", filepath.Join(dir, "latin1.xpt"))

	// 2.5 in an integer column: accepted, one warning naming column and row.
	warn := filepath.Join(dir, "pchg.json")
	os.WriteFile(warn, []byte(head+`["01-701-1015",1],["01-701-1023",2.5]]}`), 0o644)
	code, _, errOut := trialog(t, "ingest", "--dataset", "PCHG", warn)
	if code != 0 || strings.Count(errOut, "warning:") != 1 || !strings.Contains(errOut, "pchg.json: column PCHG is declared integer but holds non-integer numbers (first at row 1)") {
		t.Errorf("integer 2.5: exit %d, stderr %q", code, errOut)
	}

	// XPT numeric dates verify against a Dataset-JSON copy that writes
	// them as ISO text; the report states the precision rule.
	adtte := filepath.Join(adam, "adtte.xpt")
	mustRun(t, 0, "ingest", "--dataset", "ADTTE", "--define", filepath.Join(adam, "define.xml"), adtte)
	pkg := filepath.Join(dir, "adtte.proof.arrow")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--dataset", "ADTTE", "--detached", "--out", pkg, adtte)
	vkey := filepath.Join(log, "trials", "CDISCPILOT01", "checkpoint.vkey")
	if _, err := os.Stat(vkey); err != nil {
		matches, _ := filepath.Glob(filepath.Join(log, "*", "*", "checkpoint.vkey"))
		if len(matches) == 0 {
			t.Fatalf("no checkpoint.vkey under %s", log)
		}
		vkey = matches[0]
	}
	out := mustRun(t, 0, "verify", "--key", vkey, pkg, adtte)
	if !strings.Contains(out, "compared at 12 significant digits") {
		t.Errorf("verify does not state the precision: %s", out)
	}
}
