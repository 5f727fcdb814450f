// Package bufpool keeps the byte buffers that writes are built or gathered
// in, for reuse once written: a buffer grown from nothing for every write
// is several allocations and copies, and one kept per connection is
// memory an idle connection does not need.
package bufpool

import "sync"

// Pool is a pool of buffers that lets go of those grown past Max, so that
// a rare large write's buffer does not stay. The zero Pool keeps none.
type Pool struct {
	Max  int
	pool sync.Pool
}

// Get returns an empty buffer, from the pool when it has one.
func (p *Pool) Get() *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	return new([]byte)
}

// Put gives b back, unless it grew past Max. Nothing may use it after.
func (p *Pool) Put(b *[]byte) {
	if cap(*b) > 0 && cap(*b) <= p.Max {
		p.pool.Put(b)
	}
}

// boxes keep the *[]byte a buffer travels in through a Pool while its
// holder keeps the bare slice (TakeSlice, PutSlice): a new box on every
// PutSlice would be an allocation each time.
var boxes = sync.Pool{New: func() any { return new([]byte) }}

// TakeSlice is Get for a holder that keeps the slice itself, a pointer
// less in its record.
func (p *Pool) TakeSlice() []byte {
	box := p.Get()
	b := *box
	*box = nil
	boxes.Put(box)
	return b
}

// PutSlice is Put for a slice from TakeSlice. Nothing may use it after.
func (p *Pool) PutSlice(b []byte) {
	box := boxes.Get().(*[]byte)
	*box = b
	p.Put(box)
}
