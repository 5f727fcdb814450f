package server

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/msim/client"
	"github.com/crosstalk-im/crosstalk/msim/wire"
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
}

func newTestEnv(tb testing.TB, tweak func(*Config)) *testEnv {
	tb.Helper()
	st, h := testenv.Hub(tb, hub.Config{})
	cfg := Config{Hub: h}
	if tweak != nil {
		tweak(&cfg)
	}
	srv := New(cfg)
	return &testEnv{store: st, hub: h, srv: srv, addr: testenv.Serve(tb, srv, ErrServerClosed)}
}

func (e *testEnv) account(tb testing.TB, a hub.Account, password string) hub.Account {
	tb.Helper()
	a, err := e.store.CreateAccount(context.Background(), a, password)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func login(t testing.TB, addr, email, password string, opts client.Options) (*client.Client, *client.Session) {
	t.Helper()
	c, err := client.Dial(ctxFor(t), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sess, err := c.Login(ctxFor(t), email, password)
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return c, sess
}

// next returns the next event of type T, skipping others.
func next[T any](t testing.TB, c *client.Client) T {
	t.Helper()
	ctx := ctxFor(t)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("events closed waiting for %T: %v", *new(T), c.Err())
			}
			if v, ok := ev.(T); ok {
				return v
			}
		case <-ctx.Done():
			t.Fatalf("no %T", *new(T))
		}
	}
}

func nextStatus(t testing.TB, c *client.Client, uid uint32, code int) client.Status {
	t.Helper()
	for {
		st := next[client.Status](t, c)
		if st.UserID == uid && st.Status == code {
			return st
		}
	}
}

func TestLoginProfileAndLookups(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, hub.Account{Number: 1001, Email: "tom@example.com", Nick: "tom", DisplayName: "Tom"}, "Hunter2Hunter2")
	env.account(t, hub.Account{Number: 1002, Email: "1234@example.com", DisplayName: "Digits"}, "pw")
	c, sess := login(t, env.addr, "TOM@example.com", "Hunter2Hunter2", client.Options{})
	if sess.UserID != 1001 || sess.ProfileID != 1001 || sess.UniqueNick != "tom" {
		t.Fatalf("session %+v", sess)
	}
	ctx := ctxFor(t)
	p, err := c.LookupUserName(ctx, "user1234")
	if err != nil || p.UserID != 1002 || p.DisplayName != "Digits" {
		t.Fatalf("lookup of a derived screen name: %+v %v", p, err)
	}
	if p, err := c.LookupEmail(ctx, "1234@example.com"); err != nil || p.UserID != 1002 {
		t.Fatalf("lookup by e-mail: %+v %v", p, err)
	}
	if _, err := c.LookupUserName(ctx, "nobody"); !errors.Is(err, client.ErrNoSuchUser) {
		t.Fatalf("unknown screen name: %v", err)
	}
	if p, err := c.Profile(ctx, 1002); err != nil || p.UserName != "user1234" {
		t.Fatalf("profile 4/3: %+v %v", p, err)
	}
	// Only the first ten characters of a password count, case-insensitively.
	_, _ = login(t, env.addr, "tom@example.com", "hunter2hunXXXX", client.Options{})
}

