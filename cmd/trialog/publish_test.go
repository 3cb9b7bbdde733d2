package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/trillian/trilliantest"
)

// startServe runs `trialog serve` in-process on a free loopback port
// until the test ends, and returns its base URL. The port is picked by
// listening on :0 and closing; if another process takes it first, serve
// exits and the next port is tried.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, append([]string{"trialog", "serve", "--addr", addr, "--refresh", "200ms"}, args...))
		}()
		base := "http://" + addr
		up := false
		for i := 0; i < 200 && !up; i++ {
			select {
			case <-done:
				i = 200 // serve exited (port taken?): try another
				continue
			default:
			}
			if resp, err := http.Get(base + "/"); err == nil {
				resp.Body.Close()
				up = true
			} else {
				time.Sleep(50 * time.Millisecond)
			}
		}
		select {
		case <-done:
			up = false
		default:
		}
		if !up {
			cancel()
			continue
		}
		t.Cleanup(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exited %d after shutdown", code)
			}
		})
		return base
	}
	t.Fatal("serve did not start")
	return ""
}

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// pilotDMSecrets returns the identifiers, dates and text of the pilot DM
// (every distinct value of 5 bytes or more, except STUDYID, which is the
// trial's public ID).
func pilotDMSecrets(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(pilot, "dm.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range recs[1:] {
		for i, v := range r {
			if recs[0][i] == "STUDYID" || len(v) < 5 || seen[v] {
				continue
			}
			seen[v] = true
			out = append(out, v)
		}
	}
	if len(out) < 300 {
		t.Fatalf("only %d DM values", len(out))
	}
	return out
}

