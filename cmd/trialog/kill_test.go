package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestKilledIngestResumes kills `trialog ingest` (SIGKILL, no cleanup) in
// the middle of a multi-append ingest, reruns it, and checks that every row
// is in the log exactly once and the whole dataset verifies.
func TestKilledIngestResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "trialog")
	gen := filepath.Join(dir, "genlb")
	for _, b := range [][2]string{{bin, "."}, {gen, "../../bench/genlb"}} {
		if out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	const rows = 400000
	data := filepath.Join(dir, "lb.arrow")
	if out, err := exec.Command(gen, "-rows", "400000", "-batch", "8192", "-out", data).CombinedOutput(); err != nil {
		t.Fatalf("genlb: %v\n%s", err, out)
	}
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
	if _, err := os.Stat(filepath.Join(log, "trials", "BENCH", "pending.json")); err != nil {
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
	if out, err := exec.Command(bin, "prove", "--log", log, "--trial", "BENCH", "--dataset", "LB", "--detached", "--out", pkg, data).CombinedOutput(); err != nil {
		t.Fatalf("prove: %v\n%s", err, out)
	}
	vkey := filepath.Join(log, "trials", "BENCH", "checkpoint.vkey")
	if out, err := exec.CommandContext(context.Background(), bin, "verify", "--key", vkey, pkg, data).CombinedOutput(); err != nil {
		t.Fatalf("verify after resume: %v\n%s", err, out)
	}
}
