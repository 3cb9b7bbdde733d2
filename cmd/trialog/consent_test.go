package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsentCLI runs the consent commands end to end on the FHIR
// fixtures: exit 0 on success, 2 with one line on bad input (nothing
// logged), 1 when a report no longer verifies.
func TestConsentCLI(t *testing.T) {
	const fx = "../../testdata/consent"
	dir := t.TempDir()
	t.Setenv("TRIALOG_LOG", filepath.Join(dir, "log"))
	t.Setenv("TRIALOG_TRIAL", "TEST01")
	mustRun(t, 0, "init")
	vkey := filepath.Join(dir, "log", "trials", "TEST01", "checkpoint.vkey")
	mustRun(t, 0, "consent", "form", "add", "--form", "MAIN-ICF@1.0", "--irb-ref", "IRB-2013-101", "--irb-approved", "2013-12-15",
		"--effective", "2014-01-01", "--document", filepath.Join(fx, "main-icf-1.0.txt"), "--scopes", "main,samples,future-research")
	mustRun(t, 0, "consent", "form", "add", "--form", "MAIN-ICF@2.0", "--supersedes", "1.0", "--irb-ref", "IRB-2014-033", "--irb-approved", "2014-05-20",
		"--effective", "2014-06-01", "--document", filepath.Join(fx, "main-icf-2.0.txt"), "--scopes", "main,samples,future-research")
	mustRun(t, 0, "ingest", "--dataset", "AE", filepath.Join(fx, "ae.csv"))

	for _, bad := range []string{"malformed.json", "unknown-subject.json", "bad-date.ndjson"} {
		code, out, errOut := trialog(t, "consent", "import", "--recorded-by", "x", filepath.Join(fx, "r4-bundle.json"), filepath.Join(fx, "bad", bad))
		if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, bad) || out != "" {
			t.Errorf("import %s: exit %d, stdout %q, stderr %q", bad, code, out, errOut)
		}
	}
	if out := mustRun(t, 0, "consent", "check"); !strings.Contains(out, "2 records (2 forms, 0 events)") {
		t.Errorf("bad imports logged something: %s", out)
	}
	if code, _, errOut := trialog(t, "consent", "record", "--subject", "S-001", "--type", "consented", "--form", "MAIN-ICF@1.0",
		"--time", "2014-01-32", "--recorded-by", "x"); code != 2 || !strings.Contains(errOut, "event time") || strings.Contains(errOut, "2014-01-32") {
		t.Errorf("record with a bad date: exit %d, %s", code, errOut)
	}

	out := mustRun(t, 0, "consent", "import", "--recorded-by", "site-coordinator", filepath.Join(fx, "r4-bundle.json"), filepath.Join(fx, "r5.ndjson"))
	if !strings.HasPrefix(out, "10 consent events logged") {
		t.Errorf("import: %s", out)
	}
	mustRun(t, 0, "consent", "record", "--subject", "S-002", "--type", "re-consented", "--form", "MAIN-ICF@2.0",
		"--time", "2014-08-01T09:00:00-04:00", "--recorded-by", "site 2", "--signed-ref", "sha256:00ff")
	if out := mustRun(t, 0, "consent", "history", "S-002"); !strings.Contains(out, "2014-08-01T13:00:00Z\tre-consented\tMAIN-ICF@2.0") {
		t.Errorf("history: %s", out)
	}
	if out := mustRun(t, 0, "consent", "status", "--at", "2014-04-01", "--subject", "S-003"); !strings.Contains(out, "samples=withdrawn") || !strings.Contains(out, "main=consented") {
		t.Errorf("status: %s", out)
	}
	audit := filepath.Join(dir, "audit.json")
	out = mustRun(t, 0, "consent", "audit", "--dataset", "AE", "--date-column", "AESTDTC", "--out", audit, filepath.Join(fx, "ae.csv"))
	if !strings.Contains(out, "15 rows, 7 with valid \"main\" consent") {
		t.Errorf("audit: %s", out)
	}
	report, html := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.html")
	mustRun(t, 0, "consent", "report", "--audit", audit, "--out", report, "--html", html)
	// Item 6: everything that names participants is the owner's only.
	for _, p := range []string{audit, report, html} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", filepath.Base(p), fi.Mode().Perm(), err)
		}
	}
	// --json prints the report on stdout like every other --json.
	if out := mustRun(t, 0, "consent", "report", "--audit", audit, "--json"); !strings.HasPrefix(out, "{") || !strings.Contains(out, `"format": "trialog-consent-report-v3"`) {
		t.Errorf("report --json: %.200s", out)
	}
	if code, _, errOut := trialog(t, "consent", "report", "--json", report); code != 2 || !strings.Contains(errOut, "--out FILE") {
		t.Errorf("report --json FILE: exit %d, %s", code, errOut)
	}
	if out := mustRun(t, 0, "consent", "verify", "--key", vkey, report); !strings.Contains(out, "13 consent records and 0 disclosures checked") || !strings.HasSuffix(strings.TrimSpace(out), "OK") {
		t.Errorf("verify: %s", out)
	}
	data, _ := os.ReadFile(report)
	tampered := filepath.Join(dir, "tampered.json")
	os.WriteFile(tampered, []byte(strings.Replace(string(data), `"time": "2014-02-01"`, `"time": "2014-01-01"`, 1)), 0o644)
	if code, out, _ := trialog(t, "consent", "verify", "--key", vkey, tampered); code != 1 || !strings.Contains(out, "FAILED") {
		t.Errorf("verify of a tampered report: exit %d, %s", code, out)
	}
}