// TestPublishServeMonitor: a CRO publishes and serves; a third party with
// the verifier key alone (a copy, no CRO directory) checks consistency and
// monitors over HTTP and from a directory; nothing of the DM is public.
func TestPublishServeMonitor(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "cro", "log")
	initPilotTrial(t, log)
	const fx = "../../testdata/consent"
	mustRun(t, 0, "consent", "form", "add", "--form", "MAIN-ICF@1.0", "--irb-ref", "IRB-2013-101", "--irb-approved", "2013-12-15",
		"--effective", "2014-01-01", "--document", filepath.Join(fx, "main-icf-1.0.txt"), "--scopes", "main")
	mustRun(t, 0, "ingest", "--dataset", "DM", "--operator", "Jane Q. Operator", filepath.Join(pilot, "dm.csv"))
	pub := filepath.Join(dir, "cro", "public")
	mustRun(t, 0, "publish", pub)
	party := filepath.Join(dir, "sponsor")
	os.MkdirAll(party, 0o755)
	vkey, cp1, cp2 := filepath.Join(party, "log.vkey"), filepath.Join(party, "cp1"), filepath.Join(party, "cp2")
	copyFile(t, filepath.Join(log, "trials", "CDISCPILOT01", "checkpoint.vkey"), vkey)
	copyFile(t, filepath.Join(pub, "checkpoint"), cp1)
	mustRun(t, 0, "ingest", "--dataset", "AE", filepath.Join(pilot, "ae.csv"))
	mustRun(t, 0, "consent", "record", "--subject", "01-701-1015", "--type", "consented", "--form", "MAIN-ICF@1.0",
		"--time", "2014-01-02T09:00:00Z", "--recorded-by", "site 701")
	// A disclosure and an erasure by a named operator: their leaves are
	// published too, and name no one.
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--operator", "Jane Q. Operator",
		"--dataset", "AE", "--where", "USUBJID=01-701-1015", "--out", filepath.Join(dir, "cro", "ae.arrow"), filepath.Join(pilot, "ae.csv"))
	mustRun(t, 0, "consent", "erase", "--subject", "01-701-1023", "--reason", "collected in error", "--operator", "Jane Q. Operator")
	out := mustRun(t, 0, "publish", "--json", pub)
	var res struct{ OldSize, NewSize uint64 }
	json.Unmarshal([]byte(strings.NewReplacer("old_size", "OldSize", "new_size", "NewSize").Replace(out)), &res)
	if res.OldSize != 308 || res.NewSize <= res.OldSize {
		t.Fatalf("second publish: %s", out)
	}
	copyFile(t, filepath.Join(pub, "checkpoint"), cp2)

	base := startServe(t)
	url := base + "/CDISCPILOT01/"
	for _, loc := range []string{url, pub} {
		mustRun(t, 0, "consistency", "--log-url", loc, "--key", vkey, cp1, cp2)
		if code, _, errOut := trialog(t, "consistency", "--log-url", loc, "--key", vkey, cp2, cp1); code != 1 || !strings.Contains(errOut, "rolled back") {
			t.Errorf("consistency NEW OLD from %s: exit %d %s", loc, code, errOut)
		}
	}
	// The served log is the published one (serve published its own copy
	// under the trial directory: the same bytes).
	filepath.WalkDir(pub, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(pub, p)
		want, _ := os.ReadFile(p)
		code, got := httpGet(t, url+filepath.ToSlash(rel))
		if strings.Contains(rel, ".p") && code == 404 {
			return nil // an intermediate partial tile: serve published the tree in one go
		}
		if code != 200 || !bytes.Equal(got, want) {
			t.Errorf("GET %s: %d (%d bytes, published %d)", rel, code, len(got), len(want))
		}
		return nil
	})
	// verify --log-url: a package's checkpoint is a prefix of the published log.
	pkg := filepath.Join(party, "dm.arrow")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--dataset", "DM", "--where", "USUBJID=01-701-1015", "--out", pkg, filepath.Join(pilot, "dm.csv"))
	for _, loc := range []string{url, pub} {
		if out := mustRun(t, 0, "verify", "--key", vkey, "--log-url", loc, pkg); !strings.Contains(out, "extends the package's checkpoint") {
			t.Errorf("verify --log-url %s: %s", loc, out)
		}
	}
	for _, p := range []string{"secret", "checkpoint.key", "trial.json", "../CDISCPILOT01/secret", "tree/tree.db", "public/checkpoint"} {
		if code, _ := httpGet(t, url+p); code != 404 {
			t.Errorf("GET %s: %d", p, code)
		}
	}

	// A trial created while serving is served after the next refresh.
	mustRun(t, 0, "init", "--trial", "LATER01")
	mustRun(t, 0, "ingest", "--trial", "LATER01", "--dataset", "DM", filepath.Join(pilot, "dm.csv"))
	for i := 0; ; i++ {
		if code, _ := httpGet(t, base+"/LATER01/checkpoint"); code == 200 {
			break
		} else if i == 50 {
			t.Fatalf("a new trial is not served: %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Monitor over HTTP: dataset versions and consent records, never values.
	state := filepath.Join(party, "monitor")
	out = mustRun(t, 0, "monitor", "--log-url", url, "--key", vkey, "--state", state, "--json")
	var rep struct {
		NewSize  uint64 `json:"new_size"`
		Datasets []struct {
			Dataset string
			Version uint64
			Rows    uint64
		} `json:"dataset_versions"`
		New struct {
			Rows    uint64
			Consent map[string]uint64
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Datasets) != 2 || rep.Datasets[0].Dataset != "DM" || rep.Datasets[0].Rows != 306 || rep.Datasets[1].Dataset != "AE" ||
		rep.New.Consent["form"] != 1 || rep.New.Consent["event"] != 1 || rep.New.Rows != 306+rep.Datasets[1].Rows {
		t.Errorf("monitor report: %s", out)
	}
	// Resumes from its state: nothing new.
	if out := mustRun(t, 0, "monitor", "--log-url", url, "--key", vkey, "--state", state); !strings.Contains(out, fmt.Sprintf("tree %d → %d, consistent: 0 new", rep.NewSize, rep.NewSize)) {
		t.Errorf("second monitor: %s", out)
	}

	// Privacy: no DM identifier, date or text, and not the operator's
	// name or the source file name, anywhere in what is published or served.
	var served [][]byte
	filepath.WalkDir(pub, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			served = append(served, b)
			rel, _ := filepath.Rel(pub, p)
			_, b = httpGet(t, url+filepath.ToSlash(rel))
			served = append(served, b)
		}
		return nil
	})
	for _, v := range append(pilotDMSecrets(t), "Jane Q. Operator", "site 701", "dm.csv", "ae.csv") {
		for _, b := range served {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%q is published", v)
				break
			}
		}
	}

	// A tile or an entry bundle altered after publishing is caught by a
	// monitor that reads it.
	for _, victim := range []string{"tile/entries/000", "tile/0/000", "tile/1/000.p/" + fmt.Sprint(rep.NewSize/256)} {
		bad := filepath.Join(dir, "altered-"+strings.ReplaceAll(victim, "/", "_"))
		os.CopyFS(bad, os.DirFS(pub))
		p := filepath.Join(bad, filepath.FromSlash(victim))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[40] ^= 1
		os.WriteFile(p, b, 0o644)
		code, out, errOut := trialog(t, "monitor", "--log-url", bad, "--key", vkey, "--state", filepath.Join(bad+"-state"))
		if code != 1 || !strings.Contains(out, "INCONSISTENT") {
			t.Errorf("monitor of %s altered: exit %d\n%s%s", victim, code, out, errOut)
		}
	}
	// A package from a tree the log has not published yet does not verify
	// against it.
	mustRun(t, 0, "consent", "record", "--subject", "01-701-1023", "--type", "consented", "--form", "MAIN-ICF@1.0",
		"--time", "2014-01-02T09:00:00Z", "--recorded-by", "site 701")
	newer := filepath.Join(party, "dm-newer.arrow")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--dataset", "DM", "--where", "USUBJID=01-701-1015", "--out", newer, filepath.Join(pilot, "dm.csv"))
	if code, out, _ := trialog(t, "verify", "--key", vkey, "--log-url", pub, "--json", newer); code != 1 || !strings.Contains(out, "does not cover") {
		t.Errorf("verify of an unpublished tree: exit %d %s", code, out)
	}
}

