package xpt

import (
	"encoding/binary"
	"math"
	"math/big"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/trialog/trialog/internal/testutil"
)

// oracle converts with math/big, whose Float64 rounds to nearest even.
func oracle(b [8]byte) float64 {
	u := binary.BigEndian.Uint64(b[:])
	mant := u & (1<<56 - 1)
	exp := int(b[0]&0x7f) - 64
	f := new(big.Float).SetPrec(64).SetUint64(mant)
	f.SetMantExp(f, 4*exp-56)
	v, _ := f.Float64()
	if b[0]&0x80 != 0 {
		v = -v
	}
	return v
}

func TestIBMKnownValues(t *testing.T) {
	for _, tc := range []struct {
		hex  uint64
		want float64
	}{
		{0x4110000000000000, 1},
		{0xC276A00000000000, -118.625}, // the classic IBM example
		{0x423F000000000000, 63},
		{0xC118000000000000, -1.5},
		{0x4066666666666666, 0.4},     // truncated 0.4: 55 bits, tie rounds up to even
		{0x4066666666666668, 0.4},     // exact 0.4
		{0x7FFFFFFFFFFFFFFF, 0x1p252}, // 56 one bits round up to 16^63
		{0x0010000000000000, 0x1p-260},
		{0x0000000000000000, 0},
		{0x8000000000000000, 0},
	} {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], tc.hex)
		got, missing := ibmToFloat64(b[:])
		if missing || got != tc.want {
			t.Errorf("%016X: got %v (missing=%v), want %v", tc.hex, got, missing, tc.want)
		}
		if o := oracle(b); o != got {
			t.Errorf("%016X: got %v, big.Float says %v", tc.hex, got, o)
		}
	}
}

func TestIBMRoundTrip(t *testing.T) {
	vals := []float64{0.4, 8.55, 63, -1.5, 1e-5, 0.1, 1.0 / 3, 12345.6789, 1e-70, 1e70, -5e-78, 7e75,
		math.MaxInt32, 1 << 53, 1<<53 + 2, math.Pi, 86400 * 22000.5}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		vals = append(vals, math.Ldexp(r.Float64()+0.5, r.IntN(480)-240)*float64(1-2*r.IntN(2)))
	}
	for _, v := range vals {
		b := testutil.IBM(v)
		got, missing := ibmToFloat64(b[:])
		if missing || got != v {
			t.Fatalf("%v -> %X -> %v", v, b, got)
		}
	}
}

// TestIBMRounding checks the 54..56-bit fractions, where rounding happens,
// against math/big, including exact ties.
func TestIBMRounding(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	check := func(u uint64) {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], u)
		got, _ := ibmToFloat64(b[:])
		if want := oracle(b); got != want {
			t.Fatalf("%016X: got %b, want %b", u, got, want)
		}
	}
	for range 50000 {
		exp := uint64(r.IntN(128))
		mant := r.Uint64() & (1<<56 - 1)
		check(exp<<56 | mant)
		// Force ties: lowest shift bits = exactly half.
		shift := bits.Len64(mant) - 53
		if shift > 0 {
			tie := mant&^(1<<shift-1) | 1<<(shift-1)
			check(uint64(r.IntN(2))<<63 | exp<<56 | tie)
		}
	}
}

func TestIBMTruncatedAndMissing(t *testing.T) {
	// 63 stored in 3 bytes (length 3 numeric): 0x42 0x3F 0x00.
	if v, m := ibmToFloat64([]byte{0x42, 0x3F, 0x00}); m || v != 63 {
		t.Errorf("3-byte 63: %v %v", v, m)
	}
	// 0.4 truncated to 4 bytes: 0x40666666 → 0x666666 * 16^-6 exactly.
	if v, _ := ibmToFloat64([]byte{0x40, 0x66, 0x66, 0x66}); v != float64(0x666666)/(1<<24) {
		t.Errorf("4-byte 0.4: %v", v)
	}
	for _, c := range []byte{'.', 'A', 'M', 'Z', '_'} {
		for _, n := range []int{2, 3, 8} {
			b := make([]byte, n)
			b[0] = c
			if _, m := ibmToFloat64(b); !m {
				t.Errorf("missing %q len %d not detected", c, n)
			}
		}
	}
	// '.' followed by a non-zero byte is a number, not a missing value.
	if _, m := ibmToFloat64([]byte{'.', 0, 0, 1}); m {
		t.Error("0x2E000001 taken as missing")
	}
	if _, m := ibmToFloat64([]byte{'@', 0}); m {
		t.Error("0x40 taken as missing")
	}
}
