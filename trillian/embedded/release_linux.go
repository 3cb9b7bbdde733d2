package embedded

import (
	"os"

	"golang.org/x/sys/unix"
)

// releaseMapped drops the tree store's pages from this process's page
// tables. bbolt reads through a shared read-only mmap, so every page an
// append reads stays mapped, and counted in the process's resident memory,
// until unmapped: without this an ingest's RSS grows with the tree (about
// 5 MiB per million leaves) although those pages are clean and already on
// disk. They stay in the page cache; the next read maps them again.
func (l *Log) releaseMapped() {
	st, err := os.Stat(l.db.Path())
	if err != nil || st.Size() == 0 {
		return
	}
	// A raw syscall: the mapping's address comes from bbolt as a uintptr.
	unix.Syscall(unix.SYS_MADVISE, l.db.Info().Data, uintptr(st.Size()), unix.MADV_DONTNEED) //nolint:errcheck // advisory
}
