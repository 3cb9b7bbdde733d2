package verify_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestVerifierStaysSmall pins what the sponsor's offline verifier links:
// the code a sponsor or auditor must trust is the leaf, canonical-encoding,
// reader, proof and checkpoint packages, never the CRO's workspace, its
// embedded store (bbolt), the Trillian client (gRPC), or an HTTP or tile
// client (the published log is asked through seams the CLI fills). Arrow's
// Parquet reader would bring gRPC in through Arrow Flight, which is why the
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
				// The log client (verify --log-url) plugs in through
				// Options.Versions and Options.Proofs: the verifier
				// itself, and the browser verifier, fetch nothing.
				"github.com/trialog/trialog/tlogtiles",
				"github.com/trialog/trialog/freshness",
				"filippo.io/torchwood",
				"net/http",
			} {
				if dep == forbidden || strings.HasPrefix(dep, forbidden+"/") {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
