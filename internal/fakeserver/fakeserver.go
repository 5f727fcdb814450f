// Package fakeserver is the protocol-neutral part of the client libraries'
// tests: a scripted server on loopback TCP that plays the server's side of
// each connection byte for byte, an in-memory feed for fuzzing, and a
// check that no client goroutine outlives the tests. Each protocol adds its
// own framing on top, typically by embedding *Peer.
package fakeserver

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/idleread"
)

// Timeout bounds every read a script makes, so that a client that never
// sends what the script waits for fails the test instead of hanging it.
const Timeout = 5 * time.Second

// ShortTimeout is a deadline for a call the script lets time out: long
// enough that the client writes its request before it passes, even on a
// busy machine, as the script expects that request.
const ShortTimeout = 300 * time.Millisecond

// errAbort unwinds a script after a failed expectation.
var errAbort = errors.New("script aborted")

// Server is a scripted stand-in for a server: each accepted connection is
// handed to the next script. A connection beyond the scripts, and a
// script left without a connection when the test ends, fail the test.
type Server struct {
	tb      testing.TB
	ln      net.Listener
	mu      sync.Mutex
	scripts []func(*Peer)
	wg      sync.WaitGroup
}

// New listens on a loopback port and serves scripts in order until the
// test ends. wrap turns the connection's Peer into the protocol's own
// peer type that the scripts take.
func New[P any](tb testing.TB, wrap func(*Peer) P, scripts ...func(P)) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{tb: tb, ln: ln}
	for _, script := range scripts {
		s.scripts = append(s.scripts, func(p *Peer) { script(wrap(p)) })
	}
	s.wg.Add(1)
	go s.serve()
	tb.Cleanup(s.Stop)
	return s
}

// Addr is the address to dial; it stays valid after Stop.
func (s *Server) Addr() string { return s.ln.Addr().String() }

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if len(s.scripts) == 0 {
			s.mu.Unlock()
			s.tb.Errorf("fake %s: unexpected extra connection", s.Addr())
			c.Close()
			continue
		}
		script := s.scripts[0]
		s.scripts = s.scripts[1:]
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			defer func() {
				if r := recover(); r != nil && r != errAbort {
					panic(r)
				}
			}()
			script(&Peer{T: s.tb, Conn: c, R: idleread.NewReader(c)})
		}()
	}
}

// Stop closes the listener, waits for the running scripts to finish and
// reports the scripts no connection reached. The test's cleanup calls it;
// calling it earlier, to wait for the scripts, is fine.
func (s *Server) Stop() {
	s.ln.Close()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	// A test that already failed has usually lost its client before the
	// later connections: saying so again would only be noise.
	if n := len(s.scripts); n > 0 && !s.tb.Failed() {
		s.tb.Errorf("fake %s: %d scripted connection(s) never made", s.Addr(), n)
	}
}

// Peer is the server side of one connection. Reads go through R, which a
// protocol's reader may wrap: idleread.NewReader hands back R itself, so
// nothing is buffered twice.
type Peer struct {
	T    testing.TB
	Conn net.Conn
	R    *idleread.Reader
}

// Failf reports a failed expectation and ends the script; the server
// closes the connection.
func (p *Peer) Failf(format string, args ...any) {
	p.T.Helper()
	p.T.Errorf(format, args...)
	panic(errAbort)
}

// Arm sets the read deadline Timeout from now.
func (p *Peer) Arm() {
	p.Conn.SetReadDeadline(time.Now().Add(Timeout))
}

// Expect reads exactly the bytes of want and compares them.
func (p *Peer) Expect(want string) {
	p.T.Helper()
	p.ExpectWithin(Timeout, want)
}

// ExpectWithin is Expect with its own deadline, for what a client sends
// only after a while (keep-alives); it returns when the bytes came.
func (p *Peer) ExpectWithin(d time.Duration, want string) time.Time {
	p.T.Helper()
	p.Conn.SetReadDeadline(time.Now().Add(d))
	got := make([]byte, len(want))
	n, err := io.ReadFull(p.R, got)
	if err != nil || string(got) != want {
		p.Failf("fake: got %q, %v\nwant    %q", got[:n], err, want)
	}
	return time.Now()
}

// Send writes chunks back to back in one write.
func (p *Peer) Send(chunks ...string) {
	p.T.Helper()
	var b []byte
	for _, c := range chunks {
		b = append(b, c...)
	}
	if _, err := p.Conn.Write(b); err != nil {
		p.Failf("fake: write: %v", err)
	}
}

// ExpectClose waits for the client to close its side. A reset counts too:
// a client closing with unread data in its buffer sends one.
func (p *Peer) ExpectClose() {
	p.T.Helper()
	p.Arm()
	if b, err := p.R.Peek(1); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		p.Failf("fake: want EOF, got %q, %v", b, err)
	}
}

// ExpectEOF is ExpectClose for a client that must not leave anything
// unread: only a clean end of the stream will do.
func (p *Peer) ExpectEOF() {
	p.T.Helper()
	p.Arm()
	if b, err := p.R.Peek(1); err != io.EOF {
		p.Failf("fake: want EOF, got %q, %v", b, err)
	}
}

// TCPPair connects a client socket to a server socket over loopback, for
// tests of what runs on one end of a real connection; both close when the
// test ends.
func TCPPair(tb testing.TB) (server, client net.Conn) {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close() })
	server, err = l.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { server.Close() })
	return server, client
}
