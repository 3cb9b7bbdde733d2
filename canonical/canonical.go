// Package canonical turns Arrow cells into trialog's canonical cell bytes
// (docs/canonical-encoding.md, version 2): one byte string per logical
// value, whatever Arrow type, width, unit, encoding or batch layout carried
// it, so that the same table read from IPC, Parquet, CSV, Dataset-JSON or
// XPT commits identically.
//
// Cell encoding v2 (tag byte, then payload):
//
//	0x00           missing (null), and empty text: SDTM character variables
//	               have no null distinct from "" (SAS semantics)
//	0x01 utf8      text, exact UTF-8 bytes; dates, times and timestamps are
//	               written as ISO 8601 text so they equal SDTM --DTC text
//	0x02 ascii     number, by decimal value: "[-]D[eE]" where D has no
//	               leading or trailing zeros and E is the signed exponent
//	               (omitted when 0); "0" for zero (±0 are one value);
//	               "NaN", "Inf", "-Inf". Whole numbers are exact; other
//	               floats and decimals are rounded (half to even, on their
//	               exact value) to Rules.FloatDigits significant digits,
//	               which the dataset's manifest records (default 12), so
//	               63 ≡ 63.0 ≡ 63.00, an IBM float 8.549999999999999 ≡
//	               8.55, and a converter's 0.794117647059 ≡ 27/34.
//	0x03 0x00|0x01 boolean
//	0x04 bytes     binary
//
// Version 1 (floats at 15 digits, decimals exact) is documented in
// docs/canonical-encoding.md; it is no longer produced.
package canonical

import (
	"errors"
	"fmt"
	"math/big"
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

// Encoder returns the cell encoder for an array under the default rules
// (DefaultRules): for cells whose dataset has no manifest, such as consent
// events.
func Encoder(arr arrow.Array) (CellEncoder, error) { return DefaultRules().Encoder(arr) }

// Encoder returns the cell encoder for an array. It is bound to the array,
// so the type switch runs once per batch and column, not once per cell.
func (r Rules) Encoder(arr arrow.Array) (CellEncoder, error) {
	if err := Supported(arr.DataType()); err != nil {
		return nil, err
	}
	switch a := arr.(type) {
	case *array.Dictionary:
		inner, err := r.Encoder(a.Dictionary())
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
		return r.Encoder(a.Storage())
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
			return r.AppendFloat32(dst, a.Value(i).Float32()), nil
		}), nil
	case *array.Float32:
		return nullable(a, func(dst []byte, i int) ([]byte, error) { return r.AppendFloat32(dst, a.Value(i)), nil }), nil
	case *array.Float64:
		return nullable(a, func(dst []byte, i int) ([]byte, error) { return r.AppendFloat64(dst, a.Value(i)), nil }), nil
	case *array.Decimal128:
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		return nullable(a, func(dst []byte, i int) ([]byte, error) {
			return r.AppendDecimal128(dst, a.Value(i), scale), nil
		}), nil
	case *array.Decimal256:
		scale := a.DataType().(*arrow.Decimal256Type).Scale
		return nullable(a, func(dst []byte, i int) ([]byte, error) {
			return r.AppendDecimal(dst, a.Value(i).BigInt(), scale), nil
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
			return r.AppendDecimal(dst, big.NewInt(int64(a.Value(i))), exp), nil
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
			enc, _ := DefaultRules().Encoder(a)
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

// CellText is a canonical cell as plain text, for matching a cell against
// a name typed by a person (a participant ID, a --where value): the text
// itself or the canonical number, trimmed, and "" for a missing cell.
func CellText(cell []byte) string {
	if len(cell) == 0 || cell[0] == TagNull {
		return ""
	}
	return strings.TrimSpace(string(cell[1:]))
}