func TestLoginRefused(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.LoginTimeout = 2 * time.Second })
	env.account(t, hub.Account{Number: 1001, Email: "tom@example.com", Nick: "tom"}, "secret")
	for name, creds := range map[string][2]string{
		"wrong password":  {"tom@example.com", "wrong"},
		"unknown account": {"nobody@example.com", "secret"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := client.Dial(ctxFor(t), env.addr, client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var se *client.ServerError
			if _, err := c.Login(ctxFor(t), creds[0], creds[1]); !errors.As(err, &se) || se.Code != wire.ErrCodeBadPassword {
				t.Fatalf("login: %v", err)
			}
		})
	}
	t.Run("garbage", func(t *testing.T) {
		nc, err := net.Dial("tcp", env.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_, _ = nc.Write([]byte("no backslash here\\final\\"))
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, _ := io.ReadAll(nc)
		if !strings.Contains(string(got), `\error\\err\1\`) || !strings.Contains(string(got), `\fatal\`) {
			t.Fatalf("server said %q", got)
		}
	})
	t.Run("final never comes", func(t *testing.T) {
		nc, err := net.Dial("tcp", env.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_, _ = nc.Write([]byte(`\login2\196610\username\` + strings.Repeat("x", 100<<10)))
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(nc); err != nil && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("connection not closed: %v", err)
		}
	})
	t.Run("silent after greeting", func(t *testing.T) {
		nc, err := net.Dial("tcp", env.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(nc)
		if err != nil || !strings.HasPrefix(string(got), `\lc\1\nc\`) {
			t.Fatalf("greeting %q, %v", got, err)
		}
	})
}

func TestContactsPresenceAndMessages(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, hub.Account{Number: 1001, Email: "tom@example.com", Nick: "tom", DisplayName: "Tom"}, "pt")
	env.account(t, hub.Account{Number: 1002, Email: "ann@example.com", Nick: "ann", DisplayName: "Ann"}, "pa")
	tom, _ := login(t, env.addr, "tom@example.com", "pt", client.Options{})
	ann, _ := login(t, env.addr, "ann@example.com", "pa", client.Options{StatusText: "hello / world"})
	ctx := ctxFor(t)

	// Tom adds Ann: she is on his list with her presence and headline.
	if err := tom.AddBuddy(ctx, 1002, "Friends"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		contacts, err := tom.ContactList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(contacts) == 1 && contacts[0].ContactID == 1002 && contacts[0].GroupName == "Friends" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("contact list %+v", contacts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := ann.SetStatus(ctx, wire.StatusAway, "lunch | later"); err != nil {
		t.Fatal(err)
	}
	if st := nextStatus(t, tom, 1002, wire.StatusAway); st.Text != "lunch  later" {
		t.Fatalf("headline %q", st.Text)
	}

	// IM with markup both ways; the text arrives intact.
	if err := tom.SendMarkup(ctx, 1002, "<f s='1'>Zażółć</f> a/b \\ c"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, ann); m.From != 1001 || m.Text != "Zażółć a/b \\ c" {
		t.Fatalf("ann got %+v", m)
	}
	if err := ann.Typing(ctx, 1001, true); err != nil {
		t.Fatal(err)
	}
	if ty := next[client.Typing](t, tom); ty.From != 1002 || !ty.Typing {
		t.Fatalf("typing %+v", ty)
	}
	if err := ann.Zap(ctx, 1001, wire.ZapHug); err != nil {
		t.Fatal(err)
	}
	if z := next[client.Zap](t, tom); z.From != 1002 || z.Zap != wire.ZapHug {
		t.Fatalf("zap %+v", z)
	}

	// Invisible shows as offline; blocking hides Tom from Ann's messages.
	if err := ann.SetStatus(ctx, wire.StatusOffline, ""); err != nil {
		t.Fatal(err)
	}
	nextStatus(t, tom, 1002, wire.StatusOffline)
	if err := ann.Block(ctx, 1001); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		r, _ := env.store.Relation(ctx, 1002, 1001)
		if r.OnBlock {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("block not applied")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d, _ := env.hub.SendMessage(ctx, hub.Account{Number: 1001}, 1002, hub.Message{Text: "let me in"}, ""); d != hub.Blocked {
		t.Fatalf("message to a blocker: %v", d)
	}

	// An IM to an id no one has goes nowhere, and the session goes on.
	if err := tom.SendIM(ctx, 4242, "anyone?"); err != nil {
		t.Fatal(err)
	}
	if err := tom.SendIM(ctx, 1002, "still here"); err != nil {
		t.Fatal(err)
	}
	if _, err := tom.ContactList(ctx); err != nil {
		t.Fatalf("after an IM to no one: %v", err)
	}
}

func TestOfflineMessageAndTakeover(t *testing.T) {
	env := newTestEnv(t, nil)
	tom := env.account(t, hub.Account{Number: 1001, Email: "tom@example.com", Nick: "tom"}, "pt")
	env.account(t, hub.Account{Number: 1002, Email: "ann@example.com", Nick: "ann"}, "pa")
	ctx := ctxFor(t)
	sent := time.Now().Add(-time.Hour).Truncate(time.Second)
	if d, err := env.hub.SendMessage(ctx, tom, 1002, hub.Message{Text: "while you were out", Sent: sent}, ""); err != nil || d != hub.Queued {
		t.Fatalf("queue: %v %v", d, err)
	}
	ann, _ := login(t, env.addr, "ann@example.com", "pa", client.Options{})
	m := next[client.Message](t, ann)
	if m.Text != "while you were out" || m.Date.Unix() != sent.Unix() {
		t.Fatalf("offline message %+v", m)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left, _ := env.store.CountOffline(ctx, 1002)
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d offline messages left after delivery", left)
		}
	}
	// A second login ends the first with error 6.
	_, _ = login(t, env.addr, "ann@example.com", "pa", client.Options{})
	d := next[client.Disconnected](t, ann)
	if !errors.Is(d.Err, client.ErrLoggedInElsewhere) {
		t.Fatalf("first session ended with %v", d.Err)
	}
}

func TestBadSessionKey(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, hub.Account{Number: 1001, Email: "tom@example.com", Nick: "tom"}, "pt")
	c, sess := login(t, env.addr, "tom@example.com", "pt", client.Options{})
	err := c.Send(ctxFor(t), wire.Message{wire.Int(wire.TypeStatus, 1), wire.Uint("sesskey", sess.SessionKey+1), wire.Str("statstring", "x")})
	if err != nil {
		t.Fatal(err)
	}
	if e := next[client.Error](t, c); e.Code != wire.ErrCodeBadSessionKey {
		t.Fatalf("error %+v", e)
	}
}
