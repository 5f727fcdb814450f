package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/bufpool"
	"github.com/crosstalk-im/crosstalk/internal/outcome"
	"github.com/crosstalk-im/crosstalk/internal/rawio"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// defaultWriteTimeout bounds a write when the caller's context has no
// deadline (and writes made by the reader itself, such as QRY answers).
const defaultWriteTimeout = 30 * time.Second

// quitGrace is how long Logout and Leave wait for the server to close the
// connection after OUT before closing it themselves.
const quitGrace = 2 * time.Second

// call is one request waiting for its reply. Replies are matched by TrID in
// the reader goroutine, which feeds every command carrying the TrID to
// accept until accept reports the reply complete.
type call struct {
	name string // request command, for ServerError
	// accept consumes one reply line and says whether the reply is
	// complete. nil means the first line completes it.
	accept func(wire.Command) (done bool, err error)
	// onDone, when set, is called from the reader goroutine instead of
	// waking a waiter (fire-and-forget requests such as QRY); a call has
	// either onDone or one waiter.
	onDone func(err error)

	// answer is the outcome, kept in place: only a waiter that comes
	// before it takes a channel to be woken on (package outcome), as a
	// pipelined sender's calls are mostly answered before it waits, and
	// a channel made for every call was an allocation for each message.
	answer outcome.Outcome[reply]
}

// reply is a call's outcome: the line that completed it, or why it
// failed.
type reply struct {
	line wire.Command
	err  error
}

// complete records the call's outcome, the first time only, and hands it
// to onDone or the waiter.
func (cl *call) complete(line wire.Command, err error) {
	onDone := cl.onDone // read first: an answered call may be reused
	if cl.answer.Complete(reply{line, err}) && onDone != nil {
		onDone(err)
	}
}

// answered reports whether the call has its outcome.
func (cl *call) answered() bool { return cl.answer.Answered() }

// reset empties an answered call, whose wait returned, for reuse.
func (cl *call) reset() {
	cl.name, cl.accept, cl.onDone = "", nil, nil
	cl.answer.Reset()
}

// hooks connect a conn to the Client or Switchboard that owns it. All of
// them run in the conn's reader goroutine.
type hooks struct {
	// async receives commands that are not replies to a pending request.
	async func(*conn, wire.Command)
	// alwaysAsync names commands that are never routed by TrID, because
	// their first parameter is not one (JOI, MSG, QNG…) or because they
	// must reach the event stream even when they reuse a TrID (ILN).
	alwaysAsync map[string]bool
	// routeByName maps reply names that may lack a TrID to the name of the
	// pending request they belong to (PRP/BPR lines during SYN).
	routeByName map[string]string
	// closed is called once, after the connection is gone and every
	// pending call has failed.
	closed func(c *conn, err error)
}

// conn is one MSNP connection (dispatch, notification or switchboard): a
// single reader goroutine, TrID allocation and reply routing.
type conn struct {
	nc    net.Conn
	rd    *wire.Reader
	log   *slog.Logger
	hooks hooks

	wmu sync.Mutex // serialises writes
	// raw is nc's socket when nc offers one (syscall.Conn), for writes
	// that the socket takes at once: without a deadline to set, nor a
	// system call that hands the processor over (see rawio). writeNow is
	// its function, made once (a closure per write is an allocation): it
	// writes unsent and leaves in sentNow what the socket took. Under wmu.
	raw      syscall.RawConn
	writeNow func(fd uintptr) bool
	unsent   []byte
	sentNow  int

	mu      sync.Mutex
	next    int // next TrID
	pending map[int]*call
	pings   []chan struct{}
	closing bool  // no new requests
	cause   error // why the connection ends; set once

	done chan struct{} // closed when the reader goroutine has finished
}

func newConn(nc net.Conn, limits wire.Limits, log *slog.Logger, firstTrID int, h hooks) *conn {
	c := &conn{
		nc:      nc,
		rd:      wire.NewReader(nc, limits, "MSG", "UBX", "GCF", "ADL", "RML", "FQY", "UBN", "NOT"),
		log:     log,
		hooks:   h,
		next:    firstTrID,
		pending: make(map[int]*call),
		done:    make(chan struct{}),
	}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
			c.writeNow = func(fd uintptr) bool {
				c.sentNow = rawio.WriteSome(fd, c.unsent)
				return true // never wait for room: write does, with a deadline
			}
		}
	}
	return c
}

