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
	// Under wmu: out is where SendAppend frames, kept from one write to
	// the next; while holding, what is sent waits in it for Flush.
	out     []byte
	holding bool

	mu    sync.Mutex
	cause error // why the connection ends; the first one wins
	// Under mu: while holdingEvents, events wait in heldEvents for Flush.
	holdingEvents bool
	heldEvents    []E
}

// maxKeptOut bounds the buffer a connection keeps between writes: one that
// grew past it for a large message is let go.
const maxKeptOut = 16 << 10

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
// should end the connection. While held (see Hold) the event waits for
// Flush.
func (c *Conn[E]) Emit(ev E) bool {
	c.mu.Lock()
	if c.holdingEvents {
		c.heldEvents = append(c.heldEvents, ev)
		c.mu.Unlock()
		return true
	}
	c.mu.Unlock()
	return c.ev.Emit(ev)
}

// Hold keeps what is sent (Send, SendAppend, Write) and the events emitted
// until Flush, for a reader that has more messages whole in its buffer:
// its answers to a run of messages that came together leave in one write,
// and no event is seen before the answer to its message was written (a
// caller that closes the connection once it has what it wanted loses no
// answer). A Send held returns nil before its bytes are written; should
// Flush fail, the connection ends, and every call waiting with it.
func (c *Conn[E]) Hold() {
	c.wmu.Lock()
	c.holding = true
	c.wmu.Unlock()
	c.mu.Lock()
	c.holdingEvents = true
	c.mu.Unlock()
}

// Flush writes what was held, whole, then hands over the events held
// behind it; false from Emit gives errOverflow. After a failed write the
// held events are dropped: the connection is ending.
func (c *Conn[E]) Flush(errOverflow error) error {
	c.wmu.Lock()
	c.holding = false
	var err error
	if len(c.out) > 0 {
		if c.Err() != nil {
			err = c.ClosedErr()
		} else {
			err = c.writeLocked(context.Background(), time.Now().Add(c.writeTimeout), c.out)
		}
		c.out = keptOut(c.out)
	}
	c.wmu.Unlock()
	c.mu.Lock()
	held := c.heldEvents
	c.holdingEvents = false
	c.heldEvents = held[:0]
	c.mu.Unlock()
	defer clear(held) // the next Hold appends to the same array
	if err != nil {
		return err
	}
	for _, ev := range held {
		if !c.ev.Emit(ev) {
			return errOverflow
		}
	}
	return nil
}

// keptOut is out emptied for the next frames, or nil when it grew past
// maxKeptOut.
func keptOut(out []byte) []byte {
	if cap(out) > maxKeptOut {
		return nil
	}
	return out[:0]
}

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
	deadline, err := c.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer c.wmu.Unlock()
	b, err := prepare()
	if err != nil {
		return err
	}
	if c.holding {
		c.out = append(c.out, b...)
		return nil
	}
	return c.writeLocked(ctx, deadline, b)
}

// SendAppend is Send for a frame appended to dst, a buffer the connection
// keeps from one write to the next: a buffer for each message sent was an
// allocation. frame must not keep dst; on error nothing is written.
func (c *Conn[E]) SendAppend(ctx context.Context, frame func(dst []byte) ([]byte, error)) error {
	deadline, err := c.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer c.wmu.Unlock()
	b, err := frame(c.out)
	if err != nil {
		return err
	}
	if c.holding {
		c.out = b
		return nil
	}
	err = c.writeLocked(ctx, deadline, b)
	c.out = keptOut(b)
	return err
}

// lockWrite takes the write lock for a write due by ctx's deadline, or
// writeTimeout from now without one, unless the connection has ended.
func (c *Conn[E]) lockWrite(ctx context.Context) (deadline time.Time, err error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.writeTimeout)
	}
	c.wmu.Lock()
	if c.Err() != nil {
		c.wmu.Unlock()
		return time.Time{}, c.ClosedErr()
	}
	return deadline, nil
}

// writeLocked writes b whole; wmu is held. A failure ends the connection.
func (c *Conn[E]) writeLocked(ctx context.Context, deadline time.Time, b []byte) error {
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
