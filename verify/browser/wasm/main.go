//go:build js && wasm

// Command wasm is the sponsor's offline verifier (package verify) and the
// IRB consent report's (consent.Verify) compiled to WebAssembly for the
// browser verifier page (package browser). The page lends it the files the
// user picked through a read-only in-memory file system (globalThis.fs,
// which Go's syscall/js file calls use), so verification runs the very same
// code as `trialog verify`, reading nothing but those files and sending
// nothing anywhere.
//
// It exports a function that returns a promise of a JSON result:
//
//	trialogVerify({pkg, data, key, format, maxRows})
//
// pkg is a disclosure package, or an IRB consent report (the JSON of
// `trialog consent report --out`), told apart by the report's "format"
// field; the result's kind says which was verified.
//
// Build: see go:generate in package browser.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall/js"

	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/source"
	"github.com/trialog/trialog/source/datasetjson"
	"github.com/trialog/trialog/source/xpt"
	"github.com/trialog/trialog/verify"
)

func main() {
	js.Global().Set("trialogVerify", promised(verifyFile))
	js.Global().Call("trialogReady")
	select {} // serve calls until the page closes
}

// result is what the page renders: the report as JSON and as the CLI's
// text, or the one-line error the CLI would exit 2 with.
type result struct {
	Kind   string `json:"kind"` // "package" or "consent-report"
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	Report any    `json:"report,omitempty"`
	Text   string `json:"text,omitempty"`
	Note   string `json:"note,omitempty"`
}

// promised runs fn off the JS event loop (file reads wait on the page's
// asynchronous Blob reads) and resolves a promise with its JSON result.
func promised(fn func(ctx context.Context, arg js.Value) result) js.Func {
	return js.FuncOf(func(this js.Value, args []js.Value) any {
		arg := js.Undefined()
		if len(args) > 0 {
			arg = args[0]
		}
		executor := js.FuncOf(func(this js.Value, pr []js.Value) any {
			resolve := pr[0]
			go func() {
				res := func() (res result) {
					defer func() {
						if r := recover(); r != nil {
							res = result{Error: fmt.Sprintf("internal error: %v", r)}
						}
					}()
					return fn(context.Background(), arg)
				}()
				out, err := json.Marshal(res)
				if err != nil {
					out, _ = json.Marshal(result{Error: err.Error()})
				}
				resolve.Invoke(string(out))
			}()
			return nil
		})
		defer executor.Release()
		return js.Global().Get("Promise").New(executor)
	})
}

func str(v js.Value, key string) string {
	if f := v.Get(key); f.Type() == js.TypeString {
		return f.String()
	}
	return ""
}

// Kinds of file the page verifies.
const (
	kindPackage = "package"
	kindConsent = "consent-report"
)

// verifyFile verifies what the user picked: an IRB consent report goes to
// verifyConsent, anything else is taken for a disclosure package.
func verifyFile(ctx context.Context, arg js.Value) result {
	path := str(arg, "pkg")
	report, err := readConsentReport(path)
	if err != nil {
		return result{Kind: kindConsent, Error: err.Error()}
	}
	if report != nil {
		return verifyConsent(path, report, str(arg, "data"), str(arg, "key"))
	}
	return verifyPackage(ctx, arg)
}

