package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/sip/client"
	"github.com/crosstalk-im/crosstalk/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(offstack.WorkerFunction), goleak.IgnoreAnyFunction(offstack.PollerFunction))
}

type testEnv struct {
	store *store.SQLite
	hub   *hub.Hub
	srv   *Server
	addr  string
	// tlsClient trusts the certificate of serveTLS.
	tlsClient *tls.Config
}

func newTestEnv(tb testing.TB, tweak func(*Config)) *testEnv {
	tb.Helper()
	st, h := testenv.Hub(tb, hub.Config{})
	cfg := Config{Hub: h, TargetName: "sip.example.com"}
	if tweak != nil {
		tweak(&cfg)
	}
	srv := New(cfg)
	return &testEnv{store: st, hub: h, srv: srv, addr: testenv.Serve(tb, srv, ErrServerClosed)}
}

// account creates an account user<number>@example.com.
func (e *testEnv) account(tb testing.TB, number uint32, name, password string) hub.Account {
	tb.Helper()
	a, err := e.store.CreateAccount(context.Background(),
		hub.Account{Number: number, Email: fmt.Sprintf("user%d@example.com", number), DisplayName: name}, password)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func (e *testEnv) follow(tb testing.TB, owner, contact uint32) {
	tb.Helper()
	if _, err := e.store.AddToList(context.Background(), owner, contact, hub.Forward, 0, 100); err != nil {
		tb.Fatal(err)
	}
}

func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// dial connects a client library client; it is closed when the test ends.
func (e *testEnv) dial(tb testing.TB) *client.Client {
	tb.Helper()
	return e.dialWith(tb, client.Options{})
}

// dialWith connects a client library client with opts.
func (e *testEnv) dialWith(tb testing.TB, opts client.Options) *client.Client {
	tb.Helper()
	c, err := client.Dial(testCtx(tb), e.addr, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// signIn connects and signs a in.
func (e *testEnv) signIn(tb testing.TB, a hub.Account, password string) *client.Client {
	tb.Helper()
	return e.signInWith(tb, a, password, client.Options{})
}

// signInWith connects with opts and signs a in.
func (e *testEnv) signInWith(tb testing.TB, a hub.Account, password string, opts client.Options) *client.Client {
	tb.Helper()
	c := e.dialWith(tb, opts)
	if err := c.SignIn(testCtx(tb), a.Email, password); err != nil {
		tb.Fatalf("sign-in of %s: %v", a.Email, err)
	}
	return c
}

// next waits for the next event of type T, skipping others.
func next[T client.Event](tb testing.TB, c *client.Client) T {
	tb.Helper()
	ctx := testCtx(tb)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				tb.Fatalf("events closed waiting for %T", *new(T))
			}
			if d, ok := ev.(client.Disconnected); ok {
				var zero T
				if _, want := any(zero).(client.Disconnected); !want {
					tb.Fatalf("disconnected waiting for %T: %v", zero, d.Err)
				}
			}
			if t, ok := ev.(T); ok {
				return t
			}
		case <-ctx.Done():
			tb.Fatalf("no %T: %v", *new(T), ctx.Err())
		}
	}
}

// presenceOf waits for a presence event about uri that satisfies ok.
func presenceOf(tb testing.TB, c *client.Client, uri string, ok func(client.Presence) bool) client.Presence {
	tb.Helper()
	for {
		p := next[client.Presence](tb, c)
		if p.URI == uri && ok(p) {
			return p
		}
	}
}

// hubSession attaches an account to the hub directly, as another
// protocol's frontend would, with a status.
func (e *testEnv) hubSession(tb testing.TB, a hub.Account, st hub.Status, text string) *testenv.Peer {
	tb.Helper()
	s := testenv.Attach(tb, e.hub, a)
	if err := s.SetPresence(context.Background(), st, text); err != nil {
		tb.Fatal(err)
	}
	return s
}
