package xpt_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/internal/testutil"
	"github.com/trialog/trialog/source/xpt"
)

const (
	pilotDir = "../../../shared/data/cdiscpilot01"
	msgDir   = "../../../shared/data/datasetjson-msg"
)

// table is a fully materialised dataset: column names and rows of
// string / float64 / nil cells.
type table struct {
	schema *arrow.Schema
	rows   [][]any
}

// readAll reads data with a checked allocator and asserts that the batches
// match the schema and that nothing leaks.
func readAll(t testing.TB, data []byte, name string, opts ...xpt.Option) (table, error) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := xpt.NewReader(bytes.NewReader(data), name, append([]xpt.Option{xpt.WithAllocator(mem)}, opts...)...)
	if err != nil {
		return table{}, err
	}
	defer r.Release()
	rows, err := testutil.Rows(t, r, func(col arrow.Array, i int) any {
		switch {
		case col.IsNull(i):
			return nil
		case col.DataType().ID() == arrow.STRING:
			return col.(*array.String).Value(i)
		case col.DataType().ID() != arrow.FLOAT64:
			return col.ValueStr(i) // dates, datetimes, times
		default:
			return col.(*array.Float64).Value(i)
		}
	})
	return table{schema: r.Schema(), rows: rows}, err
}

func (tb table) col(name string) int {
	for i, f := range tb.schema.Fields() {
		if f.Name == name {
			return i
		}
	}
	return -1
}

func TestPilotRowCounts(t *testing.T) {
	for dom, want := range map[string]int{
		"dm": 306, "ae": 1191, "cm": 7510, "mh": 1818, "sv": 3559,
		"ds": 596, "ex": 591, "suppdm": 1197, "suppae": 1191,
	} {
		t.Run(dom, func(t *testing.T) {
			name := dom + ".xpt"
			tb, err := readAll(t, testutil.ReadFileOrSkip(t, filepath.Join(pilotDir, "xpt", name)), name, xpt.WithBatchSize(1000))
			if err != nil {
				t.Fatal(err)
			}
			if len(tb.rows) != want {
				t.Errorf("%s: %d rows, want %d", name, len(tb.rows), want)
			}
			if got := tb.schema.Metadata().Values()[tb.schema.Metadata().FindKey("name")]; got != strings.ToUpper(dom) {
				t.Errorf("dataset name %q", got)
			}
		})
	}
}

func TestPilotDMFirstRow(t *testing.T) {
	tb, err := readAll(t, testutil.ReadFileOrSkip(t, filepath.Join(pilotDir, "xpt", "dm.xpt")), "dm.xpt")
	if err != nil {
		t.Fatal(err)
	}
	row := tb.rows[0]
	for col, want := range map[string]any{
		"USUBJID": "01-701-1015", "AGE": 63.0, "SEX": "F", "RFICDTC": "",
		"ARM": "Placebo", "DMDY": -7.0, "SITEID": "701",
	} {
		if got := row[tb.col(col)]; got != want {
			t.Errorf("DM[0].%s = %#v, want %#v", col, got, want)
		}
	}
	f := tb.schema.Field(tb.col("AGE"))
	if l, _ := f.Metadata.GetValue("label"); l != "Age" {
		t.Errorf("AGE label %q", l)
	}
	if ty, _ := f.Metadata.GetValue("sas.type"); ty != "num" {
		t.Errorf("AGE sas.type %q", ty)
	}
}

