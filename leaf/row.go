package leaf

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Row is a decoded row leaf: one dataset row as the log holds it.
type Row struct {
	Trial       string
	Dataset     string
	Version     uint64
	Index       uint64 // row index within the dataset version, from 0
	Columns     []string
	Commitments [][CommitmentSize]byte // one per column, same order
}

// RowEncoder builds row leaves of one dataset version. The columns are
// given in name order (bytewise), which is what makes a table commit the
// same whatever order its columns arrive in.
//
// Row leaf v1: 0x01 0x01 lp(trial) lp(dataset) uvarint(version)
// uvarint(row) uvarint(ncols) lp(name)... commitment(32)...
type RowEncoder struct {
	prefix  []byte // kind, format, trial, dataset, version
	columns []byte // uvarint(ncols) lp(name)...
	ncols   int
}

// NewRowEncoder prepares the constant parts of a dataset version's leaves.
func NewRowEncoder(trial, dataset string, version uint64, columns []string) (*RowEncoder, error) {
	if !slices.IsSorted(columns) {
		return nil, fmt.Errorf("row leaf columns must be in name order")
	}
	for i := 1; i < len(columns); i++ {
		if columns[i] == columns[i-1] {
			return nil, fmt.Errorf("duplicate column %q", columns[i])
		}
	}
	e := &RowEncoder{ncols: len(columns)}
	e.prefix = []byte{byte(KindRow), FormatV1}
	e.prefix = AppendString(e.prefix, trial)
	e.prefix = AppendString(e.prefix, dataset)
	e.prefix = binary.AppendUvarint(e.prefix, version)
	e.columns = binary.AppendUvarint(nil, uint64(len(columns)))
	for _, c := range columns {
		e.columns = AppendString(e.columns, c)
	}
	return e, nil
}

// Append appends the leaf of row index with the given commitments, which
// must be len(columns)*32 bytes in column order.
func (e *RowEncoder) Append(dst []byte, index uint64, commitments []byte) []byte {
	if len(commitments) != e.ncols*CommitmentSize {
		panic(fmt.Sprintf("leaf: %d commitment bytes for %d columns", len(commitments), e.ncols))
	}
	dst = append(dst, e.prefix...)
	dst = binary.AppendUvarint(dst, index)
	dst = append(dst, e.columns...)
	return append(dst, commitments...)
}

// ParseRow decodes a row leaf.
func ParseRow(b []byte) (Row, error) {
	kind, format, err := Header(b)
	if err != nil {
		return Row{}, err
	}
	if kind != KindRow || format != FormatV1 {
		return Row{}, fmt.Errorf("%w: kind %#x format %#x is not a v1 row", ErrMalformed, kind, format)
	}
	d := &decoder{b: b[2:]}
	r := Row{
		Trial:   d.string("trial"),
		Dataset: d.string("dataset"),
		Version: d.uvarint("version"),
		Index:   d.uvarint("row index"),
	}
	n := d.uvarint("column count")
	if d.err == nil && n > uint64(len(d.b)) {
		return Row{}, fmt.Errorf("%w: %d columns in %d bytes", ErrMalformed, n, len(d.b))
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		r.Columns = append(r.Columns, d.string("column name"))
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		if c := d.bytes(CommitmentSize, "commitment"); d.err == nil {
			r.Commitments = append(r.Commitments, [CommitmentSize]byte(c))
		}
	}
	if d.err != nil {
		return Row{}, d.err
	}
	if len(d.b) != 0 {
		return Row{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b))
	}
	return r, nil
}
