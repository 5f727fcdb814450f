package ratelimit

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	b := New(10, 3)
	now := time.Unix(0, 0)
	for i := range 3 {
		if !b.Allow(now) {
			t.Fatalf("burst command %d refused", i)
		}
	}
	if b.Allow(now) {
		t.Fatal("fourth command at once allowed with a burst of 3")
	}
	if !b.Allow(now.Add(100 * time.Millisecond)) {
		t.Fatal("a token should have come back after 1/rate")
	}
	if b.Allow(now.Add(150 * time.Millisecond)) {
		t.Fatal("only half a token after another 50ms")
	}
	b.Allow(now.Add(time.Hour))
	for i := range 2 {
		if !b.Allow(now.Add(time.Hour)) {
			t.Fatalf("refill capped below burst: %d", i)
		}
	}
	if b.Allow(now.Add(time.Hour)) {
		t.Fatal("refill exceeded the burst")
	}
}

func TestReserve(t *testing.T) {
	b := New(10, 2)
	now := time.Unix(0, 0)
	for i, want := range []time.Duration{0, 0, 100 * time.Millisecond, 200 * time.Millisecond} {
		if got := b.Reserve(now); got != want {
			t.Fatalf("reservation %d: wait %s, want %s", i, got, want)
		}
	}
	if got := b.Reserve(now.Add(time.Second)); got != 0 {
		t.Fatalf("after the debt is paid off: wait %s", got)
	}
}

func TestSampler(t *testing.T) {
	s := Sampler{Every: time.Second}
	start := time.Unix(1000, 0)
	if ok, n := s.Allow(start); !ok || n != 0 {
		t.Fatalf("first occurrence: %v %d", ok, n)
	}
	for i := range 5 {
		if ok, _ := s.Allow(start.Add(time.Duration(i) * 100 * time.Millisecond)); ok {
			t.Fatalf("occurrence %d within the interval was let through", i)
		}
	}
	if ok, n := s.Allow(start.Add(time.Second)); !ok || n != 5 {
		t.Fatalf("after the interval: %v, %d suppressed; want true, 5", ok, n)
	}
}
