// Package shareddata finds the public test data that sits beside the
// repository in ../shared/data (the CDISC pilot study, the Dataset-JSON
// message samples), so tests in any package name files the same way.
package shareddata

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir is ../shared/data relative to the repository root.
func Dir() string {
	_, file, _, _ := runtime.Caller(0) // .../internal/shareddata/shareddata.go
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data")
}

// Path returns the path of rel under Dir, failing t if it is missing.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Dir(), rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("real test data missing (%v): tests need ../shared/data beside the repository", err)
	}
	return p
}
