package verify_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/disclosure/ipcfile"
	"github.com/trialog/trialog/internal/hostile"
)

// mustReject verifies a crafted package and its manifest step (what the
// CLI reads first) and wants both to fail with ErrPackage, the error
// mentioning want. A panic would end the test binary: that is the point.
func mustReject(t *testing.T, p *pilot, b []byte, want string) {
	t.Helper()
	path := writeFile(t, b)
	rep, err := verifyFile(p, path, nil)
	if err == nil {
		t.Fatalf("crafted package (%s) accepted for verification: ok=%v problems=%v", want, rep.OK, rep.Problems)
	}
	if !errors.Is(err, disclosure.ErrPackage) || !strings.Contains(err.Error(), want) {
		t.Fatalf("crafted package: error %q, want ErrPackage mentioning %q", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error is not one line: %q", err)
	}
	if _, err := disclosure.ReadManifest(path); !errors.Is(err, disclosure.ErrPackage) {
		t.Fatalf("ReadManifest of the crafted package: %v, want ErrPackage", err)
	}
}

// TestCraftedFootersRejected (issue 12, point 1): footer blocks pointing
// outside the file, or declaring a 2^40-byte body (which made the Arrow
// reader abort with a fatal out-of-memory), are rejected before anything
// is allocated, by the verifier and by the manifest step.
func TestCraftedFootersRejected(t *testing.T) {
	p := pilotTrial(t)
	b, l := readLayout(t, p.subjectDM)
	r := l.Records[0]
	for _, c := range []struct {
		name         string
		offset, body int64
		want         string
	}{
		{"2^40-byte body", r.Offset, 1 << 40, "lies outside the file"},
		{"body past the end", r.Offset, int64(len(b)), "lies outside the file"},
		{"negative body", r.Offset, -8, "lies outside the file"},
		{"offset past the end", 1 << 40, r.Body, "lies outside the file"},
		{"offset into the footer", l.FooterStart, r.Body, "lies outside the file"},
		{"another message", 8, r.Body, "two readings of one file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			crafted, err := hostile.SetRecordBlock(b, 0, c.offset, c.body)
			if err != nil {
				t.Fatal(err)
			}
			mustReject(t, p, crafted, c.want)
		})
	}
}

// TestRandomFooterChangesNeverCrash (point 1): random 1-3 byte changes
// to the footer and to the messages' metadata either fail with one
// ErrPackage line or produce a report; none panics (about one in four
// crashed the verifier before).
func TestRandomFooterChangesNeverCrash(t *testing.T) {
	p := pilotTrial(t)
	b, l := readLayout(t, p.subjectAE)
	regions := [][2]int{{int(l.FooterStart), len(b)}, {8, 8 + int(l.Schema.Meta)}}
	for _, r := range l.Records {
		regions = append(regions, [2]int{int(r.Offset), int(r.Offset) + int(r.Meta)})
	}
	rng := rand.New(rand.NewPCG(12, 12))
	rejected, reported := 0, 0
	for i := 0; i < 300; i++ {
		crafted := bytes.Clone(b)
		reg := regions[rng.IntN(len(regions))]
		for k := 0; k <= rng.IntN(3); k++ {
			crafted[reg[0]+rng.IntN(reg[1]-reg[0])] ^= byte(1 + rng.IntN(255))
		}
		path := writeFile(t, crafted)
		if _, err := verifyFile(p, path, nil); err != nil {
			if !errors.Is(err, disclosure.ErrPackage) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("change %d: error %q is not one ErrPackage line", i, err)
			}
			rejected++
		} else {
			reported++
		}
		if _, err := disclosure.ReadManifest(path); err != nil && !errors.Is(err, disclosure.ErrPackage) {
			t.Fatalf("change %d: ReadManifest: %v", i, err)
		}
	}
	t.Logf("300 random changes: %d rejected as malformed, %d verified to a report", rejected, reported)
}

// TestCompressedPackageRejected (point 2): a package with compressed
// buffers, among them a bomb declaring 2 GiB uncompressed, is rejected
// before anything is decompressed; so are batches declaring more rows
// than a package batch may hold.
func TestCompressedPackageRejected(t *testing.T) {
	p := pilotTrial(t)
	for _, opt := range []ipc.Option{ipc.WithZstd(), ipc.WithLZ4()} {
		mustReject(t, p, readFile(t, rewrite(t, p.rangeDM, nil, nil, opt, ipc.WithMinSpaceSavings(0))), "compressed buffers")
	}
	mustReject(t, p, bomb(t, p), "compressed buffers")

	b, l := readLayout(t, p.rangeDM)
	r := l.Records[0]
	crafted, ok := hostile.PatchInt64(b, int(r.Offset)+8, r.Rows, 1<<40)
	if !ok {
		t.Fatal("batch length not found in its metadata")
	}
	mustReject(t, p, crafted, "rows (limit 16384)")
}

