package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trialog/trialog/backend"
	"github.com/trialog/trialog/leaf"
)

// TestEraseParticipant: after consent erase of one pilot participant,
// their rows cannot be proved or logged again; every other package of the
// trial, made before and after, still verifies; the old checkpoint is
// consistent with the new one; the key store and the log no longer name
// them.
func TestEraseParticipant(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	t.Setenv("TRIALOG_LOG", log)
	t.Setenv("TRIALOG_TRIAL", "CDISCPILOT01")
	mustRun(t, 0, "init")
	vkey := filepath.Join(log, "trials", "CDISCPILOT01", "checkpoint.vkey")
	dm, ae := filepath.Join(pilot, "dm.csv"), filepath.Join(pilot, "ae.csv")
	mustRun(t, 0, "ingest", "--dataset", "DM", dm)
	mustRun(t, 0, "ingest", "--dataset", "AE", ae)
	const gone = "01-701-1028"
	keysFile := filepath.Join(log, "trials", "CDISCPILOT01", "keys.json")
	if raw, _ := os.ReadFile(keysFile); !bytes.Contains(raw, []byte(gone)) || !bytes.Contains(raw, []byte("01-701-1015")) {
		t.Fatal("ingest gave the participants no keys")
	}
	old := filepath.Join(dir, "old.checkpoint")
	os.WriteFile(old, []byte(mustCheckpoint(t)), 0o644)
	disclose := []string{"--purpose", "main", "--recipient", "Sponsor", "--no-consent-check"}
	pkgs := map[string][]string{} // package → its data file, if detached
	prove := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		mustRun(t, 0, append(append(append([]string{"prove"}, disclose...), "--out", p), args...)...)
		return p
	}
	pkgs[prove("ae-1015-before.arrow", "--dataset", "AE", "--where", "USUBJID=01-701-1015", ae)] = nil
	pkgs[prove("dm-before.arrow", "--dataset", "DM", "--detached", dm)] = []string{dm}
	pkgs[prove("ae-gone-before.arrow", "--dataset", "AE", "--where", "USUBJID="+gone, ae)] = nil

	if code, _, errOut := trialog(t, "consent", "erase", "--subject", gone, "--reason", "rows of "+gone+" collected in error"); code != 2 || strings.Contains(errOut, gone) {
		t.Errorf("a reason naming the participant: exit %d %s", code, errOut)
	}
	out := mustRun(t, 0, "consent", "erase", "--subject", gone, "--reason", "data collected without valid consent (IRB ticket 42)", "--operator", "dpo")
	if !strings.Contains(out, "erasure logged at leaf") {
		t.Errorf("erase: %s", out)
	}
	raw, err := os.ReadFile(keysFile)
	if err != nil || bytes.Contains(raw, []byte(gone)) || !json.Valid(raw) || !bytes.Contains(raw, []byte("01-701-1015")) {
		t.Fatalf("key store after erase: %v\n%s", err, raw)
	}
	if code, _, errOut := trialog(t, "consent", "erase", "--subject", gone, "--reason", "again"); code != 2 || !strings.Contains(errOut, "erased") {
		t.Errorf("second erase: exit %d %s", code, errOut)
	}

	// Their rows cannot be proved, with a clear message, not even by override.
	code, _, errOut := trialog(t, append(append([]string{"prove"}, disclose...), "--dataset", "AE", "--where", "USUBJID="+gone, "--out", filepath.Join(dir, "x.arrow"), ae)...)
	if code != 2 || !strings.Contains(errOut, "key was erased") || strings.Contains(errOut, gone) {
		t.Errorf("prove of the erased rows: exit %d %s", code, errOut)
	}
	// Nor logged again.
	if code, _, errOut := trialog(t, "ingest", "--dataset", "AE", "--new-version", ae); code != 2 || !strings.Contains(errOut, "key was erased") {
		t.Errorf("re-ingest of the erased participant's rows: exit %d %s", code, errOut)
	}
	// Packages made after: the participant's rows are left out and counted.
	pkgs[prove("ae-1015-after.arrow", "--dataset", "AE", "--where", "USUBJID=01-701-1015", ae)] = nil
	p := filepath.Join(dir, "dm-after.arrow")
	out = mustRun(t, 0, append(append([]string{"prove"}, disclose...), "--dataset", "DM", "--json", "--out", p, dm)...)
	var res struct {
		Rows   uint64 `json:"rows"`
		Erased uint64 `json:"erased_rows"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Rows != 305 || res.Erased != 1 {
		t.Errorf("DM after the erasure: %v %s", err, out)
	}
	pkgs[p] = nil
	// Every package, before and after, verifies (the participant's own
	// package made before carries its salts: a disclosure cannot be taken
	// back).
	for pkg, data := range pkgs {
		if out := mustRun(t, 0, append([]string{"verify", "--key", vkey, pkg}, data...)...); !strings.Contains(out, ": OK") {
			t.Errorf("%s: %s", pkg, out)
		}
	}
	cur := filepath.Join(dir, "new.checkpoint")
	os.WriteFile(cur, []byte(mustCheckpoint(t)), 0o644)
	mustRun(t, 0, "consistency", old, cur)
	assertNoParticipantInLog(t, []string{"--log", log})
	if out := mustRun(t, 0, "disclosures"); !strings.Contains(out, "5 disclosures") {
		t.Errorf("disclosures: %s", out)
	}
}

// TestKilledEraseLeavesOneState kills `trialog consent erase` (SIGKILL)
// at spread-out moments, then checks that the key store always parses and
// holds each participant either with their key or erased, never half; and
// that once any erase has finished the interrupted ones, the erasure
// leaves in the log and the erased participants in the key store agree.
func TestKilledEraseLeavesOneState(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "trialog")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	log := filepath.Join(dir, "log")
	t.Setenv("TRIALOG_LOG", log)
	t.Setenv("TRIALOG_TRIAL", "CDISCPILOT01")
	mustRun(t, 0, "init")
	mustRun(t, 0, "ingest", "--dataset", "DM", filepath.Join(pilot, "dm.csv"))
	subjects := pilotSubjects(t)
	keysFile := filepath.Join(log, "trials", "CDISCPILOT01", "keys.json")
	// An erase takes ~150 ms here (start-up, log append, fsyncs, key
	// store): kills every 10 ms from 0 to 190 ms land in every phase.
	const kills = 20
	for i := 0; i < kills; i++ {
		s := subjects[i]
		cmd := exec.Command(bin, "consent", "erase", "--subject", s, "--reason", fmt.Sprintf("test %d", i))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i*10) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		raw, err := os.ReadFile(keysFile)
		var store struct {
			Participants map[string]string `json:"participants"`
		}
		if err != nil || json.Unmarshal(raw, &store) != nil {
			t.Fatalf("kill %d: key store unreadable: %v", i, err)
		}
		if store.Participants[s] != "" && len(store.Participants[s]) != 64 {
			t.Fatalf("kill %d: a half-written key", i)
		}
	}
	// Any erase finishes the interrupted one first.
	mustRun(t, 0, "consent", "erase", "--subject", subjects[100], "--reason", "finish")
	tr, err := backend.Open(context.Background(), backend.Location{Dir: log}, "CDISCPILOT01", false)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	keys, err := tr.Keys()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := tr.Log.LatestRoot(context.Background())
	leaves, _ := tr.Log.Leaves(context.Background(), 0, root.Size)
	logged := 0
	for _, l := range leaves {
		if k, _, _ := leaf.Header(l); k == leaf.KindErasure {
			logged++
		}
	}
	erased := 0
	for _, s := range append(subjects[:kills:kills], subjects[100]) {
		if !keys.Has(s) {
			erased++
			if _, err := keys.Key(s); err == nil {
				t.Errorf("participant without a key is not marked erased")
			}
		}
	}
	if logged != erased || erased == 0 {
		t.Errorf("%d erasure leaves logged, %d participants erased", logged, erased)
	}
	t.Logf("%d of %d erasures completed (%d killed at 0–190 ms)", erased, kills+1, kills)
	if j, _ := tr.Journal(); j != nil {
		t.Errorf("journal left: %+v", j)
	}
}

// TestEraseWarnsOfUnkeyedVersions (adversarial review): a dataset whose
// participant column is not found (here renamed SUBJECT) is salted with
// the trial key; an erasure cannot cover it, and erase says which
// versions it does not cover instead of implying it erased everything.
func TestEraseWarnsOfUnkeyedVersions(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TRIALOG_LOG", filepath.Join(dir, "log"))
	t.Setenv("TRIALOG_TRIAL", "CDISCPILOT01")
	mustRun(t, 0, "init")
	mustRun(t, 0, "ingest", "--dataset", "DM", filepath.Join(pilot, "dm.csv"))
	raw, err := os.ReadFile(filepath.Join(pilot, "ae.csv"))
	if err != nil {
		t.Fatal(err)
	}
	aex := filepath.Join(dir, "aex.csv")
	os.WriteFile(aex, []byte(strings.Replace(string(raw), `"USUBJID"`, `"SUBJECT"`, 1)), 0o644)
	mustRun(t, 0, "ingest", "--dataset", "AEX", aex)
	code, out, errOut := trialog(t, "consent", "erase", "--subject", "01-701-1028", "--reason", "collected in error")
	if code != 0 || !strings.Contains(out, "key destroyed") || !strings.Contains(errOut, "AEX@1 was salted without a subject column") || strings.Contains(errOut, "DM@1") {
		t.Errorf("erase: exit %d\n%s\n%s", code, out, errOut)
	}
}