// start launches the reader goroutine; the owner calls it once it has
// recorded c, so hooks can compare against it.
func (c *conn) start() { go c.readLoop() }

func (c *conn) readLoop() {
	var err error
	for {
		var cmd wire.Command
		cmd, err = c.rd.ReadCommand()
		if errors.Is(err, wire.ErrEmptyLine) {
			continue
		}
		if err != nil {
			break
		}
		if c.log.Enabled(context.Background(), slog.LevelDebug) {
			// Redacted builds a string: only for a log that keeps it.
			c.log.Debug("msnp recv", "cmd", wire.Redacted(cmd.Name, cmd.Args), "payload", len(cmd.Payload))
		}
		c.dispatch(cmd)
	}
	c.shutdown(err)
}

// shutdown runs at the end of the reader goroutine.
func (c *conn) shutdown(readErr error) {
	c.mu.Lock()
	if c.cause == nil {
		c.cause = readErr
	}
	cause := c.cause
	c.closing = true
	pending := c.pending
	c.pending = nil
	pings := c.pings
	c.pings = nil
	c.mu.Unlock()

	c.nc.Close()
	failErr := closedError(cause)
	for _, cl := range pending {
		cl.complete(wire.Command{}, failErr)
	}
	for _, p := range pings {
		close(p)
	}
	if c.hooks.closed != nil {
		c.hooks.closed(c, cause)
	}
	close(c.done)
}

// closedError is what requests fail with once the connection is gone.
func closedError(cause error) error {
	if cause == nil || errors.Is(cause, ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrClosed, cause)
}

func (c *conn) dispatch(cmd wire.Command) {
	cl, trid := c.lookup(cmd)
	if code, ok := errorCode(cmd.Name); ok {
		if cl != nil {
			c.forget(trid, cl)
			cl.complete(cmd, &ServerError{Code: code, Command: cl.name})
			return
		}
		c.log.Warn("msnp: unmatched server error", "cmd", cmd.String())
		c.hooks.async(c, cmd)
		return
	}
	if cl != nil && cl.name == cmd.Name && !c.hooks.alwaysAsync[cmd.Name] {
		// The reply to a request of its own name, though the name may
		// also travel without a TrID as part of another reply.
		c.feed(cmd, cl, trid)
		return
	}
	if req, ok := c.hooks.routeByName[cmd.Name]; ok {
		if cl, trid := c.pendingNamed(req); cl != nil {
			c.feed(cmd, cl, trid)
		} else {
			c.hooks.async(c, cmd)
		}
		return
	}
	if cl != nil && !c.hooks.alwaysAsync[cmd.Name] {
		c.feed(cmd, cl, trid)
		return
	}
	c.hooks.async(c, cmd)
}

