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
}

func newCSVScanner(r io.Reader) *csvScanner {
	return &csvScanner{r: bufio.NewReaderSize(r, 1<<16)}
}

var errBadQuote = errors.New("bare or unterminated quote")

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
				s.buf = append(s.buf, c)
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
					s.buf = append(s.buf, c)
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
