// Package source opens the files a trial's datasets arrive in and streams
// them as Arrow record batches, one batch in memory at a time: Arrow IPC
// (file and stream), Parquet and CSV here, CDISC Dataset-JSON and SAS XPT
// through their reader packages.
//
// A File can be read several times (Batches opens a fresh pass each call):
// ingest validates a whole file before it writes a single leaf, so bad input
// never leaves a half-ingested dataset behind.
package source

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/csv"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Format names a supported file format.
type Format string

// Supported formats.
const (
	CSV         Format = "csv"
	ArrowFile   Format = "arrow"   // Arrow IPC file (.arrow, .feather, .ipc)
	ArrowStream Format = "arrows"  // Arrow IPC stream
	Parquet     Format = "parquet" // Apache Parquet
	XPT         Format = "xpt"     // SAS XPORT v5
	DatasetJSON Format = "json"    // CDISC Dataset-JSON v1.1
	NDJSON      Format = "ndjson"  // Dataset-JSON as NDJSON
	DSJC        Format = "dsjc"    // compressed Dataset-JSON NDJSON
)

// Formats lists every format name accepted by --format.
var Formats = []Format{CSV, ArrowFile, ArrowStream, Parquet, XPT, DatasetJSON, NDJSON, DSJC}

// ErrInput is wrapped by every error caused by the input file itself (as
// opposed to I/O or programming errors), so the CLI can exit with code 2.
var ErrInput = errors.New("bad input")

// Options tune how a file is opened.
type Options struct {
	// Format forces a format; empty means detect from magic bytes and
	// extension.
	Format Format
	// Schema pins the columns: a CSV must have exactly these header names
	// (in any order) and is parsed with these types.
	Schema *arrow.Schema
	// TypeHints gives the type of CSV columns by name without requiring
	// them (used to read a sponsor's copy in the schema of the manifest);
	// other columns are inferred.
	TypeHints map[string]arrow.DataType
	// NullValues are the CSV tokens meaning "missing"; default "" and "NA".
	// A quoted token is text, not missing.
	NullValues []string
	// Encoding is the character set of XPT text: "" or "utf-8" (checked),
	// "latin1" or "windows-1252" (converted to UTF-8). Other formats
	// define their encoding (UTF-8) and ignore it.
	Encoding string
	// Formats are SAS display formats by column name (define.xml
	// def:DisplayFormat at ingest, the manifest's calendar columns when
	// verifying: disclosure.ReadOptions) for XPT numerics whose file
	// declares none, so that a date stored as a number is read as a date.
	Formats map[string]string
	// Warn receives warnings about input that is accepted but looks
	// wrong (a Dataset-JSON integer column holding 2.5). Each distinct
	// warning is given once per File, however many passes read it.
	Warn func(msg string)
	// BatchRows is the number of rows per batch (default 16384).
	BatchRows int
	// Limits bound one record of a text format (CSV, Dataset-JSON); zero
	// fields take the defaults.
	Limits Limits
	// Allocator for Arrow buffers (default a Recycler keeping 32 MiB).
	Allocator memory.Allocator
	// Readers open the formats this package does not read itself
	// (Parquet, Dataset-JSON, XPT). They plug in here rather than being
	// imported so that a consumer of opened Files, such as the offline
	// verifier, links no reader it does not use: Arrow's Parquet reader
	// alone pulls in gRPC. source/readers.Open fills in every format.
	Readers map[Format]ReaderFunc
}

// ReaderFunc opens one pass over a file in a format read by its own
// package (Parquet, Dataset-JSON, XPT). The file is positioned at its
// start; it is closed by the caller after the reader's closers.
type ReaderFunc func(ctx context.Context, fh *os.File, name string, opts Options) (array.RecordReader, []io.Closer, error)

// File is an opened input file whose schema is known.
type File struct {
	Path   string
	Name   string // base name, used in every error message
	Format Format
	Size   int64
	opts   Options
	schema *arrow.Schema
}

