//go:build !linux

package tlogtiles

import "os"

// openPublished opens the regular file at p under root (os.Root keeps it
// inside; Lstat refuses a symlink as the last component).
func openPublished(root *os.Root, _ *os.File, p string) (*os.File, error) {
	return openInRoot(root, p)
}
