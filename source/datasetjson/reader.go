package datasetjson

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/trialog/trialog/source/internal/rowbatch"
	"github.com/trialog/trialog/source/internal/sas"
)

type framing int

const (
	framingJSON framing = iota
	framingNDJSON
)

// Reader streams the rows of a Dataset-JSON file as Arrow record batches.
// It implements array.RecordReader. Only one batch is alive at a time: the
// record returned by Record is released by the next call to Next, so callers
// that keep it must Retain it.
type Reader struct {
	rowbatch.Batcher // Schema, Next, Record, Err, Retain, Release
	name             string
	cfg              rowbatch.Config
	framing          framing
	dec              *json.Decoder
	closer           io.Closer     // decompressor, if any
	budget           *budgetReader // input bound per row
	meta             Metadata
	schema           *arrow.Schema
	kinds            []kind
	row              []json.RawMessage    // reused row buffer
	rows             int64                // rows read so far
	rb               *array.RecordBuilder // the Batcher's
	noRows           bool                 // a .json object without "rows"
	text             []byte               // reused unescaped string
	warned           []bool               // per column: non-integer warning given
	nonInteger       bool                 // the value just appended to an integer column is not whole
}

var _ array.RecordReader = (*Reader)(nil)

type kind uint8

const (
	kindString kind = iota
	kindInteger
	kindDecimal // decimal: JSON string (v1.1) or number
	kindFloat   // float, double: JSON number
	kindBoolean
	kindDate     // date with targetDataType integer: ISO 8601 text of a SAS date
	kindDatetime // datetime with targetDataType integer
	kindTime     // time with targetDataType integer
	kindSASDate  // a numeric column with a SAS date displayFormat: days since 1960
	kindSASDatetime
	kindSASTime
)

func kindOf(c Column) kind {
	switch numericDate(c) {
	case sas.Date:
		return kindSASDate
	case sas.Datetime:
		return kindSASDatetime
	case sas.Time:
		return kindSASTime
	}
	switch c.DataType {
	case "integer":
		return kindInteger
	case "decimal":
		return kindDecimal
	case "float", "double":
		return kindFloat
	case "boolean":
		return kindBoolean
	case "date", "datetime", "time":
		if c.TargetDataType == "integer" {
			return map[string]kind{"date": kindDate, "datetime": kindDatetime, "time": kindTime}[c.DataType]
		}
	}
	return kindString
}

// NewReader reads the metadata of a Dataset-JSON (.json) file up to the
// start of its "rows" and returns a Reader positioned at the first row.
// "columns" must precede "rows": a streaming reader cannot type rows it has
// not been told about. name is the file name used in error messages.
func NewReader(r io.Reader, name string, opts ...Option) (*Reader, error) {
	x := newReader(r, name, framingJSON, opts)
	if err := x.readJSONHead(); err != nil {
		return nil, err
	}
	return x.start()
}

// NewNDJSONReader reads the metadata line of an NDJSON Dataset-JSON
// (.ndjson) file and returns a Reader positioned at the first row.
func NewNDJSONReader(r io.Reader, name string, opts ...Option) (*Reader, error) {
	x := newReader(r, name, framingNDJSON, opts)
	if err := x.readNDJSONHead(); err != nil {
		return nil, err
	}
	return x.start()
}

// NewCompressedReader reads a compressed Dataset-JSON (.dsjc) file: NDJSON
// in a zlib stream (as the specification says) or a gzip stream (as the
// CDISC example files are), told apart by their first two bytes.
func NewCompressedReader(r io.Reader, name string, opts ...Option) (*Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if len(magic) < 2 {
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return nil, fmt.Errorf("%s: offset 0: truncated file (%d bytes): %w", name, len(magic), ErrMalformed)
	}
	var dr io.ReadCloser
	switch {
	case magic[0] == 0x1f && magic[1] == 0x8b:
		dr, err = gzip.NewReader(br)
	case magic[0]&0x0f == 8 && magic[0]>>4 <= 7 && (uint16(magic[0])<<8|uint16(magic[1]))%31 == 0:
		// RFC 1950: CM=8 (deflate), CINFO<=7, header checksum.
		dr, err = zlib.NewReader(br)
	default:
		return nil, fmt.Errorf("%s: offset 0: not a zlib or gzip stream (first bytes %02x %02x): %w", name, magic[0], magic[1], ErrMalformed)
	}
	if err != nil {
		return nil, classify(name, "compressed header", err)
	}
	x, err := NewNDJSONReader(dr, name, opts...)
	if err != nil {
		dr.Close()
		return nil, err
	}
	x.closer = dr
	return x, nil
}

// NewReaderFor chooses NewReader, NewNDJSONReader or NewCompressedReader
// from the extension of name (.json, .ndjson, .dsjc; case-insensitive).
func NewReaderFor(r io.Reader, name string, opts ...Option) (*Reader, error) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		return NewReader(r, name, opts...)
	case ".ndjson":
		return NewNDJSONReader(r, name, opts...)
	case ".dsjc":
		return NewCompressedReader(r, name, opts...)
	}
	return nil, fmt.Errorf("%s: unknown Dataset-JSON extension %q (want .json, .ndjson or .dsjc)", name, filepath.Ext(name))
}

