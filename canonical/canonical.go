// Package canonical turns Arrow cells into trialog's canonical cell bytes
// (docs/canonical-encoding.md, version 1): one byte string per logical
// value, whatever Arrow type, width, unit, encoding or batch layout carried
// it, so that the same table read from IPC, Parquet, CSV, Dataset-JSON or
// XPT commits identically.
//
// Cell encoding v1 (tag byte, then payload):
//
//	0x00           missing (null), and empty text: SDTM character variables
//	               have no null distinct from "" (SAS semantics)
//	0x01 utf8      text, exact UTF-8 bytes; dates, times and timestamps are
//	               written as ISO 8601 text so they equal SDTM --DTC text
//	0x02 ascii     number, by exact decimal value: "[-]D[eE]" where D has no
//	               leading or trailing zeros and E is the signed exponent
//	               (omitted when 0); "0" for zero (±0 are one value);
//	               "NaN", "Inf", "-Inf". Binary floats are first rounded to
//	               15 significant digits (float64; float32 to its shortest
//	               round-trip form), so 63 ≡ 63.0 ≡ 63.00 and an IBM float
//	               8.549999999999999 ≡ 8.55.
//	0x03 0x00|0x01 boolean
//	0x04 bytes     binary
package canonical

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// Cell tags.
const (
	TagNull   = 0x00
	TagText   = 0x01
	TagNumber = 0x02
	TagBool   = 0x03
	TagBytes  = 0x04
)

// ErrUnsupported is wrapped for Arrow types that have no canonical form
// (nested types: clinical tables are flat).
var ErrUnsupported = errors.New("unsupported column type")

// ErrInvalidText is wrapped when a text cell is not valid UTF-8.
var ErrInvalidText = errors.New("text is not valid UTF-8")

// ErrBadOffsets is returned for a string column whose offsets go backwards
// or past its values: Arrow checks only the last offset when it reads a
// file, and reading such a value would crash.
var ErrBadOffsets = errors.New("malformed Arrow string column (offsets out of order or out of range)")

// CellEncoder appends the canonical bytes of cell i of one array.
type CellEncoder func(dst []byte, i int) ([]byte, error)

// Supported reports whether columns of type dt can be encoded.
func Supported(dt arrow.DataType) error {
	switch dt := dt.(type) {
	case *arrow.DictionaryType:
		return Supported(dt.ValueType)
	case arrow.ExtensionType:
		return Supported(dt.StorageType())
	}
	switch dt.ID() {
	case arrow.NULL, arrow.BOOL,
		arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64,
		arrow.DECIMAL128, arrow.DECIMAL256,
		arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW,
		arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW, arrow.FIXED_SIZE_BINARY,
		arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP, arrow.TIME32, arrow.TIME64, arrow.DURATION:
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnsupported, dt)
}

