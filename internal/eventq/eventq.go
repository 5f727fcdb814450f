// Package eventq is the bounded event queue of the client libraries: the
// reader goroutine never blocks on a slow consumer; when the buffer is full
// the library ends the connection instead, and the last event (why the
// connection ended) is delivered if there is room before the channel
// closes.
package eventq

import "sync"

// Queue is safe for concurrent use.
type Queue[E any] struct {
	mu   sync.Mutex
	size int
	// ch is made by the first C: a client that never asks for its events
	// (a bot that only sends, a load test's logins) does not pay for a
	// channel of size events. Until then the events wait in early.
	ch     chan E
	early  []E
	closed bool
}

// New makes a queue holding up to size events.
func New[E any](size int) *Queue[E] {
	return &Queue[E]{size: size}
}

// C is the channel consumers read.
func (q *Queue[E]) C() <-chan E {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ch == nil {
		q.ch = make(chan E, q.size)
		for _, ev := range q.early {
			q.ch <- ev
		}
		q.early = nil
		if q.closed {
			close(q.ch)
		}
	}
	return q.ch
}

// Emit queues ev; it reports false when the buffer is full. After Finish
// events are dropped (and reported as queued).
func (q *Queue[E]) Emit(ev E) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return true
	}
	return q.putLocked(ev)
}

// putLocked queues ev if there is room.
func (q *Queue[E]) putLocked(ev E) bool {
	if q.ch == nil {
		if len(q.early) == q.size {
			return false
		}
		q.early = append(q.early, ev)
		return true
	}
	select {
	case q.ch <- ev:
		return true
	default:
		return false
	}
}

// Finish queues the last event if there is room and closes the channel.
func (q *Queue[E]) Finish(last E) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	q.putLocked(last)
	if q.ch != nil {
		close(q.ch)
	}
}
