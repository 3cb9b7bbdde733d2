package datasetjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"

	"github.com/trialog/trialog/canonical"
	"github.com/trialog/trialog/source/internal/sas"
)

var maxDecimal = new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil)

// parseDecimal reads a decimal's text (a v1.1 JSON string, or a JSON
// number) by its exact value into DecimalType.
func parseDecimal(text []byte) (decimal128.Num, error) {
	if !isDecimal(string(text)) {
		return decimal128.Num{}, errors.New("want decimal, got a string that is not a decimal number")
	}
	unscaled, scale, ok := canonical.ParseDecimal(string(text))
	if !ok {
		return decimal128.Num{}, errors.New("want decimal, got a string that is not a decimal number")
	}
	if unscaled.Sign() == 0 {
		return decimal128.Num{}, nil
	}
	shift := int64(DecimalType.Scale) - int64(scale)
	if -shift > int64(len(text)) {
		// More zeros would be needed than the text has digits: some
		// digit beyond the column's scale is not zero (and 10^-shift
		// could be huge: "1e-2000000000").
		return decimal128.Num{}, fmt.Errorf("decimal with more than %d digits after the point", DecimalType.Scale)
	}
	if shift < 0 {
		// More fractional digits than the column keeps: fine only if
		// they are zeros.
		q, r := new(big.Int).QuoRem(unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(-shift), nil), new(big.Int))
		if r.Sign() != 0 {
			return decimal128.Num{}, fmt.Errorf("decimal with more than %d digits after the point", DecimalType.Scale)
		}
		unscaled = q
	} else if shift > 0 {
		if shift > 40 {
			return decimal128.Num{}, fmt.Errorf("decimal with more than %d digits before the point", DecimalType.Precision-DecimalType.Scale)
		}
		unscaled = new(big.Int).Mul(unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(shift), nil))
	}
	if new(big.Int).Abs(unscaled).Cmp(maxDecimal) >= 0 {
		return decimal128.Num{}, fmt.Errorf("decimal with more than %d digits before the point", DecimalType.Precision-DecimalType.Scale)
	}
	return decimal128.FromBigInt(unscaled), nil
}

// appendISO appends the ISO 8601 text of a date, datetime or time column
// whose targetDataType is integer (a SAS numeric date, datetime or time)
// as a calendar value, so it commits like the XPT numeric it came from.
// Such a value is complete: a partial date ("2014-03") or a time zone
// cannot come from a SAS numeric and is an error (partial dates belong in
// character columns, which stay text).
func appendISO(b array.Builder, k kind, s string) error {
	switch k {
	case kindDate:
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return errors.New("want a complete ISO 8601 date (YYYY-MM-DD) for targetDataType integer")
		}
		b.(*array.Date32Builder).Append(arrow.Date32FromTime(t))
	case kindDatetime:
		t, err := parseISO(s, "datetime", "want a complete ISO 8601 datetime without time zone (YYYY-MM-DDThh:mm[:ss[.f]]) for targetDataType integer",
			"2006-01-02T15:04:05", "2006-01-02T15:04")
		if err != nil {
			return err
		}
		b.(*array.TimestampBuilder).Append(arrow.Timestamp(t.UnixMicro()))
	case kindTime:
		t, err := parseISO(s, "time", "want a complete ISO 8601 time (hh:mm[:ss[.f]]) for targetDataType integer",
			"15:04:05", "15:04")
		if err != nil {
			return err
		}
		us := int64(t.Hour())*3600e6 + int64(t.Minute())*60e6 + int64(t.Second())*1e6 + int64(t.Nanosecond()/1000)
		b.(*array.Time64Builder).Append(arrow.Time64(us))
	}
	return nil
}

// parseISO parses s with the first of layouts that fits (want is the
// error when none does), refusing a value finer than a microsecond, the
// unit of the Arrow timestamps and times it becomes.
func parseISO(s, what, want string, layouts ...string) (time.Time, error) {
	for _, layout := range layouts {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Nanosecond()%1000 != 0 {
				return time.Time{}, errors.New(what + " finer than a microsecond")
			}
			return t, nil
		}
	}
	return time.Time{}, errors.New(want)
}

// appendSAS appends a SAS numeric date (days since 1960), datetime or time
// (seconds) of a numeric column whose displayFormat is a date format.
func appendSAS(b array.Builder, k kind, f float64, format string) error {
	switch k {
	case kindSASDate:
		d, err := sas.Days(f)
		if err != nil {
			return fmt.Errorf("format %s: %v", format, err)
		}
		b.(*array.Date32Builder).Append(arrow.Date32(d))
	case kindSASDatetime, kindSASTime:
		kind := sas.Datetime
		if k == kindSASTime {
			kind = sas.Time
		}
		us, err := sas.Micros(f, kind)
		if err != nil {
			return fmt.Errorf("format %s: %v", format, err)
		}
		if kind == sas.Time {
			b.(*array.Time64Builder).Append(arrow.Time64(us))
		} else {
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(us))
		}
	}
	return nil
}

