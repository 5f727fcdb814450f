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

// TestQueueBeforeC: events queued before anyone asks for the channel wait
// within the same bound, in order, and the channel C makes later holds
// them, closed when Finish came first.
func TestQueueBeforeC(t *testing.T) {
	q := New[int](3)
	if !q.Emit(1) || !q.Emit(2) {
		t.Fatal("emit within the buffer failed")
	}
	c := q.C()
	if !q.Emit(3) {
		t.Fatal("emit within the buffer failed after C")
	}
	if q.Emit(4) {
		t.Fatal("emit past the buffer succeeded")
	}
	if q.C() != c {
		t.Fatal("C made a second channel")
	}
	for want := 1; want <= 3; want++ {
		if v := <-c; v != want {
			t.Fatalf("got %d, want %d", v, want)
		}
	}

	r := New[int](2)
	r.Emit(1)
	r.Emit(2)
	if r.Emit(3) {
		t.Fatal("emit past the buffer succeeded before C")
	}
	r.Finish(99) // no room: dropped
	var got []int
	for v := range r.C() {
		got = append(got, v)
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("got %v", got)
	}

	s := New[string](2)
	s.Emit("a")
	s.Finish("last")
	got2 := []string{}
	for v := range s.C() {
		got2 = append(got2, v)
	}
	if len(got2) != 2 || got2[0] != "a" || got2[1] != "last" {
		t.Fatalf("got %q", got2)
	}
}
