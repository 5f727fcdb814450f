package offstack

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
	"github.com/crosstalk-im/crosstalk/internal/idleread"
)

// echoConn answers each line it reads with the line upper-cased, and
// "bye" by ending the connection.
type echoConn struct {
	nc    net.Conn
	r     *idleread.Reader
	idle  time.Duration // the read deadline after each line; 0: none
	ended chan error

	deadlinesSet atomic.Int64

	mu     sync.Mutex
	reader Waker
}

func (c *echoConn) Next() (bool, error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return true, err
	}
	if string(line) == "bye\n" {
		return true, nil
	}
	_, err = c.nc.Write([]byte(strings.ToUpper(string(line))))
	return err != nil, err
}

func (c *echoConn) Arm() time.Time {
	if c.idle == 0 {
		return time.Time{}
	}
	return time.Now().Add(c.idle)
}

func (c *echoConn) End(err error) {
	c.r.Release()
	_ = c.nc.Close()
	c.ended <- err
}

// FrameBuffered: a whole line waits in the buffer.
func (c *echoConn) FrameBuffered() bool {
	buf, _ := c.r.Peek(c.r.Buffered())
	return bytes.IndexByte(buf, '\n') >= 0
}

// The echo connection is its own Deadlines: it closes its socket itself.
// It counts the deadlines set that are not the zero time.
func (c *echoConn) SetReadDeadline(t time.Time) error {
	if !t.IsZero() {
		c.deadlinesSet.Add(1)
	}
	return c.nc.SetReadDeadline(t)
}

func (c *echoConn) WakeReader(w Waker) {
	c.mu.Lock()
	c.reader = w
	c.mu.Unlock()
}

// closeAndWake closes the socket as an outbox does.
func (c *echoConn) closeAndWake() {
	_ = c.nc.Close()
	c.mu.Lock()
	reader := c.reader
	c.mu.Unlock()
	if reader != nil {
		reader.Wake()
	}
}

// serveEcho accepts n connections on a loopback listener and serves each
// with Serve from the accepting goroutine, as the protocol servers do.
func serveEcho(t *testing.T, n int, idle time.Duration) (clients []net.Conn, conns chan *echoConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conns = make(chan *echoConn, n)
	accepted := make(chan struct{})
	defer func() { <-accepted }() // before the listener closes on what it queued
	go func() {
		defer close(accepted)
		for range n {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			c := &echoConn{nc: nc, r: idleread.NewReader(nc), idle: idle, ended: make(chan error, 1)}
			conns <- c
			go Serve(c.r, nc, c, c)
		}
	}()
	for range n {
		cl, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		clients = append(clients, cl)
	}
	return clients, conns
}

func roundTrip(t *testing.T, cl net.Conn, br *bufio.Reader, line string) {
	t.Helper()
	if _, err := io.WriteString(cl, line+"\n"); err != nil {
		t.Fatal(err)
	}
	got, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if got != strings.ToUpper(line)+"\n" {
		t.Fatalf("sent %q, got %q", line, got)
	}
}

// expectLines reads the lines wanted, in order.
func expectLines(t *testing.T, br *bufio.Reader, wants ...string) {
	t.Helper()
	for _, want := range wants {
		got, err := br.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
}

func waitEnd(t *testing.T, c *echoConn) error {
	t.Helper()
	select {
	case err := <-c.ended:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the connection never ended")
		return nil
	}
}

// Idle connections served by Serve hold no goroutine: after a round trip
// each, a few hundred of them leave the goroutine count near where it was.
func TestServeIdleHoldsNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("connections wait without a goroutine on Linux only")
	}
	const n = 300
	base := runtime.NumGoroutine()
	clients, conns := serveEcho(t, n, time.Hour)
	for _, cl := range clients {
		roundTrip(t, cl, bufio.NewReader(cl), "hello")
	}
	// Workers that ran the frames wait idle for a while (at most maxIdle),
	// the poller for good; no connection keeps one.
	if extra := runtime.NumGoroutine() - base; extra > maxIdle+8 {
		t.Fatalf("%d goroutines more than before for %d idle connections", extra, n)
	}
	for _, cl := range clients {
		if _, err := io.WriteString(cl, "bye\n"); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		if err := waitEnd(t, <-conns); err != nil {
			t.Fatalf("ended with %v", err)
		}
	}
}

