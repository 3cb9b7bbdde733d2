package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/backend"
	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/trillian/trilliantest"
)

// pilotRowsOf counts the rows of a pilot CSV whose USUBJID is subject.
func pilotRowsOf(t *testing.T, file, subject string) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(pilot, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(raw), `"`+subject+`"`)
}

type proveJSON struct {
	Rows     uint64 `json:"rows"`
	Consent  string `json:"consent"`
	Withheld []struct {
		Ground       string `json:"ground"`
		Rows         uint64 `json:"rows"`
		Participants int    `json:"participants"`
	} `json:"withheld"`
}

func proveJSONOf(t *testing.T, out string) proveJSON {
	t.Helper()
	var p proveJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("prove --json: %v\n%s", err, out)
	}
	return p
}

// consentTrial is a pilot trial with AE ingested, a consent form with
// scopes main and future-research, 01-701-1015 consented to main only and
// 01-701-1028 consented to both and withdrew on 2013-01-10 (illustrative
// records: the pilot carries none).
func consentTrial(t *testing.T, logArgs ...string) (ae string) {
	t.Helper()
	ae = filepath.Join(pilot, "ae.csv")
	mustRun(t, 0, append([]string{"ingest", "--dataset", "AE"}, append(logArgs, ae)...)...)
	mustRun(t, 0, append([]string{"consent", "form", "add", "--form", "ICF@1.0", "--irb-ref", "IRB-1", "--irb-approved", "2012-06-01",
		"--effective", "2012-07-01", "--sha256", strings.Repeat("ab", 32), "--scopes", "main,future-research"}, logArgs...)...)
	for _, ev := range [][]string{
		{"--subject", "01-701-1015", "--type", "consented", "--form", "ICF@1.0", "--scopes", "main", "--time", "2012-07-02"},
		{"--subject", "01-701-1028", "--type", "consented", "--form", "ICF@1.0", "--time", "2012-07-03"},
		{"--subject", "01-701-1028", "--type", "withdrawn", "--time", "2013-01-10"},
	} {
		mustRun(t, 0, append(append([]string{"consent", "record", "--recorded-by", "site 701"}, ev...), logArgs...)...)
	}
	return ae
}

