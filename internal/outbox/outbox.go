// Package outbox queues bytes for a connection and writes them from a
// goroutine that exists only while there is something to write. Events from
// the hub and replies to the client's own commands go through the same queue,
// so they reach the client in the order they were produced, and a slow
// client never stalls the goroutine that produced them: what the socket
// takes at once is written by that goroutine, and only the rest waits for
// the write goroutine. While a reader handles a command it holds the queue
// (Hold), so that the command's replies leave in one system call, not one
// per line.
//
// A write may carry a receipt (WriteTracked): it learns exactly once whether
// its bytes reached the kernel, or were dropped because the client stopped
// reading or the connection closed first. That is what lets a server say a
// chat message was delivered only when it was, and put it back in the
// mailbox when it was not.
package outbox

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/bufpool"
	"github.com/crosstalk-im/crosstalk/internal/rawio"
	"github.com/crosstalk-im/crosstalk/metrics"
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
	conn net.Conn
	// raw is conn's socket when conn offers it (syscall.Conn: a TCP
	// connection or a wrapper that adds nothing to what is written, never
	// TLS), for writes that do not wait; nil otherwise.
	raw          syscall.RawConn
	maxPending   int
	writeTimeout time.Duration

	mu      sync.Mutex
	pending []byte
	marks   []mark // tracked writes in pending, in order
	writing bool
	held    bool // writes wait for Release to be written (see Hold)
	closing bool // close once pending is written
	closed  bool
	// lingering: closed with only the sending side shut, so that what the
	// kernel holds still reaches the client (see Finish).
	lingering bool
	// readOn: the reader goes on reading after the last words (see
	// CloseWriteAfter) and is not woken.
	readOn bool
	err    error
	// wakeReader is woken when the reader is to stop waiting (see
	// WakeReader).
	wakeReader Waker
	// idle wakes Wait once no write goroutine runs; made by the first
	// Wait, so an outbox no one waits on costs no more than its fields.
	idle *sync.Cond
}

// Finish keeps reading, and discarding, what a client still sends after the
// server closed its side (up to maxLingerBytes), until the client hangs up
// or for LingerAfterLastWords after a CloseAfter, LingerAfterStall after
// the client stopped reading. Closing a socket with unread input makes the
// kernel reset the connection and throw away what it still had to send:
// the server's last words, or messages counted as written. A client that
// read our last words hangs up at once; one that stopped reading may take
// its time to catch up.
const (
	LingerAfterLastWords = 2 * time.Second
	LingerAfterStall     = time.Minute
)

// maxLingerBytes bounds what Finish discards while it lingers.
const maxLingerBytes = 1 << 20

// maxHeldBytes ends a Hold early: a write this large gains nothing from
// waiting for more.
const maxHeldBytes = 64 << 10

// New wraps conn. maxPending bounds the bytes queued for a client that does
// not read; writeTimeout bounds one write. Closing the connection is how the
// outbox tells the connection's reader that the client is gone.
func New(conn net.Conn, maxPending int, writeTimeout time.Duration) *Outbox {
	o := &Outbox{conn: conn, maxPending: maxPending, writeTimeout: writeTimeout}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			o.raw = raw
		}
	}
	return o
}

// Write queues p. It never blocks on the network, and never keeps p: what
// the socket does not take at once is copied, so that the caller may use
// p again when Write returns.
func (o *Outbox) Write(p []byte) error { return o.WriteTracked(p, nil) }

// WriteTracked queues p like Write (keeping no reference to it) and, when
// it took p, calls receipt once, never while holding the outbox's lock,
// with the bytes' fate. A refused write (the error is not nil) never calls
// its receipt: the caller knows.
// Receipts run on whichever goroutine settles them, so they must not block
// for long.
func (o *Outbox) WriteTracked(p []byte, receipt Receipt) error {
	o.mu.Lock()
	if o.closed || o.closing {
		o.mu.Unlock()
		return net.ErrClosed
	}
	if len(o.pending)+len(p) > o.maxPending {
		dropped := o.closeLocked(ErrOverflow)
		o.mu.Unlock()
		settleAll(dropped, false)
		return ErrOverflow
	}
	if len(o.pending) == 0 && !o.held && !o.writing {
		// Nothing waits before p: the socket takes what it can straight
		// from the caller's bytes, and only what it does not take is
		// copied to wait (a copy and an allocation fewer for nearly every
		// message).
		o.pending = p
		o.writeNowLocked(false)
		if len(o.pending) == 0 {
			o.mu.Unlock()
			if receipt != nil {
				receipt(true)
			}
			return nil
		}
		p, o.pending = o.pending, nil
	}
	if o.pending == nil {
		o.pending = pendingBuffers.TakeSlice()
	}
	o.pending = append(o.pending, p...)
	if receipt != nil {
		o.marks = append(o.marks, mark{end: len(o.pending), receipt: receipt})
	}
	var written []mark
	if !o.held || len(o.pending) >= maxHeldBytes {
		written = o.startLocked()
	}
	o.mu.Unlock()
	settleMarks(written)
	return nil
}

