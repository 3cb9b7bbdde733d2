package definexml

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// charsetReader converts a define.xml declared in a single-byte character
// set (the CDISC pilot ADaM define is ISO-8859-1) to UTF-8 for
// encoding/xml. Every byte must be a character of that set: nothing is
// replaced silently.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	var cm *charmap.Charmap
	switch strings.ToLower(label) {
	case "iso-8859-1", "iso8859-1", "latin1", "l1", "iso_8859-1":
		cm = charmap.ISO8859_1
	case "windows-1252", "cp1252":
		cm = charmap.Windows1252
	case "us-ascii", "ascii":
		cm = charmap.ISO8859_1 // a subset; bytes above 0x7f are Latin-1 in practice
	default:
		return nil, fmt.Errorf("unsupported character set %q (want UTF-8, ISO-8859-1 or windows-1252)", label)
	}
	return &singleByteReader{r: bufio.NewReader(input), cm: cm}, nil
}

type singleByteReader struct {
	r       *bufio.Reader
	cm      *charmap.Charmap
	pending []byte
}

func (s *singleByteReader) Read(p []byte) (int, error) {
	for len(s.pending) < len(p) {
		c, err := s.r.ReadByte()
		if err != nil {
			if len(s.pending) > 0 {
				break
			}
			return 0, err
		}
		if c < utf8.RuneSelf {
			s.pending = append(s.pending, c)
			continue
		}
		r := s.cm.DecodeByte(c)
		if r == utf8.RuneError {
			return 0, fmt.Errorf("a byte that is not a %s character", s.cm)
		}
		s.pending = utf8.AppendRune(s.pending, r)
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}
