package tlogtiles

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// writeLinked writes data into an unnamed file in parent (O_TMPFILE) and
// links it at path: one directory entry added, none created and removed,
// and nothing visible before the whole file is. It reports done=false
// with a nil error when path exists (the caller then replaces it), and
// done=false with an error when the file system or the process cannot do
// this at all (no O_TMPFILE, no /proc): the caller falls back for good.
func writeLinked(parent, path string, data []byte) (done bool, err error) {
	fd, err := unix.Open(parent, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return false, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return false, err
	}
	if err := unix.Fchmod(fd, 0o644); err != nil { // whatever the umask
		return false, err
	}
	// linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc link of
	// the descriptor does not.
	err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if errors.Is(err, unix.EEXIST) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}
