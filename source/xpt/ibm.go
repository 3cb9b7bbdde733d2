package xpt

import (
	"math"
	"math/bits"
)

// ibmToFloat64 converts a big-endian IBM System/370 hexadecimal floating
// point number of 2 to 8 bytes into an IEEE 754 float64.
//
// TS-140 ("The Record Layout of a Data Set in SAS Transport (XPORT) Format")
// stores every numeric as an IBM long float, optionally truncated on the
// right to the variable's length (2..8 bytes). The layout is
//
//	bit 0      sign
//	bits 1-7   exponent, excess 64, base 16
//	bits 8-63  56-bit fraction 0.f (hexadecimal digits)
//
// so value = (-1)^s * f * 2^-56 * 16^(e-64). A float64 has only 53
// significand bits, so a fraction using more than 53 significant bits is
// rounded to nearest, ties to even (the IEEE default), with pure integer
// arithmetic; the final scaling by a power of two is exact because every IBM
// magnitude (about 5.4e-79 .. 7.2e75) is a normal float64. Doing this with
// float arithmetic (f / 2^56 * 16^e) would round twice and can be off by one
// unit in the last place, which would change the row commitment.
//
// The second result reports a SAS missing value: TS-140 writes "." as 0x2E
// and the special missing values ".A".."Z" and "._" as 0x41..0x5A and 0x5F
// in the first byte, followed by zero bytes. A zero fraction with any other
// first byte is the number zero; negative zero is returned as +0 because SAS
// does not distinguish them.
func ibmToFloat64(b []byte) (v float64, missing bool) {
	var u uint64
	for i := 0; i < 8; i++ {
		u <<= 8
		if i < len(b) {
			u |= uint64(b[i])
		}
	}
	first := byte(u >> 56)
	mant := u & (1<<56 - 1)
	if mant == 0 {
		return 0, isMissingTag(first)
	}
	exp := int(first&0x7f) - 64
	shift := 0
	if n := bits.Len64(mant); n > 53 {
		shift = n - 53
		rem := mant & (1<<shift - 1)
		half := uint64(1) << (shift - 1)
		mant >>= shift
		if rem > half || (rem == half && mant&1 == 1) {
			mant++ // may reach 2^53, still exact in a float64
		}
	}
	v = math.Ldexp(float64(mant), 4*exp-56+shift)
	if first&0x80 != 0 {
		v = -v
	}
	return v, false
}

// isMissingTag reports whether the first byte of a numeric with a zero
// fraction marks a SAS missing value ('.', '.A'..'.Z', '._').
func isMissingTag(c byte) bool {
	return c == 0x2e || c == 0x5f || (c >= 0x41 && c <= 0x5a)
}
