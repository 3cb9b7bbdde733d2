//go:build !linux

package embedded

// releaseMapped is a no-op where madvise is not used (see release_linux.go).
func (l *Log) releaseMapped() {}