// bomb is the whole-DM package compressed with zstd, its first row index
// buffer declaring 2 GiB uncompressed (the Arrow reader allocates what
// the prefix says before inflating).
func bomb(t testing.TB, p *pilot) []byte {
	t.Helper()
	b := readFile(t, rewrite(t, p.rangeDM, nil, nil, ipc.WithZstd(), ipc.WithMinSpaceSavings(0)))
	rows := int64(306)
	out, ok := hostile.PatchInt64(b, 8, rows*8, 2<<30)
	if !ok {
		t.Fatal("no buffer of 306 row indices in the compressed package")
	}
	return out
}

// TestStreamAndFooterAgree (point 3): a forged batch and an end-of-stream
// marker placed before the honest batch show the forged values to a
// stream reader and the honest ones to a file reader; the verifier
// rejects the file. So it does a stream whose schema differs from the
// footer's.
func TestStreamAndFooterAgree(t *testing.T) {
	p := pilotTrial(t)
	honest := readFile(t, p.subjectDM)
	// The forged batch: the honest one with SEX changed.
	forgedPkg := readFile(t, rewriteSex(t, p.subjectDM))
	msg, err := hostile.Message(forgedPkg, 0)
	if err != nil {
		t.Fatal(err)
	}
	crafted, err := hostile.InsertBeforeRecords(honest, msg, true)
	if err != nil {
		t.Fatal(err)
	}
	// What an ordinary stream reader sees.
	sr, err := ipc.NewReader(bytes.NewReader(crafted[8:]))
	if err != nil {
		t.Fatal(err)
	}
	if !sr.Next() {
		t.Fatal("stream reader sees no batch")
	}
	if sex := sexOf(sr.Record()); sex != "X" {
		t.Fatalf("stream reader sees SEX=%s, want the forged X", sex)
	}
	if sr.Next() {
		t.Fatal("stream reader reads past the end-of-stream marker")
	}
	sr.Release()
	mustReject(t, p, crafted, "two readings of one file")
	// Without the marker the stream holds both batches.
	crafted, err = hostile.InsertBeforeRecords(honest, msg, false)
	if err != nil {
		t.Fatal(err)
	}
	mustReject(t, p, crafted, "two readings of one file")
	// A stream schema other than the footer's: a column renamed in the
	// schema message only.
	l, _ := hostile.Layout(honest)
	crafted = bytes.Clone(honest)
	i := bytes.Index(crafted[8:8+l.Schema.Meta], []byte("_trialog_row_hash"))
	if i < 0 {
		t.Fatal("column name not found in the schema message")
	}
	crafted[8+i+len("_trialog_row_has")] = 'X'
	mustReject(t, p, crafted, "stream section's schema differs")
}

// rewriteSex writes the package with every SEX value replaced by X.
func rewriteSex(t testing.TB, pkg string) string {
	t.Helper()
	return rewrite(t, pkg, nil, func(rec arrow.Record, s *arrow.Schema) arrow.Record {
		sb := array.NewStringBuilder(memory.DefaultAllocator)
		defer sb.Release()
		for range rec.NumRows() {
			sb.Append("X")
		}
		sex := sb.NewArray()
		defer sex.Release()
		cols := append([]arrowArray(nil), rec.Columns()...)
		cols[s.FieldIndices("SEX")[0]] = sex
		return array.NewRecord(s, cols, rec.NumRows())
	})
}

func sexOf(rec interface {
	Schema() *arrowSchema
	Column(int) arrowArray
}) string {
	idx := rec.Schema().FieldIndices("SEX")[0]
	return rec.Column(idx).(*array.String).Value(0)
}

type (
	arrowArray  = arrow.Array
	arrowSchema = arrow.Schema
)

// readLayout reads the package at path and its Arrow IPC layout.
func readLayout(t testing.TB, path string) ([]byte, *ipcfile.Layout) {
	t.Helper()
	b := readFile(t, path)
	l, err := hostile.Layout(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, l
}
