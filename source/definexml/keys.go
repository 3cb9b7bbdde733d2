package definexml

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/trialog/trialog/source"
)

// DatasetFromFile reads one dataset's definition from a Define-XML (1.0 or
// 2.x) file.
func DatasetFromFile(path, dataset string) (*Dataset, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	br := bufio.NewReader(fh)
	if !looksLikeXML(br) {
		return nil, fmt.Errorf("%s: not an XML file: a Define-XML (define.xml) is XML: %w", filepath.Base(path), source.ErrInput)
	}
	def, err := Parse(br, filepath.Base(path))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, source.ErrInput)
	}
	ds, ok := def.Dataset(dataset)
	if !ok {
		return nil, fmt.Errorf("%s: no dataset %s: %w", filepath.Base(path), dataset, source.ErrInput)
	}
	return ds, nil
}

// KeysFromFile returns a dataset's key variables, in KeySequence order, from
// a Define-XML (1.0 or 2.x) file.
func KeysFromFile(path, dataset string) ([]string, error) {
	ds, err := DatasetFromFile(path, dataset)
	if err != nil {
		return nil, err
	}
	if ds.KeyError != nil {
		return nil, fmt.Errorf("%w: %v", source.ErrInput, ds.KeyError)
	}
	if len(ds.Keys) == 0 {
		return nil, fmt.Errorf("%s: dataset %s declares no key variables: %w", filepath.Base(path), dataset, source.ErrInput)
	}
	return ds.Keys, nil
}

// DisplayFormats returns the def:DisplayFormat of each variable that has
// one (e.g. TRTSDT → DATE9.): an XPT reader uses them for numerics whose
// file declares no format, so that dates stored as numbers read as dates.
func (ds *Dataset) DisplayFormats() map[string]string {
	out := map[string]string{}
	for _, c := range ds.Columns {
		if c.DisplayFormat != "" {
			out[c.Name] = c.DisplayFormat
		}
	}
	return out
}

// looksLikeXML says whether the input starts, after an optional UTF-8 byte
// order mark and white space, with '<', as every XML document does; it
// consumes nothing the parser needs.
func looksLikeXML(br *bufio.Reader) bool {
	head, _ := br.Peek(512)
	head = bytes.TrimPrefix(head, []byte("\ufeff"))
	head = bytes.TrimLeft(head, " \t\r\n")
	return len(head) > 0 && head[0] == '<'
}
