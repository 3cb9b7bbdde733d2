package verify_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialog/trialog/pipeline"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/readers"
	"github.com/trialog/trialog/verify"
	"github.com/trialog/trialog/workspace"
)

// BenchmarkVerifyRange verifies a whole-dataset package of 100000
// synthetic rows (7 batches): the cost of the structural checks and the
// memory budget is measured against the row checks they guard.
func BenchmarkVerifyRange(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	var sb strings.Builder
	sb.WriteString("USUBJID,LBSEQ,LBTESTCD,LBORRES,LBDTC\n")
	const rows = 100000
	for i := range rows {
		fmt.Fprintf(&sb, "01-%04d,%d,T%d,R%d,2014-01-%02d\n", i/7, i, i%13, i%500, 1+i%28)
	}
	data := filepath.Join(dir, "lb.csv")
	if err := os.WriteFile(data, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	tr, err := workspace.Init(ctx, filepath.Join(dir, "log"), "BENCH", workspace.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	open := func() *source.File {
		f, err := readers.Open(ctx, data, source.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	if _, err := pipeline.Ingest(ctx, tr, open(), pipeline.IngestOptions{Dataset: "LB", Operator: "bench"}); err != nil {
		b.Fatal(err)
	}
	pkg := filepath.Join(dir, "lb.arrow")
	if _, err := pipeline.Prove(ctx, tr, open(), pkg, pipeline.ProveOptions{Dataset: "LB", Recipient: "test sponsor", Purpose: "main"}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		rep, err := verify.Package(ctx, pkg, verify.Options{VerifierKey: tr.VerifierKey})
		if err != nil || !rep.OK || rep.Rows != rows {
			b.Fatalf("verify: %v %+v", err, rep)
		}
	}
}
