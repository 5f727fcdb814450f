package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer is a scripted stand-in for an MSNP server: each accepted
// connection is handed to the next script, which expects exact lines from
// the client and answers with given lines.
type fakeServer struct {
	t       *testing.T
	ln      net.Listener
	mu      sync.Mutex
	scripts []func(*peer)
	wg      sync.WaitGroup
}

// errAbort unwinds a script after a failed expectation.
var errAbort = errors.New("script aborted")

func newFake(t *testing.T, scripts ...func(*peer)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{t: t, ln: ln, scripts: scripts}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.stop)
	return f
}

func (f *fakeServer) addr() string { return f.ln.Addr().String() }

func (f *fakeServer) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		if len(f.scripts) == 0 {
			f.mu.Unlock()
			f.t.Errorf("fake %s: unexpected extra connection", f.addr())
			c.Close()
			continue
		}
		script := f.scripts[0]
		f.scripts = f.scripts[1:]
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			p := &peer{t: f.t, c: c, br: bufio.NewReader(c)}
			defer c.Close()
			defer func() {
				if r := recover(); r != nil && r != errAbort {
					panic(r)
				}
			}()
			script(p)
		}()
	}
}

// stop closes the listener and waits for the scripts to finish.
func (f *fakeServer) stop() {
	f.ln.Close()
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.scripts); n > 0 && !f.t.Failed() {
		f.t.Errorf("fake %s: %d scripted connection(s) never made", f.addr(), n)
	}
}

// peer is the server side of one connection.
type peer struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func (p *peer) failf(format string, args ...any) {
	p.t.Helper()
	p.t.Errorf(format, args...)
	panic(errAbort)
}

// line reads one client line, which must end in CRLF.
func (p *peer) line() string {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	s, err := p.br.ReadString('\n')
	if err != nil {
		p.failf("fake: reading line (have %q): %v", s, err)
	}
	if !strings.HasSuffix(s, "\r\n") {
		p.failf("fake: line %q does not end in CRLF", s)
	}
	return strings.TrimSuffix(s, "\r\n")
}

// expect reads one line and compares it.
func (p *peer) expect(want string) {
	p.t.Helper()
	if got := p.line(); got != want {
		p.failf("fake: got %q, want %q", got, want)
	}
}

// payloadCmd reads a payload command line and its payload.
func (p *peer) payloadCmd() (string, []byte) {
	p.t.Helper()
	l := p.line()
	f := strings.Fields(l)
	n, err := strconv.Atoi(f[len(f)-1])
	if err != nil {
		p.failf("fake: no length in %q", l)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(p.br, buf); err != nil {
		p.failf("fake: reading %d payload bytes of %q: %v", n, l, err)
	}
	return l, buf
}

// expectPayload reads a payload command and compares line and payload.
func (p *peer) expectPayload(wantLine, wantPayload string) {
	p.t.Helper()
	l, payload := p.payloadCmd()
	if l != wantLine || string(payload) != wantPayload {
		p.failf("fake: got %q + %q, want %q + %q", l, payload, wantLine, wantPayload)
	}
}

// send writes lines, each terminated by CRLF.
func (p *peer) send(lines ...string) {
	for _, l := range lines {
		p.raw(l + "\r\n")
	}
}

func (p *peer) raw(s string) {
	if _, err := io.WriteString(p.c, s); err != nil {
		p.failf("fake: write: %v", err)
	}
}

// sendMsg writes "head <len>\r\n" and the payload.
func (p *peer) sendMsg(head, payload string) {
	p.raw(fmt.Sprintf("%s %d\r\n%s", head, len(payload), payload))
}

// expectClose waits for the client to close its side.
func (p *peer) expectClose() {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if s, err := p.br.ReadString('\n'); err != io.EOF {
		p.failf("fake: want EOF, got %q, %v", s, err)
	}
}

// Login helpers: a default MSNP7 login with CVR for alice@example.com.
const (
	testSalt     = "989048851.1851137130"
	testPassword = "password"
	// MD5("989048851.1851137130password"), computed with md5sum.
	testHash = "c4b26d6e3c1e077ea7f72ce010416663"
)

// login scripts VER/INF/CVR/USR for email on an MSNP7 server; the client's
// next TrID afterwards is 5.
func login(p *peer, email, friendly string) {
	p.t.Helper()
	p.expect("VER 0 MSNP7 MSNP6 MSNP5 MSNP4 MSNP3 MSNP2 CVR0")
	p.send("VER 0 MSNP7 CVR0")
	p.expect("INF 1")
	p.send("INF 1 MD5")
	p.expect("CVR 2 0x0409 winnt 5.1 i386 MSMSGS 4.7.0105 MSMSGS " + email)
	p.send("CVR 2 4.7.0105 4.7.0105 4.5.0127 http://download.example/mmssetup.exe http://messenger.example")
	p.expect("USR 3 MD5 I " + email)
	p.send("USR 3 MD5 S " + testSalt)
	p.expect("USR 4 MD5 S " + testHash)
	p.send("USR 4 OK " + email + " " + friendly + " 1")
}

// dialLogin connects to f and logs in as email.
func dialLogin(t *testing.T, f *fakeServer, email string, opts Options) *Client {
	t.Helper()
	ctx := testCtx(t)
	c, err := Dial(ctx, f.addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, email, testPassword); err != nil {
		t.Fatalf("Login: %v", err)
	}
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// next returns the next event, failing after a timeout.
func next(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("event channel closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return nil
}

// nextOf skips events until one of type T arrives.
func nextOf[T Event](t *testing.T, ch <-chan Event) T {
	t.Helper()
	for {
		if ev, ok := next(t, ch).(T); ok {
			return ev
		}
	}
}

// drainUntilClosed reads events until the channel closes and returns the
// last one.
func drainUntilClosed(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	var last Event
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return last
			}
			last = ev
		case <-timeout:
			t.Fatal("event channel not closed within 5s")
		}
	}
}

// settleGoroutines waits until the number of goroutines drops to at most
// base, reporting a leak otherwise.
func settleGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want <= %d:\n%s", n, base, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
