package definexml

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/trialog/trialog/source"
)

// KeysFromFile returns a dataset's key variables, in KeySequence order, from
// a Define-XML (1.0 or 2.x) file.
func KeysFromFile(path, dataset string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	def, err := Parse(fh, filepath.Base(path))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", source.ErrInput, err)
	}
	ds, ok := def.Dataset(dataset)
	if !ok {
		return nil, fmt.Errorf("%s: no dataset %s: %w", filepath.Base(path), dataset, source.ErrInput)
	}
	if len(ds.Keys) == 0 {
		return nil, fmt.Errorf("%s: dataset %s declares no key variables: %w", filepath.Base(path), dataset, source.ErrInput)
	}
	return ds.Keys, nil
}