// Open resolves a file's format and schema (for CSV, by scanning it once to
// infer column types and check the header).
func Open(ctx context.Context, path string, opts Options) (*File, error) {
	if opts.BatchRows <= 0 {
		opts.BatchRows = 16384
	}
	if opts.Allocator == nil {
		opts.Allocator = NewRecycler(32 << 20)
	}
	if opts.NullValues == nil {
		opts.NullValues = []string{"", "NA"}
	}
	if opts.Warn != nil {
		opts.Warn = once(opts.Warn)
	}
	opts.Limits = opts.Limits.withDefaults()
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory: %w", path, ErrInput)
	}
	f := &File{Path: path, Name: filepath.Base(path), Size: st.Size(), opts: opts, Format: opts.Format}
	if f.Format == "" {
		if f.Format, err = detect(path); err != nil {
			return nil, err
		}
	} else if !slices.Contains(Formats, f.Format) {
		return nil, fmt.Errorf("unknown format %q (want one of %v): %w", f.Format, Formats, ErrInput)
	}
	if f.Format == CSV {
		if f.schema, err = f.csvSchema(ctx); err != nil {
			return nil, err
		}
		return f, nil
	}
	b, err := f.Batches(ctx)
	if err != nil {
		return nil, err
	}
	f.schema = b.Schema()
	b.Close()
	if opts.Schema != nil {
		if err := sameNames(f.Name, opts.Schema, f.schema); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// once passes each distinct message to warn only the first time.
func once(warn func(string)) func(string) {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(msg string) {
		mu.Lock()
		first := !seen[msg]
		seen[msg] = true
		mu.Unlock()
		if first {
			warn(msg)
		}
	}
}

// TextEncoding is the character set the file's text is read in: the
// --encoding of an XPT ("" for UTF-8), "" for formats that define theirs.
func (f *File) TextEncoding() string {
	if f.Format != XPT {
		return ""
	}
	switch strings.ToLower(f.opts.Encoding) {
	case "utf-8", "utf8":
		return ""
	}
	return f.opts.Encoding
}

// Schema is the file's Arrow schema.
func (f *File) Schema() *arrow.Schema { return f.schema }

// NullValues are the missing-value tokens a CSV is read with (nil for
// other formats).
func (f *File) NullValues() []string {
	if f.Format != CSV {
		return nil
	}
	return f.opts.NullValues
}

func detect(path string) (Format, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	head := make([]byte, 96)
	n, _ := io.ReadFull(fh, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("ARROW1")):
		return ArrowFile, nil
	case bytes.HasPrefix(head, []byte{0xff, 0xff, 0xff, 0xff}):
		return ArrowStream, nil
	case bytes.HasPrefix(head, []byte("PAR1")):
		return Parquet, nil
	case bytes.HasPrefix(head, []byte("HEADER RECORD*******LIBRARY HEADER RECORD")):
		return XPT, nil
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}) || (len(head) > 1 && head[0] == 0x78 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0):
		return DSJC, nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv", ".txt":
		return CSV, nil
	case ".arrow", ".feather", ".ipc":
		return ArrowFile, nil
	case ".arrows":
		return ArrowStream, nil
	case ".parquet", ".pq":
		return Parquet, nil
	case ".xpt":
		return XPT, nil
	case ".ndjson":
		return NDJSON, nil
	case ".json":
		return DatasetJSON, nil
	case ".dsjc":
		return DSJC, nil
	}
	if t := bytes.TrimLeft(head, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
		return DatasetJSON, nil
	}
	return "", fmt.Errorf("%s: cannot tell the file format (use --format, one of %v): %w", filepath.Base(path), Formats, ErrInput)
}

// Batches is one pass over a file's record batches.
type Batches struct {
	array.RecordReader
	closers []io.Closer
	name    string
	crashed bool // the reader panicked on malformed input
}

// Next advances to the next batch. Arrow's readers panic on some crafted
// files instead of returning an error; that ends the pass with an input
// error (Err) rather than a crash. The panic's text is not kept: it could
// quote bytes of the file.
func (b *Batches) Next() (ok bool) {
	if b.crashed {
		return false
	}
	defer func() {
		if r := recover(); r != nil {
			b.crashed, ok = true, false
		}
	}()
	return b.RecordReader.Next()
}

// Err wraps the reader's error with the file name.
func (b *Batches) Err() error {
	if b.crashed {
		return inputError(b.name, errors.New("malformed file: the reader failed on its structure"))
	}
	if err := b.RecordReader.Err(); err != nil && err != io.EOF {
		return inputError(b.name, err)
	}
	return nil
}

// quoted matches what parsers quote in their errors (strconv: parsing
// "x"): cell values, which must never reach an error message.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

func withoutValues(msg string) string { return quoted.ReplaceAllString(msg, `"…"`) }

// inputError makes a reader's error one line that starts with the file
// name (once), carries no cell value and wraps ErrInput.
func inputError(name string, err error) error {
	msg := withoutValues(err.Error())
	msg = strings.TrimSuffix(msg, ": malformed input") // the readers' sentinel; ErrInput says it
	if !strings.HasPrefix(msg, name+":") {
		msg = name + ": " + msg
	}
	return fmt.Errorf("%s: %w", msg, ErrInput)
}

// Close releases the reader and closes the file.
func (b *Batches) Close() error {
	b.RecordReader.Release()
	var err error
	for _, c := range b.closers {
		err = errors.Join(err, c.Close())
	}
	return err
}

// Batches opens a new pass over the file.
func (f *File) Batches(ctx context.Context) (*Batches, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, err
	}
	b, err := f.open(ctx, fh)
	if err != nil {
		fh.Close()
		if errors.Is(err, ErrInput) || errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, inputError(f.Name, err)
	}
	b.closers = append(b.closers, fh)
	b.name = f.Name
	return b, nil
}

