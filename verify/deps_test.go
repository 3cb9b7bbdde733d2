package verify_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestVerifierStaysSmall pins what the sponsor's offline verifier links:
// the code a sponsor or auditor must trust is the leaf, canonical-encoding,
// reader, proof and checkpoint packages, never the CRO's workspace, its
// embedded store (bbolt) or the Trillian client (gRPC). Arrow's Parquet
// reader would bring gRPC in through Arrow Flight, which is why the
// verifier takes opened files and the readers live in source/readers.
func TestVerifierStaysSmall(t *testing.T) {
	for _, pkg := range []string{".", "../disclosure"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, forbidden := range []string{
				"go.etcd.io/bbolt",
				"google.golang.org/grpc",
				"github.com/trialog/trialog/workspace",
				"github.com/trialog/trialog/pipeline",
				"github.com/trialog/trialog/consent",
				"github.com/trialog/trialog/trillian/embedded",
				"github.com/trialog/trialog/trillian/remote",
				"github.com/apache/arrow/go/v17/parquet",
			} {
				if dep == forbidden || strings.HasPrefix(dep, forbidden+"/") {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
