package pipeline

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// partSize is the number of items parallel hands a worker at a time: small
// enough that the workers finish together even when another goroutine
// (reading the next batch, appending to the log) takes a core for a while.
const partSize = 1024

// parts is the number of parts parallel splits n items into.
func parts(n int) int { return max(1, (n+partSize-1)/partSize) }

// parallel runs fn over [0, n) split into parts(n) contiguous parts of
// partSize items, numbered in order, which workers (GOMAXPROCS if not
// positive) take in turn; worker numbers the goroutine, for per-worker
// buffers. A panic in fn is re-raised in the caller's goroutine.
func parallel(n, workers int, fn func(worker, part, lo, hi int)) {
	k := parts(n)
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers = min(workers, k); workers == 1 {
		for part := range k {
			fn(0, part, part*partSize, min((part+1)*partSize, n))
		}
		return
	}
	var (
		wg      sync.WaitGroup
		next    atomic.Int64
		mu      sync.Mutex
		crashed any
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					mu.Lock()
					crashed = r
					mu.Unlock()
				}
			}()
			for {
				part := int(next.Add(1) - 1)
				if part >= k {
					return
				}
				fn(w, part, part*partSize, min((part+1)*partSize, n))
			}
		}()
	}
	wg.Wait()
	if crashed != nil {
		panic(crashed)
	}
}