func (f *File) open(ctx context.Context, fh *os.File) (*Batches, error) {
	mem := f.opts.Allocator
	switch f.Format {
	case CSV:
		r := csv.NewReader(bufio.NewReaderSize(fh, 1<<20), f.schema,
			csv.WithHeader(true), csv.WithChunk(f.opts.BatchRows), csv.WithAllocator(mem),
			csv.WithNullReader(true, f.opts.NullValues...))
		return &Batches{RecordReader: r}, nil
	case ArrowFile:
		r, err := ipc.NewFileReader(fh, ipc.WithAllocator(mem))
		if err != nil {
			return nil, err
		}
		return &Batches{RecordReader: &fileRecords{r: r}, closers: []io.Closer{r}}, nil
	case ArrowStream:
		r, err := ipc.NewReader(bufio.NewReaderSize(fh, 1<<20), ipc.WithAllocator(mem))
		if err != nil {
			return nil, err
		}
		return &Batches{RecordReader: r}, nil
	default:
		open, ok := f.opts.Readers[f.Format]
		if !ok {
			return nil, fmt.Errorf("%s: format %s is not available here (open files with source/readers.Open): %w", f.Name, f.Format, ErrInput)
		}
		rr, closers, err := open(ctx, fh, f.Name, f.opts)
		if err != nil {
			return nil, err
		}
		return &Batches{RecordReader: rr, closers: closers}, nil
	}
}

// fileRecords adapts Arrow's random-access IPC file reader to a stream.
type fileRecords struct {
	r   *ipc.FileReader
	i   int
	rec arrow.Record
	err error
}

func (f *fileRecords) Schema() *arrow.Schema { return f.r.Schema() }
func (f *fileRecords) Retain()               {}
func (f *fileRecords) Release() {
	if f.rec != nil {
		f.rec.Release()
		f.rec = nil
	}
}
func (f *fileRecords) Record() arrow.Record { return f.rec }
func (f *fileRecords) Err() error           { return f.err }
func (f *fileRecords) Next() bool {
	f.Release()
	if f.err != nil || f.i >= f.r.NumRecords() {
		return false
	}
	f.rec, f.err = f.r.RecordAt(f.i)
	f.i++
	return f.err == nil
}

func sameNames(name string, want, got *arrow.Schema) error {
	wantNames, gotNames := fieldNames(want), fieldNames(got)
	slices.Sort(wantNames)
	slices.Sort(gotNames)
	if slices.Equal(wantNames, gotNames) {
		return nil
	}
	var missing, extra []string
	for _, n := range wantNames {
		if !slices.Contains(gotNames, n) {
			missing = append(missing, n)
		}
	}
	for _, n := range gotNames {
		if !slices.Contains(wantNames, n) {
			extra = append(extra, n)
		}
	}
	return fmt.Errorf("%s: columns differ from the pinned schema: missing %v, unexpected %v: %w", name, missing, extra, ErrInput)
}

func fieldNames(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name
	}
	return out
}

