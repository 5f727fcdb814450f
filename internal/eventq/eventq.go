// Package eventq is the bounded event queue of the client libraries: the
// reader goroutine never blocks on a slow consumer; when the buffer is full
// the library ends the connection instead, and the last event (why the
// connection ended) is delivered if there is room before the channel
// closes.
package eventq

import "sync"

// Queue is safe for concurrent use.
type Queue[E any] struct {
	mu     sync.Mutex
	ch     chan E
	closed bool
}

// New makes a queue holding up to size events.
func New[E any](size int) *Queue[E] {
	return &Queue[E]{ch: make(chan E, size)}
}

// C is the channel consumers read.
func (q *Queue[E]) C() <-chan E { return q.ch }

// Emit queues ev; it reports false when the buffer is full. After Finish
// events are dropped (and reported as queued).
func (q *Queue[E]) Emit(ev E) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
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
	select {
	case q.ch <- last:
	default:
	}
	close(q.ch)
}
