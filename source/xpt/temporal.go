package xpt

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/trialog/trialog/source/internal/sas"
)

// Temporal is what a SAS numeric holds according to its display format.
type Temporal = sas.Temporal

// Kinds of numeric variable.
const (
	Number   = sas.Number   // a plain number
	Date     = sas.Date     // days since 1960-01-01
	Datetime = sas.Datetime // seconds since 1960-01-01T00:00:00 (no zone)
	Time     = sas.Time     // seconds since midnight
)

// FormatTemporal returns the kind of value a SAS display format such as
// "DATE9.", "E8601DT19." or "8.2" shows (see package sas for the list).
func FormatTemporal(format string) Temporal { return sas.FormatTemporal(format) }

// textDecoder turns the bytes of a character value into UTF-8 text, or
// fails: bytes are never replaced. The result is src itself when it is
// already the text (valid UTF-8, or ASCII in a single-byte set), else it
// is written to dst[:0].
type textDecoder func(dst, src []byte) ([]byte, error)

var errInvalidUTF8 = errors.New("text is not valid UTF-8 (use --encoding latin1 or windows-1252 for such data)")

// newTextDecoder returns the decoder of a character set name.
func newTextDecoder(name string) (textDecoder, error) {
	var cm *charmap.Charmap
	switch strings.ToLower(strings.ReplaceAll(name, "_", "-")) {
	case "", "utf-8", "utf8":
		return func(dst, src []byte) ([]byte, error) {
			if !utf8.Valid(src) {
				return dst, errInvalidUTF8
			}
			return src, nil
		}, nil
	case "latin1", "latin-1", "iso-8859-1", "iso8859-1":
		cm = charmap.ISO8859_1
	case "windows-1252", "cp1252", "wlatin1":
		cm = charmap.Windows1252
	default:
		return nil, fmt.Errorf("unknown encoding %q (want utf-8, latin1 or windows-1252)", name)
	}
	cs := cm.String()
	return func(dst, src []byte) ([]byte, error) {
		ascii := true
		for _, c := range src {
			if c >= utf8.RuneSelf {
				ascii = false
				break
			}
		}
		if ascii {
			return src, nil
		}
		dst = dst[:0]
		for _, c := range src {
			if c < utf8.RuneSelf {
				dst = append(dst, c)
				continue
			}
			r := cm.DecodeByte(c)
			if r == utf8.RuneError {
				return dst, fmt.Errorf("text holds a byte that is not a %s character", cs)
			}
			dst = utf8.AppendRune(dst, r)
		}
		return dst, nil
	}, nil
}