// csvSchema reads the header and, unless every column is pinned, scans the
// whole file once to infer each column's type: int64 when every present
// value is a bare integer, float64 when every one is a bare number, text
// otherwise (quoted values are text, so "701" stays text as in SAS).
func (f *File) csvSchema(ctx context.Context) (*arrow.Schema, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	sc := newCSVScanner(fh, f.opts.Limits)
	if err := sc.checkEncoding(f.Name); err != nil {
		return nil, err
	}
	header, err := sc.next()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file, a header row is required: %w", f.Name, ErrInput)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: header: %v: %w", f.Name, err, ErrInput)
	}
	names := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		names[i] = strings.TrimPrefix(string(h.value), "\ufeff")
		if names[i] == "" {
			return nil, fmt.Errorf("%s: header: column %d has no name: %w", f.Name, i+1, ErrInput)
		}
		if seen[names[i]] {
			return nil, fmt.Errorf("%s: header: duplicate column %q: %w", f.Name, names[i], ErrInput)
		}
		seen[names[i]] = true
	}
	sc.maxFields, sc.afterHeader = len(names), true // no record may have more fields than the header
	types := map[string]arrow.DataType{}
	for k, v := range f.opts.TypeHints {
		types[k] = v
	}
	if s := f.opts.Schema; s != nil {
		got := arrow.NewSchema(fieldsOf(names, nil), nil)
		if err := sameNames(f.Name, s, got); err != nil {
			return nil, err
		}
		for _, fl := range s.Fields() {
			types[fl.Name] = fl.Type
		}
	}
	// Pinned or hinted types are checked here, value by value, so that a
	// bad cell is reported by line and column without quoting it (Arrow's
	// CSV reader would put the value in its error).
	check := make([]func(string) bool, len(names))
	for i, n := range names {
		switch t := types[n]; {
		case t == nil || t.ID() == arrow.STRING || t.ID() == arrow.LARGE_STRING:
		case arrow.IsInteger(t.ID()):
			check[i] = func(v string) bool { _, err := strconv.ParseInt(v, 10, 64); return err == nil }
		case arrow.IsFloating(t.ID()):
			check[i] = func(v string) bool { _, err := strconv.ParseFloat(v, 64); return err == nil }
		case t.ID() == arrow.BOOL:
			check[i] = func(v string) bool { _, err := strconv.ParseBool(v); return err == nil }
		}
	}
	kinds := make([]columnKind, len(names))
	missing := func(b []byte) bool { return slices.Contains(f.opts.NullValues, string(b)) }
	for row := 0; ; row++ { // rows count from 0, lines (header included) from 1
		if row%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		rec, err := sc.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %w", f.Name, err, ErrInput)
		}
		if len(rec) == 1 && len(rec[0].value) == 0 && !rec[0].quoted {
			continue // blank line
		}
		if len(rec) != len(names) {
			return nil, fmt.Errorf("%s: line %d (row %d): %d fields, header has %d: %w", f.Name, sc.line, row, len(rec), len(names), ErrInput)
		}
		for i, fl := range rec {
			if check[i] != nil {
				if v := string(fl.value); !missing(fl.value) && !check[i](v) {
					return nil, fmt.Errorf("%s: line %d (row %d): column %s: not a valid %s: %w", f.Name, sc.line, row, names[i], types[names[i]], ErrInput)
				}
				continue
			}
			kinds[i] = kinds[i].widen(fl, missing)
		}
	}
	return arrow.NewSchema(fieldsOf(names, func(i int) arrow.DataType {
		if t := types[names[i]]; t != nil {
			return t
		}
		switch kinds[i] {
		case kindInt:
			return arrow.PrimitiveTypes.Int64
		case kindFloat:
			return arrow.PrimitiveTypes.Float64
		}
		return arrow.BinaryTypes.String
	}), nil), nil
}

func fieldsOf(names []string, typ func(int) arrow.DataType) []arrow.Field {
	out := make([]arrow.Field, len(names))
	for i, n := range names {
		t := arrow.DataType(arrow.BinaryTypes.String)
		if typ != nil {
			t = typ(i)
		}
		out[i] = arrow.Field{Name: n, Type: t, Nullable: true}
	}
	return out
}

// TypeOf maps a manifest type name (Arrow's type notation, as written by
// DataType.String) back to a type a CSV can be parsed into; families that
// CSV cannot hold exactly map to their nearest reading (any integer width to
// int64, any float or decimal to float64; dates and times stay text, which
// commits identically).
func TypeOf(name string) (arrow.DataType, error) {
	switch {
	case name == "utf8" || name == "large_utf8" || name == "string" || name == "utf8_view":
		return arrow.BinaryTypes.String, nil
	case strings.HasPrefix(name, "int") || strings.HasPrefix(name, "uint"):
		return arrow.PrimitiveTypes.Int64, nil
	case strings.HasPrefix(name, "float") || strings.HasPrefix(name, "halffloat") || strings.HasPrefix(name, "decimal") || name == "double":
		return arrow.PrimitiveTypes.Float64, nil
	case name == "bool":
		return arrow.FixedWidthTypes.Boolean, nil
	case strings.HasPrefix(name, "date") || strings.HasPrefix(name, "time") || name == "null":
		return arrow.BinaryTypes.String, nil
	}
	return nil, fmt.Errorf("unknown column type %q: %w", name, ErrInput)
}

// SchemaFile reads a pinned schema: a JSON array of {"name", "type"}
// objects (the "schema" of a manifest), or an object holding one under
// "schema" or "columns".
func SchemaFile(path string) (*arrow.Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	type column struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	var cols []column
	if err := json.Unmarshal(data, &cols); err != nil {
		var wrapped struct {
			Schema  []column `json:"schema"`
			Columns []column `json:"columns"`
		}
		if err2 := json.Unmarshal(data, &wrapped); err2 != nil {
			return nil, fmt.Errorf("%s: not a schema file: %v: %w", filepath.Base(path), err, ErrInput)
		}
		cols = append(wrapped.Schema, wrapped.Columns...)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("%s: schema has no columns: %w", filepath.Base(path), ErrInput)
	}
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		t, err := TypeOf(c.Type)
		if err != nil {
			return nil, fmt.Errorf("%s: column %q: %w", filepath.Base(path), c.Name, err)
		}
		fields[i] = arrow.Field{Name: c.Name, Type: t, Nullable: true}
	}
	return arrow.NewSchema(fields, nil), nil
}
