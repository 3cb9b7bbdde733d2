package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/trillian/trilliantest"
)

const pilot = "../../../shared/data/cdiscpilot01/csv"

// trialog runs the CLI in-process and returns its exit code and output.
func trialog(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return trialogAt(t, time.Now, args...)
}

// trialogAt runs the CLI in-process with a given system clock.
func trialogAt(t *testing.T, clock func() time.Time, args ...string) (int, string, string) {
	t.Helper()
	oldOut, oldErr := os.Stdout, os.Stderr
	rOut, wOut, _ := os.Pipe()
	rErr, wErr, _ := os.Pipe()
	os.Stdout, os.Stderr = wOut, wErr
	outC, errC := make(chan string), make(chan string)
	go func() { b, _ := io.ReadAll(rOut); outC <- string(b) }()
	go func() { b, _ := io.ReadAll(rErr); errC <- string(b) }()
	code := runWithClock(context.Background(), append([]string{"trialog"}, args...), clock)
	wOut.Close()
	wErr.Close()
	os.Stdout, os.Stderr = oldOut, oldErr
	return code, <-outC, <-errC
}

// initPilotTrial makes an embedded log at log with the trial
// CDISCPILOT01, and points TRIALOG_LOG and TRIALOG_TRIAL at them for the
// rest of the test.
func initPilotTrial(t *testing.T, log string) {
	t.Helper()
	t.Setenv("TRIALOG_LOG", log)
	t.Setenv("TRIALOG_TRIAL", "CDISCPILOT01")
	mustRun(t, 0, "init")
}

