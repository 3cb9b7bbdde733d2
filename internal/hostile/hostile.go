// Package hostile crafts malformed and malicious variants of an Arrow IPC
// package file, for the tests and the fuzz target of the verifier
// (issue 12): footers pointing outside the file, bodies of 2^40 bytes,
// compression bombs, and a stream section that says something else than
// the footer. It works on bytes, located with ipcfile's checked layout of
// the honest file.
package hostile

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/trialog/trialog/disclosure/ipcfile"
)

// Layout checks the honest file b and returns its layout.
func Layout(b []byte) (*ipcfile.Layout, error) {
	return ipcfile.Check(bytes.NewReader(b), int64(len(b)), ipcfile.Limits{})
}

// Footer returns the footer flatbuffer's byte range [start, end) in b.
func Footer(b []byte, l *ipcfile.Layout) (int, int) {
	return int(l.FooterStart), len(b) - 10
}

func blockBytes(blk ipcfile.Block) []byte {
	out := make([]byte, 24)
	binary.LittleEndian.PutUint64(out, uint64(blk.Offset))
	binary.LittleEndian.PutUint32(out[8:], uint32(blk.Meta))
	binary.LittleEndian.PutUint64(out[16:], uint64(blk.Body))
	return out
}

// blockAt returns the position of blk's footer entry in b.
func blockAt(b []byte, l *ipcfile.Layout, blk ipcfile.Block) (int, error) {
	start, end := Footer(b, l)
	i := bytes.Index(b[start:end], blockBytes(blk))
	if i < 0 {
		return 0, fmt.Errorf("footer block for offset %d not found", blk.Offset)
	}
	return start + i, nil
}

// SetRecordBlock returns a copy of b whose footer indexes record batch i
// with the given body length and offset (the bytes stay where they are).
func SetRecordBlock(b []byte, i int, offset, body int64) ([]byte, error) {
	return setBlock(b, false, i, offset, body)
}

// SetDictionaryBlock is SetRecordBlock for dictionary batch i.
func SetDictionaryBlock(b []byte, i int, offset, body int64) ([]byte, error) {
	return setBlock(b, true, i, offset, body)
}

func setBlock(b []byte, dict bool, i int, offset, body int64) ([]byte, error) {
	l, err := Layout(b)
	if err != nil {
		return nil, err
	}
	blocks := l.Records
	if dict {
		blocks = l.Dicts
	}
	if i >= len(blocks) {
		return nil, fmt.Errorf("no block %d", i)
	}
	at, err := blockAt(b, l, blocks[i])
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(b)
	binary.LittleEndian.PutUint64(out[at:], uint64(offset))
	binary.LittleEndian.PutUint64(out[at+16:], uint64(body))
	return out, nil
}

// Message returns record batch i's bytes (framing, metadata and body).
func Message(b []byte, i int) ([]byte, error) {
	l, err := Layout(b)
	if err != nil {
		return nil, err
	}
	r := l.Records[i]
	return bytes.Clone(b[r.Offset : r.Offset+int64(r.Meta)+r.Body]), nil
}

// InsertBeforeRecords returns a copy of b with msg (and, if eos, an
// end-of-stream marker after it) inserted before the first record batch,
// and the footer's blocks moved along so that the footer still indexes
// the honest batches: a stream reader sees msg and stops at the marker, a
// file reader sees the honest batches.
func InsertBeforeRecords(b, msg []byte, eos bool) ([]byte, error) {
	l, err := Layout(b)
	if err != nil {
		return nil, err
	}
	if len(l.Records) == 0 {
		return nil, fmt.Errorf("no record batch")
	}
	ins := append([]byte(nil), msg...)
	if eos {
		ins = append(ins, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0)
	}
	at := l.Records[0].Offset
	out := append(bytes.Clone(b[:at]), ins...)
	out = append(out, b[at:]...)
	delta := int64(len(ins))
	footer := int(l.FooterStart) + len(ins)
	for _, blk := range append(append([]ipcfile.Block(nil), l.Dicts...), l.Records...) {
		if blk.Offset < at {
			continue
		}
		i := bytes.Index(out[footer:], blockBytes(blk))
		if i < 0 {
			return nil, fmt.Errorf("footer block for offset %d not found", blk.Offset)
		}
		binary.LittleEndian.PutUint64(out[footer+i:], uint64(blk.Offset+delta))
	}
	return out, nil
}

// PatchInt64 returns a copy of b in which the first little-endian int64
// equal to old at or after from is replaced by new; ok is false if there
// is none.
func PatchInt64(b []byte, from int, old, new int64) ([]byte, bool) {
	pat := binary.LittleEndian.AppendUint64(nil, uint64(old))
	i := bytes.Index(b[from:], pat)
	if i < 0 {
		return nil, false
	}
	out := bytes.Clone(b)
	binary.LittleEndian.PutUint64(out[from+i:], uint64(new))
	return out, true
}
