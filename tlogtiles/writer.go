package tlogtiles

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// writer writes the files of one Publish: each under a temporary name in
// its final directory, then renamed, so a reader sees a whole file or
// none. Durability comes at the end, in one flush of the file system
// (sync), before the checkpoint that makes the files reachable is
// written: one fsync per tile would dominate a large publish.
type writer struct {
	dir  string
	mu   sync.Mutex
	dirs map[string]bool
	// written lists the files and directories to flush where the
	// platform has no syncfs.
	written []string
}

func newWriter(dir string) *writer { return &writer{dir: dir, dirs: map[string]bool{}} }

// writeTile writes a tile or entry bundle at its tlog-tiles path.
func (w *writer) writeTile(t tlog.Tile, data []byte) error { return w.write(tilePath(t), data) }

// write writes data at the slash-separated path p under the directory.
func (w *writer) write(p string, data []byte) error {
	path := filepath.Join(w.dir, filepath.FromSlash(p))
	parent := filepath.Dir(path)
	w.mu.Lock()
	known := w.dirs[parent]
	w.mu.Unlock()
	if !known {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		w.mu.Lock()
		w.dirs[parent] = true
		w.written = append(w.written, parent)
		w.mu.Unlock()
	}
	f, err := os.CreateTemp(parent, ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	w.mu.Lock()
	w.written = append(w.written, path)
	w.mu.Unlock()
	return nil
}
