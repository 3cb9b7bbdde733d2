package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/tlogtiles"
)

// TestVerifyFreshnessFromLogURL (issue 12, point 5): a version 1 package
// verified with --log-url after version 2 was ingested and published says
// that a newer version exists, from a published directory and from a
// `serve` URL: exit 0 with a warning, exit 1 with --require-latest; the
// version 2 package gets no warning; a server that drops version 2's
// manifest entry is caught (exit 1).
func TestVerifyFreshnessFromLogURL(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	t.Setenv("TRIALOG_LOG", log)
	t.Setenv("TRIALOG_TRIAL", "CDISCPILOT01")
	mustRun(t, 0, "init")
	vkey := filepath.Join(log, "trials", "CDISCPILOT01", "checkpoint.vkey")
	dm, err := os.ReadFile(filepath.Join(pilot, "dm.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(dm), "\n")
	dm1, dm2 := filepath.Join(dir, "dm1.csv"), filepath.Join(dir, "dm2.csv")
	os.WriteFile(dm1, []byte(strings.Join(lines[:21], "")), 0o644)
	os.WriteFile(dm2, []byte(strings.Join(lines[:31], "")), 0o644)
	pkg1, pkg2 := filepath.Join(dir, "v1.arrow"), filepath.Join(dir, "v2.arrow")
	mustRun(t, 0, "ingest", "--dataset", "DM", dm1)
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--dataset", "DM", "--where", "USUBJID=01-701-1015", "--out", pkg1, dm1)
	mustRun(t, 0, "ingest", "--dataset", "DM", dm2)
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--dataset", "DM@2", "--where", "USUBJID=01-701-1015", "--out", pkg2, dm2)
	pub := filepath.Join(dir, "public")
	mustRun(t, 0, "publish", pub)
	url := startServe(t) + "/CDISCPILOT01/"

	var v2Leaf uint64
	for _, loc := range []string{pub, url} {
		out := mustRun(t, 0, "verify", "--key", vkey, "--log-url", loc, pkg1)
		if !strings.Contains(out, "WARNING: a newer version 2 of dataset DM was logged at ") || !strings.Contains(out, "newer version: superseded") {
			t.Errorf("version 1 from %s:\n%s", loc, out)
		}
		var rep struct {
			OK        bool   `json:"ok"`
			Freshness string `json:"freshness"`
			Newer     []struct {
				Version uint64 `json:"version"`
				Leaf    uint64 `json:"leaf"`
			} `json:"newer_versions"`
			Warnings []string `json:"warnings"`
		}
		if err := json.Unmarshal([]byte(mustRun(t, 0, "verify", "--json", "--key", vkey, "--log-url", loc, pkg1)), &rep); err != nil {
			t.Fatal(err)
		}
		if !rep.OK || rep.Freshness != "superseded" || len(rep.Newer) != 1 || rep.Newer[0].Version != 2 || len(rep.Warnings) != 1 {
			t.Fatalf("JSON report from %s: %+v", loc, rep)
		}
		v2Leaf = rep.Newer[0].Leaf
		if !strings.Contains(out, "(leaf "+strconv.FormatUint(v2Leaf, 10)+")") {
			t.Errorf("the warning does not name leaf %d:\n%s", v2Leaf, out)
		}
		if out := mustRun(t, 1, "verify", "--require-latest", "--key", vkey, "--log-url", loc, pkg1); !strings.Contains(out, "problem: a newer version 2 of dataset DM") {
			t.Errorf("--require-latest from %s:\n%s", loc, out)
		}
		if out := mustRun(t, 0, "verify", "--require-latest", "--key", vkey, "--log-url", loc, pkg2); !strings.Contains(out, "newer version: none") || strings.Contains(out, "WARNING") {
			t.Errorf("version 2 from %s:\n%s", loc, out)
		}
	}
	if out := mustRun(t, 0, "verify", "--key", vkey, pkg1); !strings.Contains(out, "newer version: not checked") {
		t.Errorf("without a log:\n%s", out)
	}
	mustRun(t, 2, "verify", "--require-latest", "--key", vkey, pkg1)

	// A server that drops version 2's manifest from its entry bundle
	// (the bundle holds every leaf: the log is smaller than 256).
	lying := filepath.Join(dir, "lying")
	if err := os.CopyFS(lying, os.DirFS(pub)); err != nil {
		t.Fatal(err)
	}
	// The published log: version 2's rows and manifest, then the
	// disclosure record of the package proved from it.
	cpText, err := os.ReadFile(filepath.Join(pub, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	size, err := strconv.Atoi(strings.Split(string(cpText), "\n")[1])
	if err != nil || size <= int(v2Leaf) {
		t.Fatalf("published checkpoint of size %d (%v), version 2's manifest at leaf %d", size, err, v2Leaf)
	}
	bundle := filepath.Join(lying, filepath.FromSlash(tlogtiles.TilePathOf(tlog.Tile{H: tlogtiles.TileHeight, L: -1, N: 0, W: size})))
	data, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatalf("the log is not one partial bundle of %d leaves: %v", size, err)
	}
	leaves, err := tlogtiles.SplitBundle(data, size)
	if err != nil {
		t.Fatal(err)
	}
	var dropped []byte
	for _, l := range leaves[:v2Leaf] {
		dropped, _ = torchwood.AppendTileEntry(dropped, l)
	}
	os.WriteFile(bundle, dropped, 0o644)
	srv := httptest.NewServer(http.FileServer(http.Dir(lying)))
	defer srv.Close()
	for _, loc := range []string{lying, srv.URL + "/"} {
		if out := mustRun(t, 1, "verify", "--key", vkey, "--log-url", loc, pkg1); !strings.Contains(out, "contradicts its signed checkpoints") || strings.Contains(out, "WARNING") {
			t.Errorf("a log that hides version 2 (%s):\n%s", loc, out)
		}
	}
}