// readConsentReport tells an IRB consent report from a package by content
// and returns the report's bytes, or nil for anything else: a report is a
// JSON object whose "format" is a trialog consent report format (any
// version: consent.Verify names the one it reads). An Arrow IPC package
// starts with ARROW1, never with '{', and is not read further here. JSON
// that is not a consent report is refused in one line naming the file.
func readConsentReport(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	// Large reads: each one is an asynchronous Blob read in the page.
	br := bufio.NewReaderSize(fh, 1<<20)
	for {
		b, err := br.ReadByte()
		if err != nil {
			return nil, nil // empty or unreadable: verify.Package says why
		}
		if b == '{' {
			break
		}
		switch b {
		case ' ', '\t', '\r', '\n', 0xEF, 0xBB, 0xBF: // JSON whitespace, a UTF-8 byte order mark
		default:
			return nil, nil
		}
	}
	if err := br.UnreadByte(); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(br)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var head struct {
		Format string `json:"format"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%s: not a disclosure package, and not a valid IRB consent report JSON: %v", path, err)
	}
	if !strings.HasPrefix(head.Format, consentReportPrefix) {
		return nil, fmt.Errorf("%s: JSON of format %q, neither a disclosure package nor an IRB consent report (%s)", path, head.Format, consent.ReportFormat)
	}
	return data, nil
}

// consentReportPrefix starts every version's format tag of the IRB report
// (consent.ReportFormat is its current one).
const consentReportPrefix = "trialog-consent-report-"

// verifyConsent is `trialog consent verify --key KEY REPORT.json`: the
// same checks, the same text (without the witness and trust lines, which
// need the CLI's --witness and --trust).
func verifyConsent(path string, report []byte, data, key string) result {
	res, err := consent.Verify(bytes.NewReader(report), strings.TrimSpace(key))
	if err != nil {
		return result{Kind: kindConsent, Error: fmt.Sprintf("%s: %v", path, err)}
	}
	var text strings.Builder
	text.WriteString(res.Summary(path) + "\n")
	for _, p := range res.Problems {
		text.WriteString("  problem: " + p + "\n")
	}
	out := result{Kind: kindConsent, OK: res.OK, Report: res, Text: text.String()}
	if data != "" {
		out.Note = "The data file is not used for an IRB consent report."
	}
	return out
}

// verifyPackage is `trialog verify --key KEY PACKAGE [DATA]`.
func verifyPackage(ctx context.Context, arg js.Value) result {
	pkg, data := str(arg, "pkg"), str(arg, "data")
	opts := verify.Options{VerifierKey: strings.TrimSpace(str(arg, "key")), MaxReportedRows: 1000}
	if n := arg.Get("maxRows"); n.Type() == js.TypeNumber && n.Int() > 0 {
		opts.MaxReportedRows = n.Int()
	}
	if data != "" {
		f, err := verify.OpenData(ctx, pkg, data, source.Options{Format: source.Format(str(arg, "format")), Readers: readers()})
		if err != nil {
			return result{Kind: kindPackage, Error: err.Error()}
		}
		opts.Data = f
	}
	rep, err := verify.Package(ctx, pkg, opts)
	if err != nil {
		return result{Kind: kindPackage, Error: err.Error()}
	}
	var text strings.Builder
	rep.WriteText(&text)
	return result{Kind: kindPackage, OK: rep.OK, Report: rep, Text: text.String()}
}

// readers are the formats beyond CSV and Arrow IPC that build to
// WebAssembly: SAS XPORT and CDISC Dataset-JSON (JSON, NDJSON, compressed
// NDJSON). Parquet is left out: Arrow's Parquet reader would bring gRPC
// (through Arrow Flight) into the page.
func readers() map[source.Format]source.ReaderFunc {
	return map[source.Format]source.ReaderFunc{
		source.XPT: buffered(func(r io.Reader, name string, o source.Options) (array.RecordReader, error) {
			return xpt.NewReader(r, name, xpt.WithAllocator(o.Allocator), xpt.WithBatchSize(o.BatchRows))
		}),
		source.DatasetJSON: buffered(func(r io.Reader, name string, o source.Options) (array.RecordReader, error) {
			return datasetjson.NewReader(r, name, datasetjson.WithAllocator(o.Allocator), datasetjson.WithBatchSize(o.BatchRows), datasetjson.WithMaxRowBytes(o.Limits.MaxRecordBytes))
		}),
		source.NDJSON: buffered(func(r io.Reader, name string, o source.Options) (array.RecordReader, error) {
			return datasetjson.NewNDJSONReader(r, name, datasetjson.WithAllocator(o.Allocator), datasetjson.WithBatchSize(o.BatchRows), datasetjson.WithMaxRowBytes(o.Limits.MaxRecordBytes))
		}),
		source.DSJC: buffered(func(r io.Reader, name string, o source.Options) (array.RecordReader, error) {
			return datasetjson.NewCompressedReader(r, name, datasetjson.WithAllocator(o.Allocator), datasetjson.WithBatchSize(o.BatchRows), datasetjson.WithMaxRowBytes(o.Limits.MaxRecordBytes))
		}),
	}
}

func buffered(open func(r io.Reader, name string, o source.Options) (array.RecordReader, error)) source.ReaderFunc {
	return func(_ context.Context, fh *os.File, name string, o source.Options) (array.RecordReader, []io.Closer, error) {
		rr, err := open(bufio.NewReaderSize(fh, 1<<20), name, o)
		return rr, nil, err
	}
}