// TestPilotAgainstCSV compares every shared cell of the domains that the
// data README says hold the same rows and values in XPT and CSV. CSV writes
// missing values as NA: a blank XPT character value or a null numeric.
func TestPilotAgainstCSV(t *testing.T) {
	for _, dom := range []string{"ae", "ex", "suppae", "suppdm", "dm"} {
		t.Run(dom, func(t *testing.T) {
			tb, err := readAll(t, testutil.ReadFileOrSkip(t, filepath.Join(pilotDir, "xpt", dom+".xpt")), dom+".xpt")
			if err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(bytes.NewReader(testutil.ReadFileOrSkip(t, filepath.Join(pilotDir, "csv", dom+".csv")))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs)-1 != len(tb.rows) {
				t.Fatalf("csv %d rows, xpt %d", len(recs)-1, len(tb.rows))
			}
			diffs := 0
			for j, name := range recs[0] {
				c := tb.col(name)
				if c < 0 {
					continue // columns only the CSV re-release has (README)
				}
				for i, rec := range recs[1:] {
					want, got := rec[j], tb.rows[i][c]
					ok := false
					switch g := got.(type) {
					case string:
						ok = g == want || (g == "" && want == "NA")
					case float64:
						w, err := strconv.ParseFloat(want, 64)
						ok = err == nil && round15(w) == round15(g)
					case nil:
						ok = want == "NA"
					}
					if !ok {
						diffs++
						if diffs < 10 {
							t.Errorf("row %d column %s: xpt %#v, csv %q", i+1, name, got, want)
						}
					}
				}
			}
		})
	}
}

func round15(f float64) string { return strconv.FormatFloat(f, 'g', 15, 64) }

// fixture builds a small XPORT file in the layout of TS-140.
type fixVar struct {
	name    string
	numeric bool
	length  int
}

func rec80(s string) []byte {
	b := []byte(s)
	for len(b)%80 != 0 {
		b = append(b, ' ')
	}
	return b
}

func buildXPT(vars []fixVar, obs []byte) []byte {
	var b bytes.Buffer
	b.Write(rec80("HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!000000000000000000000000000000"))
	b.Write(rec80("SAS     SAS     SASLIB  9.4     X64_10PR                        01JAN20:00:00:00"))
	b.Write(rec80("01JAN20:00:00:00"))
	b.Write(rec80("HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!000000000000000001600000000140"))
	b.Write(rec80("HEADER RECORD*******DSCRPTR HEADER RECORD!!!!!!!000000000000000000000000000000"))
	b.Write(rec80("SAS     FIX     SASDATA 9.4     X64_10PR                        01JAN20:00:00:00"))
	b.Write(rec80("01JAN20:00:00:00                Fixture"))
	b.Write(rec80(fmt.Sprintf("HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!000000%04d00000000000000000000", len(vars))))
	var ns []byte
	pos := 0
	for i, v := range vars {
		r := make([]byte, 140)
		ty := 2
		if v.numeric {
			ty = 1
		}
		r[1] = byte(ty)
		r[4], r[5] = byte(v.length>>8), byte(v.length)
		r[7] = byte(i + 1)
		copy(r[8:56], fmt.Sprintf("%-8s%-40s", v.name, "label "+v.name))
		copy(r[56:64], "        ")
		copy(r[72:80], "        ")
		r[84], r[85], r[86], r[87] = byte(pos>>24), byte(pos>>16), byte(pos>>8), byte(pos)
		pos += v.length
		ns = append(ns, r...)
	}
	for len(ns)%80 != 0 {
		ns = append(ns, ' ')
	}
	b.Write(ns)
	b.Write(rec80("HEADER RECORD*******OBS     HEADER RECORD!!!!!!!000000000000000000000000000000"))
	b.Write(rec80(string(obs)))
	return b.Bytes()
}

func TestPaddingIsNotARow(t *testing.T) {
	vars := []fixVar{{"A", false, 3}, {"B", false, 7}} // 10-byte observations
	for _, obs := range []string{"", "x         ", "x  y      ab  z     ", strings.Repeat("abcdefghij", 8), strings.Repeat("abcdefghij", 9)} {
		tb, err := readAll(t, buildXPT(vars, []byte(obs)), "fix.xpt")
		if err != nil {
			t.Fatal(err)
		}
		if want := len(obs) / 10; len(tb.rows) != want {
			t.Errorf("%q: %d rows, want %d", obs, len(tb.rows), want)
		}
	}
	// Numeric observations of 16 bytes: 5 per 80 bytes; padding is 64 bytes.
	num := []fixVar{{"X", true, 8}, {"Y", true, 8}}
	one := []byte{0x41, 0x10, 0, 0, 0, 0, 0, 0, '.', 0, 0, 0, 0, 0, 0, 0}
	tb, err := readAll(t, buildXPT(num, one), "num.xpt")
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.rows) != 1 || tb.rows[0][0] != 1.0 || tb.rows[0][1] != nil {
		t.Errorf("numeric rows %v", tb.rows)
	}
}

