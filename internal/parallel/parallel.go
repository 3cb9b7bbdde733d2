// Package parallel shares the rows of a batch among worker goroutines in
// fixed-size parts, the one worker pool of ingest, prove and verify.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// PartSize is the number of items Run hands a worker at a time: small
// enough that the workers finish together even when another goroutine
// (reading the next batch, appending to the log) takes a core for a while.
const PartSize = 1024

// Parts is the number of parts Run splits n items into.
func Parts(n int) int { return max(1, (n+PartSize-1)/PartSize) }

// Run runs fn over [0, n) split into Parts(n) contiguous parts of
// PartSize items, numbered in order, which workers (GOMAXPROCS if not
// positive) take in turn; worker numbers the goroutine, for per-worker
// buffers. A panic in fn is re-raised in the caller's goroutine.
func Run(n, workers int, fn func(worker, part, lo, hi int)) {
	k := Parts(n)
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers = min(workers, k); workers == 1 {
		for part := range k {
			fn(0, part, part*PartSize, min((part+1)*PartSize, n))
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
				fn(w, part, part*PartSize, min((part+1)*PartSize, n))
			}
		}()
	}
	wg.Wait()
	if crashed != nil {
		panic(crashed)
	}
}