// appendValue converts one JSON value (its text, valid JSON as checked by
// the decoder) to the column's Arrow type.
func (x *Reader) appendValue(i int, v json.RawMessage) error {
	b := x.rb.Field(i)
	switch v[0] {
	case 'n':
		b.AppendNull()
		return nil
	case '[', '{':
		return fmt.Errorf("want %s, got %s", x.meta.Columns[i].DataType, describeRaw(v))
	}
	switch x.kinds[i] {
	case kindString:
		if v[0] != '"' {
			return fmt.Errorf("want %s as a JSON string, got %s", x.meta.Columns[i].DataType, describeRaw(v))
		}
		s, err := unquoteInto(v, &x.text)
		if err != nil {
			return err
		}
		b.(*array.StringBuilder).BinaryBuilder.Append(s)
	case kindInteger, kindFloat:
		// Read as float64 whatever the declared type: SAS numerics are
		// doubles, encoding is by value, and a column declared integer
		// may hold 2.5 (accepted with a warning, see readRow).
		if !isNumberStart(v[0]) {
			return fmt.Errorf("want %s, got %s", x.meta.Columns[i].DataType, describeRaw(v))
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return fmt.Errorf("want %s, got %s: out of range", x.meta.Columns[i].DataType, describeRaw(v))
		}
		if f == math.Trunc(f) && math.Abs(f) >= 1<<53 {
			if n, err := strconv.ParseInt(string(v), 10, 64); err != nil || float64(n) != f || int64(f) != n {
				return fmt.Errorf("want %s, got a whole number beyond 2^53, which a SAS numeric cannot hold exactly", x.meta.Columns[i].DataType)
			}
		}
		if x.kinds[i] == kindInteger && f != math.Trunc(f) {
			x.nonInteger = true
		}
		b.(*array.Float64Builder).Append(f)
	case kindDecimal:
		num := v
		if v[0] == '"' {
			s, err := unquoteInto(v, &x.text)
			if err != nil {
				return err
			}
			num = s
		} else if !isNumberStart(v[0]) {
			return fmt.Errorf("want decimal, got %s", describeRaw(v))
		}
		d, err := parseDecimal(num)
		if err != nil {
			return err
		}
		b.(*array.Decimal128Builder).Append(d)
	case kindDate, kindDatetime, kindTime:
		if v[0] != '"' {
			return fmt.Errorf("want %s as ISO 8601 text, got %s", x.meta.Columns[i].DataType, describeRaw(v))
		}
		s, err := unquoteInto(v, &x.text)
		if err != nil {
			return err
		}
		if err := appendISO(b, x.kinds[i], string(s)); err != nil {
			return err
		}
	case kindSASDate, kindSASDatetime, kindSASTime:
		num := v
		if v[0] == '"' && x.meta.Columns[i].DataType == "decimal" {
			s, err := unquoteInto(v, &x.text)
			if err != nil {
				return err
			}
			num = s
		} else if !isNumberStart(v[0]) {
			return fmt.Errorf("want %s (a SAS %s, format %s), got %s", x.meta.Columns[i].DataType,
				map[kind]string{kindSASDate: "date", kindSASDatetime: "datetime", kindSASTime: "time"}[x.kinds[i]], x.meta.Columns[i].DisplayFormat, describeRaw(v))
		}
		f, err := strconv.ParseFloat(string(num), 64)
		if err != nil || !isDecimal(string(num)) {
			return fmt.Errorf("want %s, got %s that is not a number", x.meta.Columns[i].DataType, describeRaw(v))
		}
		return appendSAS(b, x.kinds[i], f, x.meta.Columns[i].DisplayFormat)
	case kindBoolean:
		switch v[0] {
		case 't':
			b.(*array.BooleanBuilder).Append(true)
		case 'f':
			b.(*array.BooleanBuilder).Append(false)
		default:
			return fmt.Errorf("want boolean, got %s", describeRaw(v))
		}
	}
	return nil
}

// article names a JSON value kind from json.UnmarshalTypeError.Value.
func article(kind string) string {
	switch kind {
	case "object", "array":
		return "an " + kind
	case "bool":
		return "a boolean"
	}
	return "a " + kind
}

func isNumberStart(c byte) bool { return c == '-' || (c >= '0' && c <= '9') }

// describeRaw renders a JSON value for an error message.
func describeRaw(v json.RawMessage) string {
	// The kind only, never the value: error messages must not carry cells.
	switch v[0] {
	case '[':
		return "an array"
	case '{':
		return "an object"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// isDecimal reports whether s is a plain decimal number: optional sign,
// digits with an optional fraction, optional exponent. It rejects what
// strconv.ParseFloat would also take but a decimal is not: "Inf", "NaN",
// hexadecimal and underscores.
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		exp := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// describe renders a JSON token for an error message.
func describe(tok json.Token) string {
	// The kind only, never the value: error messages must not carry cells.
	switch v := tok.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case json.Delim:
		switch v {
		case '[':
			return "an array"
		case '{':
			return "an object"
		}
		return "'" + v.String() + "'"
	}
	return fmt.Sprintf("%T", tok)
}