// Encoder returns the cell encoder for an array. It is bound to the array,
// so the type switch runs once per batch and column, not once per cell.
func Encoder(arr arrow.Array) (CellEncoder, error) {
	if err := Supported(arr.DataType()); err != nil {
		return nil, err
	}
	switch a := arr.(type) {
	case *array.Dictionary:
		inner, err := Encoder(a.Dictionary())
		if err != nil {
			return nil, err
		}
		return func(dst []byte, i int) ([]byte, error) {
			if a.IsNull(i) {
				return append(dst, TagNull), nil
			}
			return inner(dst, a.GetValueIndex(i))
		}, nil
	case array.ExtensionArray:
		return Encoder(a.Storage())
	case *array.Null:
		return func(dst []byte, i int) ([]byte, error) { return append(dst, TagNull), nil }, nil
	case *array.Boolean:
		return nullable(a, func(dst []byte, i int) ([]byte, error) {
			if a.Value(i) {
				return append(dst, TagBool, 1), nil
			}
			return append(dst, TagBool, 0), nil
		}), nil
	case *array.Int8:
		return signed(a, func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Int16:
		return signed(a, func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Int32:
		return signed(a, func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Int64:
		return signed(a, a.Value), nil
	case *array.Uint8:
		return unsigned(a, func(i int) uint64 { return uint64(a.Value(i)) }), nil
	case *array.Uint16:
		return unsigned(a, func(i int) uint64 { return uint64(a.Value(i)) }), nil
	case *array.Uint32:
		return unsigned(a, func(i int) uint64 { return uint64(a.Value(i)) }), nil
	case *array.Uint64:
		return unsigned(a, a.Value), nil
	case *array.Float16:
		return nullable(a, func(dst []byte, i int) ([]byte, error) {
			return AppendFloat32(dst, a.Value(i).Float32()), nil
		}), nil
	case *array.Float32:
		return nullable(a, func(dst []byte, i int) ([]byte, error) { return AppendFloat32(dst, a.Value(i)), nil }), nil
	case *array.Float64:
		return nullable(a, func(dst []byte, i int) ([]byte, error) { return AppendFloat64(dst, a.Value(i)), nil }), nil
	case *array.Decimal128:
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		return nullable(a, func(dst []byte, i int) ([]byte, error) {
			return AppendDecimal(dst, a.Value(i).BigInt(), scale), nil
		}), nil
	case *array.Decimal256:
		scale := a.DataType().(*arrow.Decimal256Type).Scale
		return nullable(a, func(dst []byte, i int) ([]byte, error) {
			return AppendDecimal(dst, a.Value(i).BigInt(), scale), nil
		}), nil
	case *array.String:
		return textColumn(a, a.ValueOffsets(), a.Value)
	case *array.LargeString:
		return textColumn(a, a.ValueOffsets(), a.Value)
	case *array.StringView:
		return textEncoder(a, a.Value, false), nil
	case *array.Binary:
		return bytesEncoder(a, a.Value), nil
	case *array.LargeBinary:
		return bytesEncoder(a, a.Value), nil
	case *array.BinaryView:
		return bytesEncoder(a, a.Value), nil
	case *array.FixedSizeBinary:
		return bytesEncoder(a, a.Value), nil
	case *array.Date32:
		return nullable(a, func(dst []byte, i int) ([]byte, error) {
			return AppendText(dst, time.Unix(int64(a.Value(i))*86400, 0).UTC().Format(time.DateOnly))
		}), nil
	case *array.Date64:
		return nullable(a, func(dst []byte, i int) ([]byte, error) {
			// date64 is milliseconds that should be whole days; the calendar
			// date is what counts.
			return AppendText(dst, time.UnixMilli(int64(a.Value(i))).UTC().Format(time.DateOnly))
		}), nil
	case *array.Timestamp:
		typ := a.DataType().(*arrow.TimestampType)
		suffix := ""
		if typ.TimeZone != "" {
			suffix = "Z" // a zoned timestamp is an instant: write it in UTC
		}
		return nullable(a, func(dst []byte, i int) ([]byte, error) {
			var t time.Time
			v := int64(a.Value(i))
			switch typ.Unit {
			case arrow.Second:
				t = time.Unix(v, 0).UTC()
			case arrow.Millisecond:
				t = time.UnixMilli(v).UTC()
			case arrow.Microsecond:
				t = time.UnixMicro(v).UTC()
			case arrow.Nanosecond:
				t = time.Unix(0, v).UTC()
			}
			return AppendText(dst, t.Format("2006-01-02T15:04:05.999999999")+suffix)
		}), nil
	case *array.Time32:
		unit := a.DataType().(*arrow.Time32Type).Unit
		return timeEncoder(a, func(i int) int64 { return int64(a.Value(i)) * int64(unit.Multiplier()) }), nil
	case *array.Time64:
		unit := a.DataType().(*arrow.Time64Type).Unit
		return timeEncoder(a, func(i int) int64 { return int64(a.Value(i)) * int64(unit.Multiplier()) }), nil
	case *array.Duration:
		// A duration is a number of seconds, by exact value.
		unit := a.DataType().(*arrow.DurationType).Unit
		exp := map[arrow.TimeUnit]int32{arrow.Second: 0, arrow.Millisecond: 3, arrow.Microsecond: 6, arrow.Nanosecond: 9}[unit]
		return nullable(a, func(dst []byte, i int) ([]byte, error) {
			return AppendDecimal(dst, big.NewInt(int64(a.Value(i))), exp), nil
		}), nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupported, arr.DataType())
}

// timeEncoder encodes a time-of-day column given each cell in nanoseconds.
func timeEncoder(a arrow.Array, nanos func(int) int64) CellEncoder {
	return nullable(a, func(dst []byte, i int) ([]byte, error) {
		t, err := timeOfDay(nanos(i))
		if err != nil {
			return dst, err
		}
		return AppendText(dst, t)
	})
}

func timeOfDay(nanos int64) (string, error) {
	if nanos < 0 || nanos >= 24*int64(time.Hour) {
		return "", errTimeOfDay
	}
	return time.Unix(0, nanos).UTC().Format("15:04:05.999999999"), nil
}

var errTimeOfDay = errors.New("time of day out of range")

func nullable(a arrow.Array, enc CellEncoder) CellEncoder {
	if a.NullN() == 0 {
		return enc
	}
	return func(dst []byte, i int) ([]byte, error) {
		if a.IsNull(i) {
			return append(dst, TagNull), nil
		}
		return enc(dst, i)
	}
}

func signed(a arrow.Array, value func(int) int64) CellEncoder {
	return nullable(a, func(dst []byte, i int) ([]byte, error) { return AppendInt(dst, value(i)), nil })
}

func unsigned(a arrow.Array, value func(int) uint64) CellEncoder {
	return nullable(a, func(dst []byte, i int) ([]byte, error) { return AppendUint(dst, false, value(i)), nil })
}

// textEncoder encodes text cells; valid says every value is known to be
// UTF-8 already (allValidUTF8), so no cell needs checking again.
func textEncoder(a arrow.Array, value func(int) string, valid bool) CellEncoder {
	if valid {
		return nullable(a, func(dst []byte, i int) ([]byte, error) {
			if v := value(i); v != "" {
				return append(append(dst, TagText), v...), nil
			}
			return append(dst, TagNull), nil
		})
	}
	return nullable(a, func(dst []byte, i int) ([]byte, error) { return AppendText(dst, value(i)) })
}

// textColumn is the cell encoder of a string column, after checking its
// offsets (checkOffsets) and, in one pass, its UTF-8 (allValidUTF8).
func textColumn[O int32 | int64](a arrow.Array, offsets []O, value func(int) string) (CellEncoder, error) {
	values := valuesBuffer(a)
	if _, err := checkOffsets(offsets, len(values)); err != nil {
		return nil, err
	}
	valid := len(offsets) > 0 && allValidUTF8(values[offsets[0]:offsets[len(offsets)-1]], offsets)
	return textEncoder(a, value, valid), nil
}

// valuesBuffer is the values buffer of a string array (nil if absent).
func valuesBuffer(a arrow.Array) []byte {
	if bufs := a.Data().Buffers(); len(bufs) > 2 && bufs[2] != nil {
		return bufs[2].Bytes()
	}
	return nil
}

// checkOffsets checks that a string array's offsets never decrease and
// stay within its values buffer; it returns the row of the first bad one.
func checkOffsets[O int32 | int64](offsets []O, valuesLen int) (int, error) {
	for i, o := range offsets {
		if o < 0 || int64(o) > int64(valuesLen) || (i > 0 && o < offsets[i-1]) {
			return max(i-1, 0), ErrBadOffsets
		}
	}
	return 0, nil
}

// allValidUTF8 reports whether every value of a string array with these
// value bytes and offsets is valid UTF-8, in one pass over the bytes
// rather than one call per value: the bytes are valid UTF-8 as a whole and
// no value starts inside a multi-byte character. False means "check each
// value" (which then finds the bad row), not that one is bad.
func allValidUTF8[O int32 | int64](data []byte, offsets []O) bool {
	if len(offsets) == 0 || !utf8.Valid(data) {
		return false
	}
	base := offsets[0]
	for _, o := range offsets[1:] {
		if at := int(o - base); at < len(data) && data[at]&0xC0 == 0x80 {
			return false
		}
	}
	return true
}

func bytesEncoder(a arrow.Array, value func(int) []byte) CellEncoder {
	return nullable(a, func(dst []byte, i int) ([]byte, error) {
		return append(append(dst, TagBytes), value(i)...), nil
	})
}

// AppendText appends a text cell; "" is the missing value.
func AppendText(dst []byte, s string) ([]byte, error) {
	if s == "" {
		return append(dst, TagNull), nil
	}
	if !utf8.ValidString(s) {
		return dst, ErrInvalidText
	}
	return append(append(dst, TagText), s...), nil
}

// AppendInt appends an integer as a number cell.
func AppendInt(dst []byte, v int64) []byte {
	if v < 0 {
		return AppendUint(dst, true, uint64(-v)) // -MinInt64 wraps to its magnitude
	}
	return AppendUint(dst, false, uint64(v))
}

// AppendUint appends the number cell of ±v.
func AppendUint(dst []byte, negative bool, v uint64) []byte {
	dst = append(dst, TagNumber)
	if v == 0 {
		return append(dst, '0')
	}
	exp := 0
	for v%10 == 0 {
		v /= 10
		exp++
	}
	if negative {
		dst = append(dst, '-')
	}
	dst = strconv.AppendUint(dst, v, 10)
	if exp != 0 {
		dst = append(dst, 'e')
		dst = strconv.AppendInt(dst, int64(exp), 10)
	}
	return dst
}

// AppendFloat64 appends the number cell of f rounded to 15 significant
// digits, the precision every IEEE double (and every SAS numeric) carries.
func AppendFloat64(dst []byte, f float64) []byte {
	// Whole numbers below 10^15 have at most 15 significant digits, so
	// rounding changes nothing and the cell is the integer's: a fast path
	// for the counts, sequence numbers and ages that SAS stores as doubles.
	if f == math.Trunc(f) && math.Abs(f) < 1e15 && f != 0 {
		return AppendInt(dst, int64(f))
	}
	return appendFloat(dst, f, 14, 64)
}

// AppendFloat32 appends the number cell of f in its shortest round-trip
// decimal form.
func AppendFloat32(dst []byte, f float32) []byte {
	return appendFloat(dst, float64(f), -1, 32)
}

func appendFloat(dst []byte, f float64, prec, bitSize int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, TagNumber, 'N', 'a', 'N')
	case math.IsInf(f, 1):
		return append(dst, TagNumber, 'I', 'n', 'f')
	case math.IsInf(f, -1):
		return append(dst, TagNumber, '-', 'I', 'n', 'f')
	case f == 0:
		return append(dst, TagNumber, '0')
	}
	var buf [40]byte
	s := strconv.AppendFloat(buf[:0], f, 'e', prec, bitSize) // [-]d[.ddd]e±XX
	negative := s[0] == '-'
	if negative {
		s = s[1:]
	}
	var digits [24]byte
	nd := 0
	i := 0
	for ; i < len(s) && s[i] != 'e'; i++ {
		if s[i] != '.' {
			digits[nd] = s[i]
			nd++
		}
	}
	exp, _ := strconv.Atoi(string(s[i+1:]))
	exp -= nd - 1
	for nd > 1 && digits[nd-1] == '0' {
		nd--
		exp++
	}
	dst = append(dst, TagNumber)
	if negative {
		dst = append(dst, '-')
	}
	dst = append(dst, digits[:nd]...)
	if exp != 0 {
		dst = append(dst, 'e')
		dst = strconv.AppendInt(dst, int64(exp), 10)
	}
	return dst
}

// AppendDecimal appends the number cell of unscaled × 10^-scale, exactly.
func AppendDecimal(dst []byte, unscaled *big.Int, scale int32) []byte {
	if unscaled.Sign() == 0 {
		return append(dst, TagNumber, '0')
	}
	s := unscaled.String()
	negative := s[0] == '-'
	if negative {
		s = s[1:]
	}
	exp := -int64(scale)
	for len(s) > 1 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
		exp++
	}
	dst = append(dst, TagNumber)
	if negative {
		dst = append(dst, '-')
	}
	dst = append(dst, s...)
	if exp != 0 {
		dst = append(dst, 'e')
		dst = strconv.AppendInt(dst, exp, 10)
	}
	return dst
}

