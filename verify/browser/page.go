// Package browser writes the browser verifier: one self-contained HTML
// page that verifies a trialog package, and a recipient's data file, with
// the very code of package verify compiled to WebAssembly. Sponsor QA
// staff and IRB members open it from disk (file://), offline; nothing is
// uploaded (the page's Content-Security-Policy allows no network at all).
//
// The WebAssembly is built ahead of time and shipped inside the trialog
// binary (verifier.wasm.gz, committed), so `trialog verifier-page` works
// for users without a Go toolchain. TestWasmUpToDate rebuilds it from the
// sources and fails when the committed file is stale: run go generate.
package browser

//go:generate sh -c "GOOS=js GOARCH=wasm go build -trimpath -buildvcs=false -ldflags='-s -w' -o verifier.wasm ./wasm && gzip -9 -n -f verifier.wasm"

import (
	_ "embed"
	"encoding/base64"
	"io"
	"strings"
)

var (
	//go:embed page.html
	pageTemplate string
	// wasm_exec.js is the JavaScript support file of the Go release that
	// built the WebAssembly ($(go env GOROOT)/lib/wasm/wasm_exec.js);
	// TestWasmUpToDate checks the two match.
	//go:embed wasm_exec.js
	wasmExecJS string
	//go:embed verifier.wasm.gz
	verifierWasmGzip []byte
)

// WritePage writes the self-contained verifier page: the page's script,
// Go's wasm_exec.js, and the gzip-compressed verifier as base64 (the page
// inflates it with the browser's DecompressionStream).
func WritePage(w io.Writer) error {
	page := strings.NewReplacer(
		"{{WASM_EXEC_JS}}", wasmExecJS,
		"{{VERIFIER_WASM_GZIP_BASE64}}", base64.StdEncoding.EncodeToString(verifierWasmGzip),
	).Replace(pageTemplate)
	_, err := io.WriteString(w, page)
	return err
}
