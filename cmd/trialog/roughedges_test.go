package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/workspace"
)

// TestNormalizeArgs: flags written after positional arguments move in
// front of them (with their values), application flags move before the
// command, and "--" ends flags.
func TestNormalizeArgs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ingest f.csv --dataset AE", "ingest --dataset AE f.csv"},
		{"ingest f.csv --dataset=AE --json", "ingest --dataset=AE --json f.csv"},
		{"ingest --log L f.csv --new-version --keys A,B", "ingest --log L --new-version --keys A,B f.csv"},
		{"consent history S-003 --json", "consent history --json S-003"},
		{"verify p.arrow d.csv --key k --max-rows 5", "verify --key k --max-rows 5 p.arrow d.csv"},
		{"ingest f.csv --max-fields 5 --dataset AE", "--max-fields 5 ingest --dataset AE f.csv"},
		{"ingest --dataset AE -- --odd-name.csv --json", "ingest --dataset AE -- --odd-name.csv --json"},
		{"ingest --dataset AE f.csv -- --json", "ingest --dataset AE -- f.csv --json"},
		{"--max-fields 5 datasets --json", "--max-fields 5 datasets --json"},
		{"ingest", "ingest"},
		{"--help", "--help"},
	} {
		got, err := normalizeArgs(newApp(), append([]string{"trialog"}, strings.Fields(tc.in)...))
		if err != nil || !slices.Equal(got[1:], strings.Fields(tc.want)) {
			t.Errorf("%q → %q (%v), want %q", tc.in, strings.Join(got, " "), err, tc.want)
		}
	}
}

