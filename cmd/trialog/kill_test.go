package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/trialog/trialog/trillian/remote"
	"github.com/trialog/trialog/trillian/trilliantest"
)

// buildAndGenerate builds the trialog binary and bench/genlb into a temp
// dir and writes an LB-like Arrow IPC file of rows rows.
func buildAndGenerate(t *testing.T, rows, batch int) (dir, bin, data string) {
	t.Helper()
	dir = t.TempDir()
	bin = filepath.Join(dir, "trialog")
	gen := filepath.Join(dir, "genlb")
	for _, b := range [][2]string{{bin, "."}, {gen, "../../bench/genlb"}} {
		if out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	data = filepath.Join(dir, "lb.arrow")
	if out, err := exec.Command(gen, "-rows", fmt.Sprint(rows), "-batch", fmt.Sprint(batch), "-out", data).CombinedOutput(); err != nil {
		t.Fatalf("genlb: %v\n%s", err, out)
	}
	return dir, bin, data
}

// TestKilledIngestResumes kills `trialog ingest` (SIGKILL, no cleanup) in
// the middle of a multi-append ingest, reruns it, and checks that every row
// is in the log exactly once and the whole dataset verifies.
func TestKilledIngestResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	const rows = 400000
	dir, bin, data := buildAndGenerate(t, rows, 8192)
	log := filepath.Join(dir, "log")
	env := append(os.Environ(), "TRIALOG_LOG="+log, "TRIALOG_TRIAL=BENCH")
	run := func(args ...string) (*exec.Cmd, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		return cmd, cmd.Start()
	}
	if out, err := exec.Command(bin, "init", "--log", log, "--trial", "BENCH").CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	// Kill it as soon as some leaves (but not all) are durable.
	cmd, err := run("ingest", "--dataset", "LB", data)
	if err != nil {
		t.Fatal(err)
	}
	idx := filepath.Join(log, "trials", "BENCH", "tree", "leaves.idx")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if st, err := os.Stat(idx); err == nil && st.Size() >= 8*40000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ingest made no progress")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(log, "trials", "BENCH", "journal.json")); err != nil {
		t.Fatalf("killed ingest left no pending record: %v", err)
	}
	out, err := exec.Command(bin, "ingest", "--log", log, "--trial", "BENCH", "--dataset", "LB", "--json", data).CombinedOutput()
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	var res struct {
		Rows     uint64 `json:"rows"`
		TreeSize uint64 `json:"tree_size"`
		Resumed  uint64 `json:"resumed_rows"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if res.Rows != rows || res.TreeSize != rows+1 || res.Resumed == 0 || res.Resumed >= rows {
		t.Fatalf("after resume: %+v, want %d rows, tree size %d, a partial resume", res, rows, rows+1)
	}
	pkg := filepath.Join(dir, "lb.proof.arrow")
	if out, err := exec.Command(bin, "prove", "--purpose", "main", "--recipient", "Sponsor", "--no-consent-check", "--log", log, "--trial", "BENCH", "--dataset", "LB", "--detached", "--out", pkg, data).CombinedOutput(); err != nil {
		t.Fatalf("prove: %v\n%s", err, out)
	}
	vkey := filepath.Join(log, "trials", "BENCH", "checkpoint.vkey")
	if out, err := exec.CommandContext(context.Background(), bin, "verify", "--key", vkey, pkg, data).CombinedOutput(); err != nil {
		t.Fatalf("verify after resume: %v\n%s", err, out)
	}
}

// TestKilledIngestResumesOnTrillian: the same against a live Trillian
// deployment: SIGKILL the client mid-ingest, rerun until it completes (the
// signer may still be integrating the last acknowledged batches), and the
// tree holds every row once, byte for byte what the embedded log holds.
func TestKilledIngestResumesOnTrillian(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	d := trilliantest.StartT(t, trilliantest.Options{})
	const rows = 60000
	dir, bin, data := buildAndGenerate(t, rows, 4096)
	state := filepath.Join(dir, "state")
	logArgs := []string{"--log", d.URL(), "--state", state, "--trial", "KILLED"}
	if out, err := exec.Command(bin, append([]string{"init"}, logArgs...)...).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, append(append([]string{"ingest"}, logArgs...), "--dataset", "LB", data)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once the tree has grown but before the ingest is done.
	client, err := remote.OpenURL(context.Background(), d.URL(), "KILLED", false)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		root, err := client.LatestRoot(context.Background())
		if err == nil && root.Size >= 10000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ingest made no progress")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	var out []byte
	for attempt := 1; ; attempt++ {
		out, err = exec.Command(bin, append(append([]string{"ingest", "--json"}, logArgs...), "--dataset", "LB", data)...).CombinedOutput()
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("rerun %d: %v\n%s", attempt, err, out)
		}
		t.Logf("rerun %d: %s", attempt, out)
		time.Sleep(time.Second)
	}
	var res struct {
		Rows     uint64 `json:"rows"`
		TreeSize uint64 `json:"tree_size"`
		Resumed  uint64 `json:"resumed_rows"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if res.Rows != rows || res.TreeSize != rows+1 || res.Resumed == 0 {
		t.Fatalf("after resume: %+v, want %d rows, tree size %d, a partial resume", res, rows, rows+1)
	}
	pkg := filepath.Join(dir, "lb.proof.arrow")
	if out, err := exec.Command(bin, append(append([]string{"prove", "--purpose", "main", "--recipient", "Sponsor", "--no-consent-check"}, logArgs...), "--dataset", "LB", "--detached", "--out", pkg, data)...).CombinedOutput(); err != nil {
		t.Fatalf("prove: %v\n%s", err, out)
	}
	vkey := filepath.Join(state, "trials", "KILLED", "checkpoint.vkey")
	if out, err := exec.Command(bin, "verify", "--key", vkey, pkg, data).CombinedOutput(); err != nil {
		t.Fatalf("verify after resume: %v\n%s", err, out)
	}
}
