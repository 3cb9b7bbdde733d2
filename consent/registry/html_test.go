package registry_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/consent/registry"
	"github.com/trialog/trialog/consent/reporthtml"
)

const chromiumPath = "/usr/bin/chromium"

// chromium returns the browser, skipping the test when it is missing
// (failing under CI, which installs it with .ci/chromium.sh).
func chromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing under CI: run .ci/chromium.sh", chromiumPath)
		}
		t.Skipf("%s is missing: install it with .ci/chromium.sh to check the HTML report in a browser", chromiumPath)
	}
	return chromiumPath
}

func runChromium(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, chromium(t), append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestReportHTMLInChromium renders the IRB report, loads it in headless
// Chromium, asserts on the DOM and takes a screenshot. Set
// TRIALOG_SCREENSHOT_DIR to keep the PNG.
func TestReportHTMLInChromium(t *testing.T) {
	chromium(t)
	fx := newFixture(t)
	rep, err := registry.MakeReport(context.Background(), fx.t, fx.reg, []*consent.AuditResult{fx.audit(t, "main"), fx.audit(t, "samples")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var html bytes.Buffer
	if err := reporthtml.WriteHTML(&html, rep, 500); err != nil {
		t.Fatal(err)
	}
	// Self-contained: no script, no external stylesheet, image or font.
	if m := regexp.MustCompile(`(?i)<script|<link|<img|src=|url\(|@import`).Find(html.Bytes()); m != nil {
		t.Errorf("HTML report loads an asset: %q", m)
	}
	dir := os.Getenv("TRIALOG_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	page := filepath.Join(dir, "consent-report.html")
	if err := os.WriteFile(page, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "file://" + page

	dom := string(runChromium(t, "--dump-dom", url))
	for _, want := range []string{
		`<span id="trial">TEST01</span>`,
		`id="verified-count" class="verified">12 / 12</b>`,
		`<b id="participant-count">6</b>`,
		`<td class="finding" data-kind="after-withdrawal">1</td>`,
		`<td class="finding" data-kind="superseded-form">1</td>`,
		`id="subject-S-003"`,
		`2014-02 <em>(partial)</em>`,
		`scope “samples”`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM lacks %s", want)
		}
	}
	if n := strings.Count(dom, `class="participant"`); n != 6 {
		t.Errorf("%d participant sections, want 6", n)
	}
	if n := strings.Count(dom, `<td class="verified">verified: leaf`); n != 12 {
		t.Errorf("%d verified lines, want 12 (one per record)", n)
	}
	if strings.Contains(dom, `class="failed"`) {
		t.Errorf("the report shows a failed verification")
	}

	shot := filepath.Join(dir, "consent-report.png")
	runChromium(t, "--screenshot="+shot, "--window-size=1200,1600", "--hide-scrollbars", url)
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 30_000 {
		t.Errorf("screenshot %s: %d bytes, not a rendered page", shot, len(png))
	}
}

// TestPilotReportReadsByParticipant renders the IRB report of the real
// pilot AE audit (1,191 rows, all no-consent, 225 participants) in
// headless Chromium: the picture comes first — by finding, by site, by
// participant with the rows one click away in a closed <details> — and
// the page prints (a PDF is made). Set TRIALOG_SCREENSHOT_DIR to keep the
// PNG and PDF.
func TestPilotReportReadsByParticipant(t *testing.T) {
	chromium(t)
	tr, reg := pilotTrial(t)
	importSDTM(t, reg, pilotFile(t, "ds.csv"), pilotFile(t, "dm.csv"), nil)
	audits := auditPilot(t, tr, reg)
	rep, err := registry.MakeReport(context.Background(), tr, reg, []*consent.AuditResult{audits["AE"]}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var html bytes.Buffer
	if err := reporthtml.WriteHTML(&html, rep, 50); err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("TRIALOG_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	page := filepath.Join(dir, "pilot-consent-report.html")
	if err := os.WriteFile(page, html.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "file://" + page
	dom := string(runChromium(t, "--dump-dom", url))
	if n := strings.Count(dom, `<details class="subject-findings"`); n != 225 {
		t.Errorf("%d participant entries, want 225", n)
	}
	if strings.Contains(dom, `<details class="subject-findings" data-subject="01-701-1015" open`) {
		t.Error("a participant's rows are open by default")
	}
	for _, want := range []string{
		`<tr data-kind="no-consent"><td class="finding">no-consent</td><td>225</td><td>1191</td></tr>`,
		`<table class="by-site">`,
		`data-site="701"`,
		`data-subject="01-701-1015"`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM lacks %s", want)
		}
	}
	// Worst first: the participant with the most rows leads the list.
	first := regexp.MustCompile(`<details class="subject-findings" data-subject="([^"]+)"`).FindStringSubmatch(dom)
	most, mostSubject := 0, ""
	counts := map[string]int{}
	for _, f := range audits["AE"].Findings {
		counts[f.Subject]++
	}
	for s, n := range counts {
		if n > most || n == most && s < mostSubject {
			most, mostSubject = n, s
		}
	}
	if first == nil || first[1] != mostSubject {
		t.Errorf("first participant %v, want %s with %d rows", first, mostSubject, most)
	}
	shot := filepath.Join(dir, "pilot-consent-report.png")
	runChromium(t, "--screenshot="+shot, "--window-size=1200,1800", "--hide-scrollbars", url)
	if png, err := os.ReadFile(shot); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 30_000 {
		t.Errorf("screenshot %s: %d bytes, %v", shot, len(png), err)
	}
	pdf := filepath.Join(dir, "pilot-consent-report.pdf")
	runChromium(t, "--print-to-pdf="+pdf, "--no-pdf-header-footer", url)
	if b, err := os.ReadFile(pdf); err != nil || !bytes.HasPrefix(b, []byte("%PDF")) {
		t.Errorf("print to PDF: %v", err)
	}
}
