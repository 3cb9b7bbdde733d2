package testutil

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// FrozenVectors compares freshly built test vectors, as indented JSON,
// with the published file at path and returns the file's bytes. With
// update (a test's -update flag, for a new spec version only) it first
// rewrites the file. Published encodings are frozen: any difference fails.
func FrozenVectors(t testing.TB, path string, built any, update bool) []byte {
	t.Helper()
	got, err := json.MarshalIndent(built, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s changed: the published encodings are frozen (run with -update only for a new spec version)", path)
	}
	return want
}
