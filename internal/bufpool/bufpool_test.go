package bufpool

import "testing"

// A buffer given back comes out again empty, with the room it had; one
// grown past Max does not.
func TestPool(t *testing.T) {
	p := &Pool{Max: 64}
	b := p.Get()
	*b = append(*b, "hello"...)
	p.Put(b)
	if got := p.Get(); got == b && (len(*got) != 0 || cap(*got) < 5) {
		t.Errorf("a buffer came back with %d bytes in it and room for %d", len(*got), cap(*got))
	}
	big := p.Get()
	*big = make([]byte, 0, 128)
	p.Put(big)
	for range 100 {
		if p.Get() == big {
			t.Fatal("a buffer grown past Max came back")
		}
	}
}

// A slice given back with PutSlice comes out of TakeSlice empty.
func TestSlices(t *testing.T) {
	p := &Pool{Max: 64}
	p.PutSlice(append(p.TakeSlice(), "hello"...))
	if got := p.TakeSlice(); len(got) != 0 {
		t.Fatalf("a slice came back with %d bytes in it", len(got))
	}
}
