package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/sip/client"
)

// TestIdleSessionsWait: a signed-in client with nothing to send leaves
// nothing running for its connection over TCP on Linux (offstack.Serve's
// poller waits on the socket), and over TLS (whose own buffers may hold
// what comes next, so it cannot be waited on without reading) a read on
// the connection's own goroutine, never on one of the workers that handle
// messages. Both sessions still work after the wait.
func TestIdleSessionsWait(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	tlsAddr := e.serveTLS(t)

	a := e.signIn(t, alice, "pa")
	b, err := client.Dial(testCtx(t), tlsAddr, client.Options{TLS: e.tlsClient})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.SignIn(testCtx(t), bob.Email, "pb"); err != nil {
		t.Fatal(err)
	}

	const readsTLS = "crypto/tls.(*Conn).Read"
	wantConns := 1 // the TLS one
	if runtime.GOOS != "linux" {
		wantConns = 2 // the TCP one waits on its goroutine too
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var conns, tlsReads int
		for _, g := range serverConnGoroutines() {
			switch {
			case strings.Contains(g, "offstack.work") && (strings.Contains(g, readsTLS) || strings.Contains(g, "net.(*conn).Read")):
				t.Fatalf("a worker waits for a client:\n%s", g)
			case strings.Contains(g, "(*Server).handle"):
				conns++
				if strings.Contains(g, readsTLS) {
					tlsReads++
				}
			}
		}
		if conns == wantConns && tlsReads == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections with a goroutine (want %d), %d reading TLS on it (want 1)", conns, wantConns, tlsReads)
		}
		time.Sleep(10 * time.Millisecond)
	}

	ctx := testCtx(t)
	if err := a.SendMessage(ctx, bob.Email, "after the wait"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, b); m.Text != "after the wait" {
		t.Fatalf("bob got %+v", m)
	}
	if err := b.SendMessage(ctx, alice.Email, "over TLS"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, a); m.Text != "over TLS" {
		t.Fatalf("alice got %+v", m)
	}
}

// serverConnGoroutines returns the stacks of the goroutines that run this
// package's connections.
func serverConnGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "sip/server.(*") {
			found = append(found, g)
		}
	}
	return found
}

// serveTLS serves e's server on a TLS listener too, with a certificate
// that e.tlsClient trusts, and returns its address.
func (e *testEnv) serveTLS(tb testing.TB) string {
	tb.Helper()
	certs := testenv.TLSCertificates(tb)
	cert, err := tls.LoadX509KeyPair(certs.Cert, certs.Key)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		served <- e.srv.Serve(tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}()
	// This runs before testenv.Serve's clean-up, registered earlier: it
	// shuts the server down itself (again later, which does nothing).
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			tb.Errorf("serving TLS: %v", err)
		}
	})
	e.tlsClient = &tls.Config{RootCAs: certs.Pool, ServerName: testenv.ServerName}
	return l.Addr().String()
}

// TestReadDeadline: a connection waits for its client until the login
// deadline before sign-in; after it, for the idle timeout from now (every
// message and keep-alive moves it on), cut short by the end of the
// registration when that comes first, so that an unrenewed registration
// ends the session (a registration lasts a minute at least, too long to
// wait for over a socket here).
func TestReadDeadline(t *testing.T) {
	nc, peer := net.Pipe()
	defer nc.Close()
	defer peer.Close()
	loginBy := time.Now().Add(time.Minute)
	c := &conn{srv: New(Config{IdleTimeout: time.Hour}), nc: nc, loginBy: loginBy.UnixNano()}
	if d := c.Arm(); !d.Equal(loginBy) {
		t.Fatalf("before sign-in: %v, want the login deadline %v", d, loginBy)
	}
	c.session = &hub.Session{}
	c.until = time.Now().Add(2 * time.Hour).UnixNano()
	earliest := time.Now().Add(time.Hour)
	if d := c.Arm(); d.Before(earliest) || d.After(time.Now().Add(time.Hour)) {
		t.Fatalf("signed in, registered for two hours: %v, want an hour from now", d)
	}
	until := time.Now().Add(10 * time.Minute)
	c.until = until.UnixNano()
	if d := c.Arm(); !d.Equal(until) {
		t.Fatalf("registration ending first: %v, want its end %v", d, until)
	}
}
