package xpt_test

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/trialog/trialog/internal/testutil"
	"github.com/trialog/trialog/source/xpt"
)

// withFormat sets the NAMESTR format (name, width, decimals) of variable i
// of a buildXPT file.
func withFormat(f []byte, i int, name string, w int) []byte {
	ns := f[8*80+i*140:]
	copy(ns[56:64], fmt.Sprintf("%-8s", name))
	binary.BigEndian.PutUint16(ns[64:66], uint16(w))
	return f
}

func ibm(v float64) []byte {
	b := testutil.IBM(v)
	return b[:]
}

// TestNumericDatesTimes: SAS numerics with a date, datetime or time
// format are read as calendar values (days/seconds since 1960-01-01);
// SAS missing values (., .A–.Z, ._) are null; a fractional date or a time
// outside one day is an error naming observation and variable.
func TestNumericDatesTimes(t *testing.T) {
	vars := []fixVar{{"ADT", true, 8}, {"ADTM", true, 8}, {"ATM", true, 8}, {"AVAL", true, 8}}
	build := func(rows ...[]byte) []byte {
		var obs []byte
		for _, r := range rows {
			obs = append(obs, r...)
		}
		f := buildXPT(vars, obs)
		f = withFormat(f, 0, "DATE", 9)
		f = withFormat(f, 1, "E8601DT", 19)
		f = withFormat(f, 2, "TIME", 8)
		return withFormat(f, 3, "8.", 0) // not a date
	}
	missing := func(c byte) []byte { return []byte{c, 0, 0, 0, 0, 0, 0, 0} }
	row := func(cells ...[]byte) []byte {
		var r []byte
		for _, c := range cells {
			r = append(r, c...)
		}
		return r
	}
	tb, err := readAll(t, build(
		row(ibm(19725), ibm(19725*86400+37800), ibm(37815.5), ibm(19725)),
		row(ibm(0), ibm(0), ibm(0), ibm(-1)),
		row(missing('.'), missing('A'), missing('_'), missing('Z')),
		row(ibm(-1), ibm(-86400.25), ibm(86399), ibm(2)),
	), "adxx.xpt")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{
		{"2014-01-02", "2014-01-02 10:30:00Z", "10:30:15.500000", 19725.0},
		{"1960-01-01", "1960-01-01 00:00:00Z", "00:00:00.000000", -1.0},
		{nil, nil, nil, nil},
		{"1959-12-31", "1959-12-30 23:59:59.75Z", "23:59:59.000000", 2.0},
	}
	if fmt.Sprint(tb.rows) != fmt.Sprint(want) {
		t.Errorf("rows\n%v\nwant\n%v", tb.rows, want)
	}
	for i, wantType := range []string{"date32", "timestamp[us]", "time64[us]", "float64"} {
		if got := tb.schema.Field(i).Type.String(); got != wantType {
			t.Errorf("%s: %s, want %s", vars[i].name, got, wantType)
		}
	}
	_, err = readAll(t, build(row(ibm(1), ibm(1), ibm(1), ibm(1)), row(ibm(19725.5), ibm(0), ibm(0), ibm(0))), "adxx.xpt")
	testutil.CheckMalformed(t, err, xpt.ErrMalformed, "adxx.xpt", "observation 2: variable ADT (DATE9.): date value is not a whole number of days")
	_, err = readAll(t, build(row(ibm(1), ibm(1), ibm(90000), ibm(1))), "adxx.xpt")
	testutil.CheckMalformed(t, err, xpt.ErrMalformed, "adxx.xpt", "observation 1: variable ATM (TIME8.): time value is not a time of day")

	// Without a format in the file, WithFormats (define.xml) decides.
	plain := buildXPT([]fixVar{{"TRTSDT", true, 8}}, ibm(19725))
	tb, err = readAll(t, plain, "adsl.xpt", xpt.WithFormats(map[string]string{"TRTSDT": "DATE9."}))
	if err != nil || fmt.Sprint(tb.rows) != "[[2014-01-02]]" {
		t.Errorf("define format: %v %v", tb.rows, err)
	}
}

func TestFormatTemporal(t *testing.T) {
	for f, want := range map[string]xpt.Temporal{"DATE9.": xpt.Date, "yymmdd10.": xpt.Date, "E8601DA.": xpt.Date,
		"DATETIME20.": xpt.Datetime, "E8601DT19.": xpt.Datetime, "TIME8.": xpt.Time, "E8601TM.": xpt.Time,
		"8.2": xpt.Number, "": xpt.Number, "$CHAR20.": xpt.Number, "HHMM.": xpt.Number, "BEST12.": xpt.Number} {
		if got := xpt.FormatTemporal(f); got != want {
			t.Errorf("%q: %d, want %d", f, got, want)
		}
	}
}

// TestEncoding: text is UTF-8 unless --encoding says otherwise; Latin-1
// and Windows-1252 are converted explicitly, and a byte that is not a
// character of the encoding is an error, never replaced.
func TestEncoding(t *testing.T) {
	vars := []fixVar{{"NAME", false, 8}}
	file := func(v string) []byte { return buildXPT(vars, []byte(v+strings.Repeat(" ", 8-len(v)))) }
	latin := file("M\xfcller")
	_, err := readAll(t, latin, "dm.xpt")
	testutil.CheckMalformed(t, err, xpt.ErrMalformed, "dm.xpt", "observation 1: variable NAME: text is not valid UTF-8")
	for _, enc := range []string{"latin1", "ISO-8859-1", "windows-1252"} {
		tb, err := readAll(t, latin, "dm.xpt", xpt.WithEncoding(enc))
		if err != nil || tb.rows[0][0] != "Müller" {
			t.Errorf("%s: %v %v", enc, tb.rows, err)
		}
	}
	tb, err := readAll(t, file("\x80 5"), "dm.xpt", xpt.WithEncoding("windows-1252"))
	if err != nil || tb.rows[0][0] != "€ 5" {
		t.Errorf("windows-1252 euro: %v %v", tb.rows, err)
	}
	tb, err = readAll(t, file("\x80 5"), "dm.xpt", xpt.WithEncoding("latin1"))
	if err != nil || tb.rows[0][0] != "\u0080 5" {
		t.Errorf("latin1 C1 control: %q %v", tb.rows, err)
	}
	_, err = readAll(t, file("a\x81"), "dm.xpt", xpt.WithEncoding("windows-1252"))
	testutil.CheckMalformed(t, err, xpt.ErrMalformed, "dm.xpt", "observation 1: variable NAME: text holds a byte that is not a Windows 1252 character")
	tb, err = readAll(t, file("Müller"), "dm.xpt")
	if err != nil || tb.rows[0][0] != "Müller" {
		t.Errorf("utf-8: %v %v", tb.rows, err)
	}
	if _, err := readAll(t, latin, "dm.xpt", xpt.WithEncoding("ebcdic")); err == nil || !strings.Contains(err.Error(), `unknown encoding "ebcdic"`) {
		t.Errorf("unknown encoding: %v", err)
	}
}
