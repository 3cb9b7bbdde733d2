package commit

import (
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/source"
)

// ReservedPrefix starts the names of the columns trialog adds to packages;
// datasets may not use it.
const ReservedPrefix = "_trialog"

// Columns is a dataset's column set in the two orders that matter: the
// source order (for people and packages) and name order (for leaves).
type Columns struct {
	Sorted []string // names in bytewise order: leaf order
	// SourceIndex[j] is the schema field index of Sorted[j].
	SourceIndex []int
}

// ColumnsOf checks a schema's names and types and orders them.
func ColumnsOf(name string, schema *arrow.Schema) (Columns, error) {
	var c Columns
	seen := map[string]bool{}
	for i, f := range schema.Fields() {
		switch {
		case f.Name == "":
			return c, fmt.Errorf("%s: column %d has no name: %w", name, i+1, source.ErrInput)
		case seen[f.Name]:
			return c, fmt.Errorf("%s: duplicate column %q: %w", name, f.Name, source.ErrInput)
		case strings.HasPrefix(f.Name, ReservedPrefix):
			return c, fmt.Errorf("%s: column %q uses the reserved prefix %s: %w", name, f.Name, ReservedPrefix, source.ErrInput)
		}
		if err := canonical.Supported(f.Type); err != nil {
			return c, fmt.Errorf("%s: column %q: %v: %w", name, f.Name, err, source.ErrInput)
		}
		seen[f.Name] = true
		c.Sorted = append(c.Sorted, f.Name)
	}
	slices.Sort(c.Sorted)
	for _, n := range c.Sorted {
		c.SourceIndex = append(c.SourceIndex, schema.FieldIndices(n)[0])
	}
	return c, nil
}
