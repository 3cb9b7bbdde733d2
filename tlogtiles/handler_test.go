package tlogtiles

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// servedTrial lays a trial out the way the workspace does, with the
// secret and the signing key beside the published directory, and
// publishes a log of n leaves into DIR/trials/TESTTRIAL/public.
func servedTrial(t *testing.T, n uint64) (base, pub string, tl *testLog) {
	t.Helper()
	base = t.TempDir()
	td := filepath.Join(base, "trials", "TESTTRIAL")
	tl = newTestLog(t, filepath.Join(td, "tree"))
	for name, body := range map[string]string{"secret": "SECRET-BYTES", "checkpoint.key": tl.skey} {
		if err := os.WriteFile(filepath.Join(td, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pub = filepath.Join(td, "public")
	if _, err := Publish(context.Background(), tl.log, tl.vkey, tl.grow(t, 5, n), pub); err != nil {
		t.Fatal(err)
	}
	return base, pub, tl
}

func get(h http.Handler, method, target string) (int, []byte, http.Header) {
	req := httptest.NewRequest(method, target, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes(), rec.Header()
}

// TestHandlerMatchesFileServer: every published file is answered exactly
// as a plain static file server over the directory answers it.
func TestHandlerMatchesFileServer(t *testing.T) {
	_, pub, _ := servedTrial(t, 70000)
	h, err := NewHandler(map[string]string{"TESTTRIAL": pub})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	static := http.StripPrefix("/TESTTRIAL", http.FileServer(http.Dir(pub)))
	n := 0
	filepath.WalkDir(pub, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(pub, p)
		target := "/TESTTRIAL/" + filepath.ToSlash(rel)
		c1, b1, hdr := get(h, "GET", target)
		c2, b2, _ := get(static, "GET", target)
		if c1 != 200 || c2 != 200 || !bytes.Equal(b1, b2) {
			t.Errorf("%s: serve %d (%d bytes), static %d (%d bytes)", target, c1, len(b1), c2, len(b2))
		}
		want := cacheImmutable
		if rel == CheckpointPath {
			want = cacheCheckpoint
		}
		if hdr.Get("Cache-Control") != want {
			t.Errorf("%s: Cache-Control %q", target, hdr.Get("Cache-Control"))
		}
		n++
		return nil
	})
	if n < 500 {
		t.Fatalf("compared %d files", n)
	}
	// A tile the tree does not have yet: both 404.
	for _, target := range []string{"/TESTTRIAL/tile/0/999", "/TESTTRIAL/tile/entries/x001/000"} {
		c1, _, _ := get(h, "GET", target)
		c2, _, _ := get(static, "GET", target)
		if c1 != 404 || c2 != 404 {
			t.Errorf("%s: serve %d, static %d", target, c1, c2)
		}
	}
}

// TestHandlerServesNothingElse: traversal, encodings, symlinks, other
// files, unknown trials and methods are all refused.
func TestHandlerServesNothingElse(t *testing.T) {
	base, pub, _ := servedTrial(t, 300)
	// Symlinks planted in the published directory: one escaping to the
	// secret, one staying inside.
	if err := os.Symlink(filepath.Join(base, "trials", "TESTTRIAL", "secret"), filepath.Join(pub, "tile", "0", "005")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(CheckpointPath, filepath.Join(pub, "tile", "0", "006")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pub, "notes.txt"), []byte("SECRET-BYTES"), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(map[string]string{"TESTTRIAL": pub})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if c, _, _ := get(h, "GET", "/TESTTRIAL/tile/0/000"); c != 200 {
		t.Fatalf("a real tile: %d", c)
	}
	for _, target := range []string{
		"/TESTTRIAL/../secret", "/TESTTRIAL/tile/../../secret", "/TESTTRIAL/tile/0/../../../secret",
		"/TESTTRIAL/%2e%2e/secret", "/TESTTRIAL/%2E%2E/checkpoint.key", "/TESTTRIAL/tile%2f0%2f000",
		"/TESTTRIAL/tile/0/000%00", "/TESTTRIAL%2fcheckpoint", "/TESTTRIAL/tile/0/%30%30%30",
		"/TESTTRIAL/secret", "/TESTTRIAL/checkpoint.key", "/TESTTRIAL/tree/tree.db", "/TESTTRIAL/notes.txt",
		"/TESTTRIAL/tile/0/005", "/TESTTRIAL/tile/0/006", "/TESTTRIAL/", "/TESTTRIAL", "/", "/trials/TESTTRIAL/secret",
		"/TESTTRIAL/tile/0/0", "/TESTTRIAL/tile/0/000.p/0", "/TESTTRIAL/tile/0/000.p/256", "/TESTTRIAL/tile/9/000",
		"/TESTTRIAL/tile/0/000/", "/TESTTRIAL//tile/0/000", "/TESTTRIAL/./checkpoint", "/TESTTRIAL/checkpoint?x=1",
		"/OTHER/checkpoint", "/../TESTTRIAL/checkpoint", "/TESTTRIAL/tile/entries/000.p/44/../../../../secret",
	} {
		c, body, _ := get(h, "GET", target)
		if c != 404 {
			t.Errorf("GET %s: %d", target, c)
		}
		if bytes.Contains(body, []byte("SECRET")) {
			t.Errorf("GET %s: leaked the secret", target)
		}
	}
	for _, m := range []string{"PUT", "POST", "DELETE", "PATCH"} {
		if c, _, _ := get(h, m, "/TESTTRIAL/checkpoint"); c != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d", m, c)
		}
	}
	// Over a real connection, raw request lines the Go client would clean.
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, raw := range []string{"/TESTTRIAL/../secret", "/TESTTRIAL/%2e%2e/secret", "/TESTTRIAL/tile%2F..%2F..%2Fsecret"} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "GET "+raw+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, _ := io.ReadAll(conn)
		conn.Close()
		if !strings.HasPrefix(string(resp), "HTTP/1.1 404") || strings.Contains(string(resp), "SECRET") {
			t.Errorf("raw %s: %.40q", raw, resp)
		}
	}
}

// TestHandlerHeadersRangesConditions: the plain GET and HEAD that tile
// clients send get the same status and headers as net/http's
// ServeContent gives them, and ranges and conditional requests still work.
func TestHandlerHeadersRangesConditions(t *testing.T) {
	_, pub, _ := servedTrial(t, 300)
	h, err := NewHandler(map[string]string{"TESTTRIAL": pub})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tile, err := os.ReadFile(filepath.Join(pub, "tile", "0", "000"))
	if err != nil {
		t.Fatal(err)
	}
	static := http.StripPrefix("/TESTTRIAL", http.FileServer(http.Dir(pub)))
	for _, method := range []string{"GET", "HEAD"} {
		c, body, hdr := get(h, method, "/TESTTRIAL/tile/0/000")
		c2, _, hdr2 := get(static, method, "/TESTTRIAL/tile/0/000")
		if c != 200 || c2 != 200 {
			t.Fatalf("%s: %d, static %d", method, c, c2)
		}
		for _, k := range []string{"Content-Length", "Last-Modified", "Accept-Ranges"} {
			if hdr.Get(k) == "" || hdr.Get(k) != hdr2.Get(k) {
				t.Errorf("%s: %s %q, static %q", method, k, hdr.Get(k), hdr2.Get(k))
			}
		}
		if hdr.Get("Content-Type") != "application/octet-stream" || hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", method, hdr)
		}
		if want := map[string]int{"GET": len(tile), "HEAD": 0}[method]; len(body) != want {
			t.Errorf("%s: %d bytes of body", method, len(body))
		}
	}
	req := httptest.NewRequest("GET", "/TESTTRIAL/tile/0/000", nil)
	req.Header.Set("Range", "bytes=32-63")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), tile[32:64]) {
		t.Errorf("range: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	req = httptest.NewRequest("GET", "/TESTTRIAL/tile/0/000", nil)
	req.Header.Set("If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified || rec.Header().Get("Cache-Control") != cacheImmutable {
		t.Errorf("if-modified-since: %d, %v", rec.Code, rec.Header())
	}
}
