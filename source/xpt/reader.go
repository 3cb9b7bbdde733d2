package xpt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/trialog/trialog/source/internal/rowbatch"
	"github.com/trialog/trialog/source/internal/sas"
)

const recLen = 80 // every XPORT header record is 80 bytes (TS-140)

// Header record prefixes (TS-140). The first 48 bytes identify a header; the
// rest carries numbers (NAMESTR length, variable count) or zeros.
var (
	hdrLibrary = []byte("HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!")
	hdrMember  = []byte("HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!")
	hdrDscrptr = []byte("HEADER RECORD*******DSCRPTR HEADER RECORD!!!!!!!")
	hdrNamestr = []byte("HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!")
	hdrObs     = []byte("HEADER RECORD*******OBS     HEADER RECORD!!!!!!!")
	hdrLibV8   = []byte("HEADER RECORD*******LIBV8   HEADER RECORD!!!!!!!")
)

// Variable describes one variable as declared by its NAMESTR record.
type Variable struct {
	Name     string
	Label    string
	Numeric  bool
	Length   int    // bytes in the observation (2..8 for numerics)
	Format   string // e.g. "DATE9.", "8.2"; "" when none
	Informat string
	// Kind says whether a numeric holds a date, datetime or time, from
	// Format (or, when the file has none, the format given by WithFormats).
	Kind   Temporal
	offset int // byte offset inside the observation
}

// Reader streams the observations of the first member of an XPORT file as
// Arrow record batches. It implements array.RecordReader. Only one batch is
// alive at a time: the record returned by Record is released by the next call
// to Next, so callers that keep it must Retain it.
type Reader struct {
	rowbatch.Batcher // Schema, Next, Record, Err, Retain, Release
	name             string
	br               *bufio.Reader
	off              int64 // absolute offset of the next unread byte
	vars             []Variable
	schema           *arrow.Schema
	obsLen           int
	obs              []byte
	nobs             int64                // observations read so far
	rb               *array.RecordBuilder // the Batcher's
	cfg              rowbatch.Config
	decode           textDecoder
	text             []byte // reused decoded character value
}

var _ array.RecordReader = (*Reader)(nil)

// NewReader reads the headers of an XPORT file from r and returns a Reader
// positioned at the first observation. name is the file name used in error
// messages.
func NewReader(r io.Reader, name string, opts ...Option) (*Reader, error) {
	x := &Reader{name: name, br: bufio.NewReaderSize(r, 64<<10), cfg: rowbatch.NewConfig(opts)}
	var err error
	if x.decode, err = newTextDecoder(x.cfg.Encoding); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := x.readHeaders(); err != nil {
		return nil, err
	}
	x.Batcher.Init(x.schema, x.cfg, x.nextRow, nil)
	return x, nil
}

// Variables returns the variables in observation order.
func (x *Reader) Variables() []Variable { return append([]Variable(nil), x.vars...) }

// malformed builds an error naming the file and wrapping ErrMalformed.
func (x *Reader) malformed(format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", x.name, fmt.Sprintf(format, args...), ErrMalformed)
}

// readFull reads exactly len(p) bytes; running out of input is a truncation.
func (x *Reader) readFull(p []byte, what string) error {
	n, err := io.ReadFull(x.br, p)
	x.off += int64(n)
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return x.malformed("%s at offset %d: truncated file (%d of %d bytes)", what, x.off-int64(n), n, len(p))
	}
	return fmt.Errorf("%s: %s at offset %d: %w", x.name, what, x.off-int64(n), err)
}

// header reads one 80-byte header record and checks its 48-byte prefix.
func (x *Reader) header(want []byte, what string) ([]byte, error) {
	rec := make([]byte, recLen)
	at := x.off
	if err := x.readFull(rec, what+" header record"); err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(rec, want) {
		if what == "LIBRARY" && bytes.HasPrefix(rec, hdrLibV8) {
			return nil, x.malformed("offset 0: SAS transport version 8/9 (LIBV8) is not supported, only XPORT v5")
		}
		return nil, x.malformed("offset %d: want %s header record, got %q", at, what, printable(rec[:48]))
	}
	return rec, nil
}

