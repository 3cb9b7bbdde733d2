package verify

import (
	"context"

	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/source"
)

// OpenData opens the recipient's data file for the package at pkgPath,
// reading its columns with the types the package's manifest recorded at
// ingest (a CSV alone cannot say that "007" is a string). Readers for
// formats beyond CSV and Arrow come in opts.Readers: the CLI passes
// source/readers.All, the browser verifier the ones that build to
// WebAssembly.
func OpenData(ctx context.Context, pkgPath, dataPath string, opts source.Options) (*source.File, error) {
	m, err := disclosure.ReadManifest(pkgPath)
	if err != nil {
		return nil, err
	}
	ro := disclosure.ReadOptions(m) // types and SAS date formats as ingested
	opts.TypeHints, opts.Formats = ro.TypeHints, ro.Formats
	return source.Open(ctx, dataPath, opts)
}
