package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// TestVerifierPageInChromium writes the browser verifier with
// `trialog verifier-page`, opens it from file:// in headless Chromium
// (with the network cut off), and drives it as a sponsor would: pick the
// key, the package and the data file, press Verify. A fresh detached
// package with its CSV passes; an edited CSV fails naming the row and the
// column, as `trialog verify` does; a package checked against another
// trial's key fails. It logs the page's size and load time
// (docs/performance.md).
func TestVerifierPageInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing under CI: run .ci/chromium.sh", chromiumPath)
		}
		t.Skipf("%s is missing: install it with .ci/chromium.sh", chromiumPath)
	}
	dir := t.TempDir()
	t.Setenv("TRIALOG_TRIAL", "CDISCPILOT01")
	log, other := filepath.Join(dir, "log"), filepath.Join(dir, "other")
	mustRun(t, 0, "init", "--log", log)
	mustRun(t, 0, "init", "--log", other)
	vkey := filepath.Join(log, "trials", "CDISCPILOT01", "checkpoint.vkey")
	otherKey := filepath.Join(other, "trials", "CDISCPILOT01", "checkpoint.vkey")
	dm, err := filepath.Abs(filepath.Join(pilot, "dm.csv")) // Chromium wants absolute paths
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, 0, "ingest", "--log", log, "--dataset", "DM", dm)
	pkg := filepath.Join(dir, "dm.proof.arrow")
	// The full form names the column of an edited cell by itself (a
	// derived package names the row; TestDerivedPackage).
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--log", log, "--dataset", "DM", "--detached", "--form", "full", "--out", pkg, dm)
	raw, _ := os.ReadFile(dm)
	edited := filepath.Join(dir, "dm-edited.csv")
	os.WriteFile(edited, bytes.Replace(raw, []byte(`"01-701-1023","1023","2012-08-05"`), []byte(`"01-701-1023","1023","2012-08-06"`), 1), 0o644)
	// The CLI's report for the edited copy: the page must show the same.
	_, cliOut, _ := trialog(t, "verify", "--key", vkey, pkg, edited)
	cliRow := regexp.MustCompile(`row (\d+) \(leaf (\d+)\): columns RFSTDTC`).FindStringSubmatch(cliOut)
	if cliRow == nil {
		t.Fatalf("CLI report lacks the edited row:\n%s", cliOut)
	}

	page := filepath.Join(dir, "verifier.html")
	mustRun(t, 0, "verifier-page", page)
	st, err := os.Stat(page)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("verifier page: %d bytes", st.Size())

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-quic", true),
		// Cut the network: the page must need none.
		chromedp.ProxyServer("http://127.0.0.1:9"), chromedp.Flag("proxy-bypass-list", "<-loopback>"))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+page),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`))); err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	loadMs, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.loadMs`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("verifier page ready %s ms after its script started, %v after navigation", loadMs, time.Since(start).Round(time.Millisecond))

	type shown struct{ OK, Status, Table, Text, Error string }
	verifyIn := func(t *testing.T, key, pkg, data string) shown {
		t.Helper()
		steps := []chromedp.Action[chromedp.Void]{chromedp.SetUploadFiles(chromedp.ID("key"), []string{key}),
			chromedp.SetUploadFiles(chromedp.ID("package"), []string{pkg})}
		if data != "" {
			steps = append(steps, chromedp.SetUploadFiles(chromedp.ID("data"), []string{data}))
		}
		steps = append(steps, chromedp.Click(chromedp.ID("verify")), chromedp.WaitVisible(chromedp.CSS(`#status[data-ok]`)))
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("verifying in the page: %v", err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[shown](`(() => { const $ = (id) => document.getElementById(id);
			return {OK: $("status").dataset.ok, Status: $("status").textContent, Table: $("badrows").textContent,
				Text: $("text").textContent, Error: $("error").textContent}; })()`))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	t.Run("fresh package passes", func(t *testing.T) {
		got := verifyIn(t, vkey, pkg, dm)
		if got.OK != "true" || !strings.HasPrefix(got.Status, "PASS") || !strings.Contains(got.Text, "306 rows checked") {
			t.Errorf("%+v", got)
		}
	})
	t.Run("edited CSV shows row and column", func(t *testing.T) {
		got := verifyIn(t, vkey, pkg, edited)
		if got.OK != "false" || !strings.HasPrefix(got.Status, "FAIL") {
			t.Errorf("ok=%s status %q", got.OK, got.Status)
		}
		table, text := got.Table, got.Text
		// The table's cells run together in textContent: row, leaf, columns.
		if !strings.Contains(table, cliRow[1]+cliRow[2]+"RFSTDTC") {
			t.Errorf("bad-row table %q lacks row %s, leaf %s, column RFSTDTC", table, cliRow[1], cliRow[2])
		}
		// The same text report as the CLI, but for the file paths.
		want := strings.ReplaceAll(cliOut, pkg, "/package/"+filepath.Base(pkg))
		if strings.TrimSpace(text) != strings.TrimSpace(want) {
			t.Errorf("page report differs from the CLI's:\npage:\n%s\ncli:\n%s", text, want)
		}
	})
	t.Run("another key fails", func(t *testing.T) {
		got := verifyIn(t, otherKey, pkg, dm)
		if got.OK != "false" || !strings.HasPrefix(got.Status, "FAIL") || !strings.Contains(got.Text, "problem:") {
			t.Errorf("%+v", got)
		}
	})
	t.Run("bad input is one clear line", func(t *testing.T) {
		errText := verifyIn(t, vkey, dm, "").Error
		if !strings.Contains(errText, "dm.csv") || strings.Contains(errText, "\n") {
			t.Errorf("a CSV given as the package: error %q", errText)
		}
	})
	if ms, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.verifyMs`)); err == nil {
		t.Logf("last verification in the page: %s ms", ms)
	}
}
