// Package outcome is the answer to a request that a client library's
// reader goroutine gives and a caller may wait for, made cheap for the
// requests a client sends by the thousand (a message and its ack): the
// answer is kept in place, and only a caller that waits before it came
// takes a channel to be woken on, from a pool.
package outcome

import (
	"context"
	"errors"
	"sync"
)

// ErrEnded is what Wait returns when the reader ended without an answer.
var ErrEnded = errors.New("ended without an answer")

// Outcome is one request's answer. The zero value waits for one; an
// Outcome must not be copied once in use.
type Outcome[T any] struct {
	mu       sync.Mutex
	finished bool
	wake     chan struct{} // left by a waiter that came before the answer
	value    T
}

// Complete records v as the answer, the first time only, and wakes the
// waiter; it reports whether v was the answer. Complete is the last thing
// it does with o, so an Outcome whose Wait returned its answer can be
// Reset and used again.
func (o *Outcome[T]) Complete(v T) bool {
	o.mu.Lock()
	if o.finished {
		o.mu.Unlock()
		return false
	}
	o.value, o.finished = v, true
	wake := o.wake
	o.mu.Unlock()
	if wake != nil {
		wake <- struct{}{} // never blocks: wake holds one, and only Complete sends
	}
	return true
}

// Answered reports whether o has its answer.
func (o *Outcome[T]) Answered() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.finished
}

// Wait waits for the answer until ctx ends (ctx.Err()) or end is closed,
// which says no answer will come any more (ErrEnded): an answer that came
// before still wins. end is nil for a reader that answers every request
// before it ends. Wait may be called once.
func (o *Outcome[T]) Wait(ctx context.Context, end <-chan struct{}) (T, error) {
	o.mu.Lock()
	if o.finished {
		o.mu.Unlock()
		return o.value, nil
	}
	wake := wakes.Get().(chan struct{})
	o.wake = wake
	o.mu.Unlock()
	var zero T
	select {
	case <-wake:
	case <-ctx.Done():
		return zero, ctx.Err() // wake may still be signalled: not reused
	case <-end:
		if !o.Answered() {
			return zero, ErrEnded
		}
		<-wake // Complete saw wake, and signals it
	}
	wakes.Put(wake)
	return o.value, nil
}

// Reset empties an answered Outcome whose Wait returned, for reuse; its
// mutex, which Complete's Unlock may still be leaving, is left alone.
func (o *Outcome[T]) Reset() {
	var zero T
	o.finished, o.wake, o.value = false, nil, zero
}

// wakes are the channels waiters leave in Outcome.wake. A channel whose
// signal was received is empty and no longer known to its Outcome, so the
// next waiter can take it; one abandoned when ctx ended is not returned.
var wakes = sync.Pool{New: func() any { return make(chan struct{}, 1) }}
