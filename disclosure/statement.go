package disclosure

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// statementFormat is the second line of a package statement. Version 2
// (package format 3) added the disclosure and header lines.
const statementFormat = "trialog-package-statement-v2"

// Statement is what the CRO signs about a package, with the trial's
// checkpoint key: which dataset version, which rows, which columns
// withheld. Proofs show that each row is in the log; the statement shows
// that no selected row was dropped and no disclosed column hidden.
type Statement struct {
	Origin    string
	Dataset   string
	Version   uint64
	Mode      string
	Selection string
	// Disclosure is DisclosureFull or DisclosureMinimal, and Header the
	// digest of the package's dataset header (DatasetHeader.Digest): a
	// minimal package proves its header by it, and a full package's
	// manifest must agree with it.
	Disclosure string
	Header     string
	TreeSize   uint64
	Redacted   []string
	Rows       [][2]uint64 // half-open ranges of row indices, ascending
}

// Text renders the statement as note text.
func (s Statement) Text() string {
	redacted := "-"
	if len(s.Redacted) > 0 {
		r := slices.Clone(s.Redacted)
		slices.Sort(r)
		redacted = strings.Join(r, ",")
	}
	return fmt.Sprintf("%s\n%s\ndataset %s\nversion %d\nmode %s\nselection %s\ndisclosure %s\nheader %s\ntree-size %d\nredacted %s\nrows %s\n",
		s.Origin, statementFormat, s.Dataset, s.Version, s.Mode, s.Selection, s.Disclosure, s.Header, s.TreeSize, redacted, FormatRanges(s.Rows))
}

func ParseStatement(text string) (Statement, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 11 || lines[1] != statementFormat {
		return Statement{}, fmt.Errorf("not a %s", statementFormat)
	}
	s := Statement{Origin: lines[0]}
	fields := map[string]string{}
	for _, l := range lines[2:] {
		k, v, ok := strings.Cut(l, " ")
		if !ok {
			return Statement{}, fmt.Errorf("bad statement line %q", l)
		}
		fields[k] = v
	}
	var err error
	s.Dataset, s.Mode, s.Selection = fields["dataset"], fields["mode"], fields["selection"]
	s.Disclosure, s.Header = fields["disclosure"], fields["header"]
	if s.Disclosure != DisclosureFull && s.Disclosure != DisclosureMinimal {
		return Statement{}, fmt.Errorf("statement disclosure %q", s.Disclosure)
	}
	if s.Version, err = strconv.ParseUint(fields["version"], 10, 64); err != nil {
		return Statement{}, fmt.Errorf("statement version: %v", err)
	}
	if s.TreeSize, err = strconv.ParseUint(fields["tree-size"], 10, 64); err != nil {
		return Statement{}, fmt.Errorf("statement tree size: %v", err)
	}
	if r := fields["redacted"]; r != "-" {
		s.Redacted = strings.Split(r, ",")
	}
	if s.Rows, err = ParseRanges(fields["rows"]); err != nil {
		return Statement{}, err
	}
	return s, nil
}

// FormatRanges writes half-open ranges as inclusive "a-b,c" text.
func FormatRanges(rs [][2]uint64) string {
	var parts []string
	for _, r := range rs {
		if r[1] == r[0]+1 {
			parts = append(parts, strconv.FormatUint(r[0], 10))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", r[0], r[1]-1))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

func ParseRanges(s string) ([][2]uint64, error) {
	if s == "-" {
		return nil, nil
	}
	var out [][2]uint64
	for _, p := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(p, "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("statement rows %q: %v", p, err)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 64); err != nil || b < a {
				return nil, fmt.Errorf("statement rows %q: bad range", p)
			}
		}
		if len(out) > 0 && a < out[len(out)-1][1] {
			return nil, fmt.Errorf("statement rows not ascending at %q", p)
		}
		out = append(out, [2]uint64{a, b + 1})
	}
	return out, nil
}

// RangesOf compresses ascending row indices into half-open ranges.
func RangesOf(rows []uint64) [][2]uint64 {
	var out [][2]uint64
	for _, r := range rows {
		if n := len(out); n > 0 && out[n-1][1] == r {
			out[n-1][1]++
		} else {
			out = append(out, [2]uint64{r, r + 1})
		}
	}
	return out
}

// InRanges reports whether row is in the ascending ranges.
func InRanges(rs [][2]uint64, row uint64) bool {
	i := sort.Search(len(rs), func(i int) bool { return rs[i][1] > row })
	return i < len(rs) && rs[i][0] <= row
}

func CountRanges(rs [][2]uint64) uint64 {
	var n uint64
	for _, r := range rs {
		n += r[1] - r[0]
	}
	return n
}