func newReader(r io.Reader, name string, f framing, opts []Option) *Reader {
	cfg := rowbatch.NewConfig(opts)
	if cfg.MaxRowBytes <= 0 {
		cfg.MaxRowBytes = DefaultMaxRowBytes
	}
	budget := &budgetReader{r: r, max: cfg.MaxRowBytes}
	dec := json.NewDecoder(budget)
	dec.UseNumber()
	return &Reader{name: name, cfg: cfg, framing: f, dec: dec, budget: budget}
}

// budgetReader fails a read once more than max bytes were read since the
// last reset (the start of a row), so the decoder never buffers a row,
// or an NDJSON line, much longer than the limit. The decoder reads ahead,
// so a row may be charged for part of the next: the bound is approximate
// by at most one read, never exceeded by more.
type budgetReader struct {
	r    io.Reader
	max  int
	used int
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.used > b.max {
		return 0, fmt.Errorf("longer than %d bytes (a limit: raise it with --max-record-bytes): %w", b.max, ErrMalformed)
	}
	if room := b.max - b.used + 1; len(p) > room {
		p = p[:room]
	}
	n, err := b.r.Read(p)
	b.used += n
	return n, err
}

func (b *budgetReader) reset() { b.used = 0 }

// start builds the schema and the builders once the metadata is known.
func (x *Reader) start() (*Reader, error) {
	if x.meta.Records != nil && *x.meta.Records < 0 {
		return nil, x.malformed("records: negative count %d", *x.meta.Records)
	}
	s, err := x.meta.schema()
	if err != nil {
		return nil, x.malformed("%v", err)
	}
	x.schema = s
	x.kinds = make([]kind, len(x.meta.Columns))
	x.warned = make([]bool, len(x.meta.Columns))
	for i, c := range x.meta.Columns {
		x.kinds[i] = kindOf(c)
	}
	x.Batcher.Init(s, x.cfg, x.nextRow, func() {
		if x.closer != nil {
			x.closer.Close()
			x.closer = nil
		}
	})
	return x, nil
}

func (x *Reader) malformed(format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", x.name, fmt.Sprintf(format, args...), ErrMalformed)
}

// classify wraps a decoding error: bad JSON, truncation and corrupt
// compression are ErrMalformed; anything else is an I/O error of the source.
func classify(name, where string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: %s: unexpected end of input: %w", name, where, ErrMalformed)
	case errors.As(err, &syn):
		return fmt.Errorf("%s: %s: invalid JSON at byte %d: %v: %w", name, where, syn.Offset, err, ErrMalformed)
	case errors.As(err, &typ), errors.Is(err, errInvalidUTF8):
		return fmt.Errorf("%s: %s: %v: %w", name, where, err, ErrMalformed)
	case errors.As(err, &corrupt), errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader),
		errors.Is(err, zlib.ErrChecksum), errors.Is(err, zlib.ErrHeader), errors.Is(err, zlib.ErrDictionary):
		return fmt.Errorf("%s: %s: corrupt compressed stream: %v: %w", name, where, err, ErrMalformed)
	}
	return fmt.Errorf("%s: %s: %w", name, where, err)
}

// Metadata returns the dataset metadata read before the rows. In a .json
// file, members after "rows" (such as a trailing "records") are only known
// once Next has returned false.
func (x *Reader) Metadata() Metadata { return x.meta }

