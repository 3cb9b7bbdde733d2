package tlogtiles

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzHandlerPaths: whatever the request target, the handler answers 200
// only for a published tile, bundle or checkpoint, and never with the
// secret planted beside the published directory.
func FuzzHandlerPaths(f *testing.F) {
	for _, s := range []string{"/T/checkpoint", "/T/tile/0/000", "/T/tile/entries/001.p/44", "/T/../secret", "/T/%2e%2e/secret",
		"/T/tile/0/x001/000", "/T//checkpoint", "/T/tile/0/000.p/5", "/secret", "/T/tile%2F0%2F000"} {
		f.Add(s)
	}
	base := f.TempDir()
	pub := filepath.Join(base, "public")
	// A small publication: the vector directory.
	if err := os.CopyFS(pub, os.DirFS("../testdata/vectors/tlog-tiles-v1")); err != nil {
		f.Fatal(err)
	}
	os.WriteFile(filepath.Join(base, "secret"), []byte("SECRET-BYTES"), 0o600)
	os.Symlink(filepath.Join(base, "secret"), filepath.Join(pub, "tile", "0", "003"))
	h, err := NewHandler(map[string]string{"T": pub})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	f.Fuzz(func(t *testing.T, target string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n\t#") {
			return
		}
		defer func() {
			if r := recover(); r != nil && !strings.Contains(fmtAny(r), "invalid") {
				panic(r)
			}
		}()
		req := httptest.NewRequest("GET", "http://x"+target, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if strings.Contains(rec.Body.String(), "SECRET") {
			t.Fatalf("%q served the secret", target)
		}
		if rec.Code == 200 {
			p := strings.TrimPrefix(req.URL.Path, "/T/")
			if _, _, err := ParsePath(p); err != nil || strings.Contains(p, "..") {
				t.Fatalf("%q served (%v)", target, err)
			}
			want, err := os.ReadFile(filepath.Join(pub, filepath.FromSlash(p)))
			if err != nil || want == nil || rec.Body.String() != string(want) {
				t.Fatalf("%q: served something that is not the published file", target)
			}
		}
	})
}

func fmtAny(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}