func mustRun(t *testing.T, want int, args ...string) string {
	t.Helper()
	code, out, errOut := trialog(t, args...)
	if code != want {
		t.Fatalf("trialog %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out
}

func TestCLIContract(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	out := mustRun(t, 0, "init", "--log", log, "--trial", "CDISCPILOT01", "--json")
	var initRes struct {
		VerifierKey string `json:"verifier_key"`
	}
	if err := json.Unmarshal([]byte(out), &initRes); err != nil || initRes.VerifierKey == "" {
		t.Fatalf("init --json: %q %v", out, err)
	}
	vkey := initRes.VerifierKey
	dm := filepath.Join(pilot, "dm.csv")
	t.Setenv("TRIALOG_LOG", log)
	t.Setenv("TRIALOG_TRIAL", "CDISCPILOT01")
	mustRun(t, 0, "checkpoint")
	old := filepath.Join(dir, "old.checkpoint")
	os.WriteFile(old, []byte(mustCheckpoint(t)), 0o644)

	out = mustRun(t, 0, "ingest", "--dataset", "DM", "--json", dm)
	var ing map[string]any
	if err := json.Unmarshal([]byte(out), &ing); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"trial", "dataset", "version", "rows", "first_index", "tree_size", "root_hash", "checkpoint"} {
		if _, ok := ing[k]; !ok {
			t.Errorf("ingest --json lacks %q", k)
		}
	}
	if ing["rows"].(float64) != 306 || ing["tree_size"].(float64) != 307 {
		t.Errorf("ingest: %v", ing)
	}
	// Input and usage errors: exit 2, one line on stderr.
	for _, args := range [][]string{
		{"ingest", "--dataset", "DM", dm}, // same content again
		{"ingest", "--dataset", "DM", filepath.Join(dir, "missing.csv")},
		{"ingest", "--dataset", "bad name!", dm},
		{"ingest"},
		{"prove", "--purpose", "main", "--recipient", "Sponsor", "--no-consent-check", "--dataset", "DM", "--out", filepath.Join(dir, "x.arrow"), "--redact", "NOPE", dm},
		{"verify", "--key", vkey, filepath.Join(dir, "nothing.arrow")},
		{"frobnicate"},
	} {
		code, _, errOut := trialog(t, args...)
		if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || errOut == "" {
			t.Errorf("trialog %v: exit %d, stderr %q; want 2 and one line", args, code, errOut)
		}
	}
	pkg := filepath.Join(dir, "subject.arrow")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "Sponsor", "--no-consent-check", "--dataset", "DM@1", "--where", "USUBJID=01-701-1015", "--redact", "BRTHDTC", "--out", pkg, dm)
	out = mustRun(t, 0, "verify", "--key", vkey, pkg)
	if !strings.Contains(out, "OK") || !strings.Contains(out, "BRTHDTC") {
		t.Errorf("verify output: %s", out)
	}
	// Verification failure: exit 1 with a report naming row and column.
	detached := filepath.Join(dir, "dm.proof.arrow")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "Sponsor", "--no-consent-check", "--dataset", "DM", "--detached", "--out", detached, dm)
	raw, _ := os.ReadFile(dm)
	edited := filepath.Join(dir, "dm-edited.csv")
	os.WriteFile(edited, bytes.Replace(raw, []byte(`"01-701-1023","1023","2012-08-05"`), []byte(`"01-701-1023","1023","2012-08-06"`), 1), 0o644)
	code, out, _ := trialog(t, "verify", "--key", vkey, detached, edited)
	if code != 1 || !strings.Contains(out, "row 1 (leaf 1)") || !strings.Contains(out, "follow-up") {
		t.Errorf("tampered copy, derived package: exit %d\n%s", code, out)
	}
	followUp := filepath.Join(dir, "dm-row-1.proof.arrow")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--dataset", "DM", "--detached", "--rows", "1", "--out", followUp, dm)
	code, out, _ = trialog(t, "verify", "--key", vkey, followUp, edited)
	if code != 1 || !strings.Contains(out, "row 1 (leaf 1): columns RFSTDTC") {
		t.Errorf("tampered copy, follow-up package: exit %d\n%s", code, out)
	}
	code, out, _ = trialog(t, "verify", "--json", "--key", vkey, detached, edited)
	var rep struct {
		OK      bool `json:"ok"`
		BadRows int  `json:"bad_rows"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &rep) != nil || rep.OK || rep.BadRows != 1 {
		t.Errorf("verify --json: exit %d %s", code, out)
	}
	// Consistency between checkpoints, and a rollback.
	cur := filepath.Join(dir, "new.checkpoint")
	os.WriteFile(cur, []byte(mustCheckpoint(t)), 0o644)
	mustRun(t, 0, "consistency", old, cur)
	mustRun(t, 1, "consistency", cur, old)
	out = mustRun(t, 0, "datasets")
	if !strings.Contains(out, "DM@1\t306 rows") {
		t.Errorf("datasets: %s", out)
	}
}

func mustCheckpoint(t *testing.T) string {
	t.Helper()
	out := mustRun(t, 0, "checkpoint", "--json")
	var cp struct{ Checkpoint string }
	if err := json.Unmarshal([]byte(out), &cp); err != nil {
		t.Fatal(err)
	}
	return cp.Checkpoint
}

// TestCLIOnTrillian runs the same commands against a live Trillian
// deployment (PostgreSQL, log server, signer) and checks that, given the
// same trial secret and key, it produces the same tree as the embedded log,
// and that a package proved from the embedded log verifies with the
// Trillian-backed checkpoint.
func TestCLIOnTrillian(t *testing.T) {
	d := trilliantest.StartT(t, trilliantest.Options{})
	dir := t.TempDir()
	emb, state := filepath.Join(dir, "embedded"), filepath.Join(dir, "state")
	mustRun(t, 0, "init", "--log", emb, "--trial", "CDISCPILOT01")
	out := mustRun(t, 0, "init", "--log", d.URL(), "--state", state, "--trial", "CDISCPILOT01")
	if !strings.Contains(out, "tree ") {
		t.Errorf("init on Trillian: %s", out)
	}
	// Same secret and key on both sides, so the leaves are identical.
	for _, f := range []string{"secret", "checkpoint.key", "checkpoint.vkey"} {
		b, err := os.ReadFile(filepath.Join(emb, "trials", "CDISCPILOT01", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(state, "trials", "CDISCPILOT01", f), b, 0o600)
	}
	vkey := filepath.Join(emb, "trials", "CDISCPILOT01", "checkpoint.vkey")
	var roots [2]map[string]any
	for i, logArgs := range [][]string{{"--log", emb}, {"--log", d.URL(), "--state", state}} {
		if i == 1 {
			// And the same participant keys (salts v2), which the first
			// ingest created at random.
			b, err := os.ReadFile(filepath.Join(emb, "trials", "CDISCPILOT01", "keys.json"))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(state, "trials", "CDISCPILOT01", "keys.json"), b, 0o600)
		}
		for _, ds := range []string{"dm", "ae"} {
			// The same system clock on both sides (a test fixture: no flag
			// sets it), so the manifests, and so the trees, are identical.
			args := append([]string{"ingest", "--trial", "CDISCPILOT01", "--operator", "cro", "--created-at", "2026-11-25T10:00:00Z", "--json", "--dataset", strings.ToUpper(ds)}, logArgs...)
			code, out, errOut := trialogAt(t, func() time.Time { return time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC) }, append(args, filepath.Join(pilot, ds+".csv"))...)
			if code != 0 {
				t.Fatalf("ingest: exit %d %s", code, errOut)
			}
			json.Unmarshal([]byte(out), &roots[i])
		}
	}
	if roots[0]["root_hash"] != roots[1]["root_hash"] || roots[0]["tree_size"] != roots[1]["tree_size"] {
		t.Fatalf("embedded %v and Trillian %v differ", roots[0], roots[1])
	}
	pkgE, pkgT := filepath.Join(dir, "e.arrow"), filepath.Join(dir, "t.arrow")
	// Same leaves, same proofs, same (deterministic Ed25519) signatures:
	// the two whole-dataset (range proof) packages are byte for byte the
	// same file but for their disclosure records (a random nonce, the
	// time). Each prove appends its own disclosure leaf, so from here on
	// the two trees differ by those leaves.
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "Sponsor", "--no-consent-check", "--log", emb, "--trial", "CDISCPILOT01", "--dataset", "DM", "--out", pkgE, filepath.Join(pilot, "dm.csv"))
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "Sponsor", "--no-consent-check", "--log", d.URL(), "--state", state, "--trial", "CDISCPILOT01", "--dataset", "DM", "--out", pkgT, filepath.Join(pilot, "dm.csv"))
	if !bytes.Equal(sansDisclosure(t, pkgE), sansDisclosure(t, pkgT)) {
		t.Error("range-proof packages from the embedded log and from Trillian differ")
	}
	mustRun(t, 0, "verify", "--key", vkey, pkgE)
	mustRun(t, 0, "verify", "--key", vkey, pkgT)
	ae := filepath.Join(pilot, "ae.csv")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "Sponsor", "--no-consent-check", "--log", emb, "--trial", "CDISCPILOT01", "--dataset", "AE", "--where", "USUBJID=01-701-1015", "--out", pkgE, ae)
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "Sponsor", "--no-consent-check", "--log", d.URL(), "--state", state, "--trial", "CDISCPILOT01", "--dataset", "AE", "--where", "USUBJID=01-701-1015", "--out", pkgT, ae)
	mustRun(t, 0, "verify", "--key", vkey, pkgE)
	mustRun(t, 0, "verify", "--key", vkey, pkgT)
	// Both disclosures are logged and listed on both backends, and no
	// participant ID is in either log.
	for _, logArgs := range [][]string{{"--log", emb}, {"--log", d.URL(), "--state", state}} {
		out := mustRun(t, 0, append([]string{"disclosures", "--trial", "CDISCPILOT01"}, logArgs...)...)
		if !strings.Contains(out, "2 disclosures") || strings.Count(out, "verified: leaf and inclusion proof") != 2 {
			t.Errorf("disclosures %v:\n%s", logArgs, out)
		}
		assertNoParticipantInLog(t, logArgs)
	}
}

// TestSubjectPackages proves one subject across DM, AE and CM with
// identifying columns withheld; every package verifies and opens as an
// ordinary table in Apache Arrow's JavaScript implementation.
func TestSubjectPackages(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	initPilotTrial(t, log)
	var files []string
	for _, ds := range []string{"dm", "ae", "cm"} {
		f := filepath.Join(pilot, ds+".csv")
		mustRun(t, 0, "ingest", "--dataset", strings.ToUpper(ds), f)
		files = append(files, f)
	}
	out := filepath.Join(dir, "share")
	res := mustRun(t, 0, append([]string{"prove", "--purpose", "main", "--recipient", "Sponsor", "--no-consent-check", "--subject", "01-701-1015", "--redact", "BRTHDTC,SITEID,AETERM,CMINDC", "--json", "--out", out}, files...)...)
	var got struct {
		Packages []struct {
			Dataset string
			Rows    int
			Package string
		}
	}
	if err := json.Unmarshal([]byte(res), &got); err != nil || len(got.Packages) != 3 {
		t.Fatalf("prove --subject: %s %v", res, err)
	}
	vkey := filepath.Join(log, "trials", "CDISCPILOT01", "checkpoint.vkey")
	for _, p := range got.Packages {
		mustRun(t, 0, "verify", "--key", vkey, p.Package)
		raw, _ := os.ReadFile(p.Package)
		if bytes.Contains(raw, []byte("1950-12-26")) {
			t.Errorf("%s: redacted BRTHDTC value present", p.Package)
		}
		shape := readWithArrowJS(t, p.Package)
		if shape.Rows != p.Rows {
			t.Errorf("%s: Arrow JS sees %d rows, want %d", p.Package, shape.Rows, p.Rows)
		}
		withheld := map[string]string{"DM": "SITEID", "AE": "AETERM", "CM": "CMINDC"}[p.Dataset]
		if !slicesContains(shape.Columns, "USUBJID") || slicesContains(shape.Columns, withheld) || !slicesContains(shape.Columns, "_trialog_commit."+withheld) {
			t.Errorf("%s: Arrow JS columns %v", p.Package, shape.Columns)
		}
		if shape.First["USUBJID"] != "01-701-1015" {
			t.Errorf("%s: first row %v", p.Package, shape.First)
		}
	}
}

type arrowShape struct {
	Rows    int               `json:"rows"`
	Columns []string          `json:"columns"`
	First   map[string]string `json:"first"`
}

// readWithArrowJS opens a package with the npm apache-arrow package
// (installed into .ci/node by .ci/run). Missing node or module: the test
// fails in CI and is skipped elsewhere.
func readWithArrowJS(t *testing.T, path string) arrowShape {
	t.Helper()
	script := filepath.Join("..", "..", ".ci", "node", "read-package.mjs")
	_, errNode := exec.LookPath("node")
	_, errMod := os.Stat(filepath.Join("..", "..", ".ci", "node", "node_modules", "apache-arrow"))
	if errNode != nil || errMod != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node or the apache-arrow npm package is missing (.ci/run installs them): %v %v", errNode, errMod)
		}
		t.Skipf("node or apache-arrow missing (run: npm ci --prefix .ci/node): %v %v", errNode, errMod)
	}
	out, err := exec.Command("node", script, path).Output()
	if err != nil {
		t.Fatalf("node %s: %v", script, err)
	}
	var s arrowShape
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	return s
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestDemo runs the README's main job on the bundled data.
func TestDemo(t *testing.T) {
	out := mustRun(t, 0, "demo", "--data", filepath.Join("..", "..", "testdata", "cdiscpilot01"), "--dir", t.TempDir())
	for _, want := range []string{"ingest DM: 306 rows", "ingest AE: 1191 rows", "attached package (rows proof), 1 rows checked against tree size", "withheld for consent: 1 rows of 1 participant: withdrawn", "redacted columns: BRTHDTC", "row 1 (leaf 1): columns RFSTDTC"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
