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

// lockDir takes an exclusive flock on the directory itself (no lock file
// to publish), so two publishes into one directory cannot interleave and
// an older checkpoint can never replace a newer one.
func lockDir(dir string) (unlock func(), err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		d.Close()
		return nil, fmt.Errorf("%s: another publish is writing here (%v)", dir, err)
	}
	return func() { d.Close() }, nil
}