// lookup finds the pending call for the command's TrID, and the TrID.
func (c *conn) lookup(cmd wire.Command) (*call, int) {
	if len(cmd.Args) == 0 || !digits(cmd.Args[0]) {
		return nil, 0
	}
	trid, err := strconv.ParseUint(cmd.Args[0], 10, 31)
	if err != nil {
		return nil, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending[int(trid)], int(trid)
}

// digits reports whether s is a run of decimal digits: lines whose first
// parameter is no TrID (MSG, JOI…) skip ParseUint, whose error for them
// is an allocation.
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// pendingNamed finds the oldest pending request with the given name.
func (c *conn) pendingNamed(name string) (*call, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var found *call
	best := -1
	for trid, cl := range c.pending {
		if cl.name == name && (best < 0 || trid < best) {
			found, best = cl, trid
		}
	}
	return found, best
}

func (c *conn) feed(cmd wire.Command, cl *call, trid int) {
	done, err := true, error(nil)
	if cl.accept != nil {
		done, err = cl.accept(cmd)
	}
	if done || err != nil {
		c.forget(trid, cl)
		cl.complete(cmd, err)
	}
}

func (c *conn) forget(trid int, cl *call) {
	c.mu.Lock()
	if c.pending[trid] == cl {
		delete(c.pending, trid)
	}
	c.mu.Unlock()
}

// send writes a request with the next TrID and registers cl for its reply.
// With cl == nil nothing waits for a reply (MSG in U or N mode).
func (c *conn) send(ctx context.Context, cl *call, name string, payload []byte, hasPayload bool, args ...string) (int, error) {
	var trid int
	err := c.sendAll(ctx, name, 1, func(i int) (*call, []byte, bool, []string) { return cl, payload, hasPayload, args },
		func(_, t int) { trid = t })
	return trid, err
}

// sendAll writes n requests named name in one write, each with the next
// TrID, request i being what next(i) returns, and registers each call for
// its reply; sent(i, trid) learns each TrID before the write. When the
// write fails none of the calls waits any longer.
func (c *conn) sendAll(ctx context.Context, name string, n int, next func(i int) (cl *call, payload []byte, hasPayload bool, args []string), sent func(i, trid int)) error {
	c.mu.Lock()
	if c.closing {
		cause := c.cause
		c.mu.Unlock()
		return closedError(cause)
	}
	buf := requestBuffers.Get()
	defer requestBuffers.Put(buf)
	b := *buf
	first := c.next
	for i := range n {
		cl, payload, hasPayload, args := next(i)
		for _, a := range args {
			if strings.ContainsAny(a, "\r\n") {
				c.forgetRange(first, i)
				c.mu.Unlock()
				return fmt.Errorf("msnp client: %s parameter %q contains a line break", name, a)
			}
		}
		trid := c.next
		c.next++
		if cl != nil {
			c.pending[trid] = cl
		}
		sent(i, trid)
		b = appendRequest(b, name, trid, payload, hasPayload, args)
	}
	c.mu.Unlock()
	*buf = b
	if err := c.write(ctx, b); err != nil {
		c.mu.Lock()
		c.forgetRange(first, n)
		c.mu.Unlock()
		return err
	}
	return nil
}

// requestBuffers are buffers to frame requests in: write is done with its
// bytes when it returns, and a paste of messages grew a new buffer from
// nothing, several allocations and copies, for each write.
var requestBuffers = bufpool.Pool{Max: 64 << 10}

// forgetRange stops waiting for the n calls sent with TrIDs first,
// first+1 …: TrIDs are never reused, so whatever waits under them is
// theirs. c.mu is held.
func (c *conn) forgetRange(first, n int) {
	for trid := first; trid < first+n; trid++ {
		delete(c.pending, trid)
	}
}

// appendRequest appends a request with its TrID to b: the line as
// wire.AppendPayloadCommand and wire.AppendCommand frame it, with the TrID
// written as digits in place (a string for it was an allocation).
func appendRequest(b []byte, name string, trid int, payload []byte, hasPayload bool, args []string) []byte {
	b = strconv.AppendInt(append(append(b, name...), ' '), int64(trid), 10)
	for _, a := range args {
		b = append(append(b, ' '), a...)
	}
	if !hasPayload {
		return append(b, '\r', '\n')
	}
	b = strconv.AppendInt(append(b, ' '), int64(len(payload)), 10)
	return append(append(b, '\r', '\n'), payload...)
}

// requestPayload sends a command with a payload and waits for its reply.
func (c *conn) requestPayload(ctx context.Context, name string, payload []byte, args ...string) (wire.Command, error) {
	cl := &call{name: name}
	trid, err := c.send(ctx, cl, name, payload, true, args...)
	if err != nil {
		return wire.Command{}, err
	}
	return c.wait(ctx, trid, cl)
}

// request sends a command and waits for its complete reply.
func (c *conn) request(ctx context.Context, accept func(wire.Command) (bool, error), name string, args ...string) (wire.Command, error) {
	cl := &call{name: name, accept: accept}
	trid, err := c.send(ctx, cl, name, nil, false, args...)
	if err != nil {
		return wire.Command{}, err
	}
	return c.wait(ctx, trid, cl)
}

// wait waits for the call's outcome; the end of the connection fails
// every call still pending, so only ctx may end the wait first.
func (c *conn) wait(ctx context.Context, trid int, cl *call) (wire.Command, error) {
	r, err := cl.answer.Wait(ctx, nil)
	if err != nil {
		c.forget(trid, cl)
		return wire.Command{}, err
	}
	return r.line, r.err
}

// write sends raw bytes. A failed or timed-out write may have left half a
// command on the wire, so it ends the connection.
func (c *conn) write(ctx context.Context, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.log.Enabled(ctx, slog.LevelDebug) {
		line, _, _ := strings.Cut(string(b), "\r\n")
		f := strings.Fields(line)
		if len(f) > 0 {
			line = wire.Redacted(f[0], f[1:])
		}
		c.log.Debug("msnp send", "cmd", line, "bytes", len(b))
	}
	b = b[c.writeAtOnce(b):]
	if len(b) == 0 {
		return nil
	}
	// The socket is full, or failed: the rest waits for room, as long as
	// the deadline allows, and the write reports the failure.
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultWriteTimeout)
	}
	c.nc.SetWriteDeadline(deadline)
	_, err := c.nc.Write(b)
	// A deadline left behind would fail the writes that do not wait.
	c.nc.SetWriteDeadline(time.Time{})
	if err != nil {
		c.fail(err)
		return closedError(err)
	}
	return nil
}

