package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/sip/client"
	"github.com/crosstalk-im/crosstalk/sip/server"
	"github.com/crosstalk-im/crosstalk/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(offstack.WorkerFunction), goleak.IgnoreAnyFunction(offstack.PollerFunction))
}

// env is a SIP server on loopback over a hub of its own.
type env struct {
	store *store.SQLite
	srv   *server.Server
	addr  string
}

func newEnv(t *testing.T, tweak func(*server.Config)) *env {
	t.Helper()
	st, h := testenv.Hub(t, hub.Config{})
	cfg := server.Config{Hub: h, TargetName: "sip.example.com"}
	if tweak != nil {
		tweak(&cfg)
	}
	srv := server.New(cfg)
	return &env{store: st, srv: srv, addr: testenv.Serve(t, srv, server.ErrServerClosed)}
}

// account creates <name>@example.com with password "pw-<name>".
func (e *env) account(t *testing.T, number uint32, name string) hub.Account {
	t.Helper()
	a, err := e.store.CreateAccount(context.Background(),
		hub.Account{Number: number, Email: name + "@example.com", DisplayName: strings.ToUpper(name[:1]) + name[1:]}, "pw-"+name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// follow puts contact on owner's list.
func (e *env) follow(t *testing.T, owner, contact hub.Account) {
	t.Helper()
	if _, err := e.store.AddToList(context.Background(), owner.Number, contact.Number, hub.Forward, 0, 100); err != nil {
		t.Fatal(err)
	}
}

func (e *env) dial(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.Dial(ctx(t), e.addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (e *env) signIn(t *testing.T, a hub.Account) *client.Client {
	t.Helper()
	c := e.dial(t)
	if err := c.SignIn(ctx(t), a.Email, "pw-"+strings.TrimSuffix(a.Email, "@example.com")); err != nil {
		t.Fatalf("sign-in of %s: %v", a.Email, err)
	}
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return c
}

func next[T client.Event](t *testing.T, c *client.Client) T {
	t.Helper()
	return testenv.Next[T](t, ctx(t), c.Events())
}

// presenceOf waits for news of uri that satisfies ok.
func presenceOf(t *testing.T, c *client.Client, uri string, ok func(client.Presence) bool) client.Presence {
	t.Helper()
	for {
		if p := next[client.Presence](t, c); p.URI == uri && ok(p) {
			return p
		}
	}
}

// TestSignIn: before sign-in the client has no address and refuses what
// needs a session; sign-in brings the contact list, whose URIs the client
// keeps, and the contacts' presence.
func TestSignIn(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.account(t, 1001, "alice"), e.account(t, 1002, "bob")
	e.follow(t, alice, bob)

	c := e.dial(t)
	if c.Self() != "" {
		t.Fatalf("Self before sign-in: %q", c.Self())
	}
	err := c.SendMessage(ctx(t), bob.Email, "too early")
	var se *client.StatusError
	if !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("a message before sign-in: %v, want the server's 403", err)
	}
	if err := c.SignIn(ctx(t), "alice@example.com", "pw-alice"); err != nil {
		t.Fatal(err)
	}
	if c.Self() != "sip:alice@example.com" {
		t.Fatalf("Self: %q", c.Self())
	}
	list := next[client.ContactList](t, c)
	if len(list.Contacts) != 1 || list.Contacts[0].URI != "sip:bob@example.com" || list.Contacts[0].Name != "Bob" {
		t.Fatalf("contact list %+v", list)
	}
	if uris := c.ContactURIs(); len(uris) != 1 || uris[0] != "sip:bob@example.com" {
		t.Fatalf("ContactURIs %v", uris)
	}
	// Bob is offline: his presence says so.
	presenceOf(t, c, "sip:bob@example.com", func(p client.Presence) bool { return !p.Online() })
	if err := c.Err(); err != nil {
		t.Fatalf("Err while connected: %v", err)
	}
}

// TestWrongPassword: a refused password or an unknown account is a
// *StatusError matching ErrAuthentication, and the connection stays up
// for another try.
func TestWrongPassword(t *testing.T) {
	e := newEnv(t, nil)
	e.account(t, 1001, "alice")
	c := e.dial(t)
	for _, try := range []struct {
		address, password string
		code              int
	}{
		{"alice@example.com", "wrong", 401},
		{"nobody@example.com", "pw-alice", 404},
	} {
		err := c.SignIn(ctx(t), try.address, try.password)
		var se *client.StatusError
		if !errors.As(err, &se) || se.Code != try.code || se.Method != "REGISTER" || !errors.Is(err, client.ErrAuthentication) {
			t.Fatalf("sign-in as %s with %q: %v, want %d matching ErrAuthentication", try.address, try.password, err, try.code)
		}
	}
	if err := c.SignIn(ctx(t), "sip:alice@example.com", "pw-alice"); err != nil {
		t.Fatalf("sign-in after the failures: %v", err)
	}
}

// TestMessagesBothWays: messages go both ways, the first in an INVITE and
// the rest in the IM session; after EndChat the next message starts a new
// session.
func TestMessagesBothWays(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.account(t, 1001, "alice"), e.account(t, 1002, "bob")
	a, b := e.signIn(t, alice), e.signIn(t, bob)
	send := func(from *client.Client, to hub.Account, text string, at *client.Client) {
		t.Helper()
		if err := from.SendMessage(ctx(t), to.Email, text); err != nil {
			t.Fatalf("%s to %s: %v", from.Self(), to.Email, err)
		}
		if m := next[client.Message](t, at); m.From != from.Self() || m.Text != text {
			t.Fatalf("%s got %+v, want %q from %s", at.Self(), m, text, from.Self())
		}
	}
	send(a, bob, "Zażółć gęślą jaźń", b)
	send(a, bob, "second, in the session", b)
	send(b, alice, "an answer", a)
	if err := a.EndChat(ctx(t), bob.Email); err != nil {
		t.Fatal(err)
	}
	send(a, bob, "in a new session", b)
	send(b, alice, "and back", a)
}

// TestPresence: a contact's sign-in, state and note, and sign-out reach
// the client, with the contact's display name.
func TestPresence(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.account(t, 1001, "alice"), e.account(t, 1002, "bob")
	e.follow(t, alice, bob)
	e.follow(t, bob, alice)
	a := e.signIn(t, alice)
	b := e.signIn(t, bob)
	if p := presenceOf(t, a, "sip:bob@example.com", client.Presence.Online); p.DisplayName != "Bob" {
		t.Fatalf("alice sees %+v", p)
	}
	if err := b.SetStatus(ctx(t), client.AvailabilityBusy, "in a meeting"); err != nil {
		t.Fatal(err)
	}
	p := presenceOf(t, a, "sip:bob@example.com", func(p client.Presence) bool { return p.Availability == client.AvailabilityBusy })
	if p.Note != "in a meeting" || !p.Online() {
		t.Fatalf("alice sees %+v", p)
	}
	if err := b.SignOut(ctx(t)); err != nil {
		t.Fatal(err)
	}
	presenceOf(t, a, "sip:bob@example.com", func(p client.Presence) bool { return !p.Online() })
}

// TestTyping: typing and its end reach the contact in the IM session;
// without a session Typing tells no one.
func TestTyping(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.account(t, 1001, "alice"), e.account(t, 1002, "bob")
	a, b := e.signIn(t, alice), e.signIn(t, bob)
	if err := a.Typing(ctx(t), bob.Email, true); err != nil {
		t.Fatalf("typing without a session: %v", err)
	}
	if err := a.SendMessage(ctx(t), bob.Email, "hello"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, b); m.Text != "hello" {
		t.Fatalf("bob got %+v", m)
	}
	for _, active := range []bool{true, false} {
		if err := a.Typing(ctx(t), bob.Email, active); err != nil {
			t.Fatal(err)
		}
		if ty := next[client.Typing](t, b); ty.From != "sip:alice@example.com" || ty.Active != active {
			t.Fatalf("bob got %+v, want active %v", ty, active)
		}
	}
}

// TestServerClosing: a server shutting down deregisters the client, then
// the connection ends: Disconnected is the last event, Err says why, and
// calls fail with ErrClosed.
func TestServerClosing(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.account(t, 1001, "alice")
	a := e.signIn(t, alice)
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(shutdown); err != nil {
		t.Fatal(err)
	}
	if d := next[client.Deregistered](t, a); !strings.Contains(d.Reason, "shutting down") {
		t.Fatalf("deregistered: %+v", d)
	}
	d := next[client.Disconnected](t, a)
	if d.Err == nil || a.Err() == nil {
		t.Fatalf("disconnected with %v, Err %v", d.Err, a.Err())
	}
	if _, open := <-a.Events(); open {
		t.Fatal("an event after Disconnected")
	}
	if err := a.SendMessage(ctx(t), "bob@example.com", "anyone there?"); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("a message after the end: %v, want ErrClosed", err)
	}
}

// TestKeepAlive: the client sends keep-alives at the interval the server
// asks for, so that a silent session outlives the server's idle timeout.
func TestKeepAlive(t *testing.T) {
	const keepAlive = time.Second
	idle := 5 * keepAlive / 2
	e := newEnv(t, func(c *server.Config) { c.KeepAlive, c.IdleTimeout = keepAlive, idle })
	alice, bob := e.account(t, 1001, "alice"), e.account(t, 1002, "bob")
	a, b := e.signIn(t, alice), e.signIn(t, bob)
	time.Sleep(idle + 2*keepAlive)
	for i, c := range []*client.Client{a, b} {
		if err := c.Err(); err != nil {
			t.Fatalf("client %d dropped while silent: %v", i, err)
		}
	}
	text := fmt.Sprintf("still here after %v", idle+2*keepAlive)
	if err := a.SendMessage(ctx(t), bob.Email, text); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, b); m.Text != text {
		t.Fatalf("bob got %+v", m)
	}
}

// PostMessages sends a paste without waiting for each answer: the first
// text starts the IM session, the rest follow it, every one is answered
// and arrives in order, and the next paste goes in the session. A refusal
// comes from Wait, and the session it ended is not used again.
func TestPostMessages(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.account(t, 1001, "alice"), e.account(t, 1002, "bob")
	a, b := e.signIn(t, alice), e.signIn(t, bob)
	for paste := range 2 {
		texts := make([]string, 10)
		for i := range texts {
			texts[i] = fmt.Sprintf("paste %d, message %d", paste, i)
		}
		ds, err := a.PostMessages(ctx(t), bob.Email, texts)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != len(texts) {
			t.Fatalf("%d deliveries for %d texts", len(ds), len(texts))
		}
		for i, d := range ds {
			if err := d.Wait(ctx(t)); err != nil {
				t.Fatalf("paste %d, message %d: %v", paste, i, err)
			}
		}
		for _, want := range texts {
			if m := next[client.Message](t, b); m.From != a.Self() || m.Text != want {
				t.Fatalf("bob got %+v, want %q", m, want)
			}
		}
	}
	if err := b.Block(ctx(t), alice.Email, true); err != nil {
		t.Fatal(err)
	}
	ds, err := a.PostMessages(ctx(t), bob.Email, []string{"blocked", "and after"})
	if err != nil {
		t.Fatal(err)
	}
	var refused *client.StatusError
	if err := ds[0].Wait(ctx(t)); !errors.As(err, &refused) || refused.Code != 480 {
		t.Fatalf("a message to a contact who blocked us: %v", err)
	}
	if err := ds[1].Wait(ctx(t)); !errors.As(err, &refused) || refused.Code != 481 {
		t.Fatalf("a message after the session ended: %v", err)
	}
	if _, err := a.PostMessages(ctx(t), bob.Email, []string{"a new session"}); !errors.As(err, &refused) || refused.Code != 480 {
		t.Fatalf("a new session with a contact who blocked us: %v", err)
	}
}

// Pastes both ways at once, each side reading the other's while it
// sends: every message answered and arriving in order. Messages read and
// sent are recycled on both sides (wire.Message.Recycle), and so are the
// server's transactions and the client's answer channels; run with
// -race, one reused while something still read it would show.
func TestPostMessagesBothWaysAtOnce(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.account(t, 1001, "alice"), e.account(t, 1002, "bob")
	a, b := e.signIn(t, alice), e.signIn(t, bob)
	if err := a.SendMessage(ctx(t), bob.Email, "hello"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, b); m.Text != "hello" {
		t.Fatalf("bob got %+v", m)
	}
	const pastes, perPaste = 5, 20
	texts := func(from string) []string {
		var all []string
		for i := range pastes * perPaste {
			all = append(all, fmt.Sprintf("%s %d", from, i))
		}
		return all
	}
	side := func(from, to *client.Client, toEmail string, sent, want []string) error {
		errs := make(chan error, 1)
		go func() {
			for _, w := range want {
				m, ok := <-from.Events()
				for ok {
					if _, isMessage := m.(client.Message); isMessage {
						break
					}
					m, ok = <-from.Events()
				}
				if got, _ := m.(client.Message); !ok || got.Text != w {
					errs <- fmt.Errorf("%s got %+v, want %q", from.Self(), m, w)
					return
				}
			}
			errs <- nil
		}()
		for p := range pastes {
			ds, err := from.PostMessages(ctx(t), toEmail, sent[p*perPaste:(p+1)*perPaste])
			if err != nil {
				return err
			}
			for _, d := range ds {
				if err := d.Wait(ctx(t)); err != nil {
					return err
				}
			}
		}
		return <-errs
	}
	fromAlice, fromBob := texts("alice"), texts("bob")
	done := make(chan error, 2)
	go func() { done <- side(a, b, bob.Email, fromAlice, fromBob) }()
	go func() { done <- side(b, a, alice.Email, fromBob, fromAlice) }()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
