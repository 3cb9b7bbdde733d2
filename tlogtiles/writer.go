package tlogtiles

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/mod/sumdb/tlog"
)

// writer writes the files of one Publish so that a reader sees a whole
// file or none: where the platform allows, as an unnamed file in its final
// directory (O_TMPFILE) that is given its name once written (linkat),
// otherwise under a temporary name, then renamed. Durability comes at the
// end, in one flush (sync), before the checkpoint that makes the files
// reachable is written: one fsync per tile would dominate a large publish.
// (Starting each file's writeback early with sync_file_range was measured
// and dropped: it moved the kernel's writeback work into the publishing
// process, 1.5x its system time, for no gain in wall time.)
type writer struct {
	dir  string
	mu   sync.Mutex
	dirs map[string]bool
	// written lists the files and directories to flush where the
	// platform has no syncfs.
	written []string
	// noLink is set once linking an unnamed file failed for a reason other
	// than an existing file (no O_TMPFILE, no /proc): the rest of the
	// publish uses temporary names.
	noLink atomic.Bool
	// trace, if set, sees every step that matters to crash safety
	// ("write" path, "sync", "checkpoint"), in order: tests check it.
	trace func(step, path string)
}

func newWriter(dir string) *writer { return &writer{dir: dir, dirs: map[string]bool{}} }

// writeTile writes a tile or entry bundle at its tlog-tiles path.
func (w *writer) writeTile(t tlog.Tile, data []byte) error { return w.write(tilePath(t), data) }

// write writes data at the slash-separated path p under the directory.
// A file already there (left by an interrupted publish, beyond the
// published checkpoint) is replaced.
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
	done := false
	if !w.noLink.Load() {
		var err error
		if done, err = writeLinked(parent, path, data); err != nil {
			w.noLink.Store(true)
		}
	}
	if !done {
		if err := writeRenamed(parent, path, data); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	w.mu.Lock()
	w.written = append(w.written, path)
	if w.trace != nil {
		w.trace("write", p)
	}
	w.mu.Unlock()
	return nil
}

// writeRenamed writes data under a temporary name in parent and renames
// it to path.
func writeRenamed(parent, path string, data []byte) error {
	f, err := os.CreateTemp(parent, ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
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
	return nil
}
