package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// csvField is one field as written in the file: Arrow's CSV reader (built
// on encoding/csv) forgets whether a field was quoted, but the pilot CSVs,
// like R's write.csv, quote text and leave numbers bare, and that is the
// only way to tell SUBJID "1015" (text) from AGE 63 (a number).
type csvField struct {
	value  []byte
	quoted bool
}

// csvScanner is a minimal RFC 4180 tokenizer: comma separated, fields
// optionally quoted with "" as an escaped quote, LF or CRLF line ends,
// quoted fields may span lines. It is used only to infer column types and
// check the header; the values themselves are parsed by Arrow's reader.
type csvScanner struct {
	r      *bufio.Reader
	line   int // 1-based line of the record being read
	fields []csvField
	buf    []byte
	// Bounds (Limits): a record's bytes, its fields, one cell's bytes.
	maxRecord, maxFields, maxCell int
	afterHeader                   bool // maxFields is the header's count
}

func newCSVScanner(r io.Reader, l Limits) *csvScanner {
	l = l.withDefaults()
	return &csvScanner{r: bufio.NewReaderSize(r, 1<<16), maxRecord: l.MaxRecordBytes, maxFields: l.MaxFields, maxCell: l.MaxCellBytes}
}

// overLimit checks the record being read against the bounds once a cell
// (starting at start in buf) has grown or ended; spans is its field count.
func (s *csvScanner) overLimit(startLine, start, spans int) error {
	switch {
	case len(s.buf)-start > s.maxCell:
		return limitError(startLine, fmt.Sprintf("field %d is longer than %d bytes", spans+1, s.maxCell), "max-cell-bytes")
	case len(s.buf) > s.maxRecord:
		return limitError(startLine, fmt.Sprintf("record is longer than %d bytes", s.maxRecord), "max-record-bytes")
	case spans > s.maxFields && s.afterHeader:
		return fmt.Errorf("line %d: more fields than the header's %d", startLine, s.maxFields)
	case spans > s.maxFields:
		return limitError(startLine, fmt.Sprintf("more than %d fields", s.maxFields), "max-fields")
	}
	return nil
}

var errBadQuote = errors.New("bare or unterminated quote")

// push appends one byte of a cell, checking the bounds every 4 KiB of
// the record (cheap enough for the per-byte loop, soon enough to stop a
// huge record before it is all in memory).
func (s *csvScanner) push(c byte, startLine, start, spans int) error {
	s.buf = append(s.buf, c)
	if len(s.buf)&0xfff == 0 {
		return s.overLimit(startLine, start, spans)
	}
	return nil
}

// next reads one record; it returns io.EOF at the end of input.
func (s *csvScanner) next() ([]csvField, error) {
	s.fields = s.fields[:0]
	s.buf = s.buf[:0]
	s.line++
	startLine := s.line
	type span struct {
		start, end int
		quoted     bool
	}
	var spans []span
	atStart := true
	for {
		start := len(s.buf)
		c, err := s.r.ReadByte()
		if err == io.EOF {
			if atStart && len(spans) == 0 {
				return nil, io.EOF
			}
			spans = append(spans, span{start, start, false})
			break
		}
		if err != nil {
			return nil, err
		}
		atStart = false
		quoted := false
		if c == '"' {
			quoted = true
			for {
				c, err = s.r.ReadByte()
				if err != nil {
					return nil, fmt.Errorf("line %d: %w", startLine, errBadQuote)
				}
				if c == '"' {
					c2, err := s.r.ReadByte()
					if err == nil && c2 == '"' {
						s.buf = append(s.buf, '"')
						continue
					}
					if err == nil {
						s.r.UnreadByte()
					}
					break
				}
				if c == '\n' {
					s.line++
				}
				if err := s.push(c, startLine, start, len(spans)); err != nil {
					return nil, err
				}
			}
			c, err = s.r.ReadByte()
			if err == io.EOF {
				spans = append(spans, span{start, len(s.buf), true})
				break
			}
			if err != nil {
				return nil, err
			}
			if c == '\r' {
				if c, err = s.r.ReadByte(); err != nil && err != io.EOF {
					return nil, err
				} else if err == io.EOF {
					c = '\n'
				}
			}
			if c != ',' && c != '\n' {
				return nil, fmt.Errorf("line %d: %w", startLine, errBadQuote)
			}
		} else {
			for c != ',' && c != '\n' {
				if c == '"' {
					return nil, fmt.Errorf("line %d: %w", startLine, errBadQuote)
				}
				if c != '\r' {
					if err := s.push(c, startLine, start, len(spans)); err != nil {
						return nil, err
					}
				}
				c, err = s.r.ReadByte()
				if err == io.EOF {
					c = '\n'
					break
				}
				if err != nil {
					return nil, err
				}
			}
		}
		spans = append(spans, span{start, len(s.buf), quoted})
		if err := s.overLimit(startLine, start, len(spans)); err != nil {
			return nil, err
		}
		if c == '\n' {
			break
		}
	}
	for _, sp := range spans {
		s.fields = append(s.fields, csvField{value: s.buf[sp.start:sp.end], quoted: sp.quoted})
	}
	return s.fields, nil
}

// columnKind is what inference has concluded about a column so far.
type columnKind int

const (
	kindUnknown columnKind = iota // only missing values seen
	kindInt
	kindFloat
	kindText
)

func (k columnKind) widen(f csvField, missing func([]byte) bool) columnKind {
	if !f.quoted && missing(f.value) {
		return k
	}
	if f.quoted || k == kindText {
		if f.quoted && len(f.value) == 0 {
			return k // "" is missing for every type
		}
		return kindText
	}
	if k <= kindInt {
		if _, err := strconv.ParseInt(string(f.value), 10, 64); err == nil {
			return kindInt
		}
	}
	if _, err := strconv.ParseFloat(string(bytes.TrimSpace(f.value)), 64); err == nil && isPlainNumber(f.value) {
		return kindFloat
	}
	return kindText
}

// isPlainNumber rejects spellings ParseFloat accepts that a CSV writer
// would not use for a number (hex, underscores, "inf" words are text).
func isPlainNumber(b []byte) bool {
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9', c == '.', c == '-', c == '+', c == 'e', c == 'E':
		default:
			return false
		}
	}
	return true
}

// checkEncoding rejects a CSV in UTF-16 or UTF-32 (as some Windows tools
// save "Unicode text") by its byte order mark, before the first record:
// read as UTF-8 its header would look like one field, and every row like
// garbage.
func (s *csvScanner) checkEncoding(name string) error {
	b, _ := s.r.Peek(4)
	var enc string
	switch {
	case bytes.HasPrefix(b, []byte{0xff, 0xfe, 0, 0}):
		enc = "UTF-32LE"
	case bytes.HasPrefix(b, []byte{0, 0, 0xfe, 0xff}):
		enc = "UTF-32BE"
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}):
		enc = "UTF-16LE"
	case bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		enc = "UTF-16BE"
	default:
		return nil
	}
	return fmt.Errorf("%s: the file is %s text (it starts with a %s byte order mark); CSV must be UTF-8: save it as \"CSV UTF-8\" or convert it (iconv -f %s -t UTF-8): %w", name, enc, enc, enc, ErrInput)
}
