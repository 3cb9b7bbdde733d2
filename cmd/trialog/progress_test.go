package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// onTTY runs the CLI in-process with stderr on a pseudo-terminal (what a
// person at a shell has) and stdout on a pipe, and returns the exit code,
// stdout and what the terminal showed.
func onTTY(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	rOut, wOut, _ := os.Pipe()
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = wOut, tty
	outC, ttyC := make(chan string), make(chan string)
	go func() { b, _ := io.ReadAll(rOut); outC <- string(b) }()
	go func() {
		var buf bytes.Buffer
		io.Copy(&buf, ptmx) // ends with EIO once the terminal is closed
		ttyC <- buf.String()
	}()
	code := run(context.Background(), append([]string{"trialog"}, args...))
	os.Stdout, os.Stderr = oldOut, oldErr
	wOut.Close()
	tty.Close()
	return code, <-outC, <-ttyC
}

// TestProgressBars checks prove and verify (like ingest) draw a progress
// bar on a terminal, and print nothing extra when stderr is not one or
// --json is given.
func TestProgressBars(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TRIALOG_LOG", filepath.Join(dir, "log"))
	t.Setenv("TRIALOG_TRIAL", "CDISCPILOT01")
	mustRun(t, 0, "init")
	vkey := filepath.Join(dir, "log", "trials", "CDISCPILOT01", "checkpoint.vkey")
	dm := filepath.Join(pilot, "dm.csv")
	pkg := filepath.Join(dir, "dm.arrow")

	for _, step := range []struct {
		desc string
		args []string
	}{
		{"ingest DM", []string{"ingest", "--dataset", "DM", dm}},
		{"prove DM", []string{"prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--dataset", "DM", "--detached", "--out", pkg, dm}},
		{"verify dm.arrow", []string{"verify", "--key", vkey, pkg, dm}},
	} {
		code, out, term := onTTY(t, step.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", step.args, code, out, term)
		}
		if !strings.Contains(term, step.desc) || !strings.Contains(term, "/306") || !strings.Contains(term, "rows") {
			t.Errorf("%s on a terminal: no progress bar in %q", step.args[0], term)
		}
		if strings.Contains(out, step.desc) {
			t.Errorf("%s: the bar went to stdout: %q", step.args[0], out)
		}
	}
	// Not a terminal (trialog() gives pipes), or --json: stderr stays empty.
	for _, args := range [][]string{
		{"prove", "--purpose", "main", "--recipient", "test sponsor", "--no-consent-check", "--dataset", "DM", "--detached", "--out", pkg, dm},
		{"verify", "--key", vkey, pkg, dm},
	} {
		if _, _, errOut := trialog(t, args...); errOut != "" {
			t.Errorf("%s off a terminal printed %q on stderr", args[0], errOut)
		}
		if _, _, term := onTTY(t, append([]string{args[0], "--json"}, args[1:]...)...); strings.Contains(term, "rows/s") || strings.Contains(term, "/306") {
			t.Errorf("%s --json drew a bar: %q", args[0], term)
		}
	}
}
