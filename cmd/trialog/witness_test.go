package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/trillian/trilliantest"
	"github.com/trialog/trialog/witness/witnesstest"
)

const forkTrial = "CDISCPILOT01"

var witnessNames = []string{"sponsor", "irb", "notary"}

// startWitnesses starts three real witness processes (sponsor, IRB,
// notary), tells each about the trial's log key and writes each one's
// verifier key to DIR/NAME.vkey, as an institution would hand it over.
func startWitnesses(t *testing.T, dir, vkeyPath string) ([]*witnesstest.Witness, []string) {
	t.Helper()
	// litewitness (torchwood) for the sponsor and the IRB, omniwitness
	// (transparency-dev/witness) for the notary: two implementations.
	ws := append(witnesstest.StartT(t, "sponsor.example/witness", "irb.example/witness"),
		witnesstest.StartOmniT(t, "notary.example/witness"))
	vkey, err := os.ReadFile(vkeyPath)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for i, w := range ws {
		if err := w.AddLog(context.Background(), checkpoint.Origin(forkTrial), string(vkey)); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, witnessNames[i]+".vkey")
		if err := os.WriteFile(f, []byte(w.Key+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return ws, files
}

// addWitnesses adds the three witnesses to a trial's policy; unless the
// log is a replica behind another one the witnesses already follow, each
// must cosign the policy's checkpoint at once.
// witnessedLog makes an embedded log at log with the trial forkTrial and
// adds three fresh witnesses (started under dir) to its policy; it
// returns the log's verifier key file, the witnesses and their key files.
func witnessedLog(t *testing.T, dir, log string) (vkey string, ws []*witnesstest.Witness, files []string) {
	t.Helper()
	mustRun(t, 0, "init", "--log", log, "--trial", forkTrial)
	vkey = filepath.Join(log, "trials", forkTrial, "checkpoint.vkey")
	ws, files = startWitnesses(t, dir, vkey)
	addWitnesses(t, []string{"--log", log}, ws, files, false)
	return vkey, ws, files
}

func addWitnesses(t *testing.T, logArgs []string, ws []*witnesstest.Witness, files []string, replica bool) {
	t.Helper()
	for i, w := range ws {
		out := mustRun(t, 0, append([]string{"witness", "add", "--trial", forkTrial, "--name", witnessNames[i], "--url", w.URL, "--key", files[i]}, logArgs...)...)
		if !replica && !strings.Contains(out, "witness "+witnessNames[i]+" cosigned the latest checkpoint") {
			t.Errorf("witness add did not get the new witness's cosignature:\n%s", out)
		}
	}
	out := mustRun(t, 0, append([]string{"witness", "list", "--trial", forkTrial}, logArgs...)...)
	if !strings.Contains(out, "3 witnesses, quorum 2") {
		t.Fatalf("witness list: %s", out)
	}
}

// alteredAE writes the pilot AE with one cell changed (same row count) and,
// if drop > 0, without its last drop rows.
func alteredAE(t *testing.T, dir string, drop int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pilot, "ae.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	changed := false
	for i := 1; i < len(lines) && !changed; i++ {
		if strings.Contains(lines[i], "MILD") {
			lines[i] = strings.Replace(lines[i], "MILD", "SEVERE", 1)
			changed = true
		}
	}
	if !changed {
		t.Fatal("no MILD adverse event in the pilot AE")
	}
	lines = lines[:len(lines)-drop]
	path := filepath.Join(dir, "ae-altered.csv")
	if drop > 0 {
		path = filepath.Join(dir, "ae-rolled-back.csv")
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// forkClock is the system clock of the fork tests' ingests (a test
// fixture: no flag sets it), so that two logs fed the same files hold the
// same manifests, and so the same trees.
func forkClock() time.Time { return time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) }

func ingestJSON(t *testing.T, want int, logArgs []string, dataset, file string) map[string]any {
	t.Helper()
	args := append([]string{"ingest", "--trial", forkTrial, "--operator", "cro", "--json", "--dataset", dataset}, logArgs...)
	code, out, errOut := trialogAt(t, forkClock, append(args, file)...)
	if code != want {
		t.Fatalf("ingest %s: exit %d, want %d\n%s\n%s", file, code, want, out, errOut)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("ingest --json: %v\n%s", err, out)
	}
	return res
}

func witnessed(t *testing.T, res map[string]any) (bool, float64) {
	t.Helper()
	w, ok := res["witnesses"].(map[string]any)
	if !ok {
		t.Fatalf("ingest --json has no witnesses: %v", res)
	}
	return w["witnessed"].(bool), w["cosignatures"].(float64)
}

// forkScenario runs the must-show fork test of docs/witnessing.md given
// fork A (already holding the witnessed DM) and fork B (same key, same
// history so far): A ingests the pilot AE, B an altered AE.
func forkScenario(t *testing.T, dir string, logA, logB []string, vkey string, files []string) (pkgA, pkgB string) {
	t.Helper()
	resA := ingestJSON(t, 0, logA, "AE", filepath.Join(pilot, "ae.csv"))
	if ok, n := witnessed(t, resA); !ok || n != 3 {
		t.Fatalf("fork A AE: witnessed %v with %v cosignatures", ok, n)
	}
	altered := alteredAE(t, dir, 0)
	// Fork B: the data is durable (exit 3, not 2), but every witness
	// refuses the checkpoint.
	args := append([]string{"ingest", "--trial", forkTrial, "--operator", "cro", "--json", "--dataset", "AE"}, logB...)
	code, out, errOut := trialogAt(t, forkClock, append(args, altered)...)
	if code != 3 {
		t.Fatalf("fork B ingest: exit %d, want 3\n%s\n%s", code, out, errOut)
	}
	var resB map[string]any
	json.Unmarshal([]byte(out), &resB)
	if resA["tree_size"] != resB["tree_size"] || resA["root_hash"] == resB["root_hash"] {
		t.Fatalf("forks: A %v/%v, B %v/%v", resA["tree_size"], resA["root_hash"], resB["tree_size"], resB["root_hash"])
	}
	if ok, n := witnessed(t, resB); ok || n != 0 {
		t.Fatalf("fork B: witnessed %v with %v cosignatures", ok, n)
	}
	errs := resB["witnesses"].(map[string]any)["errors"].(map[string]any)
	for _, name := range witnessNames {
		e, _ := errs[name].(string)
		if !strings.Contains(e, "(422)") && !strings.Contains(e, "(409)") {
			t.Errorf("witness %s on fork B: %q, want a 409 or 422 refusal", name, e)
		}
	}
	// witness sync cannot help fork B.
	mustRun(t, 3, append([]string{"witness", "sync", "--trial", forkTrial}, logB...)...)

	pkgA, pkgB = filepath.Join(dir, "a.arrow"), filepath.Join(dir, "b.arrow")
	mustRun(t, 0, append([]string{"prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--trial", forkTrial, "--dataset", "AE", "--where", "USUBJID=01-701-1015", "--out", pkgA}, append(logA, filepath.Join(pilot, "ae.csv"))...)...)
	mustRun(t, 0, append([]string{"prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--trial", forkTrial, "--dataset", "AE", "--where", "USUBJID=01-701-1015", "--out", pkgB}, append(logB, altered)...)...)

	policy := []string{"verify", "--key", vkey, "--witness", files[0], "--witness", files[1], "--witness", files[2], "--quorum", "2"}
	out = mustRun(t, 0, append(policy, pkgA)...)
	if !strings.Contains(out, "3 of 3 witness cosignatures, quorum 2") || !strings.Contains(out, "cosigned by irb at") {
		t.Errorf("verify fork A:\n%s", out)
	}
	out = mustRun(t, 1, append(policy, pkgB)...)
	if !strings.Contains(out, "witness quorum not met: 0 of 3 witness cosignatures, quorum 2 (missing: sponsor, irb, notary)") {
		t.Errorf("verify fork B does not name the missing quorum:\n%s", out)
	}
	// The package states its own policy: fork B fails even for a verifier
	// that gave none.
	out = mustRun(t, 1, "verify", "--key", vkey, pkgB)
	if !strings.Contains(out, "the package's own witness policy is not met") {
		t.Errorf("verify fork B without a policy:\n%s", out)
	}
	// A verifier that remembers fork A rejects fork B as a fork, with no
	// witness policy at all (a package whose statement of a policy was
	// stripped is caught here).
	trustDir := filepath.Join(dir, "trust")
	out = mustRun(t, 0, "verify", "--key", vkey, "--trust", trustDir, pkgA)
	if !strings.Contains(out, "trust: first") {
		t.Errorf("verify --trust fork A:\n%s", out)
	}
	out = mustRun(t, 1, "verify", "--key", vkey, "--trust", trustDir, pkgB)
	if !strings.Contains(out, "fork or rollback (fork)") || !strings.Contains(out, "stored checkpoint") || !strings.Contains(out, "offered checkpoint") {
		t.Errorf("verify --trust fork B:\n%s", out)
	}
	// TRIALOG_TRUST works the same.
	t.Setenv("TRIALOG_TRUST", trustDir)
	mustRun(t, 1, "verify", "--key", vkey, pkgB)
	mustRun(t, 0, "verify", "--key", vkey, pkgA)
	os.Unsetenv("TRIALOG_TRUST")
	return pkgA, pkgB
}

// TestWitnessForkEmbedded is the must-show fork test on the embedded
// backend: the trial's log directory is copied into two forks signed by
// the same key.
func TestWitnessForkEmbedded(t *testing.T) {
	dir := t.TempDir()
	logA := filepath.Join(dir, "a")
	vkey, _, files := witnessedLog(t, dir, logA)
	res := ingestJSON(t, 0, []string{"--log", logA}, "DM", filepath.Join(pilot, "dm.csv"))
	if ok, n := witnessed(t, res); !ok || n != 3 {
		t.Fatalf("DM: witnessed %v with %v cosignatures", ok, n)
	}
	logB, logC := filepath.Join(dir, "b"), filepath.Join(dir, "c")
	copyTree(t, logA, logB)
	copyTree(t, logA, logC)
	_, _ = forkScenario(t, dir, []string{"--log", logA}, []string{"--log", logB}, vkey, files)

	// A rollback: a third copy, restored from the DM snapshot, logs a
	// shorter AE. The witnesses are ahead (409) and a verifier that saw
	// fork A's larger tree refuses the smaller one it never saw.
	rolled := alteredAE(t, dir, 20)
	args := []string{"ingest", "--log", logC, "--trial", forkTrial, "--operator", "cro", "--json", "--dataset", "AE", rolled}
	if code, out, errOut := trialog(t, args...); code != 3 || !strings.Contains(out, "larger tree") {
		t.Fatalf("rolled-back ingest: exit %d\n%s\n%s", code, out, errOut)
	}
	pkgC := filepath.Join(dir, "c.arrow")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--log", logC, "--trial", forkTrial, "--dataset", "AE", "--where", "USUBJID=01-701-1015", "--out", pkgC, rolled)
	out := mustRun(t, 1, "verify", "--key", vkey, "--trust", filepath.Join(dir, "trust"), pkgC)
	if !strings.Contains(out, "fork or rollback (rollback)") {
		t.Errorf("verify --trust of a rolled-back checkpoint:\n%s", out)
	}
}

// TestWitnessDownDuringIngest: two of the three witnesses are killed
// while an ingest runs. The ingest completes (exit 3: durable, not yet
// witnessed), the checkpoint waits with one cosignature; after the
// witnesses restart, witness sync reaches the quorum, and the package
// made then verifies under the policy. Nothing is lost or logged twice.
func TestWitnessDownDuringIngest(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	vkey, ws, files := witnessedLog(t, dir, log)
	ingestJSON(t, 0, []string{"--log", log}, "DM", filepath.Join(pilot, "dm.csv"))

	// Kill two witnesses as soon as the ingest has journaled its first
	// leaf (the write journal appears), i.e. in the middle of the ingest.
	pending := filepath.Join(log, "trials", forkTrial, "journal.json")
	killed := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(killed)
		for {
			select {
			case <-stop:
				ws[1].Kill()
				ws[2].Kill()
				return
			default:
			}
			if _, err := os.Stat(pending); err == nil {
				ws[1].Kill()
				ws[2].Kill()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	args := []string{"ingest", "--log", log, "--trial", forkTrial, "--json", "--dataset", "CM", filepath.Join(pilot, "cm.csv")}
	code, out, errOut := trialog(t, args...)
	close(stop)
	<-killed
	if code != 3 {
		t.Fatalf("ingest with two witnesses down: exit %d, want 3\n%s\n%s", code, out, errOut)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if ok, n := witnessed(t, res); ok || n != 1 {
		t.Fatalf("with two witnesses down: witnessed %v, %v cosignatures", ok, n)
	}
	if !strings.Contains(errOut, "1 of 3 witness cosignatures, quorum 2 (missing: irb, notary)") {
		t.Errorf("stderr does not say the quorum was missed:\n%s", errOut)
	}
	// The data is there: prove works (with a warning), the package fails
	// only the quorum.
	pkg := filepath.Join(dir, "cm.arrow")
	code, _, errOut = trialog(t, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--log", log, "--trial", forkTrial, "--dataset", "CM", "--where", "USUBJID=01-701-1015", "--out", pkg, filepath.Join(pilot, "cm.csv"))
	if code != 0 || !strings.Contains(errOut, "warning: the package's checkpoint has 1 of 3 witness cosignatures") {
		t.Errorf("prove of an unwitnessed checkpoint: exit %d, stderr %q", code, errOut)
	}
	policy := []string{"verify", "--key", vkey, "--witness", files[0], "--witness", files[1], "--witness", files[2]}
	mustRun(t, 1, append(policy, pkg)...)
	mustRun(t, 3, "witness", "sync", "--log", log, "--trial", forkTrial, "--timeout", "1s")

	for _, w := range ws[1:] {
		if err := w.StartServer(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	out = mustRun(t, 0, "witness", "sync", "--log", log, "--trial", forkTrial, "--json")
	var st map[string]any
	json.Unmarshal([]byte(out), &st)
	// The latest checkpoint: the ingest's, and the leaf prove appended for
	// the package's disclosure record.
	if st["witnessed"] != true || st["cosignatures"].(float64) != 3 || st["tree_size"] != res["tree_size"].(float64)+1 {
		t.Fatalf("witness sync after restart: %s", out)
	}
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--log", log, "--trial", forkTrial, "--dataset", "CM", "--where", "USUBJID=01-701-1015", "--out", pkg, filepath.Join(pilot, "cm.csv"))
	mustRun(t, 0, append(policy, pkg)...)
	// Nothing lost or duplicated: the catalog has one CM version whose rows
	// end right before its manifest.
	out = mustRun(t, 0, "datasets", "--log", log, "--trial", forkTrial, "--json")
	if strings.Count(out, `"CM"`) != 1 {
		t.Errorf("datasets after the interrupted witnessing:\n%s", out)
	}
	// Each checkpoint's independent times: the witnesses' cosignatures. CM's
	// own checkpoint keeps the one cosignature it got while two witnesses
	// were down: the prove made meanwhile appended its disclosure record,
	// so the sync cosigned the later checkpoint, which covers CM.
	out = mustRun(t, 0, "datasets", "--log", log, "--trial", forkTrial)
	found := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "CM@1") {
			found = true
			if !strings.Contains(line, "witnesses 1/3 (quorum 2): sponsor 20") || !strings.Contains(line, "covered by the witnessed checkpoint of tree size") {
				t.Errorf("datasets does not show the cosignature times: %s", line)
			}
		}
	}
	if !found {
		t.Errorf("datasets lists no CM@1:\n%s", out)
	}

	// Consent events are witnessed too, and the IRB's report carries the
	// cosigned checkpoint: consent verify demands the quorum.
	out = mustRun(t, 0, "consent", "form", "add", "--log", log, "--trial", forkTrial, "--form", "MAIN-ICF@1.0", "--irb-ref", "IRB-1",
		"--irb-approved", "2013-01-01", "--effective", "2013-01-02", "--sha256", strings.Repeat("ab", 32), "--scopes", "main", "--json")
	if !strings.Contains(out, `"witnessed": true`) {
		t.Errorf("consent form add --json does not say the checkpoint was witnessed:\n%s", out)
	}
	report, html := filepath.Join(dir, "consent.json"), filepath.Join(dir, "consent.html")
	mustRun(t, 0, "consent", "report", "--log", log, "--trial", forkTrial, "--out", report, "--html", html)
	page, _ := os.ReadFile(html)
	if !strings.Contains(string(page), "Witness cosignatures") || !strings.Contains(string(page), "<td>notary</td><td>notary.example/witness</td><td>20") {
		t.Errorf("the IRB's HTML report does not show the witnesses' cosignature times")
	}
	trustDir := filepath.Join(dir, "irb-trust")
	out = mustRun(t, 0, "consent", "verify", "--key", vkey, "--witness", files[0], "--witness", files[1], "--witness", files[2], "--trust", trustDir, report)
	if !strings.Contains(out, "3 of 3 witness cosignatures, quorum 2") || !strings.Contains(out, "trust: first") {
		t.Errorf("consent verify with witnesses:\n%s", out)
	}
	// A later report extends what the IRB's verifier remembers, through
	// the consistency proofs it carries; the earlier one is still fine.
	mustRun(t, 0, "consent", "form", "add", "--log", log, "--trial", forkTrial, "--form", "SAMPLES-ICF@1.0", "--irb-ref", "IRB-2",
		"--irb-approved", "2013-01-01", "--effective", "2013-01-02", "--sha256", strings.Repeat("cd", 32), "--scopes", "samples")
	report2 := filepath.Join(dir, "consent2.json")
	mustRun(t, 0, "consent", "report", "--log", log, "--trial", forkTrial, "--out", report2)
	out = mustRun(t, 0, "consent", "verify", "--key", vkey, "--trust", trustDir, report2)
	if !strings.Contains(out, "trust: extended") {
		t.Errorf("consent verify --trust of a later report:\n%s", out)
	}
	if out = mustRun(t, 0, "consent", "verify", "--key", vkey, "--trust", trustDir, report); !strings.Contains(out, "trust: seen") {
		t.Errorf("consent verify --trust of the earlier report:\n%s", out)
	}
	// A report whose checkpoint lost its cosignatures fails the quorum.
	data, _ := os.ReadFile(report)
	var raw map[string]any
	json.Unmarshal(data, &raw)
	cp := raw["checkpoint"].(string)
	raw["checkpoint"] = cp[:strings.Index(cp, "\n\n")+2] + strings.SplitAfter(cp[strings.Index(cp, "\n\n")+2:], "\n")[0]
	stripped, _ := json.Marshal(raw)
	os.WriteFile(report, stripped, 0o644)
	out = mustRun(t, 1, "consent", "verify", "--key", vkey, "--witness", files[0], "--witness", files[1], "--witness", files[2], report)
	if !strings.Contains(out, "witness quorum not met") {
		t.Errorf("consent verify of a report without cosignatures:\n%s", out)
	}
}

// TestWitnessForkTrillian is the fork test with fork A on a live Trillian
// deployment and fork B an embedded log holding the same key, secret and
// history (a CRO replaying the same leaves elsewhere).
func TestWitnessForkTrillian(t *testing.T) {
	trilliantest.SkipIfDisabled(t)
	d := trilliantest.StartT(t, trilliantest.Options{})
	dir := t.TempDir()
	state, emb := filepath.Join(dir, "state"), filepath.Join(dir, "emb")
	mustRun(t, 0, "init", "--log", d.URL(), "--state", state, "--trial", forkTrial)
	mustRun(t, 0, "init", "--log", emb, "--trial", forkTrial)
	for _, f := range []string{"secret", "checkpoint.key", "checkpoint.vkey"} {
		b, err := os.ReadFile(filepath.Join(state, "trials", forkTrial, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(emb, "trials", forkTrial, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	vkey := filepath.Join(state, "trials", forkTrial, "checkpoint.vkey")
	logA, logB := []string{"--log", d.URL(), "--state", state}, []string{"--log", emb}
	mustRun(t, 0, "checkpoint", "--log", emb, "--trial", forkTrial) // re-signed with the copied key
	ws, files := startWitnesses(t, dir, vkey)
	addWitnesses(t, logA, ws, files, false)
	addWitnesses(t, logB, ws, files, true) // the same policy leaves: the same history
	resA := ingestJSON(t, 0, logA, "DM", filepath.Join(pilot, "dm.csv"))
	if ok, n := witnessed(t, resA); !ok || n != 3 {
		t.Fatalf("DM on Trillian: witnessed %v with %v cosignatures", ok, n)
	}
	// And the same participant keys (salts v2), which A's ingest created
	// at random.
	copyFile(t, filepath.Join(state, "trials", forkTrial, "keys.json"), filepath.Join(emb, "trials", forkTrial, "keys.json"))
	resB := ingestJSON(t, 0, logB, "DM", filepath.Join(pilot, "dm.csv"))
	if resA["root_hash"] != resB["root_hash"] {
		t.Fatal("the two logs do not share the DM history")
	}
	forkScenario(t, dir, logA, logB, vkey, files)
}

// TestTrustWithoutWitnesses: a trial with no witness policy at all. Both
// forks' packages verify on their own (the gap witnesses close), but a
// verifier that remembers fork A (--trust) refuses fork B, while an older
// package of fork A, verified after the newer one, is accepted offline
// through the consistency proofs the newer package carried.
func TestTrustWithoutWitnesses(t *testing.T) {
	dir := t.TempDir()
	logA, logB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	mustRun(t, 0, "init", "--log", logA, "--trial", forkTrial)
	vkey := filepath.Join(logA, "trials", forkTrial, "checkpoint.vkey")
	dm := filepath.Join(pilot, "dm.csv")
	mustRun(t, 0, "ingest", "--log", logA, "--trial", forkTrial, "--dataset", "DM", dm)
	older := filepath.Join(dir, "dm-older.arrow")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--log", logA, "--trial", forkTrial, "--dataset", "DM", "--where", "USUBJID=01-701-1015", "--out", older, dm)
	copyTree(t, logA, logB)
	mustRun(t, 0, "ingest", "--log", logA, "--trial", forkTrial, "--dataset", "AE", filepath.Join(pilot, "ae.csv"))
	altered := alteredAE(t, dir, 0)
	mustRun(t, 0, "ingest", "--log", logB, "--trial", forkTrial, "--dataset", "AE", altered)
	pkgA, pkgB := filepath.Join(dir, "a.arrow"), filepath.Join(dir, "b.arrow")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--log", logA, "--trial", forkTrial, "--dataset", "AE", "--where", "USUBJID=01-701-1015", "--out", pkgA, filepath.Join(pilot, "ae.csv"))
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--log", logB, "--trial", forkTrial, "--dataset", "AE", "--where", "USUBJID=01-701-1015", "--out", pkgB, altered)
	// Without memory both forks verify.
	mustRun(t, 0, "verify", "--key", vkey, pkgA)
	mustRun(t, 0, "verify", "--key", vkey, pkgB)
	trustDir := filepath.Join(dir, "trust")
	mustRun(t, 0, "verify", "--key", vkey, "--trust", trustDir, pkgA)
	out := mustRun(t, 0, "verify", "--key", vkey, "--trust", trustDir, older)
	if !strings.Contains(out, "trust: older") {
		t.Errorf("older package after the newer one:\n%s", out)
	}
	// A verifier whose memory holds no proof for an older package (here its
	// kept proofs are removed) refuses it as a rollback, unless the log's
	// published tiles (issue 15's --log-url) supply the proof.
	trust2 := filepath.Join(dir, "trust2")
	mustRun(t, 0, "verify", "--key", vkey, "--trust", trust2, pkgA)
	kept, _ := filepath.Glob(filepath.Join(trust2, "*", "latest.proofs"))
	if len(kept) != 1 {
		t.Fatalf("kept proofs: %v", kept)
	}
	os.Remove(kept[0])
	out = mustRun(t, 1, "verify", "--key", vkey, "--trust", trust2, older)
	if !strings.Contains(out, "fork or rollback (rollback)") {
		t.Errorf("older package without a proof:\n%s", out)
	}
	pub := filepath.Join(dir, "published")
	mustRun(t, 0, "publish", "--log", logA, "--trial", forkTrial, pub)
	out = mustRun(t, 0, "verify", "--key", vkey, "--trust", trust2, "--log-url", pub, older)
	if !strings.Contains(out, "trust: older") {
		t.Errorf("older package with --log-url:\n%s", out)
	}
	// The published log of fork A cannot vouch for fork B.
	mustRun(t, 1, "verify", "--key", vkey, "--trust", trust2, "--log-url", pub, pkgB)

	out = mustRun(t, 1, "verify", "--key", vkey, "--trust", trustDir, "--json", pkgB)
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if ev, _ := rep["fork_evidence"].(string); !strings.Contains(ev, "stored checkpoint") || !strings.Contains(ev, "offered checkpoint") {
		t.Errorf("verify --json of fork B lacks the evidence: %v", rep)
	}
}