// writeAtOnce writes what of b the socket takes without waiting and
// returns how much that was: 0 when nc is no socket, or the socket is full
// or failed. wmu is held.
func (c *conn) writeAtOnce(b []byte) int {
	if c.raw == nil {
		return 0
	}
	c.unsent, c.sentNow = b, 0
	err := c.raw.Write(c.writeNow)
	c.unsent = nil
	if err != nil {
		return 0
	}
	return max(c.sentNow, 0)
}

// ping sends PNG (which has no TrID) and waits for a QNG. QNGs answer PNGs
// in order.
func (c *conn) ping(ctx context.Context) error {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	if c.closing {
		cause := c.cause
		c.mu.Unlock()
		return closedError(cause)
	}
	c.pings = append(c.pings, ch)
	c.mu.Unlock()
	if err := c.write(ctx, []byte("PNG\r\n")); err != nil {
		return err
	}
	select {
	case _, ok := <-ch:
		if !ok {
			return c.closedErr()
		}
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		for i, p := range c.pings {
			if p == ch {
				c.pings = append(c.pings[:i], c.pings[i+1:]...)
				break
			}
		}
		c.mu.Unlock()
		return ctx.Err()
	}
}

// pong answers the oldest waiting ping.
func (c *conn) pong() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pings) > 0 {
		c.pings[0] <- struct{}{}
		c.pings = c.pings[1:]
	}
}

func (c *conn) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return closedError(c.cause)
}

// fail records why the connection ends (the first reason wins) and closes
// the socket; the reader goroutine then shuts everything down.
func (c *conn) fail(cause error) {
	c.mu.Lock()
	if c.cause == nil {
		c.cause = cause
	}
	c.closing = true
	c.mu.Unlock()
	c.nc.Close()
}

// close ends the connection now and waits for the reader goroutine.
func (c *conn) close() {
	c.fail(ErrClosed)
	<-c.done
}

// quit sends OUT, lets the server close the connection (reading whatever it
// still sends, so nothing is reset), and closes it after quitGrace at most.
func (c *conn) quit() {
	c.mu.Lock()
	wasClosing := c.closing
	if c.cause == nil {
		c.cause = ErrClosed
	}
	c.closing = true
	c.mu.Unlock()
	if !wasClosing {
		ctx, cancel := context.WithTimeout(context.Background(), quitGrace)
		err := c.write(ctx, []byte("OUT\r\n"))
		cancel()
		if err == nil {
			if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
				tc.CloseWrite()
			}
			t := time.NewTimer(quitGrace)
			select {
			case <-c.done:
			case <-t.C:
			}
			t.Stop()
		}
	}
	c.close()
}

// errorCode reports whether a command name is a three-digit error code.
func errorCode(name string) (int, bool) {
	if len(name) != 3 {
		return 0, false
	}
	n := 0
	for i := 0; i < 3; i++ {
		if name[i] < '0' || name[i] > '9' {
			return 0, false
		}
		n = n*10 + int(name[i]-'0')
	}
	return n, true
}

// nextTrID is the TrID the next request will use.
func (c *conn) nextTrID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.next
}
