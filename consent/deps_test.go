package consent_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestReportVerifierStaysStorageFree pins what consent (the model, the IRB
// report format and its offline verifier, Verify) links: no store
// (bbolt), no workspace, no Trillian client (gRPC), no pipeline, no
// consent/registry, no network client. Storage and trial access live in
// consent/registry, the HTML view in consent/reporthtml. It also builds the package for WebAssembly, as the
// browser verifier (verify/browser) links it.
func TestReportVerifierStaysStorageFree(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, forbidden := range []string{
			"go.etcd.io/bbolt",
			"google.golang.org/grpc",
			"github.com/trialog/trialog/workspace",
			"github.com/trialog/trialog/pipeline",
			"github.com/trialog/trialog/consent/registry",
			"github.com/trialog/trialog/backend",
			"github.com/trialog/trialog/trillian/embedded",
			"github.com/trialog/trialog/trillian/remote",
			"github.com/trialog/trialog/tlogtiles",
			"github.com/apache/arrow/go/v17/parquet",
			"net/http",
			// The HTML view is consent/reporthtml: the browser verifier
			// page, which links this package, need not carry it.
			"html/template",
		} {
			if dep == forbidden || strings.HasPrefix(dep, forbidden+"/") {
				t.Errorf("consent depends on %s", dep)
			}
		}
	}
	build := exec.Command("go", "build", "-o", os.DevNull, ".")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Errorf("GOOS=js GOARCH=wasm go build ./consent: %v\n%s", err, out)
	}
}
