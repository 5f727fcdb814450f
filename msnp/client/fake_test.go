package client

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
)

// peer is the server side of one connection to a scripted stand-in for
// an MSNP server, which expects exact lines from the client and answers
// with given lines.
type peer struct{ *fakeserver.Peer }

func newFake(t *testing.T, scripts ...func(*peer)) *fakeserver.Server {
	t.Helper()
	return fakeserver.New(t, func(p *fakeserver.Peer) *peer { return &peer{p} }, scripts...)
}

// switchboardGiver is a notification server that logs email in and
// answers its XFR SB with the switchboard at sbAddr and cookie, then waits
// for the client to hang up.
func switchboardGiver(t *testing.T, email, friendly, sbAddr, cookie string) *fakeserver.Server {
	t.Helper()
	return newFake(t, func(p *peer) {
		login(p, email, friendly)
		p.expect("XFR 5 SB")
		p.send("XFR 5 SB " + sbAddr + " CKI " + cookie)
		p.ExpectEOF()
	})
}

// line reads one client line, which must end in CRLF.
func (p *peer) line() string {
	p.T.Helper()
	p.Arm()
	b, err := p.R.ReadSlice('\n')
	s := string(b)
	if err != nil {
		p.Failf("fake: reading line (have %q): %v", s, err)
	}
	if !strings.HasSuffix(s, "\r\n") {
		p.Failf("fake: line %q does not end in CRLF", s)
	}
	return strings.TrimSuffix(s, "\r\n")
}

// expect reads one line and compares it.
func (p *peer) expect(want string) {
	p.T.Helper()
	if got := p.line(); got != want {
		p.Failf("fake: got %q, want %q", got, want)
	}
}

// payloadCmd reads a payload command line and its payload.
func (p *peer) payloadCmd() (string, []byte) {
	p.T.Helper()
	l := p.line()
	f := strings.Fields(l)
	n, err := strconv.Atoi(f[len(f)-1])
	if err != nil {
		p.Failf("fake: no length in %q", l)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(p.R, buf); err != nil {
		p.Failf("fake: reading %d payload bytes of %q: %v", n, l, err)
	}
	return l, buf
}

// expectPayload reads a payload command and compares line and payload.
func (p *peer) expectPayload(wantLine, wantPayload string) {
	p.T.Helper()
	l, payload := p.payloadCmd()
	if l != wantLine || string(payload) != wantPayload {
		p.Failf("fake: got %q + %q, want %q + %q", l, payload, wantLine, wantPayload)
	}
}

// send writes lines, each terminated by CRLF, one write a line.
func (p *peer) send(lines ...string) {
	p.T.Helper()
	for _, l := range lines {
		p.Send(l + "\r\n")
	}
}

// sendMsg writes "head <len>\r\n" and the payload.
func (p *peer) sendMsg(head, payload string) {
	p.Send(fmt.Sprintf("%s %d\r\n%s", head, len(payload), payload))
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
	p.T.Helper()
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
func dialLogin(t *testing.T, f *fakeserver.Server, email string, opts Options) *Client {
	t.Helper()
	ctx := testCtx(t)
	c, err := Dial(ctx, f.Addr(), opts)
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
