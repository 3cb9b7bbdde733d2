package verify_test

import (
	"context"
	"testing"

	"github.com/trialog/trialog/verify"
)

// BenchmarkVerifyRange verifies a whole-dataset package of 100000
// synthetic rows (7 batches): the cost of the structural checks and the
// memory budget is measured against the row checks they guard.
func BenchmarkVerifyRange(b *testing.B) {
	ctx := context.Background()
	const rows = 100000
	pkg, key := syntheticLB(b, rows, true)
	b.ResetTimer()
	for b.Loop() {
		rep, err := verify.Package(ctx, pkg, verify.Options{VerifierKey: key})
		if err != nil || !rep.OK || rep.Rows != rows {
			b.Fatalf("verify: %v %+v", err, rep)
		}
	}
}
