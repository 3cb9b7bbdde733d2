package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/internal/hostile"
)

// TestVerifyHostilePackage (issue 12): `trialog verify` on a crafted
// package, with a data file (so the manifest step runs first), exits 2
// with one line naming the file; a rows package checked against a whole
// data file says how many rows it does not cover (--complete fails on
// them); the report names the version and its ingest time; subject
// packages are minimal.
func TestVerifyHostilePackage(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	initPilotTrial(t, log)
	dm := filepath.Join(pilot, "dm.csv")
	if code, _, errOut := trialogAt(t, func() time.Time { return time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC) }, "ingest", "--dataset", "DM", dm); code != 0 {
		t.Fatalf("ingest: exit %d: %s", code, errOut)
	}
	vkey := filepath.Join(log, "trials", "CDISCPILOT01", "checkpoint.vkey")
	pkg := filepath.Join(dir, "s.arrow")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--dataset", "DM", "--where", "USUBJID=01-701-1015", "--out", pkg, dm)

	honest, err := os.ReadFile(pkg)
	if err != nil {
		t.Fatal(err)
	}
	crafted, err := hostile.SetRecordBlock(honest, 0, 8, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "crafted.arrow")
	os.WriteFile(bad, crafted, 0o644)
	code, out, errOut := trialog(t, "verify", "--key", vkey, bad, dm)
	if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, bad) || strings.Contains(errOut, "goroutine") {
		t.Fatalf("crafted package: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	text := mustRun(t, 0, "verify", "--key", vkey, pkg, dm)
	for _, want := range []string{"DM version 1 (ingested 2026-11-02T08:00:00Z)", "305 rows of the data file", "not covered by this package", "newer version: not checked"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	var rep struct {
		IngestedAt  string `json:"ingested_at"`
		NotCovered  uint64 `json:"data_rows_not_covered"`
		DataRows    uint64 `json:"data_rows"`
		Freshness   string `json:"freshness"`
		OK          bool   `json:"ok"`
		RowsChecked uint64 `json:"rows_checked"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, 0, "verify", "--json", "--key", vkey, pkg, dm)), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.NotCovered != 305 || rep.DataRows != 306 || rep.IngestedAt != "2026-11-02T08:00:00Z" || rep.Freshness != "not checked" {
		t.Errorf("JSON report %+v", rep)
	}
	mustRun(t, 1, "verify", "--complete", "--key", vkey, pkg, dm)
	mustRun(t, 2, "verify", "--key", vkey, "--dataset", "DM@0", pkg)
	if out := mustRun(t, 1, "verify", "--key", vkey, "--dataset", "DM@2", pkg); !strings.Contains(out, "expected version 2") {
		t.Errorf("pinned version 2 of a version 1 package:\n%s", out)
	}

	share := filepath.Join(dir, "share")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--subject", "01-701-1015", "--out", share, dm)
	sub := filepath.Join(share, "DM@1.arrow")
	if out := mustRun(t, 0, "verify", "--key", vkey, sub); !strings.Contains(out, "minimal package") {
		t.Errorf("subject package is not minimal:\n%s", out)
	}
}
