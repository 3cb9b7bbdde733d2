package testutil

import (
	"io"
	"runtime"
	"runtime/metrics"
	"time"
)

// Repeat streams Prefix, then Unit N times, then Suffix, never holding
// more than one Unit: hostile input of any size (a CSV line of millions of
// fields, a 100 MB NDJSON line), generated rather than stored.
type Repeat struct {
	Prefix, Unit, Suffix string
	N                    int
	Consumed             int64 // bytes handed out so far
	pending              string
}

func (r *Repeat) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		if r.pending == "" {
			switch {
			case r.Prefix != "":
				r.pending, r.Prefix = r.Prefix, ""
			case r.N > 0:
				r.pending = r.Unit
				r.N--
			case r.Suffix != "":
				r.pending, r.Suffix = r.Suffix, ""
			default:
				r.Consumed += int64(total)
				if total == 0 {
					return 0, io.EOF
				}
				return total, nil
			}
		}
		c := copy(p, r.pending)
		r.pending, p, total = r.pending[c:], p[c:], total+c
	}
	r.Consumed += int64(total)
	return total, nil
}

// Measure runs fn and returns the bytes it allocated on the heap in all,
// and the peak of the heap's objects (live or not yet collected) above
// where it started, sampled every 200µs with runtime/metrics while fn ran.
func Measure(fn func()) (total, peak uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	done, stop := make(chan uint64), make(chan struct{})
	go func() {
		var p uint64
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			if v := read(); v > p {
				p = v
			}
			select {
			case <-stop:
				done <- p
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	if v := read(); v > base { // the sampler may not have run at all
		peak = v - base
	}
	close(stop)
	if p := <-done; p > base && p-base > peak {
		peak = p - base
	}
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, peak
}
