package disclosure

import (
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/disclosure/ipcfile"
	"github.com/trialog/trialog/leaf"
)

// Limits of the package format (docs/package-format.md, "Limits"): a
// writer stays within them and a reader rejects a package that does not,
// before allocating anything a package declares.
const (
	MaxBatchRows = 16384    // rows of one record batch
	MaxBatchBody = 64 << 20 // bytes of one record batch's body
	// ReadBudget bounds the Arrow memory a reader of one package holds
	// at once: a batch being read (its body and its buffers), one read
	// ahead and one being checked, the dictionaries, and a cache of one
	// batch body of freed buffers, all rounded up to powers of two.
	ReadBudget = 6 * MaxBatchBody
)

// Limits returns the structural limits of a package file.
func Limits() ipcfile.Limits {
	return ipcfile.Limits{MaxBatchRows: MaxBatchRows, MaxBatchBody: MaxBatchBody}
}

// Open checks a package file's Arrow structure (ipcfile.Check: every
// length inside the file, no compression, the stream section and the
// footer the same messages and schema), opens it reading through mem
// (a Budget of ReadBudget over the Go allocator if nil) and parses its
// metadata. Every failure but the file's absence wraps ErrPackage and
// names the file.
func Open(path string, mem memory.Allocator) (*ipcfile.File, *Meta, error) {
	if mem == nil {
		mem = ipcfile.NewBudget(nil, ReadBudget)
	}
	f, err := ipcfile.Open(path, Limits(), mem)
	if err != nil {
		if errors.Is(err, ipcfile.ErrStructure) {
			return nil, nil, fmt.Errorf("%s: %w: %v", path, ErrPackage, err)
		}
		return nil, nil, err
	}
	meta, err := ParseMeta(f.Schema().Metadata())
	if err == nil {
		err = checkConsistency(meta.Consistency)
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, meta, nil
}

// ReadManifest reads the manifest a package claims, without verifying
// anything: enough to know how to read the recipient's data file. The
// package is checked and read as by Open.
func ReadManifest(path string) (*leaf.Manifest, error) {
	f, meta, err := Open(path, nil)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return meta.Manifest, nil
}

// ReadMeta reads a package's metadata, without verifying anything (the
// structural checks of Open still apply).
func ReadMeta(path string) (*Meta, error) {
	f, meta, err := Open(path, nil)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return meta, nil
}