// TestMonitorCatchesFork: a copy of a log with the same key and another
// history, published: the monitor that followed one reports the other
// with both checkpoints, exit 1, and keeps its state.
func TestMonitorCatchesFork(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	mustRun(t, 0, "init", "--log", a, "--trial", "T1")
	mustRun(t, 0, "ingest", "--log", a, "--trial", "T1", "--dataset", "DM", filepath.Join(pilot, "dm.csv"))
	if err := os.CopyFS(b, os.DirFS(a)); err != nil {
		t.Fatal(err)
	}
	mustRun(t, 0, "ingest", "--log", a, "--trial", "T1", "--dataset", "AE", filepath.Join(pilot, "ae.csv"))
	mustRun(t, 0, "ingest", "--log", b, "--trial", "T1", "--dataset", "SV", filepath.Join(pilot, "sv.csv"))
	pa, pb := filepath.Join(dir, "pa"), filepath.Join(dir, "pb")
	mustRun(t, 0, "publish", "--log", a, "--trial", "T1", pa)
	mustRun(t, 0, "publish", "--log", b, "--trial", "T1", pb)
	vkey := filepath.Join(a, "trials", "T1", "checkpoint.vkey")
	state := filepath.Join(dir, "state")
	mustRun(t, 0, "monitor", "--log-url", pa, "--key", vkey, "--state", state)
	before, _ := os.ReadFile(filepath.Join(state, "state.json"))
	cpA, _ := os.ReadFile(filepath.Join(pa, "checkpoint"))
	cpB, _ := os.ReadFile(filepath.Join(pb, "checkpoint"))
	code, out, errOut := trialog(t, "monitor", "--log-url", pb, "--key", vkey, "--state", state)
	if code != 1 || !strings.Contains(out, string(cpA)) || !strings.Contains(out, string(cpB)) || !strings.Contains(out, "INCONSISTENT") {
		t.Errorf("forked log: exit %d\n%s\n%s", code, out, errOut)
	}
	after, _ := os.ReadFile(filepath.Join(state, "state.json"))
	if !bytes.Equal(before, after) {
		t.Error("the monitor's state changed on a fork")
	}
	// A package from fork B verifies on its own, but not against fork A's
	// published log.
	pkg := filepath.Join(dir, "sv.arrow")
	mustRun(t, 0, "prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--log", b, "--trial", "T1", "--dataset", "SV", "--out", pkg, filepath.Join(pilot, "sv.csv"))
	mustRun(t, 0, "verify", "--key", vkey, pkg)
	if code, out, _ := trialog(t, "verify", "--key", vkey, "--log-url", pa, pkg); code != 1 || !strings.Contains(out, "published log") {
		t.Errorf("fork B package against fork A's log: exit %d %s", code, out)
	}
	// Publishing fork B over fork A's directory is refused too.
	if code, _, errOut := trialog(t, "publish", "--log", b, "--trial", "T1", pa); code != 1 {
		t.Errorf("publish B over A: exit %d %s", code, errOut)
	}
}

