package canonical

import (
	"math"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

func encodeAll(t *testing.T, arr arrow.Array) []string {
	t.Helper()
	enc, err := Encoder(arr)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := 0; i < arr.Len(); i++ {
		b, err := enc(nil, i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func num(s string) string { return "\x02" + s }

func TestNumbersByValue(t *testing.T) {
	mem := memory.NewGoAllocator()
	i8 := array.NewInt8Builder(mem)
	i8.AppendValues([]int8{63, -5, 0, 100}, nil)
	u64 := array.NewUint64Builder(mem)
	u64.AppendValues([]uint64{63, math.MaxUint64, 0, 100}, nil)
	f64 := array.NewFloat64Builder(mem)
	f64.AppendValues([]float64{63.0, -5, math.Copysign(0, -1), 1e2}, nil)
	f32 := array.NewFloat32Builder(mem)
	f32.AppendValues([]float32{63, -5, 0, 100}, nil)
	dec := array.NewDecimal128Builder(mem, &arrow.Decimal128Type{Precision: 10, Scale: 2})
	dec.AppendValues([]decimal128.Num{decimal128.FromI64(6300), decimal128.FromI64(-500), decimal128.FromI64(0), decimal128.FromI64(10000)}, nil)

	want := []string{num("63"), num("-5"), num("0"), num("1e2")}
	for _, b := range []array.Builder{i8, f64, f32, dec} {
		got := encodeAll(t, b.NewArray())
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%T cell %d: %q, want %q", b, i, got[i], want[i])
			}
		}
	}
	if got := encodeAll(t, u64.NewArray())[1]; got != num("18446744073709551615") {
		t.Errorf("max uint64: %q", got)
	}
}

func TestFloatRounding(t *testing.T) {
	cases := map[float64]string{
		8.549999999999999:           "855e-2",
		0.39999999999999997:         "4e-1",
		8.55:                        "855e-2",
		1e-5:                        "1e-5",
		-1.5:                        "-15e-1",
		123456789012345678:          "123456789012e6", // above 2^53: not exact, rounded
		27.0 / 34:                   "794117647059e-12",
		0.794117647059:              "794117647059e-12", // a converter's 12 digits of 27/34
		0.79:                        "79e-2",
		0.8:                         "8e-1",
		2.9999999999999996:          "3",
		1234567890123:               "1234567890123", // whole below 2^53: exact
		(1 << 53) - 1:               "9007199254740991",
		math.NaN():                  "NaN",
		math.Inf(1):                 "Inf",
		math.Inf(-1):                "-Inf",
		math.SmallestNonzeroFloat64: "494065645841e-335",
	}
	for f, want := range cases {
		if got := string(AppendFloat64(nil, f)); got != num(want) {
			t.Errorf("%v: %q, want %q", f, got, num(want))
		}
	}
	if got := string(AppendFloat32(nil, 0.1)); got != num("1e-1") {
		t.Errorf("float32 0.1: %q", got)
	}
	if got := string(AppendInt(nil, math.MinInt64)); got != num("-9223372036854775808") {
		t.Errorf("min int64: %q", got)
	}
}

func TestTextNullAndDates(t *testing.T) {
	mem := memory.NewGoAllocator()
	s := array.NewStringBuilder(mem)
	s.AppendValues([]string{"F", "", "2014-01-02"}, nil)
	s.AppendNull()
	got := encodeAll(t, s.NewArray())
	want := []string{"\x01F", "\x00", "\x012014-01-02", "\x00"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("text %d: %q want %q", i, got[i], want[i])
		}
	}
	d := array.NewDate32Builder(mem)
	d.Append(arrow.Date32FromTime(mustDate("2014-01-02")))
	if got := encodeAll(t, d.NewArray())[0]; got != "\x012014-01-02" {
		t.Errorf("date32: %q", got)
	}
	ts := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "Europe/Paris"})
	ts.Append(arrow.Timestamp(1388664000500)) // 2014-01-02T12:00:00.5Z
	if got := encodeAll(t, ts.NewArray())[0]; got != "\x012014-01-02T12:00:00.5Z" {
		t.Errorf("timestamp: %q", got)
	}
	// Dictionary-encoded text equals plain text.
	db := array.NewDictionaryBuilder(mem, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}).(*array.BinaryDictionaryBuilder)
	db.AppendString("F")
	db.AppendNull()
	db.AppendString("")
	got = encodeAll(t, db.NewArray())
	if got[0] != "\x01F" || got[1] != "\x00" || got[2] != "\x00" {
		t.Errorf("dictionary: %q", got)
	}
	bad := array.NewStringBuilder(mem)
	bad.Append("\xff")
	enc, _ := Encoder(bad.NewArray())
	if _, err := enc(nil, 0); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
	lb := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int64)
	if _, err := Encoder(lb.NewArray()); err == nil {
		t.Error("list type accepted")
	}
}