// Validate checks that every cell of arr encodes, returning the position
// of the first that does not. Only text can fail (invalid UTF-8), so this
// is much cheaper than encoding.
func Validate(arr arrow.Array) (int, error) {
	if err := Supported(arr.DataType()); err != nil {
		return 0, err
	}
	check := func(n int, value func(int) string) (int, error) {
		for i := 0; i < n; i++ {
			if arr.IsValid(i) && !utf8.ValidString(value(i)) {
				return i, ErrInvalidText
			}
		}
		return 0, nil
	}
	switch a := arr.(type) {
	case *array.String:
		if row, err := checkOffsets(a.ValueOffsets(), len(valuesBuffer(a))); err != nil {
			return row, err
		}
		if allValidUTF8(a.ValueBytes(), a.ValueOffsets()) {
			return 0, nil
		}
		return check(a.Len(), a.Value)
	case *array.LargeString:
		if row, err := checkOffsets(a.ValueOffsets(), len(valuesBuffer(a))); err != nil {
			return row, err
		}
		if allValidUTF8(a.ValueBytes(), a.ValueOffsets()) {
			return 0, nil
		}
		return check(a.Len(), a.Value)
	case *array.StringView:
		return check(a.Len(), a.Value)
	case *array.Dictionary:
		if _, err := Validate(a.Dictionary()); err != nil {
			// Report the first row that uses a bad dictionary entry.
			enc, _ := Encoder(a)
			for i := 0; i < a.Len(); i++ {
				if _, err := enc(nil, i); err != nil {
					return i, err
				}
			}
		}
	case array.ExtensionArray:
		return Validate(a.Storage())
	}
	return 0, nil
}

// ParseNumber returns the number cell of a decimal literal such as "63",
// "-8.55" or "1e-5", exactly (no float rounding), and false when s is not
// entirely such a literal. It is how typed-in values (prove --where) are
// compared with number cells.
func ParseNumber(s string) ([]byte, bool) {
	mant, exp, hasExp := strings.Cut(strings.ToLower(s), "e")
	e := int64(0)
	if hasExp {
		var err error
		if e, err = strconv.ParseInt(exp, 10, 32); err != nil {
			return nil, false
		}
	}
	negative := strings.HasPrefix(mant, "-")
	mant = strings.TrimPrefix(strings.TrimPrefix(mant, "-"), "+")
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	if digits == "" {
		return nil, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return nil, false
		}
	}
	unscaled, _ := new(big.Int).SetString(digits, 10)
	if negative {
		unscaled.Neg(unscaled)
	}
	return AppendDecimal(nil, unscaled, int32(int64(len(frac))-e)), true
}
