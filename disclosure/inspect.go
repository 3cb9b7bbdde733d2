package disclosure

import (
	"fmt"
	"os"

	"github.com/apache/arrow/go/v17/arrow/ipc"

	"github.com/trialog/trialog/leaf"
)

// ReadManifest reads the manifest a package claims, without verifying
// anything: enough to know how to read the recipient's data file.
func ReadManifest(path string) (*leaf.Manifest, error) {
	meta, err := ReadMeta(path)
	if err != nil {
		return nil, err
	}
	return meta.Manifest, nil
}

// ReadMeta reads a package's metadata, without verifying anything.
func ReadMeta(path string) (*Meta, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fr, err := ipc.NewFileReader(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrPackage, err)
	}
	defer fr.Close()
	meta, err := ParseMeta(fr.Schema().Metadata())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return meta, nil
}
