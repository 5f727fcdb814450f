package outbox

import "testing"

// A pooled receipt hands its record to settle once, and its Tracked goes
// back to the pool empty, as does one freed after a refused write.
func TestReceiptPool(t *testing.T) {
	type record struct {
		text string
		n    int
	}
	var (
		settles int
		last    record
		lastOK  bool
	)
	pool := NewReceiptPool(func(r record, written bool) {
		settles++
		last, lastOK = r, written
	})

	tr := pool.Get()
	tr.Record = record{"hello", 1}
	tr.Receipt(true)
	if settles != 1 || last != (record{"hello", 1}) || !lastOK {
		t.Fatalf("settled %d times, last %v %v; want hello written once", settles, last, lastOK)
	}
	if tr.Record != (record{}) {
		t.Errorf("a settled record keeps %v", tr.Record)
	}

	refused := pool.Get()
	refused.Record = record{"refused", 2}
	refused.Free()
	if settles != 1 {
		t.Errorf("Free settled %v", last)
	}
	if refused.Record != (record{}) {
		t.Errorf("a freed record keeps %v", refused.Record)
	}

	allocs := testing.AllocsPerRun(100, func() {
		tr := pool.Get()
		tr.Record = record{"again", 3}
		tr.Receipt(false)
	})
	if allocs != 0 || last != (record{"again", 3}) || lastOK {
		t.Errorf("a pooled receipt costs %v allocations (last settled %v %v), want none", allocs, last, lastOK)
	}
}