// TestCLIRoughEdges checks, through the CLI, each rough edge of issue 13
// item 5 a new user hit.
func TestCLIRoughEdges(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	initPilotTrial(t, log)
	dm := filepath.Join(pilot, "dm.csv")

	// Flags anywhere, as people type them.
	out := mustRun(t, 0, "ingest", dm, "--dataset", "DM")
	// One unambiguous leaf range: ends included, manifest named apart.
	if !strings.Contains(out, "DM version 1: 306 rows at leaves 0 to 305 (inclusive), manifest at leaf 306") {
		t.Errorf("ingest: %s", out)
	}
	if out := mustRun(t, 0, "datasets"); !strings.Contains(out, "DM@1\t306 rows\tleaves 0 to 305 (inclusive), manifest at leaf 306") {
		t.Errorf("datasets: %s", out)
	}
	if code, _, errOut := trialog(t, "consent", "history", "S-003", "--json"); code != 2 || strings.Contains(errOut, "takes") || !strings.Contains(errOut, "S-003") {
		t.Errorf("consent history S-003 --json: exit %d, %s", code, errOut)
	}

	// --version says what the binary is.
	if out := mustRun(t, 0, "--version"); !strings.HasPrefix(out, "trialog version ") || !strings.Contains(out, "go1.") || strings.Contains(out, "--help") {
		t.Errorf("--version: %q", out)
	}
	// A mistyped command suggests the closest one.
	for typed, want := range map[string]string{"ingset": `did you mean "ingest"?`, "verfy": `did you mean "verify"?`, "datsets": `did you mean "datasets"?`} {
		if code, _, errOut := trialog(t, typed); code != 2 || !strings.Contains(errOut, want) || strings.Contains(errOut, "help topic") {
			t.Errorf("%s: exit %d, %q", typed, code, errOut)
		}
	}
	if code, _, errOut := trialog(t, "consent", "histroy", "S-1"); code != 2 || !strings.Contains(errOut, `trialog consent has no command "histroy"; did you mean "history"?`) {
		t.Errorf("consent histroy: exit %d, %q", code, errOut)
	}
	if code, _, errOut := trialog(t, "--nope"); code != 2 || !strings.Contains(errOut, "(see trialog --help)") {
		t.Errorf("--nope: exit %d, %q", code, errOut)
	}
	// Required flags say so in --help.
	help := mustRun(t, 0, "prove", "--help")
	for _, line := range strings.Split(help, "\n") {
		for _, flag := range []string{"--log value", "--trial value", "--out value"} {
			if strings.Contains(line, flag) && !strings.Contains(line, "(required)") {
				t.Errorf("prove --help: %s is not marked required: %q", flag, line)
			}
		}
		if strings.Contains(line, "--dataset value") && strings.Contains(line, "(required)") {
			t.Errorf("prove --help marks an optional flag required: %q", line)
		}
	}

	// A rollback check with --json prints JSON (and still exits 1).
	older, newer := filepath.Join(dir, "a.checkpoint"), filepath.Join(dir, "b.checkpoint")
	os.WriteFile(older, []byte(mustCheckpoint(t)), 0o644)
	mustRun(t, 0, "ingest", filepath.Join(pilot, "sv.csv"))
	os.WriteFile(newer, []byte(mustCheckpoint(t)), 0o644)
	code, out, _ := trialog(t, "consistency", newer, older, "--json")
	var res struct {
		Consistent *bool `json:"consistent"`
		RolledBack bool  `json:"rolled_back"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &res) != nil || res.Consistent == nil || *res.Consistent || !res.RolledBack {
		t.Errorf("rollback --json: exit %d, %q", code, out)
	}

	// Bad input says what is wrong, in one line (exit 2).
	utf16 := filepath.Join(dir, "ae.csv")
	os.WriteFile(utf16, []byte("\xff\xfeA\x00,\x00B\x00\n\x001\x00,\x002\x00\n\x00"), 0o644)
	notXML := filepath.Join(dir, "define.csv")
	os.WriteFile(notXML, []byte("A,B\n1,2\n"), 0o644)
	typed := filepath.Join(dir, "lb.csv")
	os.WriteFile(typed, []byte("USUBJID,LBSEQ\n\"01\",1\n\"02\",x\n"), 0o644)
	schema := filepath.Join(dir, "lb.schema.json")
	os.WriteFile(schema, []byte(`[{"name":"USUBJID","type":"utf8"},{"name":"LBSEQ","type":"int64"}]`), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ingest", utf16}, "ae.csv: the file is UTF-16LE text (it starts with a UTF-16LE byte order mark); CSV must be UTF-8"},
		{[]string{"ingest", dm, "--dataset", "DM2", "--define", notXML}, "define.csv: not an XML file: a Define-XML (define.xml) is XML"},
		// Rows count from 0 everywhere; file lines from 1.
		{[]string{"ingest", typed, "--schema", schema}, "lb.csv: line 3 (row 1): column LBSEQ: not a valid int64"},
		{[]string{"consent", "status", "--subject", "S-001", "--at", "2014-02-30"}, "--at: no such day in that month"},
		{[]string{"consent", "form", "add", "--form", "F@1", "--irb-ref", "x", "--irb-approved", "2013-13-01", "--effective", "2014-01-01",
			"--document", notXML, "--scopes", "main"}, "IRB approval date: month, hour, minute or second out of range"},
	} {
		code, _, errOut := trialog(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || strings.Contains(errOut, "date: date") {
			t.Errorf("%v: exit %d, %q\nwant %q", tc.args, code, errOut, tc.want)
		}
	}

	// datasets shows an interrupted ingest, which blocks every other one.
	tr, err := workspace.Open(context.Background(), log, "CDISCPILOT01", true, workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Begin(context.Background(), workspace.KindDataset, "ingest of dataset AE from ae.xpt", &workspace.Pending{Manifest: leaf.Manifest{Trial: "CDISCPILOT01", Dataset: "AE", Version: 1, Rows: 1191, FirstIndex: 3867,
		Source: leaf.Source{Name: "ae.xpt", SHA256: strings.Repeat("ab", 32)}}})
	tr.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, 0, "datasets"); !strings.Contains(out, "AE@1\tINTERRUPTED ingest of ae.xpt: 0 of 1191 rows logged; no other ingest can run until it is finished") {
		t.Errorf("datasets with an interrupted ingest: %s", out)
	}
	var ds struct {
		Interrupted *struct {
			Dataset string `json:"dataset"`
			Rows    uint64 `json:"rows"`
		} `json:"interrupted_ingest"`
	}
	if out := mustRun(t, 0, "datasets", "--json"); json.Unmarshal([]byte(out), &ds) != nil || ds.Interrupted == nil || ds.Interrupted.Dataset != "AE" || ds.Interrupted.Rows != 1191 {
		t.Errorf("datasets --json with an interrupted ingest: %s", out)
	}
}
