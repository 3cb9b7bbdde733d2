package browser

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestWasmUpToDate rebuilds the verifier's WebAssembly from the sources,
// exactly as go:generate does, and checks the committed verifier.wasm.gz
// holds the same bytes: a change to package verify (or anything it links)
// without `go generate ./verify/browser` fails here. It also checks the
// embedded wasm_exec.js is the running Go release's, and that the
// WebAssembly links neither the CRO's store (bbolt) nor gRPC.
func TestWasmUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the WebAssembly (about a minute from a cold cache)")
	}
	out := filepath.Join(t.TempDir(), "verifier.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, "./wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "GOWASM=", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the WebAssembly: %v\n%s", err, msg)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(verifierWasmGzip))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(fresh) != sha256.Sum256(committed) {
		t.Errorf("verifier.wasm.gz is stale (committed %d bytes, fresh build %d): run go generate ./verify/browser and commit it", len(committed), len(fresh))
	}

	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	var support []byte
	for _, dir := range []string{"lib/wasm", "misc/wasm"} {
		if support, err = os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), dir, "wasm_exec.js")); err == nil {
			break
		}
	}
	if !bytes.Equal(support, []byte(wasmExecJS)) {
		t.Errorf("wasm_exec.js differs from the Go release's: copy $(go env GOROOT)/lib/wasm/wasm_exec.js here")
	}

	// go test caches a passing result keyed on the files the test opens
	// or stats, not on what the go build above read: stat every source
	// file of the WebAssembly so that editing one reruns this test.
	cmd = exec.Command("go", "list", "-deps", "-f", `{{if not .Standard}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}
{{end}}{{end}}`, "./wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	sources, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(strings.Fields(string(sources)), "../../go.mod", "../../go.sum") {
		if _, err := os.Stat(f); err != nil {
			t.Fatal(err)
		}
	}

	cmd = exec.Command("go", "list", "-deps", "./wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	deps, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(deps)) {
		for _, forbidden := range []string{"go.etcd.io/bbolt", "google.golang.org/grpc", "github.com/trialog/trialog/workspace",
			"github.com/trialog/trialog/pipeline", "github.com/apache/arrow/go/v17/parquet"} {
			if dep == forbidden || strings.HasPrefix(dep, forbidden+"/") {
				t.Errorf("the browser verifier links %s", dep)
			}
		}
	}
}

// TestPageSelfContained checks the page needs nothing but itself: no
// external script, stylesheet, image or font, and a Content-Security-
// Policy that forbids every network request, so the verifier cannot send
// the files it reads anywhere.
func TestPageSelfContained(t *testing.T) {
	var page bytes.Buffer
	if err := WritePage(&page); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	if !strings.Contains(html, `content="default-src 'none'; script-src 'unsafe-inline' 'wasm-unsafe-eval'; style-src 'unsafe-inline';"`) {
		t.Error("the page lacks its no-network Content-Security-Policy")
	}
	if m := regexp.MustCompile(`(?i)<(script|img|link|iframe)[^>]*\s(src|href)=|@import|url\(`).FindString(html); m != "" {
		t.Errorf("the page loads an asset: %q", m)
	}
	if strings.Contains(html, "{{") {
		t.Error("a placeholder was left in the page")
	}
}