func mustDate(s string) (t time.Time) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestTextWholeBufferCheck: the one-pass UTF-8 check of a string column
// must agree with checking every value on its own, including a character
// split across two values (valid bytes as a whole, invalid values) and
// sliced arrays.
func TestTextWholeBufferCheck(t *testing.T) {
	cases := [][]string{
		{"F", "M", "", "Müller"},
		{"ab\xc3", "\xa9cd"}, // "é" split across two values
		{"ok", "bad\xff", "ok"},
		{"\xe2\x82", "\xac"}, // "€" split
		{"", "", "ü"},
	}
	for ci, values := range cases {
		b := array.NewStringBuilder(memory.DefaultAllocator)
		for _, v := range values {
			b.Append(v)
		}
		whole := b.NewStringArray()
		for lo := 0; lo < len(values); lo++ {
			arr := array.NewSlice(whole, int64(lo), int64(len(values))).(*array.String)
			enc, err := Encoder(arr)
			if err != nil {
				t.Fatal(err)
			}
			firstBad := -1
			for i := 0; i < arr.Len(); i++ {
				want, wantErr := AppendText(nil, arr.Value(i))
				got, gotErr := enc(nil, i)
				if string(got) != string(want) || (gotErr == nil) != (wantErr == nil) {
					t.Errorf("case %d slice %d row %d: got %x %v, want %x %v", ci, lo, i, got, gotErr, want, wantErr)
				}
				if wantErr != nil && firstBad < 0 {
					firstBad = i
				}
			}
			row, err := Validate(arr)
			if (err != nil) != (firstBad >= 0) || (err != nil && row != firstBad) {
				t.Errorf("case %d slice %d: Validate = %d, %v; first bad row %d", ci, lo, row, err, firstBad)
			}
			arr.Release()
		}
		whole.Release()
	}
}

// TestFloat64IntegerFastPath: whole float64 values take the integer path,
// which must give exactly the cells of the general float path.
func TestFloat64IntegerFastPath(t *testing.T) {
	values := []float64{1, -1, 63, 1200, -5, 1e14, 999999999999999, -999999999999999, 123456789012345, 1 << 40, 100000}
	for i := 0; i < 20000; i++ {
		v := float64(int64(i*i*7919) % 999999999999999)
		values = append(values, v, -v, v*10, math.Trunc(v/3))
	}
	for _, v := range values {
		if v == 0 || math.Abs(v) >= 1e15 {
			continue
		}
		if got, want := AppendFloat64(nil, v), appendFloat(nil, v, 16, 64); string(got) != string(want) {
			t.Fatalf("%v: fast path %q, float path %q", v, got, want)
		}
	}
}

// TestRulesDigits: the precision is a parameter of the rules; whole
// numbers never depend on it.
func TestRulesDigits(t *testing.T) {
	for _, c := range []struct {
		digits int
		f      float64
		want   string
	}{
		{15, 27.0 / 34, "794117647058823e-15"},
		{15, 8.549999999999999, "855e-2"},
		{6, 27.0 / 34, "794118e-6"},
		{6, 1234567890123, "1234567890123"},
		{12, 0.125, "125e-3"},
	} {
		if got := string(Rules{FloatDigits: c.digits}.AppendFloat64(nil, c.f)); got != num(c.want) {
			t.Errorf("%d digits, %v: %q, want %q", c.digits, c.f, got, num(c.want))
		}
	}
	if (Rules{FloatDigits: 5}).Check() == nil || (Rules{FloatDigits: 16}).Check() == nil || DefaultRules().Check() != nil {
		t.Error("Check range")
	}
}

// TestDecimalExactThenRounded: decimals by exact decimal value, rounded
// half to even like floats when not whole; whole decimals are exact.
func TestDecimalExactThenRounded(t *testing.T) {
	for s, want := range map[string]string{
		"0.794117647059":               "794117647059e-12",
		"0.7941176470588235":           "794117647059e-12",
		"0.79411764705850000000000001": "794117647059e-12",
		"0.7941176470585":              "794117647058e-12", // tie: to even
		"0.7941176470595":              "79411764706e-11",  // tie: to even, carry
		"8.550":                        "855e-2",
		"-0.9999999999999":             "-1",
		"123456789012345678901234567":  "123456789012345678901234567", // whole: exact
		"1e3":                          "1e3",
		"0":                            "0",
		"-0.0":                         "0",
	} {
		got, ok := ParseNumber(s)
		if !ok || string(got) != num(want) {
			t.Errorf("%s: %q, want %q", s, got, num(want))
		}
		// The decimal128 fast path agrees with big.Int.
		unscaled, scale, _ := ParseDecimal(s)
		if unscaled.BitLen() < 127 {
			n := decimal128.FromBigInt(unscaled)
			if fast := DefaultRules().AppendDecimal128(nil, n, scale); string(fast) != string(got) {
				t.Errorf("%s: decimal128 %q, big %q", s, fast, got)
			}
		}
	}
	for _, bad := range []string{"", "-", "1.2.3", "0x10", "Inf", "1e", "1_000"} {
		if _, ok := ParseNumber(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
