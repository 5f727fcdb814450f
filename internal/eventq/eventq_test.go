package eventq

import "testing"

func TestQueue(t *testing.T) {
	q := New[int](2)
	if !q.Emit(1) || !q.Emit(2) {
		t.Fatal("emit within the buffer failed")
	}
	if q.Emit(3) {
		t.Fatal("emit past the buffer succeeded")
	}
	q.Finish(99) // no room: dropped, but the channel closes
	var got []int
	for v := range q.C() {
		got = append(got, v)
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("got %v", got)
	}
	q.Finish(100) // a second Finish is harmless
	if !q.Emit(4) {
		t.Fatal("emit after finish should be dropped quietly")
	}
	r := New[string](1)
	r.Finish("last")
	if v := <-r.C(); v != "last" {
		t.Fatalf("last event %q", v)
	}
}
