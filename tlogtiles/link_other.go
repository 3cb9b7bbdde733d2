//go:build !linux

package tlogtiles

import "errors"

var errNoLink = errors.New("no O_TMPFILE")

// writeLinked is unavailable: files are written under a temporary name
// and renamed.
func writeLinked(parent, path string, data []byte) (bool, error) { return false, errNoLink }
