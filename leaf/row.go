package leaf

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"slices"
)

// FormatRowV2 is the format byte of row leaves (docs/commitments.md). Row
// leaf v1, which carried every column name and commitment (~620 bytes for
// 16 columns), was replaced before release by this 100-byte form.
const FormatRowV2 = 0x02

// Domain-separation tags of the hashes inside a row leaf.
const (
	rowHashTag = 0x52 // 'R': SHA-256(0x52 || salts || lp(cell)...)
	cellsTag   = 0x44 // 'D': SHA-256(0x44 || commitment...)
)

// contextLabel starts the input of a row leaf's context hash.
const contextLabel = "trialog/row-context/v2"

// Row is a decoded row leaf: one dataset row as the log holds it.
type Row struct {
	Context [sha256.Size]byte // binds trial, dataset, version and column names
	Index   uint64            // row index within the dataset version, from 0
	RowHash [sha256.Size]byte // the row's salts and canonical cells
	Cells   [sha256.Size]byte // the row's cell commitments
}

// RowContext returns the context hash of a dataset version's row leaves:
// SHA-256("trialog/row-context/v2" || 0x00 || lp(trial) || lp(dataset) ||
// uvarint(version) || uvarint(n) || lp(name)...), the names in bytewise
// order. It is computed once per dataset version, so a row leaf binds all
// of that without repeating it.
func RowContext(trial, dataset string, version uint64, columns []string) ([sha256.Size]byte, error) {
	if !slices.IsSorted(columns) {
		return [sha256.Size]byte{}, fmt.Errorf("row leaf columns must be in name order")
	}
	for i := 1; i < len(columns); i++ {
		if columns[i] == columns[i-1] {
			return [sha256.Size]byte{}, fmt.Errorf("duplicate column %q", columns[i])
		}
	}
	msg := append([]byte(contextLabel), 0)
	msg = AppendString(msg, trial)
	msg = AppendString(msg, dataset)
	msg = binary.AppendUvarint(msg, version)
	msg = binary.AppendUvarint(msg, uint64(len(columns)))
	for _, c := range columns {
		msg = AppendString(msg, c)
	}
	return sha256.Sum256(msg), nil
}

// RowEncoder builds row leaves of one dataset version. The columns are
// given in name order (bytewise), which is what makes a table commit the
// same whatever order its columns arrive in.
//
// Row leaf v2: 0x01 0x02 context(32) uvarint(row) row_hash(32) cells(32).
type RowEncoder struct {
	prefix []byte // kind, format, context
}

// NewRowEncoder prepares the constant part of a dataset version's leaves.
func NewRowEncoder(trial, dataset string, version uint64, columns []string) (*RowEncoder, error) {
	ctx, err := RowContext(trial, dataset, version, columns)
	if err != nil {
		return nil, err
	}
	return &RowEncoder{prefix: append([]byte{byte(KindRow), FormatRowV2}, ctx[:]...)}, nil
}

// Append appends the leaf of row index with its row hash and cells digest
// (RowDigest).
func (e *RowEncoder) Append(dst []byte, index uint64, rowHash, cells *[sha256.Size]byte) []byte {
	dst = append(dst, e.prefix...)
	dst = binary.AppendUvarint(dst, index)
	dst = append(dst, rowHash[:]...)
	return append(dst, cells[:]...)
}

// RowDigest computes the two hashes a row leaf carries, with buffers that
// are reused from row to row:
//
//	row_hash = SHA-256(0x52 || salt_0 || ... || salt_n-1 || lp(cell_0) || ... || lp(cell_n-1))
//	cells    = SHA-256(0x44 || commitment_0 || ... || commitment_n-1)
//
// The row hash lets a verifier who holds a whole row check it with one
// hash over the row instead of one per cell; the cells digest binds the
// per-cell commitments, which is what lets a row be disclosed with cells
// withheld. Use: Start, then Cell or Commitment once per column in name
// order, then Sums. The zero value is ready to use.
type RowDigest struct {
	row   []byte    // 0x52 || salts || lp(cell)...
	cells []byte    // 0x44 || commitments
	msg   []byte    // one commitment's input
	h     hash.Hash // reused: a fifth cheaper per short message than sha256.Sum256
	out   [sha256.Size]byte
}

// Start begins a row whose salts (n*16 bytes, name order) are given; salts
// may be nil when only the cells digest is wanted.
func (d *RowDigest) Start(salts []byte) {
	d.row = append(append(d.row[:0], rowHashTag), salts...)
	d.cells = append(d.cells[:0], cellsTag)
}

// Cell adds the next cell: its canonical bytes go into the row hash and its
// commitment, under salt, into the cells digest. It returns the
// commitment, which is valid until the next Start.
func (d *RowDigest) Cell(salt, cell []byte) []byte {
	d.RowCell(cell)
	d.msg = append(append(append(d.msg[:0], commitTag), salt...), cell...)
	d.cells = d.sum(d.cells, d.msg)
	return d.cells[len(d.cells)-CommitmentSize:]
}

// Sum appends SHA-256(msg) to dst, with the digest's reused hash state
// (for other hashes of the same row, such as its leaf hash).
func (d *RowDigest) Sum(dst, msg []byte) []byte { return d.sum(dst, msg) }

// sum appends SHA-256(msg) to dst.
func (d *RowDigest) sum(dst, msg []byte) []byte {
	if d.h == nil {
		d.h = sha256.New()
	}
	d.h.Reset()
	d.h.Write(msg)
	return d.h.Sum(dst)
}

// RowCell adds the next cell to the row hash only.
func (d *RowDigest) RowCell(cell []byte) {
	d.row = binary.AppendUvarint(d.row, uint64(len(cell)))
	d.row = append(d.row, cell...)
}

// Commitment adds the next commitment to the cells digest only.
func (d *RowDigest) Commitment(c []byte) { d.cells = append(d.cells, c...) }

// Commitments are the commitments added since Start, in order.
func (d *RowDigest) Commitments() []byte { return d.cells[1:] }

// RowHash returns the row hash of what was added since Start.
func (d *RowDigest) RowHash() [sha256.Size]byte {
	d.sum(d.out[:0], d.row) // into d.out: a local array would escape to the heap
	return d.out
}

// CellsHash returns the cells digest of what was added since Start.
func (d *RowDigest) CellsHash() [sha256.Size]byte {
	d.sum(d.out[:0], d.cells)
	return d.out
}

// ParseRow decodes a row leaf.
func ParseRow(b []byte) (Row, error) {
	if err := expectHeader(b, KindRow, FormatRowV2, "a v2 row"); err != nil {
		return Row{}, err
	}
	d := &decoder{b: b[2:]}
	var r Row
	copy(r.Context[:], d.bytes(sha256.Size, "context"))
	r.Index = d.uvarint("row index")
	copy(r.RowHash[:], d.bytes(sha256.Size, "row hash"))
	copy(r.Cells[:], d.bytes(sha256.Size, "cells digest"))
	if d.err != nil {
		return Row{}, d.err
	}
	if len(d.b) != 0 {
		return Row{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b))
	}
	return r, nil
}
