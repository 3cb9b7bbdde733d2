package tlogtiles

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// sync makes every file written so far durable with one syncfs(2) of the
// file system holding the directory (data and the renames alike).
func (w *writer) sync() error {
	d, err := os.Open(w.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", w.dir, err)
	}
	return nil
}
