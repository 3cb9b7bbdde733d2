package ipcfile

import (
	"encoding/binary"
	"fmt"
)

// fb is a bounds-checked reader of one FlatBuffers buffer
// (https://flatbuffers.dev/internals/): every offset and every vector
// length is checked against the buffer before it is followed, so a crafted
// length is an error here instead of an allocation in the Arrow reader.
// Only what the Arrow IPC footer and message tables need is implemented.
type fb struct {
	b []byte
}

// table is a FlatBuffers table: its position and its vtable's.
type table struct {
	pos, vt, vtLen int
}

var errBounds = fmt.Errorf("flatbuffer offset out of bounds")

func (f fb) u32(at int) (uint32, error) {
	if at < 0 || at+4 > len(f.b) {
		return 0, errBounds
	}
	return binary.LittleEndian.Uint32(f.b[at:]), nil
}

func (f fb) u16(at int) (uint16, error) {
	if at < 0 || at+2 > len(f.b) {
		return 0, errBounds
	}
	return binary.LittleEndian.Uint16(f.b[at:]), nil
}

func (f fb) i64(at int) (int64, error) {
	if at < 0 || at+8 > len(f.b) {
		return 0, errBounds
	}
	return int64(binary.LittleEndian.Uint64(f.b[at:])), nil
}

// root returns the buffer's root table.
func (f fb) root() (table, error) {
	off, err := f.u32(0)
	if err != nil {
		return table{}, err
	}
	return f.tableAt(int(off))
}

func (f fb) tableAt(pos int) (table, error) {
	if pos < 0 || pos+4 > len(f.b) || pos%4 != 0 {
		return table{}, errBounds
	}
	so := int32(binary.LittleEndian.Uint32(f.b[pos:]))
	vt := pos - int(so)
	n, err := f.u16(vt)
	if err != nil || n < 4 || n%2 != 0 || vt+int(n) > len(f.b) {
		return table{}, errBounds
	}
	tlen, _ := f.u16(vt + 2)
	if pos+int(tlen) > len(f.b) {
		return table{}, errBounds
	}
	return table{pos: pos, vt: vt, vtLen: int(n)}, nil
}

// field returns the position of field i of t, 0 when absent.
func (f fb) field(t table, i int) int {
	slot := 4 + 2*i
	if slot+2 > t.vtLen {
		return 0
	}
	off, _ := f.u16(t.vt + slot)
	if off == 0 {
		return 0
	}
	return t.pos + int(off)
}

func (f fb) scalar64(t table, i int) (int64, error) {
	p := f.field(t, i)
	if p == 0 {
		return 0, nil
	}
	return f.i64(p)
}

func (f fb) scalar16(t table, i int) (uint16, error) {
	p := f.field(t, i)
	if p == 0 {
		return 0, nil
	}
	return f.u16(p)
}

func (f fb) scalar8(t table, i int) (byte, error) {
	p := f.field(t, i)
	if p == 0 {
		return 0, nil
	}
	if p >= len(f.b) {
		return 0, errBounds
	}
	return f.b[p], nil
}

// indirect follows the offset stored at field i; ok is false when the
// field is absent.
func (f fb) indirect(t table, i int) (pos int, ok bool, err error) {
	p := f.field(t, i)
	if p == 0 {
		return 0, false, nil
	}
	off, err := f.u32(p)
	if err != nil {
		return 0, false, err
	}
	return p + int(off), true, nil
}

func (f fb) subtable(t table, i int) (table, bool, error) {
	pos, ok, err := f.indirect(t, i)
	if !ok || err != nil {
		return table{}, ok, err
	}
	st, err := f.tableAt(pos)
	return st, true, err
}

// vector returns the start and length of vector field i of t, whose
// elements are elem bytes each, after checking that they all lie inside
// the buffer.
func (f fb) vector(t table, i, elem int) (start, n int, err error) {
	pos, ok, err := f.indirect(t, i)
	if !ok || err != nil {
		return 0, 0, err
	}
	ln, err := f.u32(pos)
	if err != nil {
		return 0, 0, err
	}
	start = pos + 4
	if uint64(ln)*uint64(elem) > uint64(len(f.b)-start) {
		return 0, 0, fmt.Errorf("flatbuffer vector of %d elements overruns its buffer", ln)
	}
	return start, int(ln), nil
}

// tables returns the tables of a vector-of-tables field.
func (f fb) tables(t table, i int) ([]table, error) {
	start, n, err := f.vector(t, i, 4)
	if err != nil {
		return nil, err
	}
	out := make([]table, 0, n)
	for k := 0; k < n; k++ {
		p := start + 4*k
		off, _ := f.u32(p)
		st, err := f.tableAt(p + int(off))
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// str checks string field i (bytes inside the buffer).
func (f fb) str(t table, i int) error {
	_, _, err := f.vector(t, i, 1)
	return err
}
