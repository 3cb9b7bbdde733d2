package datasetjson

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// errInvalidUTF8 is returned for a JSON string that is not valid UTF-8 or
// that escapes half a surrogate pair (\ud800 alone): JSON text is UTF-8
// (RFC 8259 §8.1), and encoding/json would silently turn both into
// U+FFFD, so two copies differing only there would commit equal.
var errInvalidUTF8 = errors.New("text is not valid UTF-8")

// unquote returns the content of a JSON string (its raw text, quotes
// included, syntax already checked by the decoder). Without escapes the
// bytes between the quotes are returned as they are (a subslice of v);
// with escapes the content is written to buf[:0], which the caller may
// keep for reuse only in that case (see unquoteInto).
func unquote(v []byte, buf []byte) ([]byte, error) {
	s := v[1 : len(v)-1]
	if !utf8.Valid(s) {
		return nil, errInvalidUTF8
	}
	if bytes.IndexByte(s, '\\') < 0 {
		return s, nil
	}
	out := buf[:0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s[i+1:])
			if !ok {
				return nil, errInvalidUTF8
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					r2, ok = hex4(s[i+3:])
				}
				if !ok {
					return nil, errInvalidUTF8
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return nil, errInvalidUTF8
				}
				i += 6
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, errInvalidUTF8
		}
	}
	return out, nil
}

// unquoteInto is unquote with *buf as the reused scratch buffer.
func unquoteInto(v []byte, buf *[]byte) ([]byte, error) {
	out, err := unquote(v, *buf)
	if err == nil && bytes.IndexByte(v, '\\') >= 0 {
		*buf = out[:0]
	}
	return out, err
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s[:4]), 16, 16)
	return rune(v), err == nil
}

// checkText checks every string in a JSON value (metadata) the way
// unquote does.
func checkText(raw []byte) error {
	if !utf8.Valid(raw) {
		return errInvalidUTF8
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '"' {
			continue
		}
		j := i + 1
		for ; j < len(raw) && raw[j] != '"'; j++ {
			if raw[j] == '\\' {
				j++
			}
		}
		if j >= len(raw) {
			return nil // the decoder reports the syntax error
		}
		if _, err := unquote(raw[i:j+1], nil); err != nil {
			return err
		}
		i = j
	}
	return nil
}