// pendingBuffers keeps the buffers that held what waited to be written,
// for whichever connection queues next: a batch of 32 messages grew one
// from nothing, a tenth of a switchboard's CPU, and an idle connection is
// to keep none. Buffers grown past twice maxHeldBytes are let go.
var pendingBuffers = bufpool.Pool{Max: 2 * maxHeldBytes}

// Hold keeps what is queued from now on, from any goroutine, until
// Release, so that it goes out in one system call instead of one per
// write: a connection's reader holds while it handles a command, and its
// replies, with any events that came meanwhile, leave together. Nothing
// changes order. Wait, CloseAfter and maxHeldBytes queued end the wait
// early.
func (o *Outbox) Hold() {
	o.mu.Lock()
	o.held = true
	o.mu.Unlock()
}

// Release ends a Hold and writes what it kept.
func (o *Outbox) Release() {
	o.mu.Lock()
	o.held = false
	written := o.startLocked()
	o.mu.Unlock()
	settleMarks(written)
}

// startLocked writes what is pending, unless the write goroutine runs
// already: as much as the socket takes at once on the calling goroutine
// (a goroutine and two switches between goroutines fewer for every reply
// and message), then starts the write goroutine for the rest, which waits
// for the socket, and for a close. It returns the receipts of what it
// wrote, for the caller to settle once unlocked (settleMarks).
func (o *Outbox) startLocked() []mark {
	if o.writing || o.closed || len(o.pending) == 0 && !o.closing {
		return nil
	}
	written := o.writeNowLocked(true)
	if len(o.pending) == 0 && !o.closing {
		return written
	}
	if len(o.pending) == 0 && len(o.marks) == 0 {
		// The last words are out: close here, as the write goroutine
		// would, without starting one for every connection that ends.
		o.closeLocked(errLastWords)
		return written
	}
	o.writing = true
	go o.flush()
	return written
}

// writeNowLocked writes from pending what the socket takes without
// waiting, and returns the tracked writes it completed. Any failure, a
// full socket or a write deadline already past leaves the rest to the
// write goroutine, which sees the failure again and handles it. owned:
// pending is the outbox's buffer, not the caller's bytes, and goes back to
// the pool once written.
func (o *Outbox) writeNowLocked(owned bool) []mark {
	if o.raw == nil || len(o.pending) == 0 {
		return nil
	}
	op := socketWrites.Get().(*socketWrite)
	op.from = o.pending
	err := o.raw.Write(op.write)
	n := op.wrote
	op.from, op.wrote = nil, 0
	socketWrites.Put(op)
	if err != nil || n <= 0 {
		return nil
	}
	k := 0
	for k < len(o.marks) && o.marks[k].end <= n {
		k++
	}
	// Later writes append after the marks kept, never over the ones
	// returned.
	written := o.marks[:k:k]
	o.marks = o.marks[k:]
	for i := range o.marks {
		o.marks[i].end -= n
	}
	if n == len(o.pending) {
		if owned {
			pendingBuffers.PutSlice(o.pending)
		}
		o.pending, o.marks = nil, nil // an idle connection keeps no buffer
		return written
	}
	o.pending = o.pending[n:]
	return written
}

func (o *Outbox) flush() {
	o.mu.Lock()
	for len(o.pending) > 0 && !o.closed {
		buf, marks := o.pending, o.marks
		o.pending, o.marks = nil, nil
		o.mu.Unlock()
		_ = o.conn.SetWriteDeadline(time.Now().Add(o.writeTimeout))
		n, err := o.conn.Write(buf)
		pendingBuffers.PutSlice(buf)
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
		dropped = o.closeLocked(errLastWords)
	}
	if o.idle != nil {
		o.idle.Broadcast()
	}
	o.mu.Unlock()
	settleAll(dropped, false)
}

// CloseAfter queues p, then closes the connection once everything queued
// has been written (or the write timeout passed).
func (o *Outbox) CloseAfter(p []byte) {
	o.mu.Lock()
	if o.closed || o.closing {
		o.mu.Unlock()
		return
	}
	o.pending = append(o.pending, p...)
	o.closing = true
	written := o.startLocked()
	o.mu.Unlock()
	settleMarks(written)
}

// CloseWriteAfter is CloseAfter for a protocol whose client still sends
// something the server wants after the server's last words (GG's receipts
// after its logout): only the sending side is shut, and the connection's
// reader reads on until the client hangs up; then Finish.
func (o *Outbox) CloseWriteAfter(p []byte) {
	o.mu.Lock()
	o.readOn = true
	o.mu.Unlock()
	o.CloseAfter(p)
}

// Close closes the connection at once, dropping anything still queued.
func (o *Outbox) Close() {
	o.mu.Lock()
	var dropped []Receipt
	if !o.closed {
		dropped = o.closeLocked(nil)
	}
	if o.lingering {
		o.lingering = false
		o.closeConn()
	}
	o.mu.Unlock()
	settleAll(dropped, false)
}