func TestNoPaddingAndUnalignedEnd(t *testing.T) {
	vars := []fixVar{{"A", false, 30}}
	f := buildXPT(vars, nil)
	f = append(f, strings.Repeat("z", 30*5)...) // not padded to 80
	tb, err := readAll(t, f, "u.xpt")
	if err != nil || len(tb.rows) != 5 {
		t.Fatalf("rows %d err %v", len(tb.rows), err)
	}
}

func TestTruncated(t *testing.T) {
	data := testutil.ReadFileOrSkip(t, filepath.Join(msgDir, "dm.xpt"))
	obsStart := bytes.Index(data, []byte("HEADER RECORD*******OBS")) + 80
	obsLen := observationLength(t, data, "dm.xpt")
	for _, tc := range []struct {
		at   int
		want string
	}{
		{0, "LIBRARY header record at offset 0: truncated file (0 of 80 bytes)"},
		{50, "LIBRARY header record at offset 0: truncated file (50 of 80 bytes)"},
		{100, "library records at offset 80: truncated"},
		{300, "MEMBER header record"},
		{700, "NAMESTR records at offset 640: truncated"},
		{obsStart - 10, "OBS header record"},
		{obsStart + 5, "observation 1: truncated record (5 of"},
		{obsStart + 16*obsLen + 100, "observation 17: truncated record (100 of"},
	} {
		_, err := readAll(t, data[:tc.at], "dm.xpt")
		testutil.CheckMalformed(t, err, xpt.ErrMalformed, "dm.xpt", tc.want)
	}
	// A cut on an observation boundary is undetectable in XPORT v5 (no
	// observation count): it reads as fewer rows.
	tb, err := readAll(t, data[:obsStart+3*obsLen], "dm.xpt")
	if err != nil || len(tb.rows) != 3 {
		t.Errorf("cut at boundary: %d rows, %v", len(tb.rows), err)
	}
}

func TestBadHeaders(t *testing.T) {
	data := testutil.ReadFileOrSkip(t, filepath.Join(msgDir, "dm.xpt"))
	patch := func(off int, s string) []byte {
		b := bytes.Clone(data)
		copy(b[off:], s)
		return b
	}
	nsHdr := bytes.Index(data, []byte("HEADER RECORD*******NAMESTR"))
	for _, tc := range []struct {
		data []byte
		want string
	}{
		{patch(0, "HEADER RECORD*******LIBRARY HEADER RECORX"), "want LIBRARY header record"},
		{patch(0, "HEADER RECORD*******LIBV8   HEADER RECORD!!!!!!!"), "LIBV8"},
		{patch(80, "XAS"), "library record"},
		{patch(240+74, "0999"), "NAMESTR length \"0999\""},
		{patch(nsHdr+54, "00x1"), "bad variable count"},
		{patch(nsHdr+54, "0000"), "bad variable count"},
		{patch(nsHdr+80, "\x00\x07"), "variable 1 (NAMESTR at offset 640): variable STUDYID: type 7"},
		{patch(nsHdr+80+140, "\x00\x01\x00\x00\x00\x09"), "variable 2 (NAMESTR at offset 780): numeric variable DOMAIN: length 9"},
		{patch(nsHdr+80+140+8, "        "), "variable 2 (NAMESTR at offset 780): empty variable name"},
		{[]byte("not an xpt file at all, just text"), "LIBRARY header record at offset 0: truncated"},
		{bytes.Repeat([]byte("x"), 200), "offset 0: want LIBRARY header record"},
	} {
		_, err := readAll(t, tc.data, "dm.xpt")
		testutil.CheckMalformed(t, err, xpt.ErrMalformed, "dm.xpt", tc.want)
	}
}

