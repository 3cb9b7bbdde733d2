package datasetjson

import (
	"errors"
	"fmt"
	"math/big"
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
