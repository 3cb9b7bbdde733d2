package tlogtiles

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Cache rules (C2SP tlog-tiles): a tile or entry bundle path, full or
// partial, always names the same bytes, so it may be cached for ever; the
// checkpoint changes whenever the log grows, so it may not be cached for
// more than a few seconds.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheCheckpoint = "public, max-age=5, must-revalidate"
)

// Handler serves published logs read-only over HTTP, one per trial under
// /<trial>/: /<trial>/checkpoint, /<trial>/tile/<L>/<N>[.p/<W>] and
// /<trial>/tile/entries/<N>[.p/<W>]. Nothing else is ever served: the path
// must be one of those in its canonical spelling, with no percent-encoding
// at all (so no %2e%2e, no encoded slash), the trial must be one the
// handler was given, and the file is opened through os.Root in that
// trial's published directory and must be a regular file (no symlinks).
// Only GET and HEAD are answered. The trial's secret and signing key,
// though they may live in the same directory tree, are outside every
// published directory and match no servable path.
type Handler struct {
	mu    sync.RWMutex
	roots map[string]*os.Root
	dirs  map[string]*os.File // the same directories, for openat2 on Linux
}

// NewHandler opens the published directory of each trial (trial ID →
// directory).
func NewHandler(trials map[string]string) (*Handler, error) {
	h := &Handler{roots: make(map[string]*os.Root, len(trials)), dirs: make(map[string]*os.File, len(trials))}
	for id, dir := range trials {
		if err := h.Add(id, dir); err != nil {
			h.Close()
			return nil, err
		}
	}
	return h, nil
}

// Add serves one more trial (a trial created after the server started);
// adding a trial already served does nothing.
func (h *Handler) Add(id, dir string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\\%") {
		return fmt.Errorf("trial ID %q cannot be served", id)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.roots[id] != nil {
		return nil
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("trial %s: published directory: %w", id, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		r.Close()
		return fmt.Errorf("trial %s: published directory: %w", id, err)
	}
	h.roots[id], h.dirs[id] = r, d
	return nil
}

// Close releases the directories.
func (h *Handler) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, r := range h.roots {
		errs = append(errs, r.Close())
	}
	for _, d := range h.dirs {
		errs = append(errs, d.Close())
	}
	return errors.Join(errs...)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	// Only plain paths: anything percent-encoded, or any query, is refused
	// rather than interpreted.
	if req.URL.RawPath != "" || strings.Contains(req.URL.EscapedPath(), "%") || req.URL.RawQuery != "" {
		http.NotFound(w, req)
		return
	}
	trial, p, ok := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
	h.mu.RLock()
	root, dir := h.roots[trial], h.dirs[trial]
	h.mu.RUnlock()
	if !ok || root == nil {
		http.NotFound(w, req)
		return
	}
	_, isTile, err := ParsePath(p)
	if err != nil {
		http.NotFound(w, req)
		return
	}
	f, err := openPublished(root, dir, p)
	if err != nil {
		http.NotFound(w, req)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		http.Error(w, "unavailable", http.StatusInternalServerError)
		return
	}
	// The header values are shared, never modified slices, and the keys
	// already canonical: no allocation or canonicalisation per request.
	hdr := w.Header()
	if isTile {
		hdr["Content-Type"] = headerOctetStream
		hdr["Cache-Control"] = headerImmutable
	} else {
		hdr["Content-Type"] = headerText
		hdr["Cache-Control"] = headerCheckpoint
	}
	hdr["X-Content-Type-Options"] = headerNosniff
	if !plainGet(req) {
		// Ranges and conditional requests: net/http's implementation.
		http.ServeContent(w, req, "", fi.ModTime(), f)
		return
	}
	// The common request, answered as ServeContent would answer it but
	// without its seeks and parsing: headers, then the file (sendfile).
	hdr["Accept-Ranges"] = headerBytes
	hdr["Last-Modified"] = []string{fi.ModTime().UTC().Format(http.TimeFormat)}
	hdr["Content-Length"] = []string{strconv.FormatInt(fi.Size(), 10)}
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		io.Copy(w, f) // an error here is the client's: nothing to report
	}
}

var (
	headerOctetStream = []string{"application/octet-stream"}
	headerText        = []string{"text/plain; charset=utf-8"}
	headerImmutable   = []string{cacheImmutable}
	headerCheckpoint  = []string{cacheCheckpoint}
	headerNosniff     = []string{"nosniff"}
	headerBytes       = []string{"bytes"}
)

// plainGet reports whether req is a whole-file GET or HEAD with no
// condition (no Range, If-*): the only kind tile clients send.
func plainGet(req *http.Request) bool {
	for k := range req.Header {
		if k == "Range" || strings.HasPrefix(k, "If-") {
			return false
		}
	}
	return true
}

// openInRoot opens p through os.Root (which keeps it inside the
// directory) and refuses a symlink as the last component.
func openInRoot(root *os.Root, p string) (*os.File, error) {
	fi, err := root.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	f, err := root.Open(p)
	if err != nil {
		return nil, err
	}
	return regular(f)
}

// regular returns f if it is a regular file, and closes it otherwise.
func regular(f *os.File) (*os.File, error) {
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file", f.Name())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
