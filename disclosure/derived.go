package disclosure

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/transparency-dev/merkle/compact"

	"github.com/trialog/trialog/disclosure/ipcfile"
	"github.com/trialog/trialog/trillian"
)

// Derived package layout, v4 (docs/package-format.md, "Derived packages").
//
// The Arrow IPC file format writes the schema twice, in the stream's
// schema message and again in the footer, so a few KiB of metadata cost
// twice that: for a few hundred rows, more than the rows' leaf tags. A
// derived package therefore keeps only trialog.package and trialog.mode in
// its schema metadata and writes everything else once, as the first value
// of its one column (the metadata record); the leaf tags follow in chunks.
const (
	// ColDerived is a derived package's one column (binary). Its first
	// value (row 0 of record batch 0) is the metadata record; every value
	// after it is a chunk of leaf tags, LeafTagSize bytes per data row,
	// rows in order.
	ColDerived = ReservedPrefix + "_derived"
	// MaxTagChunk bounds the data rows one chunk covers.
	MaxTagChunk = MaxBatchRows
)

// DerivedType is the type of ColDerived.
var DerivedType = arrow.BinaryTypes.Binary

// schemaKeys are the metadata keys a derived package keeps in its Arrow
// schema (so that any Arrow tool shows what the file is); the metadata
// record holds all others, and none of these.
var schemaKeys = []string{metaVersion, metaMode}

// rawKeys are the keys whose values are base64 of bytes in schema
// metadata (which Arrow implementations read as UTF-8) and the bytes
// themselves in the metadata record, a binary value: a quarter smaller
// (the salt key runs are 33 bytes per participant under salts v2).
var rawKeys = []string{metaManifestLeaf, metaRangeProof, metaSaltKeys}

// DerivedLayout splits a derived package's metadata into the schema's
// few keys and the metadata record of all the others.
func DerivedLayout(md arrow.Metadata) (*arrow.Schema, []byte, error) {
	var keys, vals []string
	var rec []byte
	for i, k := range md.Keys() {
		v := md.Values()[i]
		if isSchemaKey(k) {
			keys, vals = append(keys, k), append(vals, v)
			continue
		}
		if slices.Contains(rawKeys, k) {
			raw, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, nil, fmt.Errorf("metadata %s: %v", k, err)
			}
			v = string(raw)
		}
		rec = binary.AppendUvarint(rec, uint64(len(k)))
		rec = append(rec, k...)
		rec = binary.AppendUvarint(rec, uint64(len(v)))
		rec = append(rec, v...)
	}
	schemaMD := arrow.NewMetadata(keys, vals)
	return arrow.NewSchema([]arrow.Field{{Name: ColDerived, Type: DerivedType}}, &schemaMD), rec, nil
}

func isSchemaKey(k string) bool { return k == schemaKeys[0] || k == schemaKeys[1] }

// parseRecord decodes a metadata record: pairs of (uvarint length, key,
// uvarint length, value), each key starting "trialog.", none twice and
// none of the schema's keys. Lengths are checked against the bytes left
// before anything is sliced; nothing is allocated from them. Every value
// but the salt keys' together stays within the schema metadata's limit
// (ipcfile.DefaultMaxMetadata, 1 MiB): the record holds what schema
// metadata would, and the JSON values among them are decoded afterwards,
// so their size bounds the decoder's memory (docs/package-format.md,
// "Limits"). The salt keys, 36 bytes or less per participant, are bounded
// by the record's batch (64 MiB).
func parseRecord(rec []byte) (keys, vals []string, err error) {
	seen := map[string]bool{}
	others := 0
	next := func(what string) (string, error) {
		n, w := binary.Uvarint(rec)
		if w <= 0 || n > uint64(len(rec)-w) {
			return "", fmt.Errorf("%w: metadata record: %s length runs past the record", ErrPackage, what)
		}
		s := string(rec[w : w+int(n)])
		rec = rec[w+int(n):]
		return s, nil
	}
	for len(rec) > 0 {
		k, err := next("key")
		if err != nil {
			return nil, nil, err
		}
		v, err := next("value")
		if err != nil {
			return nil, nil, err
		}
		if !strings.HasPrefix(k, "trialog.") || isSchemaKey(k) || seen[k] {
			return nil, nil, fmt.Errorf("%w: metadata record: key %.40q not allowed or repeated", ErrPackage, k)
		}
		seen[k] = true
		if k != metaSaltKeys {
			if others += len(k) + len(v); others > ipcfile.DefaultMaxMetadata {
				return nil, nil, fmt.Errorf("%w: metadata record: more than %d bytes besides the salt keys", ErrPackage, ipcfile.DefaultMaxMetadata)
			}
		}
		if slices.Contains(rawKeys, k) {
			v = base64.StdEncoding.EncodeToString([]byte(v))
		}
		keys, vals = append(keys, k), append(vals, v)
	}
	return keys, vals, nil
}