// TestProveWithholdsWithdrawn: prove refuses a trial without consent
// records unless told, withholds a withdrawn participant's rows (counted,
// not named), withholds rows outside the consented purpose, and includes
// them with --override-consent.
func TestProveWithholdsWithdrawn(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TRIALOG_LOG", filepath.Join(dir, "log"))
	t.Setenv("TRIALOG_TRIAL", "CDISCPILOT01")
	mustRun(t, 0, "init")
	ae := filepath.Join(pilot, "ae.csv")
	mustRun(t, 0, "ingest", "--dataset", "AE", ae)
	pkg := filepath.Join(dir, "p.arrow")
	code, _, errOut := trialog(t, "prove", "--dataset", "AE", "--purpose", "main", "--recipient", "Sponsor", "--out", pkg, ae)
	if code != 2 || !strings.Contains(errOut, "no consent records") || !strings.Contains(errOut, "--no-consent-check") {
		t.Fatalf("prove without consent records: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(pkg); err == nil {
		t.Fatal("a refused prove wrote a package")
	}

	dir2 := t.TempDir()
	t.Setenv("TRIALOG_LOG", filepath.Join(dir2, "log"))
	mustRun(t, 0, "init")
	ae = consentTrial(t)
	n1015, n1028 := pilotRowsOf(t, "ae.csv", "01-701-1015"), pilotRowsOf(t, "ae.csv", "01-701-1028")
	if n1015 == 0 || n1028 == 0 {
		t.Fatalf("pilot AE rows: %d, %d", n1015, n1028)
	}
	both := []string{"--where", "USUBJID=01-701-1015", "--where", "USUBJID=01-701-1028"}
	prove := func(want int, extra ...string) (string, string) {
		args := append([]string{"prove", "--dataset", "AE", "--recipient", "Sponsor", "--out", pkg}, both...)
		code, out, errOut := trialog(t, append(append(args, extra...), ae)...)
		if code != want {
			t.Fatalf("prove %v: exit %d, want %d\n%s%s", extra, code, want, out, errOut)
		}
		return out, errOut
	}
	out, _ := prove(0, "--purpose", "main", "--json")
	p := proveJSONOf(t, out)
	if p.Rows != uint64(n1015) || p.Consent != "checked" || len(p.Withheld) != 1 || p.Withheld[0].Ground != "withdrawn" ||
		p.Withheld[0].Rows != uint64(n1028) || p.Withheld[0].Participants != 1 {
		t.Errorf("purpose main: %+v, want %d rows and %d withheld (withdrawn)", p, n1015, n1028)
	}
	if strings.Contains(out, "01-701-1028") {
		t.Errorf("prove output names the withheld participant: %s", out)
	}
	text, _ := prove(0, "--purpose", "main")
	if !strings.Contains(text, "withheld for consent: ") || !strings.Contains(text, "of 1 participant: withdrawn") {
		t.Errorf("prove text output: %s", text)
	}
	// future-research: 1015 consented to main only; 1028 withdrew.
	_, errOut = prove(2, "--purpose", "future-research")
	if !strings.Contains(errOut, "withheld for consent") {
		t.Errorf("future-research: %s", errOut)
	}
	_, errOut = prove(2, "--purpose", "marketing")
	if !strings.Contains(errOut, `purpose "marketing"`) {
		t.Errorf("unknown purpose: %s", errOut)
	}
	out, _ = prove(0, "--purpose", "main", "--json", "--override-consent", "expedited safety report (SUSAR)")
	p = proveJSONOf(t, out)
	if p.Rows != uint64(n1015+n1028) || p.Consent != "overridden" || len(p.Withheld) != 1 || p.Withheld[0].Rows != uint64(n1028) {
		t.Errorf("override: %+v", p)
	}
	prove(2, "--purpose", "main", "--override-consent", "x", "--no-consent-check")
}

// sansDisclosure is a package's bytes with its disclosure value replaced
// by x's of the same length.
func sansDisclosure(t *testing.T, path string) []byte {
	t.Helper()
	meta, err := disclosure.ReadMeta(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Logged == nil {
		t.Fatalf("%s carries no disclosure proof", path)
	}
	return bytes.ReplaceAll(raw, []byte(meta.LoggedValue), bytes.Repeat([]byte("x"), len(meta.LoggedValue)))
}

// pilotSubjects returns every USUBJID of the pilot's DM.
func pilotSubjects(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(pilot, "dm.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		if f := strings.Split(line, ","); len(f) > 3 {
			out = append(out, strings.Trim(f[2], `"`))
		}
	}
	if len(out) != 306 {
		t.Fatalf("%d pilot subjects", len(out))
	}
	return out
}

// assertNoParticipantInLog reads every leaf of the trial's log through
// its backend, and for an embedded log every file of the tree's store,
// and fails if any pilot USUBJID (or its SUBJID part) is in them in
// clear.
func assertNoParticipantInLog(t *testing.T, logArgs []string) {
	t.Helper()
	state := ""
	if len(logArgs) == 4 {
		state = logArgs[3]
	}
	loc, err := backend.Resolve(logArgs[1], state)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := backend.Open(context.Background(), loc, "CDISCPILOT01", false)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	root, err := tr.Log.LatestRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	leaves, err := tr.Log.Leaves(context.Background(), 0, root.Size)
	if err != nil {
		t.Fatal(err)
	}
	blobs := [][]byte{bytes.Join(leaves, nil)}
	if tr.Config.Backend == "embedded" {
		filepath.WalkDir(filepath.Join(tr.Dir, "tree"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				blobs = append(blobs, b)
			}
			return nil
		})
	}
	for _, s := range pilotSubjects(t) {
		for _, b := range blobs {
			if bytes.Contains(b, []byte(s)) {
				t.Fatalf("participant %s is in the log (%s) in clear", s, tr.Config.Backend)
			}
		}
	}
}