func (x *Reader) readHeaders() error {
	// Library header, then two 80-byte records: SAS symbols, version, OS and
	// creation date; modification date (TS-140 "first/second real header").
	if _, err := x.header(hdrLibrary, "LIBRARY"); err != nil {
		return err
	}
	lib := make([]byte, 2*recLen)
	if err := x.readFull(lib, "library records"); err != nil {
		return err
	}
	if !bytes.HasPrefix(lib, []byte("SAS     SAS     SASLIB  ")) {
		return x.malformed("offset 80: library record does not start with \"SAS     SAS     SASLIB\"")
	}

	// Member header: bytes 75-78 hold the NAMESTR length, 0140 (or 0136 on VAX).
	mh, err := x.header(hdrMember, "MEMBER")
	if err != nil {
		return err
	}
	nsLen, err := strconv.Atoi(string(mh[74:78]))
	if err != nil || (nsLen != 140 && nsLen != 136) {
		return x.malformed("offset %d: MEMBER header: NAMESTR length %q, want 0140 or 0136", x.off-recLen, mh[74:78])
	}
	if _, err := x.header(hdrDscrptr, "DSCRPTR"); err != nil {
		return err
	}
	// Member records: "SAS     ", dataset name(8), "SASDATA ", version(8),
	// OS(8), blanks(24), created(16); then modified(16), blanks(16),
	// label(40), type(8).
	mem := make([]byte, 2*recLen)
	if err := x.readFull(mem, "member records"); err != nil {
		return err
	}
	dsName := trimBlank(mem[8:16])
	md := map[string]string{
		"name":         dsName,
		"sas.version":  trimBlank(mem[24:32]),
		"sas.os":       trimBlank(mem[32:40]),
		"sas.created":  trimBlank(mem[64:80]),
		"sas.modified": trimBlank(mem[80:96]),
	}
	if l := trimBlank(mem[112:152]); l != "" {
		md["label"] = l
	}
	if t := trimBlank(mem[152:160]); t != "" {
		md["sas.type"] = t
	}

	// NAMESTR header: the variable count is in bytes 55-58.
	nh, err := x.header(hdrNamestr, "NAMESTR")
	if err != nil {
		return err
	}
	nvars, err := strconv.Atoi(strings.TrimSpace(string(nh[54:58])))
	if err != nil || nvars <= 0 {
		return x.malformed("offset %d: NAMESTR header: bad variable count %q", x.off-recLen, nh[54:58])
	}
	nsStart := x.off
	ns := make([]byte, nvars*nsLen)
	if err := x.readFull(ns, "NAMESTR records"); err != nil {
		return err
	}
	// The NAMESTR block is padded to the next 80-byte boundary.
	if pad := (recLen - len(ns)%recLen) % recLen; pad > 0 {
		if err := x.readFull(make([]byte, pad), "NAMESTR padding"); err != nil {
			return err
		}
	}

	fields := make([]arrow.Field, nvars)
	x.vars = make([]Variable, nvars)
	off := 0
	for i := range x.vars {
		rec := ns[i*nsLen : (i+1)*nsLen]
		v, err := parseNamestr(rec)
		if err != nil {
			return x.malformed("variable %d (NAMESTR at offset %d): %v", i+1, nsStart+int64(i*nsLen), err)
		}
		// Values are packed in NAMESTR order; the cumulative offset is what
		// SAS and other readers use, npos is informational.
		v.offset = off
		off += v.Length
		if v.Numeric && !x.cfg.RawNumbers {
			v.Kind = FormatTemporal(v.Format)
			if f := x.cfg.Formats[v.Name]; v.Kind == Number && f != "" {
				v.Kind = FormatTemporal(f)
			}
		}
		x.vars[i] = v
		fields[i] = v.field()
	}
	x.obsLen = off
	x.obs = make([]byte, off)
	x.schema = arrow.NewSchema(fields, ptrMeta(arrow.MetadataFrom(md)))

	_, err = x.header(hdrObs, "OBS")
	return err
}

func ptrMeta(m arrow.Metadata) *arrow.Metadata { return &m }

// parseNamestr decodes one NAMESTR record (TS-140):
//
//	0  short ntype   1 numeric, 2 character
//	2  short nhfun   hash, always 0
//	4  short nlng    length in the observation
//	6  short nvar0   variable number
//	8  char  nname[8]
//	16 char  nlabel[40]
//	56 char  nform[8]   format name
//	64 short nfl, 66 short nfd (format width and decimals), 68 short nfj
//	70 char  nfill[2]
//	72 char  niform[8], 80 short nifl, 82 short nifd (informat)
//	84 long  npos    position in the observation
//	88 rest (52 bytes, 48 on VAX)
func parseNamestr(rec []byte) (Variable, error) {
	be16 := func(i int) int { return int(int16(uint16(rec[i])<<8 | uint16(rec[i+1]))) }
	var v Variable
	v.Name = trimBlank(rec[8:16])
	if v.Name == "" {
		return v, errors.New("empty variable name")
	}
	v.Label = trimBlank(rec[16:56])
	v.Length = be16(4)
	switch be16(0) {
	case 1:
		v.Numeric = true
		if v.Length < 2 || v.Length > 8 {
			return v, fmt.Errorf("numeric variable %s: length %d, want 2..8", v.Name, v.Length)
		}
	case 2:
		if v.Length < 1 {
			return v, fmt.Errorf("character variable %s: length %d", v.Name, v.Length)
		}
	default:
		return v, fmt.Errorf("variable %s: type %d, want 1 (numeric) or 2 (character)", v.Name, be16(0))
	}
	v.Format = sasFormat(trimBlank(rec[56:64]), be16(64), be16(66))
	v.Informat = sasFormat(trimBlank(rec[72:80]), be16(80), be16(82))
	return v, nil
}

// sasFormat renders a format reference the way SAS prints it: name, width,
// ".", decimals, e.g. DATE9., 8.2, $CHAR20.
func sasFormat(name string, w, d int) string {
	if name == "" && w <= 0 && d <= 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(name)
	if w > 0 {
		b.WriteString(strconv.Itoa(w))
	}
	b.WriteByte('.')
	if d > 0 {
		b.WriteString(strconv.Itoa(d))
	}
	return b.String()
}

