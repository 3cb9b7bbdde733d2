package source

import (
	"math/bits"
	"sync"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Recycler is an Arrow allocator that keeps freed buffers, by power-of-two
// size class, and hands them out again. Streaming a file allocates the
// same large column buffers batch after batch; fresh ones cost a page fault
// per 4 KiB and zeroing, which profiling showed to be a third of read time.
// At most maxCached bytes are kept; reused buffers are zeroed like fresh
// ones.
type Recycler struct {
	base      memory.Allocator
	mu        sync.Mutex
	free      map[int][][]byte
	cached    int
	maxCached int
}

// NewRecycler returns a Recycler keeping up to maxCached bytes of free
// buffers.
func NewRecycler(maxCached int) *Recycler {
	return NewRecyclerOver(memory.NewGoAllocator(), maxCached)
}

// NewRecyclerOver returns a Recycler taking its buffers from base (in
// whole size classes) and giving back to base what it does not keep: over
// a budget allocator, the budget counts the cache and the rounding too.
func NewRecyclerOver(base memory.Allocator, maxCached int) *Recycler {
	return &Recycler{base: base, free: map[int][][]byte{}, maxCached: maxCached}
}

func sizeClass(size int) int {
	if size <= 64 {
		return 64
	}
	return 1 << bits.Len(uint(size-1))
}

// Allocate returns a zeroed buffer of size bytes.
func (r *Recycler) Allocate(size int) []byte {
	class := sizeClass(size)
	r.mu.Lock()
	if list := r.free[class]; len(list) > 0 {
		b := list[len(list)-1]
		r.free[class] = list[:len(list)-1]
		r.cached -= class
		r.mu.Unlock()
		b = b[:size]
		clear(b)
		return b
	}
	r.mu.Unlock()
	return r.base.Allocate(class)[:size]
}

// Reallocate grows or shrinks b to size bytes, keeping its contents.
func (r *Recycler) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		old := len(b)
		b = b[:size]
		if size > old {
			clear(b[old:])
		}
		return b
	}
	nb := r.Allocate(size)
	copy(nb, b)
	r.Free(b)
	return nb
}

// Free returns b for reuse (or to the garbage collector when the cache is
// full or b is not one of ours).
func (r *Recycler) Free(b []byte) {
	class := cap(b)
	if class < 64 || class&(class-1) != 0 {
		return
	}
	r.mu.Lock()
	keep := r.cached+class <= r.maxCached
	if keep {
		r.free[class] = append(r.free[class], b[:0])
		r.cached += class
	}
	r.mu.Unlock()
	if !keep {
		r.base.Free(b[:class])
	}
}
