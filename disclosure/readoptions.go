package disclosure

import (
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/source"
)

// SchemaHints returns the manifest's column types as CSV type
// hints, so a text copy of a dataset is read as it was ingested.
func SchemaHints(m *leaf.Manifest) map[string]arrow.DataType {
	hints := map[string]arrow.DataType{}
	for _, c := range m.Schema {
		if t, err := source.TypeOf(c.Type); err == nil {
			hints[c.Name] = t
		}
	}
	return hints
}

// ReadOptions are the options to read a copy of a dataset version
// (or, for prove, the ingested file again) as it was ingested: the
// manifest's column types as CSV type hints, and SAS display formats for
// its calendar columns, so that an XPT copy whose numerics carry no date
// format (or whose dates were typed by define.xml at ingest) is read as
// the dates that were logged.
func ReadOptions(m *leaf.Manifest) source.Options {
	opts := source.Options{TypeHints: SchemaHints(m), Formats: map[string]string{}}
	for _, c := range m.Schema {
		switch {
		case strings.HasPrefix(c.Type, "date"):
			opts.Formats[c.Name] = "DATE9."
		case strings.HasPrefix(c.Type, "timestamp"):
			opts.Formats[c.Name] = "DATETIME20."
		case strings.HasPrefix(c.Type, "time"):
			opts.Formats[c.Name] = "TIME8."
		}
	}
	return opts
}