// TestDisclosuresAudited: every prove is listed by trialog disclosures
// and in the IRB report with a verifying inclusion proof; the consent
// audit flags the override disclosure of a withdrawn participant's rows;
// the package verifies offline with its disclosure record; no pilot
// participant ID is in the log.
func TestDisclosuresAudited(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TRIALOG_LOG", filepath.Join(dir, "log"))
	t.Setenv("TRIALOG_TRIAL", "CDISCPILOT01")
	mustRun(t, 0, "init")
	vkey := filepath.Join(dir, "log", "trials", "CDISCPILOT01", "checkpoint.vkey")
	ae := consentTrial(t)
	both := []string{"--where", "USUBJID=01-701-1015", "--where", "USUBJID=01-701-1028"}
	checked, override, dmPkg := filepath.Join(dir, "checked.arrow"), filepath.Join(dir, "override.arrow"), filepath.Join(dir, "dm.arrow")
	mustRun(t, 0, append(append([]string{"prove", "--dataset", "AE", "--purpose", "main", "--recipient", "Sponsor Inc.", "--out", checked}, both...), ae)...)
	mustRun(t, 0, append(append([]string{"prove", "--dataset", "AE", "--purpose", "main", "--recipient", "FDA", "--operator", "safety-officer",
		"--override-consent", "expedited safety report SUSAR-7", "--redact", "USUBJID", "--out", override}, both...), ae)...)
	mustRun(t, 0, "ingest", "--dataset", "DM", filepath.Join(pilot, "dm.csv"))
	mustRun(t, 0, "prove", "--dataset", "DM", "--purpose", "main", "--recipient", "Registry", "--no-consent-check", "--detached", "--out", dmPkg, filepath.Join(pilot, "dm.csv"))

	// Each package verifies offline, with its disclosure record.
	out := mustRun(t, 0, "verify", "--key", vkey, override)
	if !strings.Contains(out, "disclosure: issued") || !strings.Contains(out, "to FDA for purpose main (consent overridden)") || !strings.Contains(out, "included by override") {
		t.Errorf("verify of the override package: %s", out)
	}
	if strings.Contains(out, "01-701-1028") || strings.Contains(out, "SUSAR") {
		t.Errorf("verify output of a package with USUBJID redacted names the participant or the reason: %s", out)
	}
	mustRun(t, 0, "verify", "--key", vkey, checked)
	mustRun(t, 0, "verify", "--key", vkey, dmPkg, filepath.Join(pilot, "dm.csv"))

	// trialog disclosures lists all three, each verified against the log.
	out = mustRun(t, 0, "disclosures")
	if !strings.Contains(out, "3 disclosures") || strings.Count(out, "verified: leaf and inclusion proof") != 3 ||
		!strings.Contains(out, `reason "expedited safety report SUSAR-7"`) || !strings.Contains(out, "consent not-checked") {
		t.Errorf("disclosures:\n%s", out)
	}
	var list struct {
		OK          bool `json:"ok"`
		Disclosures []struct {
			LeafIndex uint64   `json:"leaf_index"`
			Proof     []string `json:"inclusion_proof"`
			OK        bool     `json:"ok"`
			Leaf      struct {
				Recipient, Consent string
				PackageSHA256      string `json:"package_sha256"`
			} `json:"leaf"`
		} `json:"disclosures"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, 0, "disclosures", "--json")), &list); err != nil || !list.OK || len(list.Disclosures) != 3 {
		t.Fatalf("disclosures --json: %v %+v", err, list)
	}
	for _, d := range list.Disclosures {
		if !d.OK || len(d.Proof) == 0 || len(d.Leaf.PackageSHA256) != 64 {
			t.Errorf("disclosure %+v", d)
		}
	}

	// The audit flags the override disclosure of 1028's rows after the
	// withdrawal, and only it.
	auditJSON := filepath.Join(dir, "audit.json")
	out = mustRun(t, 0, "consent", "audit", "--dataset", "AE", "--date-column", "AESTDTC", "--out", auditJSON, ae)
	if !strings.Contains(out, "1 disclosure findings") || !strings.Contains(out, "01-701-1028\tdisclosed-after-withdrawal") {
		t.Errorf("audit:\n%s", out)
	}
	// The IRB report holds every disclosure with its proof and every
	// finding: the AE override (1028) and the unchecked DM disclosure of
	// all 306 participants, of whom only 1015 consented to main (304
	// without consent, 1028 withdrawn): 306.
	report, html := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.html")
	out = mustRun(t, 0, "consent", "report", "--audit", auditJSON, "--out", report, "--html", html)
	if !strings.Contains(out, "3 disclosures (306 findings)") {
		t.Errorf("report: %s", out)
	}
	if out := mustRun(t, 0, "consent", "verify", "--key", vkey, report); !strings.Contains(out, "3 disclosures checked") || !strings.HasSuffix(strings.TrimSpace(out), "OK") {
		t.Errorf("consent verify: %s", out)
	}
	page, _ := os.ReadFile(html)
	if !strings.Contains(string(page), `id="disclosures"`) || strings.Count(string(page), `class="disclosure-row"`) != 3 || !strings.Contains(string(page), "disclosed-after-withdrawal") {
		t.Errorf("HTML report lacks the disclosures")
	}
	// A report whose disclosure was edited no longer verifies.
	raw, _ := os.ReadFile(report)
	os.WriteFile(report, bytes.Replace(raw, []byte(`"recipient": "FDA"`), []byte(`"recipient": "FDB"`), 1), 0o644)
	if code, out, _ := trialog(t, "consent", "verify", "--key", vkey, report); code != 1 {
		t.Errorf("edited report: exit %d\n%s", code, out)
	}
	// A deleted disclosure record is noticed.
	recs, _ := filepath.Glob(filepath.Join(dir, "log", "trials", "CDISCPILOT01", "disclosures", "*.json"))
	if len(recs) != 3 {
		t.Fatalf("%d kept records", len(recs))
	}
	assertNoParticipantInLog(t, []string{"--log", filepath.Join(dir, "log")})
	os.Remove(recs[1])
	if code, out, _ := trialog(t, "disclosures"); code != 1 || !strings.Contains(out, "disclosure leaf with no kept record") {
		t.Errorf("deleted record: exit %d\n%s", code, out)
	}
}

// TestCreatedAtIsClaimed: ingest --created-at cannot set the logged
// ingest time (21 CFR 11.10(e)): the manifest holds the system's UTC time
// and the caller's time beside it, marked claimed.
func TestCreatedAtIsClaimed(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TRIALOG_LOG", filepath.Join(dir, "log"))
	t.Setenv("TRIALOG_TRIAL", "CDISCPILOT01")
	mustRun(t, 0, "init")
	before := time.Now().UTC().Truncate(time.Second)
	mustRun(t, 0, "ingest", "--dataset", "DM", "--created-at", "2001-02-03T04:05:06+01:00", filepath.Join(pilot, "dm.csv"))
	mustRun(t, 0, "ingest", "--dataset", "AE", filepath.Join(pilot, "ae.csv"))
	after := time.Now().UTC()
	for ds, claim := range map[string]string{"DM": "2001-02-03T03:05:06Z", "AE": ""} {
		raw, err := os.ReadFile(filepath.Join(dir, "log", "trials", "CDISCPILOT01", "datasets", ds, "v1.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Manifest struct {
				CreatedAt string `json:"created_at"`
				Claimed   string `json:"claimed_created_at"`
			} `json:"manifest"`
		}
		json.Unmarshal(raw, &rec)
		at, err := time.Parse(time.RFC3339, rec.Manifest.CreatedAt)
		if err != nil || at.Before(before) || at.After(after) || !strings.HasSuffix(rec.Manifest.CreatedAt, "Z") {
			t.Errorf("%s created_at %q is not the system's UTC time of the ingest", ds, rec.Manifest.CreatedAt)
		}
		if rec.Manifest.Claimed != claim {
			t.Errorf("%s claimed_created_at %q, want %q", ds, rec.Manifest.Claimed, claim)
		}
	}
}

// TestDisclosuresOnTrillian runs consent-governed disclosure on a live
// Trillian deployment: the withdrawn participant's rows are withheld, the
// override is logged, both disclosures are listed and in the IRB report
// with verifying proofs, the audit flags the override, and no pilot
// participant ID is among the log's leaves.
func TestDisclosuresOnTrillian(t *testing.T) {
	d := trilliantest.StartT(t, trilliantest.Options{})
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	logArgs := []string{"--log", d.URL(), "--state", state}
	t.Setenv("TRIALOG_TRIAL", "CDISCPILOT01")
	mustRun(t, 0, append([]string{"init"}, logArgs...)...)
	vkey := filepath.Join(state, "trials", "CDISCPILOT01", "checkpoint.vkey")
	ae := consentTrial(t, logArgs...)
	both := []string{"--where", "USUBJID=01-701-1015", "--where", "USUBJID=01-701-1028"}
	pkg := filepath.Join(dir, "p.arrow")
	out := mustRun(t, 0, append(append(append([]string{"prove", "--dataset", "AE", "--purpose", "main", "--recipient", "Sponsor", "--json", "--out", pkg}, both...), logArgs...), ae)...)
	if p := proveJSONOf(t, out); len(p.Withheld) != 1 || p.Withheld[0].Ground != "withdrawn" || p.Withheld[0].Rows != uint64(pilotRowsOf(t, "ae.csv", "01-701-1028")) {
		t.Errorf("prove on Trillian: %+v", p)
	}
	mustRun(t, 0, "verify", "--key", vkey, pkg)
	mustRun(t, 0, append(append(append([]string{"prove", "--dataset", "AE", "--purpose", "main", "--recipient", "FDA", "--override-consent", "safety", "--out", pkg}, both...), logArgs...), ae)...)
	if out := mustRun(t, 0, "verify", "--key", vkey, pkg); !strings.Contains(out, "consent overridden") {
		t.Errorf("verify: %s", out)
	}
	if out := mustRun(t, 0, append([]string{"disclosures"}, logArgs...)...); !strings.Contains(out, "2 disclosures") || strings.Count(out, "verified: leaf and inclusion proof") != 2 {
		t.Errorf("disclosures:\n%s", out)
	}
	audit, report := filepath.Join(dir, "audit.json"), filepath.Join(dir, "report.json")
	if out := mustRun(t, 0, append(append([]string{"consent", "audit", "--dataset", "AE", "--date-column", "AESTDTC", "--out", audit}, logArgs...), ae)...); !strings.Contains(out, "01-701-1028\tdisclosed-after-withdrawal") {
		t.Errorf("audit: %s", out)
	}
	mustRun(t, 0, append([]string{"consent", "report", "--audit", audit, "--out", report}, logArgs...)...)
	if out := mustRun(t, 0, "consent", "verify", "--key", vkey, report); !strings.Contains(out, "2 disclosures checked") || !strings.HasSuffix(strings.TrimSpace(out), "OK") {
		t.Errorf("consent verify: %s", out)
	}
	assertNoParticipantInLog(t, logArgs)
}
