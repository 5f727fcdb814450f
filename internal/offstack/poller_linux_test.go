package offstack

import (
	"bufio"
	"io"
	"net"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/crosstalk-im/crosstalk/internal/idleread"

	"github.com/crosstalk-im/crosstalk/metrics"
)

func TestPollerFunction(t *testing.T) {
	if name := runtime.FuncForPC(reflect.ValueOf((*poller).wait).Pointer()).Name(); name != PollerFunction {
		t.Fatalf("the poller runs %s, PollerFunction says %s", name, PollerFunction)
	}
}

// A waiting connection's record stays within the size class it was cut
// to.
func TestLoopSize(t *testing.T) {
	if n := unsafe.Sizeof(loop{}); n > 96 {
		t.Errorf("a waiting connection's record is %d bytes, want at most 96", n)
	}
}

// Each time a waiting connection becomes readable, the worker that reads
// it counts how long it waited for one, once.
func TestWakeupTimed(t *testing.T) {
	clients, _ := serveEcho(t, 1, 0)
	br := bufio.NewReader(clients[0])
	roundTrip(t, clients[0], br, "first")
	for i := range 3 {
		before := metrics.Value(metrics.WakeupSeconds)
		roundTrip(t, clients[0], br, "again")
		if got := metrics.Value(metrics.WakeupSeconds) - before; got != 1 {
			t.Fatalf("round trip %d: %v wake-ups timed, want 1", i, got)
		}
	}
}

// A connection's socket enters the epoll set once and stays there
// edge-triggered: round trips after the first, and the connection's end
// (its close takes the socket out), make no epoll_ctl.
func TestSocketArmedOnce(t *testing.T) {
	cl, br, c, l := waitingEcho(t)
	before := epollCtls.Load()
	for range 5 {
		roundTrip(t, cl, br, "again")
	}
	if _, err := io.WriteString(cl, "bye\n"); err != nil {
		t.Fatal(err)
	}
	if err := waitEnd(t, c); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the loop is forgotten", func() bool { return thePoller.loops[l.id] == nil })
	if n := epollCtls.Load() - before; n != 0 {
		t.Fatalf("5 round trips and the end made %d epoll_ctl calls, want 0", n)
	}
}

// An event can outlive its bytes (a worker read them before the poller
// took the event): the worker handed the loop for it reads without
// waiting, finds nothing and arms the loop again, rather than wait in a
// read for the client, and the next round trip goes as any.
func TestEventWithoutBytes(t *testing.T) {
	cl, br, c, l := waitingEcho(t)
	p := thePoller
	p.mu.Lock()
	p.claim(l)
	l.readyAt = time.Now().UnixNano()
	p.mu.Unlock()
	goRun(l)
	waitingLoop(t, c)
	roundTrip(t, cl, br, "after")
	c.closeAndWake()
	waitEnd(t, c)
}

// Bytes that arrive while the loop runs mark it: when its worker would
// arm it, it runs again on that worker instead, and reads them.
func TestEventWhileRunning(t *testing.T) {
	cl, br, c, l := waitingEcho(t)
	p := thePoller
	p.mu.Lock()
	p.claim(l) // as if a worker ran it
	p.mu.Unlock()
	if _, err := io.WriteString(cl, "meanwhile\n"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the poller marks the running loop", func() bool { return l.again == armPending })
	if got := p.arm(l); got != armPending {
		t.Fatalf("arm after bytes came: %d, want armPending", got)
	}
	l.readyAt = time.Now().UnixNano()
	goRun(l)
	expectLines(t, br, "MEANWHILE\n")
	roundTrip(t, cl, br, "after")
	c.closeAndWake()
	waitEnd(t, c)
}

// waitingEcho is an echo connection after its first round trip, once its
// loop waits on the poller.
func waitingEcho(t *testing.T) (cl net.Conn, br *bufio.Reader, c *echoConn, l *loop) {
	t.Helper()
	clients, conns := serveEcho(t, 1, time.Minute)
	cl, br = clients[0], bufio.NewReader(clients[0])
	c = <-conns
	roundTrip(t, cl, br, "first")
	return cl, br, c, waitingLoop(t, c)
}

// waitingLoop waits until c's loop waits on the poller, and returns it.
func waitingLoop(t *testing.T, c *echoConn) *loop {
	t.Helper()
	var found *loop
	waitUntil(t, "the connection's loop waits", func() bool {
		for _, l := range thePoller.loops {
			if l.c == Conn(c) && l.armed {
				found = l
			}
		}
		return found != nil
	})
	return found
}

// waitUntil waits until ok, which runs with the poller locked, holds.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	p := getPoller()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		p.mu.Lock()
		done := ok()
		p.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

// A client that sends its last line and its end at once, before the loop
// wakes, is answered and ended: the one event that tells of both does not
// leave the end unread while the loop waits for another.
func TestLastLineAndEndAtOnce(t *testing.T) {
	for i := range 20 {
		cl, br, c, _ := waitingEcho(t)
		if _, err := io.WriteString(cl, "last\n"); err != nil {
			t.Fatal(err)
		}
		_ = cl.(*net.TCPConn).CloseWrite()
		expectLines(t, br, "LAST\n")
		if err := waitEnd(t, c); err != io.EOF {
			t.Fatalf("round %d: ended with %v, want EOF", i, err)
		}
	}
}

// More than the reader's buffer at once, with a line ending exactly where
// the buffer does: the loop reads on rather than wait for an event that
// the bytes left in the socket will not send again.
func TestMoreThanABufferAtOnce(t *testing.T) {
	cl, br, c, _ := waitingEcho(t)
	long := strings.Repeat("x", idleread.BufferSize-1) + "\n"
	batch := long + "after\n"
	if _, err := io.WriteString(cl, batch); err != nil {
		t.Fatal(err)
	}
	expectLines(t, br, strings.ToUpper(long), "AFTER\n")
	c.closeAndWake()
	waitEnd(t, c)
}

// heldRawConnReader records how the loop asks its reader to read.
type heldRawConnReader struct {
	*idleread.Reader
	withoutHeld, fromHeld atomic.Int64
}

func (r *heldRawConnReader) ReadReady(rc syscall.RawConn) bool {
	if rc != nil {
		r.fromHeld.Add(1)
	} else {
		r.withoutHeld.Add(1)
	}
	return r.Reader.ReadReady(rc)
}

// A loop hands its reader the RawConn it holds, on every wake-up: the
// connection is not asked for one.
func TestLoopReadsThroughItsRawConn(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cl, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := &echoConn{nc: nc, r: idleread.NewReader(nc), ended: make(chan error, 1)}
	r := &heldRawConnReader{Reader: c.r}
	Serve(r, nc, c, c)
	br := bufio.NewReader(cl)
	for range 3 {
		roundTrip(t, cl, br, "again")
	}
	c.closeAndWake()
	waitEnd(t, c)
	if n, held := r.withoutHeld.Load(), r.fromHeld.Load(); n != 0 || held < 3 {
		t.Fatalf("3 round trips: %d reads through the held RawConn and %d without, want at least 3 and none", held, n)
	}
}
