package canonical

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow/decimal128"
)

// Version is the canonical cell encoding version this package writes
// (docs/canonical-encoding.md). Manifests record it.
const Version = 2

// DefaultFloatDigits is the number of significant digits non-whole
// numbers are committed to unless a dataset's manifest says otherwise.
// Twelve is what SAS-written Dataset-JSON carries for doubles (BEST12.
// style), far more than any clinical measurement has, and few enough
// that the 16th–17th digit noise of binary and IBM-370 floats never
// reaches it. See docs/canonical-encoding.md, "Float precision".
const DefaultFloatDigits = 12

// MaxFloatDigits is the largest FloatDigits: 15 is DBL_DIG, the digits an
// IEEE double holds for every decimal input. More would commit binary
// noise (8.549999999999999 ≠ 8.55).
const MaxFloatDigits = 15

// MinFloatDigits is the smallest FloatDigits accepted: fewer would merge
// values a person tells apart (0.794 and 0.79 at two digits).
const MinFloatDigits = 6

// Rules are the parameters of the canonical encoding that vary by dataset
// version. They are recorded in the dataset's manifest, so a verifier
// encodes a sponsor's copy under the same rules as the ingest did.
type Rules struct {
	// FloatDigits is the number of significant decimal digits that
	// non-whole floats and decimals are rounded to (half to even, on the
	// exact value), MinFloatDigits..MaxFloatDigits.
	FloatDigits int
}

// DefaultRules are the rules of a dataset ingested without options.
func DefaultRules() Rules { return Rules{FloatDigits: DefaultFloatDigits} }

// Check reports whether the rules are within their documented range.
func (r Rules) Check() error {
	if r.FloatDigits < MinFloatDigits || r.FloatDigits > MaxFloatDigits {
		return fmt.Errorf("float digits %d: want %d to %d significant digits", r.FloatDigits, MinFloatDigits, MaxFloatDigits)
	}
	return nil
}

// digits is FloatDigits, clamped to the valid range (a zero Rules value
// encodes as the default).
func (r Rules) digits() int {
	if r.FloatDigits == 0 {
		return DefaultFloatDigits
	}
	return min(max(r.FloatDigits, 1), 17)
}

// AppendInt appends an integer as a number cell (exact).
func AppendInt(dst []byte, v int64) []byte {
	if v < 0 {
		return AppendUint(dst, true, uint64(-v)) // -MinInt64 wraps to its magnitude
	}
	return AppendUint(dst, false, uint64(v))
}

// AppendUint appends the number cell of ±v (exact).
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

// exactWhole is 2^53: every whole float64 below it is an integer held
// exactly, so it is committed exactly, like the same value in an integer
// column.
const exactWhole = 1 << 53

// AppendFloat64 appends the number cell of f under the default rules.
func AppendFloat64(dst []byte, f float64) []byte { return DefaultRules().AppendFloat64(dst, f) }

// AppendFloat64 appends the number cell of f: exact when f is a whole
// number below 2^53 in magnitude (counts, days, sequence numbers: the
// cell equals the same value in an integer column), else f rounded to
// FloatDigits significant digits, half to even on f's exact binary value.
func (r Rules) AppendFloat64(dst []byte, f float64) []byte {
	if f == math.Trunc(f) && math.Abs(f) < exactWhole && f != 0 {
		return AppendInt(dst, int64(f))
	}
	return appendFloat(dst, f, r.digits()-1, 64)
}

// AppendFloat32 appends the number cell of f under the default rules.
func AppendFloat32(dst []byte, f float32) []byte { return DefaultRules().AppendFloat32(dst, f) }

// AppendFloat32 appends the number cell of f: its shortest round-trip
// decimal form (what a float32 was written from), rounded to FloatDigits
// significant digits when that form has more.
func (r Rules) AppendFloat32(dst []byte, f float32) []byte {
	if f == float32(math.Trunc(float64(f))) && f != 0 && !math.IsInf(float64(f), 0) && math.Abs(float64(f)) < exactWhole {
		return AppendInt(dst, int64(f))
	}
	var buf [32]byte
	s := strconv.AppendFloat(buf[:0], float64(f), 'e', -1, 32)
	if m, _, _ := strings.Cut(strings.TrimPrefix(string(s), "-"), "e"); len(strings.Replace(m, ".", "", 1)) > r.digits() {
		return appendFloat(dst, float64(f), r.digits()-1, 64)
	}
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
	return appendNumber(dst, negative, digits[:nd], int64(exp))
}

// appendNumber appends the number cell ±digits × 10^exp; digits has no
// leading or trailing zeros.
func appendNumber(dst []byte, negative bool, digits []byte, exp int64) []byte {
	dst = append(dst, TagNumber)
	if negative {
		dst = append(dst, '-')
	}
	dst = append(dst, digits...)
	if exp != 0 {
		dst = append(dst, 'e')
		dst = strconv.AppendInt(dst, exp, 10)
	}
	return dst
}

// AppendDecimal appends the number cell of unscaled × 10^-scale under the
// default rules.
func AppendDecimal(dst []byte, unscaled *big.Int, scale int32) []byte {
	return DefaultRules().AppendDecimal(dst, unscaled, scale)
}