// Finish ends the connection once its reader is done with it: everything
// queued is written, and the client gets what the kernel still holds for it
// while what it sends is discarded (see LingerAfterLastWords). A client that had
// stopped reading (its queue overflowed or a write timed out) is logged to
// log and counted for protocol.
func (o *Outbox) Finish(log *slog.Logger, protocol string) {
	o.CloseAfter(nil)
	o.Wait()
	o.mu.Lock()
	lingering, err := o.lingering, o.err
	o.mu.Unlock()
	if !lingering {
		return
	}
	linger := LingerAfterLastWords
	if err != nil {
		linger = LingerAfterStall
		metrics.OutputOverflows.WithLabelValues(protocol).Inc()
		log.Warn("client stopped reading: its output queue overflowed, connection closed", "max_pending_bytes", o.maxPending, "err", err)
	}
	_ = o.conn.SetReadDeadline(time.Now().Add(linger))
	_, _ = io.Copy(io.Discard, io.LimitReader(o.conn, maxLingerBytes))
	o.Close()
}

// Crowded reports whether more than half of the queue's room is taken:
// a writer with more to send at its own pace (stored messages) waits for
// it to drain rather than push the client over the limit.
func (o *Outbox) Crowded() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending) > o.maxPending/2
}

// SetReadDeadline sets the connection's read deadline for its reader, unless
// the outbox closed it for overflow: then the reader is to stop now, and a
// deadline it sets on its way round must not keep it waiting.
func (o *Outbox) SetReadDeadline(t time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.lingering && (!o.readOn || o.err != nil) {
		return o.conn.SetReadDeadline(time.Now())
	}
	return o.conn.SetReadDeadline(t)
}

// Waker is a reader that waits without a goroutine: Wake makes it stop
// waiting. It is an interface rather than a func so that the reader itself
// is kept, not a closure made for it (an allocation per connection).
type Waker = interface{ Wake() }

// socketWrite is one writeNowLocked's write, with its function made once
// for the pool rather than once per outbox, which would keep a closure
// for every connection.
type socketWrite struct {
	write func(fd uintptr) bool
	from  []byte
	wrote int
}

var socketWrites = sync.Pool{New: func() any {
	op := new(socketWrite)
	op.write = func(fd uintptr) bool {
		op.wrote = rawio.WriteSome(fd, op.from)
		return true // never wait for room: the write goroutine does
	}
	return op
}}

// WakeReader has w woken, with the outbox's lock held, whenever the
// outbox closes the connection or ends its reads (closing only the sending
// side): a reader that waits without a goroutine (offstack.Serve) is not
// woken by the socket. An outbox that closed already (the server shut down
// as the connection was being set up) wakes it at once. Wake must not
// block, nor use the outbox.
func (o *Outbox) WakeReader(w Waker) {
	o.mu.Lock()
	o.wakeReader = w
	if o.closed {
		w.Wake()
	}
	o.mu.Unlock()
}

// closeConn closes the connection and wakes its reader.
func (o *Outbox) closeConn() {
	_ = o.conn.Close()
	o.wake()
}

func (o *Outbox) wake() {
	if o.wakeReader != nil {
		o.wakeReader.Wake()
	}
}

// Wait blocks until everything queued, held or not, has been written or
// dropped.
func (o *Outbox) Wait() {
	o.mu.Lock()
	if written := o.startLocked(); len(written) > 0 {
		o.mu.Unlock()
		settleMarks(written)
		o.mu.Lock()
	}
	for o.writing {
		if o.idle == nil {
			o.idle = sync.NewCond(&o.mu)
		}
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
	if !errors.Is(err, errLastWords) {
		o.err = err
	}
	dropped := make([]Receipt, 0, len(o.marks))
	for _, m := range o.marks {
		dropped = append(dropped, m.receipt)
	}
	o.pending, o.marks = nil, nil
	if hc := closeWriter(o.conn); hc != nil && lingers(err) {
		// Shut only the sending side, after what the kernel holds, and
		// wake the connection's reader: Finish lingers.
		o.lingering = true
		_ = hc.CloseWrite()
		if !o.readOn || !errors.Is(err, errLastWords) {
			_ = o.conn.SetReadDeadline(time.Now())
			o.wake()
		}
		return dropped
	}
	o.closeConn()
	return dropped
}

// errLastWords marks the close that follows CloseAfter's last words.
var errLastWords = errors.New("outbox: closed after the last words")

// lingers reports a close after which the client is still to read what the
// kernel holds: the server's last words (CloseAfter), or everything before
// the point where the client stopped reading (its queue overflowed, or a
// write found no room before the write timeout).
func lingers(err error) bool {
	var ne net.Error
	return errors.Is(err, errLastWords) || errors.Is(err, ErrOverflow) || errors.As(err, &ne) && ne.Timeout()
}

// closeWriter finds what can shut only the sending side of c, looking
// through wrappers that offer the connection underneath (NetConn, as
// crypto/tls and the admission control's do).
func closeWriter(c net.Conn) interface{ CloseWrite() error } {
	for {
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			return cw
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
}

// settleMarks tells the tracked writes in ms that they were written.
func settleMarks(ms []mark) {
	for _, m := range ms {
		m.receipt(true)
	}
}

func settleAll(rs []Receipt, written bool) {
	for _, r := range rs {
		r(written)
	}
}
