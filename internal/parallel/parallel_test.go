package parallel

import (
	"sync/atomic"
	"testing"
)

// TestRunCoversEveryItemOnce: every item is handed out exactly once, in
// parts numbered in order, whatever the number of workers.
func TestRunCoversEveryItemOnce(t *testing.T) {
	for _, n := range []int{0, 1, PartSize - 1, PartSize, 5*PartSize + 3} {
		for _, workers := range []int{0, 1, 3} {
			seen := make([]atomic.Int32, n)
			Run(n, workers, func(_, part, lo, hi int) {
				if lo != part*PartSize || hi > n || lo > hi {
					t.Errorf("n=%d: part %d is [%d,%d)", n, part, lo, hi)
				}
				for i := lo; i < hi; i++ {
					seen[i].Add(1)
				}
			})
			for i := range seen {
				if c := seen[i].Load(); c != 1 {
					t.Fatalf("n=%d workers=%d: item %d seen %d times", n, workers, i, c)
				}
			}
		}
	}
}

// TestRunReraisesPanic: a worker's panic reaches the caller's goroutine.
func TestRunReraisesPanic(t *testing.T) {
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recovered %v", r)
		}
	}()
	Run(4*PartSize, 2, func(_, part, _, _ int) {
		if part == 3 {
			panic("boom")
		}
	})
	t.Fatal("no panic")
}