// derivedMetadata reads a derived package's metadata record (the first
// value) and returns the package's whole metadata: the schema's keys and
// the record's.
func derivedMetadata(f *ipcfile.File) (arrow.Metadata, error) {
	md := f.Schema().Metadata()
	fields := f.Schema().Fields()
	if len(fields) != 1 || fields[0].Name != ColDerived || !arrow.TypeEqual(fields[0].Type, DerivedType) {
		return md, fmt.Errorf("%w: a derived package has exactly one column, %s (binary)", ErrPackage, ColDerived)
	}
	if md.Len() != len(schemaKeys) {
		return md, fmt.Errorf("%w: a derived package's schema metadata holds only %s", ErrPackage, strings.Join(schemaKeys, " and "))
	}
	if f.NumRecords() == 0 {
		return md, fmt.Errorf("%w: a derived package without its metadata record", ErrPackage)
	}
	batch, err := f.RecordAt(0)
	if err != nil {
		return md, fmt.Errorf("%w: metadata record: %v", ErrPackage, err)
	}
	defer batch.Release()
	col, ok := batch.Column(0).(*array.Binary)
	if !ok || batch.NumRows() == 0 || col.NullN() != 0 || !offsetsInside(col) {
		return md, fmt.Errorf("%w: a derived package's first value must be its metadata record", ErrPackage)
	}
	keys, vals, err := parseRecord(col.Value(0)) // parseRecord copies what it keeps
	if err != nil {
		return md, err
	}
	return arrow.NewMetadata(append(md.Keys(), keys...), append(md.Values(), vals...)), nil
}

// offsetsInside checks a binary column's value offsets before any value
// is sliced: Arrow's reader does not, and a crafted batch's offsets point
// anywhere (FuzzPackage found one far past the data buffer).
func offsetsInside(col *array.Binary) bool {
	d := col.Data()
	bufs := d.Buffers()
	if len(bufs) < 3 || bufs[1] == nil {
		return false
	}
	offs, data := bufs[1].Bytes(), 0
	if bufs[2] != nil {
		data = bufs[2].Len()
	}
	first, n := d.Offset(), d.Len()
	if first < 0 || n < 0 || len(offs)/4 < first+n+1 {
		return false
	}
	at := func(i int) int64 { return int64(int32(binary.LittleEndian.Uint32(offs[4*i:]))) }
	for i := first; i < first+n; i++ {
		if lo, hi := at(i), at(i+1); lo < 0 || hi < lo || hi > int64(data) {
			return false
		}
	}
	return true
}

// IsDerived says whether schema metadata is a derived package's.
func IsDerived(md arrow.Metadata) bool {
	i := md.FindKey(metaMode)
	return i >= 0 && md.Values()[i] == ModeDerived
}

// LeafTags appends a derived package's leaf tags (every value after the
// metadata record: chunks of whole tags) to tags, reading at most max
// tags; more returns (tags, false).
func LeafTags(f *ipcfile.File, tags []byte, max uint64) ([]byte, bool, error) {
	for b := 0; b < f.NumRecords(); b++ {
		rec, err := f.RecordAt(b)
		if err != nil {
			return nil, false, fmt.Errorf("batch %d: %w: %v", b, ErrPackage, err)
		}
		col, ok := rec.Column(0).(*array.Binary)
		if !ok || col.NullN() > 0 || !offsetsInside(col) {
			rec.Release()
			return nil, false, fmt.Errorf("batch %d: %w: leaf tags of the wrong type or null", b, ErrPackage)
		}
		for i := 0; i < col.Len(); i++ {
			if b == 0 && i == 0 {
				continue // the metadata record
			}
			chunk := col.Value(i)
			if len(chunk) == 0 || len(chunk)%LeafTagSize != 0 || len(chunk) > MaxTagChunk*LeafTagSize {
				rec.Release()
				return nil, false, fmt.Errorf("batch %d: %w: a chunk of leaf tags of %d bytes", b, ErrPackage, len(chunk))
			}
			if uint64(len(tags)+len(chunk))/LeafTagSize > max {
				rec.Release()
				return tags, false, nil
			}
			tags = append(tags, chunk...)
		}
		rec.Release()
	}
	return tags, true, nil
}

// encodeRangeProof is a v4 range proof's metadata value: base64 of its
// Left hashes then its Right hashes. Begin, End and Size are not written:
// they follow from the manifest (first_index, first_index + rows + 1, the
// manifest's leaf being the range's last) and the checkpoint.
func encodeRangeProof(p *trillian.RangeProof) string {
	var b bytes.Buffer
	for _, h := range p.Left {
		b.Write(h)
	}
	for _, h := range p.Right {
		b.Write(h)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// parseRangeProof decodes encodeRangeProof for the range [begin, end):
// the first popcount(begin) hashes are the compact range of [0, begin),
// the rest the consistency proof from end. Size is left 0: the verifier
// sets it from the checkpoint.
func parseRangeProof(s string, begin, end uint64) (*trillian.RangeProof, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw)%trillian.HashSize != 0 {
		return nil, fmt.Errorf("%w: range proof is not base64 of 32-byte hashes", ErrPackage)
	}
	var hashes [][]byte
	for len(raw) > 0 {
		hashes, raw = append(hashes, raw[:trillian.HashSize:trillian.HashSize]), raw[trillian.HashSize:]
	}
	// Too few hashes for the left boundary: the verifier's range check
	// reports it (a manifest swapped for another version's, say).
	left := min(compact.RangeSize(0, begin), len(hashes))
	return &trillian.RangeProof{Begin: begin, End: end, Left: hashes[:left], Right: hashes[left:]}, nil
}

// Bind completes, once the verifier has opened the package's checkpoint,
// what v4 leaves implied by it: the range proof's tree size.
func (p *Meta) Bind(size uint64) {
	if p.RangeProof != nil {
		p.RangeProof.Size = size
	}
}
