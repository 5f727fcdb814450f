// Package clientconn is the connection core the client libraries share
// (gg/client, msim/client, imip/client, sip/client): one reader goroutine
// per connection, the bounded queue of events it fills (package eventq),
// writes that go out whole and one at a time, and the end of the
// connection, whose first cause is kept and told to every call that comes
// after it.
//
// The protocol's client keeps its own state under its own lock; the core
// never calls into it while holding its own, so the client may call the
// core with its lock held.
package clientconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/eventq"
)

// Conn is the core of one client connection; E is the client's event
// type.
type Conn[E any] struct {
	nc           net.Conn
	ev           *eventq.Queue[E]
	done         chan struct{}
	closed       error // the client's ErrClosed
	writeTimeout time.Duration

	wmu sync.Mutex // one writer at a time

	mu    sync.Mutex
	cause error // why the connection ends; the first one wins
}

// New makes the core of a connection over nc, with room for eventBuffer
// events; closed is the client's "connection closed" error, which wraps
// the cause of the end in what calls return afterwards. A write whose
// context has no deadline may take writeTimeout.
func New[E any](nc net.Conn, eventBuffer int, closed error, writeTimeout time.Duration) *Conn[E] {
	return &Conn[E]{nc: nc, ev: eventq.New[E](eventBuffer), done: make(chan struct{}), closed: closed, writeTimeout: writeTimeout}
}

// NetConn is the connection, for what the client does with it before its
// reader runs (a handshake) and for read deadlines.
func (c *Conn[E]) NetConn() net.Conn { return c.nc }

// Events is the channel of events; it is closed after the last one.
func (c *Conn[E]) Events() <-chan E { return c.ev.C() }

// Done is closed once the reader has finished and the last event is
// queued.
func (c *Conn[E]) Done() <-chan struct{} { return c.done }

// Err is why the connection ended, nil while it is up.
func (c *Conn[E]) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// ClosedErr is what a call made after the end returns: the client's
// closed error, wrapping the cause unless it is that error itself.
func (c *Conn[E]) ClosedErr() error { return c.wrap(c.Err()) }

func (c *Conn[E]) wrap(cause error) error {
	if cause == nil || errors.Is(cause, c.closed) {
		return c.closed
	}
	return fmt.Errorf("%w: %w", c.closed, cause)
}

// Fail records why the connection ends (the first cause wins) and closes
// the socket; the reader then stops and ends the connection.
func (c *Conn[E]) Fail(cause error) {
	c.mu.Lock()
	if c.cause == nil {
		c.cause = cause
	}
	c.mu.Unlock()
	c.nc.Close()
}

// Close ends the connection with the client's closed error as the cause
// (unless it had ended already) and waits for the reader.
func (c *Conn[E]) Close() {
	c.Fail(c.closed)
	<-c.done
}

// Emit queues an event; false means the buffer is full, and the client
// should end the connection.
func (c *Conn[E]) Emit(ev E) bool { return c.ev.Emit(ev) }

// Run is the reader goroutine: it calls read until it fails, then records
// that as the cause (unless one was recorded before), closes the socket,
// queues last(cause) as the final event and closes Done, so that the last
// event is there when Close returns.
func (c *Conn[E]) Run(read func() error, last func(cause error) E) {
	var err error
	for err == nil {
		err = read()
	}
	c.Fail(err)
	cause := c.Err()
	c.ev.Finish(last(cause))
	close(c.done)
}

// Send writes what prepare returns, whole. Writers go one at a time in
// the order their prepare ran, so that what prepare numbers (IDs,
// sequence numbers, signatures) leaves in that order. An error from
// prepare is returned and nothing is written. After the end Send returns
// ClosedErr without calling prepare; a failed or timed-out write may have
// left half a message on the wire, so it ends the connection. The write
// may take until ctx's deadline, or writeTimeout without one.
func (c *Conn[E]) Send(ctx context.Context, prepare func() ([]byte, error)) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.writeTimeout)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.Err() != nil {
		return c.ClosedErr()
	}
	b, err := prepare()
	if err != nil {
		return err
	}
	_ = c.nc.SetWriteDeadline(deadline)
	if _, err := c.nc.Write(b); err != nil {
		if ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			err = ctx.Err() // the caller's deadline, not the socket's
		}
		c.Fail(err)
		return c.wrap(err)
	}
	return nil
}

// Write writes b whole, as Send does.
func (c *Conn[E]) Write(ctx context.Context, b []byte) error {
	return c.Send(ctx, func() ([]byte, error) { return b, nil })
}

// Await waits for a value on ch, for ctx, or for the end of the
// connection; a value delivered before the end still wins.
func Await[T, E any](ctx context.Context, c *Conn[E], ch <-chan T) (T, error) {
	var zero T
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-c.done:
		select {
		case v := <-ch:
			return v, nil
		default:
			return zero, c.ClosedErr()
		}
	}
}