func TestSecondMemberRejected(t *testing.T) {
	data := testutil.ReadFileOrSkip(t, filepath.Join(msgDir, "dm.xpt"))
	member := bytes.Index(data, []byte("HEADER RECORD*******MEMBER"))
	two := append(bytes.Clone(data), data[member:]...)
	_, err := readAll(t, two, "two.xpt")
	testutil.CheckMalformed(t, err, xpt.ErrMalformed, "two.xpt", "more than one member")
	// An empty first member followed by a second one.
	f := buildXPT([]fixVar{{"A", false, 10}}, nil)
	f = append(f, data[member:]...)
	_, err = readAll(t, f, "two.xpt")
	testutil.CheckMalformed(t, err, xpt.ErrMalformed, "two.xpt", "more than one member")
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestIOErrorIsNotMalformed(t *testing.T) {
	boom := errors.New("disk on fire")
	data := testutil.ReadFileOrSkip(t, filepath.Join(msgDir, "dm.xpt"))
	_, err := xpt.NewReader(io.MultiReader(bytes.NewReader(data[:500]), errReader{boom}), "dm.xpt")
	if !errors.Is(err, boom) || errors.Is(err, xpt.ErrMalformed) {
		t.Errorf("got %v", err)
	}
}

func TestBatching(t *testing.T) {
	data := testutil.ReadFileOrSkip(t, filepath.Join(msgDir, "lb.xpt"))
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := xpt.NewReader(bytes.NewReader(data), "lb.xpt", xpt.WithAllocator(mem), xpt.WithBatchSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if sizes, err := testutil.BatchSizes(r); err != nil || sizes != "[1000 1000 1000 488]" {
		t.Errorf("batches %v err %v", sizes, err)
	}
	if r.Next() {
		t.Error("Next after end")
	}
}

func TestLBValues(t *testing.T) {
	tb, err := readAll(t, testutil.ReadFileOrSkip(t, filepath.Join(msgDir, "lb.xpt")), "lb.xpt")
	if err != nil {
		t.Fatal(err)
	}
	c := tb.col("LBSTRESN")
	seen := false
	for _, row := range tb.rows {
		if v, ok := row[c].(float64); ok && round15(v) == "8.55" {
			seen = true
			// The IBM value is not the float64 nearest to 8.55: SAS stored
			// the IEEE value rounded to fewer digits. Exactness means we
			// report what the file holds.
			if math.Abs(v-8.55) > 1e-14 {
				t.Errorf("LBSTRESN %v", v)
			}
		}
	}
	if !seen {
		t.Error("no LBSTRESN 8.55 in lb.xpt")
	}
}

// TestMemoryDoesNotGrowWithRows reads 500,000 generated observations and
// checks that the Arrow memory in use never exceeds what one batch needs.
func TestMemoryDoesNotGrowWithRows(t *testing.T) {
	const rows = 500_000 // 16 bytes each: 5 per 80-byte record, no padding
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	g := &testutil.Stream{Head: buildXPT([]fixVar{{"ID", false, 8}, {"X", true, 8}}, nil), N: rows,
		Row: func(dst []byte, i int) []byte {
			dst = fmt.Appendf(dst, "%-8d", i)
			return append(dst, 0x41, 0x10, 0, 0, 0, 0, 0, 0) // 1.0
		}}
	r, err := xpt.NewReader(g, "gen.xpt", xpt.WithAllocator(mem), xpt.WithBatchSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	testutil.CheckFlatMemory(t, r, mem, rows, 128<<10)
}

// observationLength is the length in bytes of one observation of the XPT
// file data.
func observationLength(t testing.TB, data []byte, name string) int {
	t.Helper()
	r, err := xpt.NewReader(bytes.NewReader(data), name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	n := 0
	for _, v := range r.Variables() {
		n += v.Length
	}
	return n
}
