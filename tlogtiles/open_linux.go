package tlogtiles

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openPublished opens the regular file at the slash-separated path p
// under root with one openat2(2): RESOLVE_BENEATH refuses anything outside
// the directory and RESOLVE_NO_SYMLINKS refuses a symlink at any
// component. Kernels without openat2 (before 5.6) fall back to os.Root.
func openPublished(root *os.Root, dir *os.File, p string) (*os.File, error) {
	fd, err := unix.Openat2(int(dir.Fd()), p, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOSYS) {
		return openInRoot(root, p)
	}
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: p, Err: err}
	}
	return regular(os.NewFile(uintptr(fd), p))
}
