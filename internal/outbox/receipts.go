package outbox

import "sync"

// ReceiptPool keeps the records that receipts of one kind need, so that
// tracking a write costs no allocation: a closure made for each write
// would be one, or two with what it holds. Each pooled record carries its
// receipt, made once with it.
type ReceiptPool[T any] struct {
	settle func(record T, written bool)
	pool   sync.Pool
}

// NewReceiptPool makes a pool whose receipts run settle with their record.
func NewReceiptPool[T any](settle func(record T, written bool)) *ReceiptPool[T] {
	return &ReceiptPool[T]{settle: settle}
}

// Tracked is a record from a ReceiptPool and the receipt to write with.
// Once the receipt is called, or Free, the Tracked is the pool's again.
type Tracked[T any] struct {
	Record  T
	Receipt Receipt
	pool    *ReceiptPool[T]
}

// Get returns a free Tracked, its Record zero.
func (p *ReceiptPool[T]) Get() *Tracked[T] {
	if t, ok := p.pool.Get().(*Tracked[T]); ok {
		return t
	}
	t := &Tracked[T]{pool: p}
	t.Receipt = t.settle
	return t
}

// settle hands the record to the pool's settle after t is free again, so
// that what settle does (a mailbox write) never holds a record back.
func (t *Tracked[T]) settle(written bool) {
	record := t.Record
	pool := t.pool
	t.Free()
	pool.settle(record, written)
}

// Free returns t to its pool without calling its receipt: for a write the
// outbox refused, which never calls it.
func (t *Tracked[T]) Free() {
	var zero T
	t.Record = zero
	t.pool.pool.Put(t)
}