func (v Variable) field() arrow.Field {
	keys := []string{"sas.type", "sas.length"}
	vals := []string{"char", strconv.Itoa(v.Length)}
	typ := arrow.DataType(arrow.BinaryTypes.String)
	if v.Numeric {
		vals[0] = "num"
		typ = v.Kind.ArrowType()
	}
	if v.Label != "" {
		keys, vals = append(keys, "label"), append(vals, v.Label)
	}
	if v.Format != "" {
		keys, vals = append(keys, "format"), append(vals, v.Format)
	}
	if v.Informat != "" {
		keys, vals = append(keys, "informat"), append(vals, v.Informat)
	}
	return arrow.Field{Name: v.Name, Type: typ, Nullable: true, Metadata: arrow.NewMetadata(keys, vals)}
}

// nextRow appends the next observation to the builders; false at the end.
func (x *Reader) nextRow(rb *array.RecordBuilder) (bool, error) {
	x.rb = rb
	ok, err := x.readObs()
	if ok {
		if err := x.appendObs(); err != nil {
			return false, err
		}
	}
	return ok, err
}

// readObs reads the next observation into x.obs. It returns false at the end
// of the member's data.
func (x *Reader) readObs() (bool, error) {
	// Bytes left before the next 80-byte boundary: the last record of the
	// data is blank-padded up to it (TS-140), and a following member starts
	// on it.
	k := int((recLen - x.off%recLen) % recLen)
	p, err := x.br.Peek(k + len(hdrMember))
	if len(p) == 0 {
		if err != nil && err != io.EOF {
			return false, fmt.Errorf("%s: observation %d at offset %d: %w", x.name, x.nobs+1, x.off, err)
		}
		return false, nil // clean end on an observation boundary
	}
	if c := p[0]; c == ' ' || c == 'H' {
		if len(p) <= k && allBlank(p) {
			return false, nil // blank padding up to the end of the file
		}
		if len(p) == k+len(hdrMember) && allBlank(p[:k]) && bytes.Equal(p[k:], hdrMember) {
			return false, x.malformed("offset %d: file holds more than one member; only single-member XPORT files are supported", x.off+int64(k))
		}
	}
	n, err := io.ReadFull(x.br, x.obs)
	x.off += int64(n)
	switch {
	case err == nil:
		x.nobs++
		return true, nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		if allBlank(x.obs[:n]) {
			return false, nil // a trailing partial observation of blanks is padding
		}
		return false, x.malformed("observation %d: truncated record (%d of %d bytes)", x.nobs+1, n, len(x.obs))
	default:
		return false, fmt.Errorf("%s: observation %d at offset %d: %w", x.name, x.nobs+1, x.off, err)
	}
}

// appendObs appends the values of x.obs to the column builders.
func (x *Reader) appendObs() error {
	for i := range x.vars {
		v := &x.vars[i]
		val := x.obs[v.offset : v.offset+v.Length]
		if v.Numeric {
			f, missing := ibmToFloat64(val)
			b := x.rb.Field(i)
			if missing {
				b.AppendNull()
				continue
			}
			switch v.Kind {
			case Number:
				b.(*array.Float64Builder).Append(f)
			case Date:
				d, err := sas.Days(f)
				if err != nil {
					return x.malformed("observation %d: variable %s (%s): %v", x.nobs, v.Name, x.format(v), err)
				}
				b.(*array.Date32Builder).Append(arrow.Date32(d))
			case Datetime, Time:
				us, err := sas.Micros(f, v.Kind)
				if err != nil {
					return x.malformed("observation %d: variable %s (%s): %v", x.nobs, v.Name, x.format(v), err)
				}
				if v.Kind == Time {
					b.(*array.Time64Builder).Append(arrow.Time64(us))
				} else {
					b.(*array.TimestampBuilder).Append(arrow.Timestamp(us))
				}
			}
			continue
		}
		text, err := x.decode(x.text, bytes.TrimRight(val, " "))
		if err != nil {
			return x.malformed("observation %d: variable %s: %v", x.nobs, v.Name, err)
		}
		if len(text) > 0 && len(val) > 0 && &text[0] != &val[0] {
			x.text = text // converted: keep the buffer for the next value
		}
		x.rb.Field(i).(*array.StringBuilder).BinaryBuilder.Append(text)
	}
	return nil
}

// format is the display format that made v a date, datetime or time:
// its own, or the one WithFormats gave.
func (x *Reader) format(v *Variable) string {
	if FormatTemporal(v.Format) != Number {
		return v.Format
	}
	return x.cfg.Formats[v.Name]
}

func allBlank(p []byte) bool {
	for _, c := range p {
		if c != ' ' {
			return false
		}
	}
	return true
}

func trimBlank(p []byte) string { return string(bytes.TrimRight(p, " \x00")) }

// printable quotes header bytes for an error message without dumping binary.
func printable(p []byte) string {
	b := []byte(string(p))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '.'
		}
	}
	return string(b)
}
