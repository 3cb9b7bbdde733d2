package source

import "fmt"

// Limits bound what one record of a text format may hold, so that hostile
// or broken input (a CSV line of millions of fields, a 100 MB NDJSON line)
// is rejected early, with one line naming the file and line, in memory
// that does not grow with the record. The defaults are far above what a
// clinical dataset needs: SAS caps a dataset at 32,767 variables and a
// text value at 32,767 bytes.
type Limits struct {
	// MaxRecordBytes bounds one CSV record (its line, or lines when a
	// quoted cell spans several) and one Dataset-JSON row (an NDJSON line).
	MaxRecordBytes int
	// MaxFields bounds the fields of a CSV header; every later record is
	// held to the header's count.
	MaxFields int
	// MaxCellBytes bounds one CSV cell.
	MaxCellBytes int
}

// Default limits.
const (
	DefaultMaxRecordBytes = 16 << 20
	DefaultMaxFields      = 100_000
	DefaultMaxCellBytes   = 4 << 20
)

// withDefaults fills the zero limits with the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if l.MaxFields <= 0 {
		l.MaxFields = DefaultMaxFields
	}
	if l.MaxCellBytes <= 0 {
		l.MaxCellBytes = DefaultMaxCellBytes
	}
	return l
}

// limitError says which bound a record broke (and the flag that raises
// it), never what the record held.
func limitError(line int, what, flag string) error {
	return fmt.Errorf("line %d: %s (a limit: raise it with --%s)", line, what, flag)
}