// readJSONHead walks the top-level object up to "rows".
func (x *Reader) readJSONHead() error {
	tok, err := x.dec.Token()
	if err != nil {
		return classify(x.name, "start of file", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return x.malformed("start of file: want a JSON object, got %s", describe(tok))
	}
	for x.dec.More() {
		key, err := x.key()
		if err != nil {
			return err
		}
		switch key {
		case "rows":
			if x.meta.Columns == nil {
				return x.malformed(`"rows" comes before "columns"; a streaming reader needs the columns first`)
			}
			tok, err := x.dec.Token()
			if err != nil {
				return classify(x.name, "rows", err)
			}
			if d, ok := tok.(json.Delim); !ok || d != '[' {
				return x.malformed("rows: want a JSON array, got %s", describe(tok))
			}
			return nil
		case "clinicalData", "referenceData":
			return x.malformed("%q: Dataset-JSON v1.0 is not supported, only v1.1 (columns/rows)", key)
		case "columns":
			if x.meta.Columns != nil {
				return x.malformed(`duplicate "columns"`)
			}
		}
		if err := x.member(key); err != nil {
			return err
		}
	}
	// An object without "rows": a dataset with no rows.
	if x.meta.Columns == nil {
		return x.malformed(`no "columns"`)
	}
	x.noRows = true
	return x.finishJSON(true)
}

// key reads an object key.
func (x *Reader) key() (string, error) {
	tok, err := x.dec.Token()
	if err != nil {
		return "", classify(x.name, "metadata", err)
	}
	k, ok := tok.(string)
	if !ok {
		return "", x.malformed("metadata: want an object key, got %s", describe(tok))
	}
	return k, nil
}

// member decodes (or skips) the value of a top-level member.
func (x *Reader) member(key string) error {
	known, err := x.meta.decodeMember(x.dec, key)
	if !known {
		var skip json.RawMessage
		err = x.dec.Decode(&skip)
	}
	if err != nil {
		return classify(x.name, strconv.Quote(key), err)
	}
	return nil
}

// finishJSON reads the members after "rows" (closing brace included when
// closed is false) and checks that nothing follows the object.
func (x *Reader) finishJSON(closed bool) error {
	if !closed {
		for x.dec.More() {
			key, err := x.key()
			if err != nil {
				return err
			}
			if key == "rows" || key == "columns" {
				return x.malformed("duplicate %q", key)
			}
			if err := x.member(key); err != nil {
				return err
			}
		}
	}
	if _, err := x.dec.Token(); err != nil { // the closing '}'
		return classify(x.name, "end of file", err)
	}
	if tok, err := x.dec.Token(); err != io.EOF {
		if err != nil {
			return classify(x.name, "end of file", err)
		}
		return x.malformed("end of file: unexpected %s after the dataset object", describe(tok))
	}
	return x.checkRecords()
}

func (x *Reader) checkRecords() error {
	if x.meta.Records != nil && *x.meta.Records != x.rows {
		return x.malformed("records is %d but the file holds %d rows", *x.meta.Records, x.rows)
	}
	return nil
}

// readNDJSONHead decodes the metadata object on the first line.
func (x *Reader) readNDJSONHead() error {
	var raw map[string]json.RawMessage
	if err := x.dec.Decode(&raw); err != nil {
		return classify(x.name, "line 1 (metadata)", err)
	}
	if _, ok := raw["columns"]; !ok {
		if _, v10 := raw["clinicalData"]; v10 {
			return x.malformed("line 1: Dataset-JSON v1.0 is not supported, only v1.1")
		}
		return x.malformed(`line 1 (metadata): no "columns"`)
	}
	for k, v := range raw {
		d := json.NewDecoder(bytes.NewReader(v))
		if _, err := x.meta.decodeMember(d, k); err != nil {
			return classify(x.name, "line 1 (metadata): "+strconv.Quote(k), err)
		}
	}
	return nil
}

// nextRow appends the next row to the builders; false at the end.
func (x *Reader) nextRow(rb *array.RecordBuilder) (bool, error) {
	if x.noRows {
		return false, nil
	}
	x.rb = rb
	return x.readRow()
}

// readRow appends the next row to the builders; false means the end.
//
// A row is decoded in one Decode call into a reused []json.RawMessage
// (RawMessage.UnmarshalJSON reuses each element's buffer), which is several
// times faster than walking it with Decoder.Token and allocates nothing per
// row once warm; the values are then converted from their JSON text.
func (x *Reader) readRow() (bool, error) {
	if !x.dec.More() {
		var err error
		where := func() string {
			if x.framing == framingNDJSON {
				return fmt.Sprintf("line %d (after %d rows)", x.rows+2, x.rows)
			}
			return fmt.Sprintf("end of rows (after %d rows)", x.rows)
		}
		if x.framing == framingJSON {
			if _, err = x.dec.Token(); err != nil { // the closing ']' of rows
				return false, classify(x.name, where(), err)
			}
			err = x.finishJSON(false)
		} else {
			if tok, terr := x.dec.Token(); terr != io.EOF {
				if terr != nil {
					return false, classify(x.name, where(), terr)
				}
				return false, x.malformed("%s: want a JSON array, got %s", where(), describe(tok))
			}
			err = x.checkRecords()
		}
		return false, err
	}
	row := x.rows // rows count from 0, lines from 1 (line 1: metadata)
	where := fmt.Sprintf("row %d", row)
	if x.framing == framingNDJSON {
		where = fmt.Sprintf("row %d (line %d)", row, row+2)
	}
	if x.meta.Records != nil && x.rows >= *x.meta.Records {
		// Fail early, before decoding a row that cannot be valid.
		return false, x.malformed("%s: more rows than records (%d)", where, *x.meta.Records)
	}
	x.budget.reset()
	if err := x.dec.Decode(&x.row); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return false, x.malformed("%s: want a JSON array, got %s", where, article(typ.Value))
		}
		return false, classify(x.name, where, err)
	}
	if x.row == nil {
		return false, x.malformed("%s: want a JSON array, got null", where)
	}
	if len(x.row) != len(x.kinds) {
		return false, x.malformed("%s: %d values, want %d", where, len(x.row), len(x.kinds))
	}
	for i, v := range x.row {
		if err := x.appendValue(i, v); err != nil {
			return false, x.malformed("%s: column %s: %v", where, x.meta.Columns[i].Name, err)
		}
		if x.nonInteger {
			x.nonInteger = false
			if !x.warned[i] && x.cfg.Warn != nil {
				x.warned[i] = true
				x.cfg.Warn(fmt.Sprintf("%s: column %s is declared integer but holds non-integer numbers (first at %s); they are committed by value",
					x.name, x.meta.Columns[i].Name, where))
			}
		}
	}
	x.rows++
	return true, nil
}
