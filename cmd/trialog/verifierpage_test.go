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
// trial's key fails. The same file input takes an IRB consent report
// (told apart by its "format"): a fresh report passes with the CLI's own
// text, one with a record field edited fails naming the record, and one
// checked against another trial's key fails. It logs the page's size and
// load time (docs/performance.md).
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
	t.Run("IRB consent report", func(t *testing.T) {
		doc, err := filepath.Abs("../../testdata/consent/main-icf-1.0.txt")
		if err != nil {
			t.Fatal(err)
		}
		mustRun(t, 0, "consent", "form", "add", "--log", log, "--form", "MAIN-ICF@1.0", "--irb-ref", "IRB-2013-101", "--irb-approved", "2013-12-15",
			"--effective", "2014-01-01", "--document", doc, "--scopes", "main")
		mustRun(t, 0, "consent", "record", "--log", log, "--subject", "01-701-1015", "--type", "consented", "--form", "MAIN-ICF@1.0",
			"--time", "2014-01-02", "--recorded-by", "site 701")
		report := filepath.Join(dir, "irb.json")
		mustRun(t, 0, "consent", "report", "--log", log, "--out", report)
		raw, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		// A record field changed after the report was made: the event's
		// recorded_by, which its leaf commits to.
		edited := bytes.Replace(raw, []byte(`"recorded_by": "site 701"`), []byte(`"recorded_by": "site 702"`), 1)
		if bytes.Equal(edited, raw) {
			t.Fatal("the report has no recorded_by field to edit")
		}
		tampered := filepath.Join(dir, "irb-edited.json")
		if err := os.WriteFile(tampered, edited, 0o600); err != nil {
			t.Fatal(err)
		}
		notReport := filepath.Join(dir, "not-a-report.json")
		if err := os.WriteFile(notReport, []byte(`{"format": "trialog-consent-audit-v1"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		// The page shows what `trialog consent verify` prints, but for the path.
		cliText := func(key, file string) string {
			_, out, _ := trialog(t, "consent", "verify", "--key", key, file)
			return strings.TrimSpace(strings.ReplaceAll(out, file, "/package/"+filepath.Base(file)))
		}
		problems := func() []string {
			got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#problems li")].map((li) => li.textContent)`))
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		kind := func() string {
			got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").dataset.kind`))
			if err != nil {
				t.Fatal(err)
			}
			return got
		}

		got := verifyIn(t, vkey, report, "")
		t.Logf("fresh report: %s", got.Status)
		if ms, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.verifyMs`)); err == nil {
			t.Logf("IRB report (%d bytes) verified in the page in %s ms", len(raw), ms)
		}
		if got.OK != "true" || kind() != "consent-report" ||
			!strings.HasPrefix(got.Status, "PASS: IRB consent report of trial CDISCPILOT01, 2 consent records and 1 disclosures checked") ||
			strings.TrimSpace(got.Text) != cliText(vkey, report) || len(problems()) != 0 {
			t.Errorf("fresh report: %+v, problems %q\nCLI:\n%s", got, problems(), cliText(vkey, report))
		}

		got = verifyIn(t, vkey, tampered, "")
		t.Logf("edited report: %s; problems %q", got.Status, problems())
		if p := problems(); got.OK != "false" || !strings.HasPrefix(got.Status, "FAIL: IRB consent report") || len(p) == 0 ||
			!strings.Contains(p[0], "record 2") || strings.TrimSpace(got.Text) != cliText(vkey, tampered) {
			t.Errorf("edited report: %+v, problems %q\nCLI:\n%s", got, p, cliText(vkey, tampered))
		}

		got = verifyIn(t, otherKey, report, "")
		t.Logf("another key: %s; problems %q", got.Status, problems())
		if p := problems(); got.OK != "false" || !strings.HasPrefix(got.Status, "FAIL: IRB consent report") || len(p) == 0 ||
			!strings.Contains(p[0], "another key") || strings.TrimSpace(got.Text) != cliText(otherKey, report) {
			t.Errorf("report with another key: %+v, problems %q", got, p)
		}

		errText := verifyIn(t, vkey, notReport, "").Error
		t.Logf("not a report: %s", errText)
		if !strings.Contains(errText, "not-a-report.json") || !strings.Contains(errText, "neither a disclosure package nor an IRB consent report") || strings.Contains(errText, "\n") {
			t.Errorf("JSON that is not a report: error %q", errText)
		}
	})
	if ms, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.verifyMs`)); err == nil {
		t.Logf("last verification in the page: %s ms", ms)
	}
}