// TestPublishOnTrillian: the same trial on a live Trillian deployment and
// on the embedded log publishes byte-identical directories, and the
// Trillian-backed one monitors and proves consistency.
func TestPublishOnTrillian(t *testing.T) {
	d := trilliantest.StartT(t, trilliantest.Options{})
	dir := t.TempDir()
	emb, state := filepath.Join(dir, "embedded"), filepath.Join(dir, "state")
	mustRun(t, 0, "init", "--log", emb, "--trial", "CDISCPILOT01")
	mustRun(t, 0, "init", "--log", d.URL(), "--state", state, "--trial", "CDISCPILOT01")
	for _, f := range []string{"secret", "checkpoint.key", "checkpoint.vkey"} {
		copyFile(t, filepath.Join(emb, "trials", "CDISCPILOT01", f), filepath.Join(state, "trials", "CDISCPILOT01", f))
	}
	vkey := filepath.Join(emb, "trials", "CDISCPILOT01", "checkpoint.vkey")
	pubs := []string{filepath.Join(dir, "pub-embedded"), filepath.Join(dir, "pub-trillian")}
	var cps []string
	for step, ds := range []string{"dm", "ae"} {
		for i, logArgs := range [][]string{{"--log", emb}, {"--log", d.URL(), "--state", state}} {
			if i == 1 { // the participant keys (salts v2) the embedded ingest created at random
				copyFile(t, filepath.Join(emb, "trials", "CDISCPILOT01", "keys.json"), filepath.Join(state, "trials", "CDISCPILOT01", "keys.json"))
			}
			args := append([]string{"ingest", "--trial", "CDISCPILOT01", "--operator", "cro", "--dataset", strings.ToUpper(ds)}, logArgs...)
			if code, _, errOut := trialogAt(t, forkClock, append(args, filepath.Join(pilot, ds+".csv"))...); code != 0 {
				t.Fatalf("ingest %s: exit %d: %s", ds, code, errOut)
			}
			mustRun(t, 0, append(append([]string{"publish", "--trial", "CDISCPILOT01"}, logArgs...), pubs[i])...)
		}
		cp := filepath.Join(dir, fmt.Sprintf("cp%d", step))
		copyFile(t, filepath.Join(pubs[1], "checkpoint"), cp)
		cps = append(cps, cp)
	}
	n := 0
	filepath.WalkDir(pubs[0], func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(pubs[0], p)
		x, _ := os.ReadFile(p)
		y, err := os.ReadFile(filepath.Join(pubs[1], rel))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between the embedded and the Trillian publication", rel)
		}
		n++
		return nil
	})
	if n < 10 {
		t.Fatalf("%d files published", n)
	}
	mustRun(t, 0, "consistency", "--log-url", pubs[1], "--key", vkey, cps[0], cps[1])
	mustRun(t, 0, "monitor", "--log-url", pubs[1], "--key", vkey, "--state", filepath.Join(dir, "mon"))
	base := startServe(t, "--log", d.URL(), "--state", state)
	mustRun(t, 0, "monitor", "--log-url", base+"/CDISCPILOT01/", "--key", vkey, "--state", filepath.Join(dir, "mon-http"))
}

// TestServeVerifierPage: serve answers / and /verifier.html with the
// page `trialog verifier-page` writes, read-only, and nothing else
// around them.
func TestServeVerifierPage(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TRIALOG_LOG", filepath.Join(dir, "log"))
	t.Setenv("TRIALOG_TRIAL", "PAGETRIAL")
	mustRun(t, 0, "init")
	want := filepath.Join(dir, "verifier.html")
	mustRun(t, 0, "verifier-page", want)
	page, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	base := startServe(t)
	for _, p := range []string{"/", "/verifier.html"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(body, page) {
			t.Errorf("GET %s: %d, %d bytes (want the %d-byte page)", p, resp.StatusCode, len(body), len(page))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" || resp.Header.Get("ETag") == "" {
			t.Errorf("GET %s: Content-Type %q, ETag %q", p, ct, resp.Header.Get("ETag"))
		}
		for _, m := range []string{"POST", "PUT", "DELETE"} {
			req, _ := http.NewRequest(m, base+p, strings.NewReader("x"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d", m, p, resp.StatusCode)
			}
		}
	}
	for _, p := range []string{"/verifier.html/", "/verifier.htm", "/index.html", "/?x=1", "/verifier.html?x", "/%76erifier.html", "/PAGETRIAL/verifier.html"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
	// The tiles are still served beside it.
	resp, err := http.Get(base + "/PAGETRIAL/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("checkpoint: %d", resp.StatusCode)
	}
}
