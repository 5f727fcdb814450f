// Package outbox queues bytes for a connection and writes them from a
// goroutine that exists only while there is something to write. Events from
// the hub and replies to the client's own commands go through the same queue,
// so they reach the client in the order they were produced, and a slow
// client never stalls the goroutine that produced them.
package outbox

import (
	"errors"
	"net"
	"sync"
	"time"
)

// ErrOverflow means the client stopped reading: more than the allowed bytes
// were waiting for it, and the connection was closed.
var ErrOverflow = errors.New("outbox: client is not reading")

// Outbox is safe for concurrent use.
type Outbox struct {
	conn         net.Conn
	maxPending   int
	writeTimeout time.Duration

	mu      sync.Mutex
	pending []byte
	writing bool
	closing bool // close once pending is written
	closed  bool
	err     error
	idle    *sync.Cond
}

// New wraps conn. maxPending bounds the bytes queued for a client that does
// not read; writeTimeout bounds one write. Closing the connection is how the
// outbox tells the connection's reader that the client is gone.
func New(conn net.Conn, maxPending int, writeTimeout time.Duration) *Outbox {
	o := &Outbox{conn: conn, maxPending: maxPending, writeTimeout: writeTimeout}
	o.idle = sync.NewCond(&o.mu)
	return o
}

// Write queues p. It never blocks on the network.
func (o *Outbox) Write(p []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || o.closing {
		return net.ErrClosed
	}
	if len(o.pending)+len(p) > o.maxPending {
		o.failLocked(ErrOverflow)
		return ErrOverflow
	}
	o.pending = append(o.pending, p...)
	if !o.writing {
		o.writing = true
		go o.flush()
	}
	return nil
}

func (o *Outbox) flush() {
	o.mu.Lock()
	for len(o.pending) > 0 && !o.closed {
		buf := o.pending
		o.pending = nil
		o.mu.Unlock()
		_ = o.conn.SetWriteDeadline(time.Now().Add(o.writeTimeout))
		_, err := o.conn.Write(buf)
		o.mu.Lock()
		if err != nil {
			o.failLocked(err)
		}
	}
	o.writing = false
	if o.closing && !o.closed {
		o.closeLocked(nil)
	}
	o.idle.Broadcast()
	o.mu.Unlock()
}

// CloseAfter queues p, then closes the connection once everything queued
// has been written (or the write timeout passed).
func (o *Outbox) CloseAfter(p []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || o.closing {
		return
	}
	o.pending = append(o.pending, p...)
	o.closing = true
	if !o.writing {
		o.writing = true
		go o.flush()
	}
}

// Close closes the connection at once, dropping anything still queued.
func (o *Outbox) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.closeLocked(nil)
	}
}

// Wait blocks until no write goroutine is running.
func (o *Outbox) Wait() {
	o.mu.Lock()
	for o.writing {
		o.idle.Wait()
	}
	o.mu.Unlock()
}

// Err reports why the outbox closed the connection, if it did.
func (o *Outbox) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

func (o *Outbox) failLocked(err error) {
	if !o.closed {
		o.closeLocked(err)
	}
}

func (o *Outbox) closeLocked(err error) {
	o.closed = true
	o.err = err
	o.pending = nil
	_ = o.conn.Close()
}