// Frames that arrive in pieces and in batches are all handled, in order,
// across many waits.
func TestServeFramesInOrder(t *testing.T) {
	clients, conns := serveEcho(t, 1, time.Minute)
	cl, br := clients[0], bufio.NewReader(clients[0])
	for _, line := range []string{"one", "two", "three"} {
		roundTrip(t, cl, br, line)
	}
	// A line in two pieces, then three lines in one write.
	if _, err := io.WriteString(cl, "fo"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := io.WriteString(cl, "ur\nfive\nsix\nseven\n"); err != nil {
		t.Fatal(err)
	}
	expectLines(t, br, "FOUR\n", "FIVE\n", "SIX\n", "SEVEN\n")
	_ = cl.Close()
	if err := waitEnd(t, <-conns); !errors.Is(err, io.EOF) {
		t.Fatalf("a client that hung up ended the loop with %v, want EOF", err)
	}
}

// A batch of lines that arrived at once, read whole when the loop wakes,
// moves the read deadline for none of its lines, whose handling reads
// nothing; the rest of a line still waits under one, and a client silent
// past it ends the loop with a timeout.
func TestServeBatchKeepsDeadline(t *testing.T) {
	clients, conns := serveEcho(t, 1, 200*time.Millisecond)
	cl, br := clients[0], bufio.NewReader(clients[0])
	c := <-conns
	roundTrip(t, cl, br, "zero")
	before := c.deadlinesSet.Load()
	if _, err := io.WriteString(cl, "one\ntwo\nthree\nfour\npart"); err != nil {
		t.Fatal(err)
	}
	expectLines(t, br, "ONE\n", "TWO\n", "THREE\n", "FOUR\n")
	if err := waitEnd(t, c); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a client silent in the middle of a line ended the loop with %v, want a deadline error", err)
	}
	// Before the read of the part line only.
	if set := c.deadlinesSet.Load() - before; set != 1 {
		t.Errorf("the batch set %d read deadlines, want 1", set)
	}
}

// A client silent past its deadline ends the loop with a timeout, as a
// read past its deadline does, though no read waits meanwhile.
func TestServeDeadline(t *testing.T) {
	clients, conns := serveEcho(t, 1, 200*time.Millisecond)
	roundTrip(t, clients[0], bufio.NewReader(clients[0]), "hello")
	if err := waitEnd(t, <-conns); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a silent client ended the loop with %v, want a deadline error", err)
	}
}

// Closing the connection elsewhere (as the outbox does on shutdown) and
// waking the reader ends the loop at once, with no deadline to wait for.
func TestServeWake(t *testing.T) {
	clients, conns := serveEcho(t, 1, 0)
	roundTrip(t, clients[0], bufio.NewReader(clients[0]), "hello")
	c := <-conns
	c.closeAndWake()
	if err := waitEnd(t, c); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("a closed connection ended the loop with %v, want net.ErrClosed", err)
	}
}

// A connection that is not a socket runs on the caller's goroutine:
// Serve returns after End.
func TestServePipe(t *testing.T) {
	server, client := net.Pipe()
	c := &echoConn{nc: server, r: idleread.NewReader(server), ended: make(chan error, 1)}
	go func() {
		br := bufio.NewReader(client)
		roundTrip(t, client, br, "hello")
		_, _ = io.WriteString(client, "bye\n")
	}()
	Serve(c.r, server, c, c)
	select {
	case err := <-c.ended:
		if err != nil {
			t.Fatalf("ended with %v", err)
		}
	default:
		t.Fatal("Serve returned before End ran")
	}
}

// Bytes the reader holds already when Serve starts (read with a
// handshake, say) are handled at once: the socket, which has nothing
// more to say, is not waited on first.
func TestServeBufferedAtStart(t *testing.T) {
	nc, cl := fakeserver.TCPPair(t)
	if _, err := io.WriteString(cl, "early\n"); err != nil {
		t.Fatal(err)
	}
	c := &echoConn{nc: nc, r: idleread.NewReader(nc), idle: time.Minute, ended: make(chan error, 1)}
	if _, err := c.r.Peek(len("early\n")); err != nil {
		t.Fatal(err)
	}
	go Serve(c.r, nc, c, c)
	_ = cl.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(cl)
	if got, err := br.ReadString('\n'); got != "EARLY\n" {
		t.Fatalf("got %q, %v; want the buffered line answered", got, err)
	}
	roundTrip(t, cl, br, "later")
	c.closeAndWake()
	waitEnd(t, c)
}

// Setup runs in place for a socket that Serve hands to the poller (the
// calling goroutine ends soon after), and on a worker for a connection
// that Serve will run on the calling goroutine (a pipe), as Run does.
func TestSetup(t *testing.T) {
	sock, _ := fakeserver.TCPPair(t)
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()

	caller := goroutineID()
	var onSocket, onPipe uint64
	Setup(sock, func() { onSocket = goroutineID() })
	Setup(server, func() { onPipe = goroutineID() })
	if onPipe == 0 || onPipe == caller {
		t.Errorf("set up a pipe on goroutine %d, the caller is %d: want a worker", onPipe, caller)
	}
	// Without a poller (not Linux) a socket is served as a pipe is.
	if inPlace := onSocket == caller; inPlace != (runtime.GOOS == "linux") || onSocket == 0 {
		t.Errorf("set up a socket on goroutine %d, the caller is %d (%s)", onSocket, caller, runtime.GOOS)
	}
}