// AppendDecimal appends the number cell of unscaled × 10^-scale: exact
// when whole, else rounded to FloatDigits significant digits, half to
// even on the exact decimal value (decimals are floats written in base
// 10: the same rule as AppendFloat64, so a Dataset-JSON decimal equals the
// XPT double it was converted from).
func (r Rules) AppendDecimal(dst []byte, unscaled *big.Int, scale int32) []byte {
	if unscaled.Sign() == 0 {
		return append(dst, TagNumber, '0')
	}
	s := unscaled.String()
	negative := s[0] == '-'
	if negative {
		s = s[1:]
	}
	return r.appendDigits(dst, negative, []byte(s), -int64(scale))
}

// AppendDecimal128 is AppendDecimal for an Arrow decimal128 value, without
// big.Int when its magnitude fits in 64 bits once trailing zeros are gone
// (every decimal a clinical table holds).
func (r Rules) AppendDecimal128(dst []byte, n decimal128.Num, scale int32) []byte {
	negative := n.Sign() < 0
	if negative {
		n = n.Negate()
	}
	hi, lo := uint64(n.HighBits()), n.LowBits()
	if hi == 0 && lo == 0 {
		return append(dst, TagNumber, '0')
	}
	exp := -int64(scale)
	for {
		qhi, rhi := hi/10, hi%10
		qlo, rem := bits.Div64(rhi, lo, 10)
		if rem != 0 {
			break
		}
		hi, lo = qhi, qlo
		exp++
	}
	if hi != 0 {
		v := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
		v.Or(v, new(big.Int).SetUint64(lo))
		if negative {
			v.Neg(v)
		}
		return r.AppendDecimal(dst, v, int32(-exp))
	}
	var buf [20]byte
	return r.appendDigits(dst, negative, strconv.AppendUint(buf[:0], lo, 10), exp)
}

// appendDigits appends ±digits × 10^exp (digits without leading zeros),
// stripping trailing zeros and, for a non-whole value, rounding to
// FloatDigits significant digits half to even.
func (r Rules) appendDigits(dst []byte, negative bool, digits []byte, exp int64) []byte {
	for len(digits) > 1 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if p := r.digits(); exp < 0 && len(digits) > p {
		digits, exp = roundHalfEven(digits, exp, p)
	}
	return appendNumber(dst, negative, digits, exp)
}

// roundHalfEven rounds digits × 10^exp to p significant digits, half to
// even, and strips the trailing zeros of the result.
func roundHalfEven(digits []byte, exp int64, p int) ([]byte, int64) {
	kept := append([]byte(nil), digits[:p]...)
	exp += int64(len(digits) - p)
	rest := digits[p:]
	up := false
	switch {
	case rest[0] > '5':
		up = true
	case rest[0] == '5':
		up = strings.TrimRight(string(rest[1:]), "0") != "" || (kept[p-1]-'0')%2 == 1
	}
	if up {
		i := p - 1
		for ; i >= 0 && kept[i] == '9'; i-- {
			kept[i] = '0'
		}
		if i < 0 {
			kept = append([]byte{'1'}, kept...)
		} else {
			kept[i]++
		}
	}
	for len(kept) > 1 && kept[len(kept)-1] == '0' {
		kept = kept[:len(kept)-1]
		exp++
	}
	return kept, exp
}

// ParseNumber is Rules.ParseNumber under the default rules.
func ParseNumber(s string) ([]byte, bool) { return DefaultRules().ParseNumber(s) }

// ParseNumber returns the number cell of a decimal literal such as "63",
// "-8.55" or "1e-5" by its exact decimal value under these rules (as a
// decimal cell), and false when s is not entirely such a literal. It is
// how typed-in values (prove --where) are compared with number cells.
func (r Rules) ParseNumber(s string) ([]byte, bool) {
	unscaled, scale, ok := ParseDecimal(s)
	if !ok {
		return nil, false
	}
	return r.AppendDecimal(nil, unscaled, scale), true
}

// ParseDecimal parses a plain decimal literal ([+-]digits[.digits][e[+-]digits])
// exactly into unscaled × 10^-scale.
func ParseDecimal(s string) (unscaled *big.Int, scale int32, ok bool) {
	mant, exp, hasExp := strings.Cut(strings.ToLower(s), "e")
	e := int64(0)
	if hasExp {
		var err error
		if e, err = strconv.ParseInt(exp, 10, 32); err != nil {
			return nil, 0, false
		}
	}
	negative := strings.HasPrefix(mant, "-")
	mant = strings.TrimPrefix(strings.TrimPrefix(mant, "-"), "+")
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	if digits == "" {
		return nil, 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return nil, 0, false
		}
	}
	sc := int64(len(frac)) - e
	if sc > math.MaxInt32 || sc < math.MinInt32 {
		return nil, 0, false
	}
	unscaled, _ = new(big.Int).SetString(digits, 10)
	if negative {
		unscaled.Neg(unscaled)
	}
	return unscaled, int32(sc), true
}
