// Package outbox queues bytes for a connection and writes them from a
// goroutine that exists only while there is something to write. Events from
// the hub and replies to the client's own commands go through the same queue,
// so they reach the client in the order they were produced, and a slow
// client never stalls the goroutine that produced them.
//
// A write may carry a receipt (WriteTracked): it learns exactly once whether
// its bytes reached the kernel, or were dropped because the client stopped
// reading or the connection closed first. That is what lets a server say a
// chat message was delivered only when it was, and put it back in the
// mailbox when it was not.
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

// Receipt learns the fate of a tracked write: written is true once all its
// bytes were handed to the connection, false when they never will be.
type Receipt func(written bool)

// mark ends a tracked write at byte end of the pending buffer.
type mark struct {
	end     int
	receipt Receipt
}

// Outbox is safe for concurrent use.
type Outbox struct {
	conn         net.Conn
	maxPending   int
	writeTimeout time.Duration

	mu      sync.Mutex
	pending []byte
	marks   []mark // tracked writes in pending, in order
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
func (o *Outbox) Write(p []byte) error { return o.WriteTracked(p, nil) }

// WriteTracked queues p like Write and calls receipt, once and never while
// holding the outbox's lock, with the bytes' fate. A refused write (the
// error is not nil) calls receipt(false) before it returns. Receipts run on
// whichever goroutine settles them, so they must not block for long.
func (o *Outbox) WriteTracked(p []byte, receipt Receipt) error {
	o.mu.Lock()
	if o.closed || o.closing {
		o.mu.Unlock()
		settle(receipt, false)
		return net.ErrClosed
	}
	if len(o.pending)+len(p) > o.maxPending {
		dropped := o.closeLocked(ErrOverflow)
		o.mu.Unlock()
		settleAll(dropped, false)
		settle(receipt, false)
		return ErrOverflow
	}
	o.pending = append(o.pending, p...)
	if receipt != nil {
		o.marks = append(o.marks, mark{end: len(o.pending), receipt: receipt})
	}
	if !o.writing {
		o.writing = true
		go o.flush()
	}
	o.mu.Unlock()
	return nil
}

func (o *Outbox) flush() {
	o.mu.Lock()
	for len(o.pending) > 0 && !o.closed {
		buf, marks := o.pending, o.marks
		o.pending, o.marks = nil, nil
		o.mu.Unlock()
		_ = o.conn.SetWriteDeadline(time.Now().Add(o.writeTimeout))
		n, err := o.conn.Write(buf)
		// What the kernel took is written, whatever came after it.
		var written []Receipt
		for len(marks) > 0 && marks[0].end <= n {
			written = append(written, marks[0].receipt)
			marks = marks[1:]
		}
		settleAll(written, true)
		var dropped []Receipt
		o.mu.Lock()
		if err != nil {
			dropped = o.closeLocked(err)
		}
		for _, m := range marks {
			dropped = append(dropped, m.receipt)
		}
		if len(dropped) > 0 {
			o.mu.Unlock()
			settleAll(dropped, false)
			o.mu.Lock()
		}
	}
	o.writing = false
	var dropped []Receipt
	if o.closing && !o.closed {
		dropped = o.closeLocked(nil)
	}
	o.idle.Broadcast()
	o.mu.Unlock()
	settleAll(dropped, false)
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
	var dropped []Receipt
	if !o.closed {
		dropped = o.closeLocked(nil)
	}
	o.mu.Unlock()
	settleAll(dropped, false)
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

// closeLocked closes the connection and returns the receipts of the
// tracked writes it dropped, for the caller to settle once unlocked.
func (o *Outbox) closeLocked(err error) []Receipt {
	if o.closed {
		return nil
	}
	o.closed = true
	o.err = err
	dropped := make([]Receipt, 0, len(o.marks))
	for _, m := range o.marks {
		dropped = append(dropped, m.receipt)
	}
	o.pending, o.marks = nil, nil
	_ = o.conn.Close()
	return dropped
}

func settle(r Receipt, written bool) {
	if r != nil {
		r(written)
	}
}

func settleAll(rs []Receipt, written bool) {
	for _, r := range rs {
		r(written)
	}
}
