package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/store"
	"github.com/crosstalk-im/crosstalk/webchat/client"
	"github.com/crosstalk-im/crosstalk/webchat/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(offstack.WorkerFunction), goleak.IgnoreAnyFunction(offstack.PollerFunction))
}

type testEnv struct {
	store *store.SQLite
	hub   *hub.Hub
	srv   *Server
	// base is the HTTP address the service is mounted at, as
	// "http://127.0.0.1:port/chat/".
	base string
	// httpClient makes the clients' handshakes; nil: the default.
	httpClient *http.Client
}

// newTestEnv runs the service under /chat/ of an HTTP server on a loopback
// port; tweak adjusts its settings.
func newTestEnv(tb testing.TB, tweak func(*Config)) *testEnv {
	return newTestEnvOn(tb, tweak, httptest.NewServer)
}

// newTLSTestEnv is newTestEnv over HTTPS, whose clients trust it.
func newTLSTestEnv(tb testing.TB, tweak func(*Config)) *testEnv {
	return newTestEnvOn(tb, tweak, httptest.NewTLSServer)
}

func newTestEnvOn(tb testing.TB, tweak func(*Config), start func(http.Handler) *httptest.Server) *testEnv {
	tb.Helper()
	st, h := testenv.Hub(tb, hub.Config{})
	cfg := Config{Hub: h}
	if tweak != nil {
		tweak(&cfg)
	}
	srv := New(cfg)
	ts := start(http.StripPrefix("/chat", srv.Handler()))
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		ts.Close()
	})
	return &testEnv{store: st, hub: h, srv: srv, base: ts.URL + "/chat/", httpClient: ts.Client()}
}

func (e *testEnv) socketURL() string { return "ws" + strings.TrimPrefix(e.base, "http") + "ws" }

// account creates account number with e-mail u<number>@example.com.
func (e *testEnv) account(tb testing.TB, number uint32, name, password string) hub.Account {
	tb.Helper()
	a, err := e.store.CreateAccount(context.Background(),
		hub.Account{Number: number, Email: fmt.Sprintf("u%d@example.com", number), DisplayName: name}, password)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// dial connects a client that the test closes.
func (e *testEnv) dial(tb testing.TB, ctx context.Context, opts client.Options) *client.Client {
	tb.Helper()
	if opts.HTTPClient == nil {
		opts.HTTPClient = e.httpClient
	}
	c, err := client.Dial(ctx, e.socketURL(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// login dials and logs in with e-mail and password.
func (e *testEnv) login(tb testing.TB, ctx context.Context, a hub.Account, password string) *client.Client {
	tb.Helper()
	c := e.dial(tb, ctx, client.Options{})
	w, err := c.Login(ctx, a.Email, password)
	if err != nil {
		tb.Fatalf("login %s: %v", a.Email, err)
	}
	if w.Account.Number != a.Number {
		tb.Fatalf("welcome %+v, want account %d", w, a.Number)
	}
	return c
}

func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// next returns the client's next event of type T, skipping others.
func next[T any](tb testing.TB, ctx context.Context, c *client.Client) T {
	tb.Helper()
	return testenv.Next[T](tb, ctx, c.Events())
}

// presenceOf waits until number's status is want.
func presenceOf(tb testing.TB, ctx context.Context, c *client.Client, number uint32, want string) *wire.Presence {
	tb.Helper()
	for {
		p := next[*wire.Presence](tb, ctx, c)
		if p.From.Number == number && p.Status == want {
			return p
		}
	}
}

// errorCode is the code of a *client.Error, or "" for another error.
func errorCode(err error) string {
	if e, ok := err.(*client.Error); ok {
		return e.Code
	}
	return ""
}

func to(n uint32) wire.Contact { return wire.Contact{Number: n} }
