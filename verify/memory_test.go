package verify_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/internal/hostile"
	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/verify"
	"github.com/trialog/trialog/workspace"
)

// PeakRSSBound is the documented bound on the verifier's peak resident
// memory for one package (docs/package-format.md, "Limits"): the Arrow
// bytes the package reader may hold (disclosure.ReadBudget, enforced by
// an allocator that refuses more), the freed buffers kept for reuse
// (one batch body), the Go collector's headroom over them, and the
// program itself. It does not depend on anything a package declares; the
// verifier's own bookkeeping adds 8 bytes per row the package holds and
// the report (at most MaxReportedRows rows listed).
const PeakRSSBound = disclosure.ReadBudget + disclosure.MaxBatchBody + 256<<20

const childEnv = "TRIALOG_VERIFY_PEAK_CHILD"

// peakChild, run in a child process, verifies one package and exits:
// the parent reads the child's peak RSS from the kernel.
func peakChild() {
	path, key, _ := strings.Cut(os.Getenv(childEnv), "\n")
	defer func() { fmt.Println("VmHWM:", vmHWM()) }()
	if path == "" { // the baseline: the test binary doing nothing
		return
	}
	rep, err := verify.Package(context.Background(), path, verify.Options{VerifierKey: key})
	switch {
	case err != nil:
		fmt.Println("error:", err)
	default:
		fmt.Println("ok:", rep.OK, "rows:", rep.Rows)
	}
}

// vmHWM returns this process's peak resident set from /proc/self/status:
// the exec'd image's own, whereas a child's rusage ru_maxrss also counts
// the parent it was forked from.
func vmHWM() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// peakRSS runs verify on path in a child process and returns its peak
// resident set (bytes) and output.
func peakRSS(t *testing.T, path, key string) (int64, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path+"\n"+key)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	res, hwm, ok := strings.Cut(strings.TrimSpace(string(out)), "VmHWM: ")
	kib, err := strconv.ParseInt(strings.TrimSuffix(hwm, " kB"), 10, 64)
	if !ok || err != nil {
		t.Fatalf("child reported no VmHWM: %s", out)
	}
	return kib << 10, strings.TrimSpace(res)
}

// TestVerifyPeakMemory (issue 12, point 2) measures the verifier's peak
// RSS, in a child process, on the crafted packages and on the largest
// batches a package may have, and checks it against PeakRSSBound.
func TestVerifyPeakMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes ~170 MB of crafted package")
	}
	if raceEnabled {
		t.Skip("the race detector multiplies memory use; the bound is measured by the plain go test ./... run")
	}
	p := pilotTrial(t)
	honest := readFile(t, p.subjectDM)
	huge, err := hostile.SetRecordBlock(honest, 0, 8, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	// A package whose statement lists enough rows for batches at the
	// format's limits to be read.
	large, largeKey := syntheticLB(t, 20000, false)
	inputs := []struct{ name, path string }{
		{"baseline (no verification)", ""},
		{"honest whole DM package", p.rangeDM},
		{"footer block of 2^40 bytes", writeFile(t, huge)},
		{"zstd bomb declaring 2 GiB", writeFile(t, bomb(t, p))},
		{"3 batches at the format's limits (16384 rows, ~63 MiB)", maxBatches(t, large, "LBORRES", 3)},
	}
	for _, in := range inputs {
		key := p.key
		if strings.HasPrefix(in.name, "3 batches") {
			key = largeKey
		}
		rss, out := peakRSS(t, in.path, key)
		t.Logf("%-55s peak RSS %4d MiB (bound %d MiB): %s", in.name, rss>>20, PeakRSSBound>>20, firstLine(out))
		if rss > PeakRSSBound {
			t.Errorf("%s: peak RSS %d MiB over the documented bound %d MiB", in.name, rss>>20, PeakRSSBound>>20)
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if i := strings.Index(s, "malformed Arrow IPC file: "); i >= 0 {
		s = s[i:]
	}
	return s
}

// syntheticLB ingests rows synthetic LB rows (with an LBDTC column if
// dates) into a fresh trial and proves the whole dataset: large packages
// for the memory test and the benchmark. It returns the package and the
// trial's verifier key.
func syntheticLB(tb testing.TB, rows int, dates bool) (pkg, key string) {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	var b strings.Builder
	b.WriteString("USUBJID,LBSEQ,LBTESTCD,LBORRES")
	if dates {
		b.WriteString(",LBDTC")
	}
	for i := range rows {
		fmt.Fprintf(&b, "\n01-%04d,%d,T%d,R%d", i/7, i, i%13, i%500)
		if dates {
			fmt.Fprintf(&b, ",2014-01-%02d", 1+i%28)
		}
	}
	b.WriteString("\n")
	data := filepath.Join(dir, "lb.csv")
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	tr, err := workspace.Init(ctx, filepath.Join(dir, "log"), "SYNTH", workspace.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer tr.Close()
	if _, err := pipeline.Ingest(ctx, tr, openData(tb, data), pipeline.IngestOptions{Dataset: "LB", Operator: "test"}); err != nil {
		tb.Fatal(err)
	}
	pkg = filepath.Join(dir, "lb.arrow")
	if _, err := pipeline.Prove(ctx, tr, openData(tb, data), pkg, pipeline.ProveOptions{Dataset: "LB", Recipient: "test sponsor", Purpose: "main"}); err != nil {
		tb.Fatal(err)
	}
	return pkg, tr.VerifierKey
}

// maxBatches writes n record batches of the package's schema and
// metadata (so that its header verifies), each of MaxBatchRows copies of
// its first row with the values of column pad padded to fill the body to
// ~63 MiB.
func maxBatches(t *testing.T, pkg, pad string, n int) string {
	t.Helper()
	fr, err := ipc.NewFileReader(bytes.NewReader(readFile(t, pkg)))
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	rec, err := fr.RecordAt(0)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	ctx := context.Background()
	ib := array.NewInt64Builder(memory.DefaultAllocator)
	for range disclosure.MaxBatchRows {
		ib.Append(0)
	}
	idx := ib.NewArray()
	defer idx.Release()
	padIdx := fr.Schema().FieldIndices(pad)[0]
	value := strings.Repeat("W", 3600)
	var cols []arrow.Array
	for i, c := range rec.Columns() {
		if i == padIdx {
			sb := array.NewStringBuilder(memory.DefaultAllocator)
			for range disclosure.MaxBatchRows {
				sb.Append(value)
			}
			cols = append(cols, sb.NewArray())
			continue
		}
		col, err := compute.TakeArray(ctx, c, idx)
		if err != nil {
			t.Fatal(err)
		}
		cols = append(cols, col)
	}
	big := array.NewRecord(fr.Schema(), cols, disclosure.MaxBatchRows)
	defer big.Release()
	out := filepath.Join(t.TempDir(), "max.arrow")
	fh, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	w, err := ipc.NewFileWriter(fh, ipc.WithSchema(fr.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := w.Write(big); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err := hostile.Layout(readFile(t, out)); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("crafted batches: %d of %d rows, body %d bytes each (limit %d)", len(l.Records), l.Records[0].Rows, l.Records[0].Body, disclosure.MaxBatchBody)
	}
	return out
}
