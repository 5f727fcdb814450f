package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/webchat/client"
	"github.com/crosstalk-im/crosstalk/webchat/wire"
)

// TestConversation: contact request and answer, presence both ways,
// typing, a message delivered, one stored while the recipient is away and
// delivered at their next login (once).
func TestConversation(t *testing.T) {
	ctx := testCtx(t)
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice <b>", "pa")
	bob := e.account(t, 1002, "Bob", "pb")

	ac := e.login(t, ctx, alice, "pa")
	if cs := next[*wire.Contacts](t, ctx, ac); len(cs.Contacts) != 0 {
		t.Fatalf("alice's contacts %+v", cs)
	}
	bc := e.login(t, ctx, bob, "pb")
	next[*wire.Contacts](t, ctx, bc)

	if err := ac.List(ctx, wire.TypeAdd, wire.Contact{Email: "U1002@example.com"}); err != nil {
		t.Fatal(err)
	}
	if ch := next[*wire.ContactChanged](t, ctx, ac); ch.Contact.Number != 1002 || ch.Contact.Status != wire.StatusOnline ||
		strings.Join(ch.Contact.Lists, ",") != "FL" {
		t.Fatalf("alice's new contact %+v", ch.Contact)
	}
	if r := next[*wire.Request](t, ctx, bc); r.From.Number != 1001 || r.From.Name != "Alice <b>" {
		t.Fatalf("bob's request %+v", r)
	}
	if err := bc.List(ctx, wire.TypeAccept, to(1001)); err != nil {
		t.Fatal(err)
	}
	if ch := next[*wire.ContactChanged](t, ctx, bc); strings.Join(ch.Contact.Lists, ",") != "AL,RL" {
		t.Fatalf("bob's accepted contact %+v", ch.Contact)
	}
	if err := bc.List(ctx, wire.TypeAdd, to(1001)); err != nil {
		t.Fatal(err)
	}
	if ch := next[*wire.ContactChanged](t, ctx, bc); ch.Contact.Status != wire.StatusOnline || strings.Join(ch.Contact.Lists, ",") != "FL,AL,RL" {
		t.Fatalf("bob's new contact %+v", ch.Contact)
	}
	if err := bc.SetPresence(ctx, wire.StatusAway, "lunch"); err != nil {
		t.Fatal(err)
	}
	if p := presenceOf(t, ctx, ac, 1002, wire.StatusAway); p.Text != "lunch" {
		t.Fatalf("bob's presence %+v", p)
	}

	if err := ac.Typing(ctx, to(1002), true); err != nil {
		t.Fatal(err)
	}
	if ty := next[*wire.TypingNotice](t, ctx, bc); ty.From.Number != 1001 || !ty.Typing {
		t.Fatalf("typing %+v", ty)
	}
	res, err := ac.Send(ctx, to(1002), "hello <script>")
	if err != nil || res != wire.ResultDelivered {
		t.Fatalf("send: %q, %v", res, err)
	}
	if m := next[*wire.Message](t, ctx, bc); m.From.Number != 1001 || m.Text != "hello <script>" || m.Offline {
		t.Fatalf("bob got %+v", m)
	}

	// Bob leaves: Alice sees it, and her message waits for him.
	if err := bc.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if b := next[*wire.Bye](t, ctx, bc); b.Reason == "" {
		t.Fatalf("bye %+v", b)
	}
	presenceOf(t, ctx, ac, 1002, wire.StatusOffline)
	if res, err := ac.Send(ctx, wire.Contact{Nick: ""}, "x"); err == nil {
		t.Fatalf("send to nobody: %q", res)
	}
	res, err = ac.Send(ctx, to(1002), "while you were out")
	if err != nil || res != wire.ResultStored {
		t.Fatalf("send to the absent: %q, %v", res, err)
	}
	bc2 := e.login(t, ctx, bob, "pb")
	cs := next[*wire.Contacts](t, ctx, bc2)
	if len(cs.Contacts) != 1 || cs.Contacts[0].Number != 1001 || cs.Contacts[0].Status != wire.StatusOnline ||
		strings.Join(cs.Contacts[0].Lists, ",") != "FL,AL,RL" {
		t.Fatalf("bob's contacts %+v", cs.Contacts)
	}
	if m := next[*wire.Message](t, ctx, bc2); m.Text != "while you were out" || !m.Offline || m.From.Number != 1001 {
		t.Fatalf("offline message %+v", m)
	}
	if err := bc2.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	left, err := e.store.OfflineMessages(ctx, 1002, "probe", []string{"probe"})
	if err != nil || len(left) != 0 {
		t.Fatalf("mailbox after delivery: %v, %v", left, err)
	}
}

// TestBlock: a blocked contact's messages are refused and they see the
// account offline; unblock undoes it.
func TestBlock(t *testing.T) {
	ctx := testCtx(t)
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	ac := e.login(t, ctx, alice, "pa")
	bc := e.login(t, ctx, bob, "pb")
	if err := bc.List(ctx, wire.TypeAdd, to(1001)); err != nil {
		t.Fatal(err)
	}
	if err := ac.List(ctx, wire.TypeBlock, to(1002)); err != nil {
		t.Fatal(err)
	}
	if ch := next[*wire.ContactChanged](t, ctx, ac); strings.Join(ch.Contact.Lists, ",") != "BL,RL" {
		t.Fatalf("blocked entry %+v", ch.Contact)
	}
	presenceOf(t, ctx, bc, 1001, wire.StatusOffline)
	if _, err := bc.Send(ctx, to(1001), "hi"); errorCode(err) != wire.CodeRefused {
		t.Fatalf("send to a blocker: %v", err)
	}
	if err := ac.List(ctx, wire.TypeUnblock, to(1002)); err != nil {
		t.Fatal(err)
	}
	presenceOf(t, ctx, bc, 1001, wire.StatusOnline)
	if res, err := bc.Send(ctx, to(1001), "hi"); err != nil || res != wire.ResultDelivered {
		t.Fatalf("send after unblock: %q, %v", res, err)
	}
	if err := ac.List(ctx, wire.TypeRemove, to(1003)); errorCode(err) != wire.CodeUnknownContact {
		t.Fatalf("remove an unknown account: %v", err)
	}
}

// TestLoginRefused: wrong passwords and unknown accounts get
// login_failed and the connection closes; the guard's lock is
// login_locked, even with the right password.
func TestLoginRefused(t *testing.T) {
	ctx := testCtx(t)
	guard := loginguard.New(loginguard.Config{
		Address: loginguard.Policy{Free: 1, LockAfter: 2, LockFor: time.Hour},
	})
	e := newTestEnv(t, func(c *Config) { c.Guard = guard })
	alice := e.account(t, 1001, "Alice", "pa")
	for _, tc := range []struct {
		email, password, code string
	}{
		{alice.Email, "wrong", wire.CodeLoginFailed},
		{"nobody@example.com", "pa", wire.CodeLoginFailed},
		{alice.Email, "pa", wire.CodeLoginLocked},
	} {
		c := e.dial(t, ctx, client.Options{})
		_, err := c.Login(ctx, tc.email, tc.password)
		if errorCode(err) != tc.code {
			t.Fatalf("login %s: %v, want %s", tc.email, err, tc.code)
		}
		d := next[client.Disconnected](t, ctx, c)
		if websocket.CloseStatus(d.Err) != websocket.StatusNormalClosure {
			t.Errorf("closed with %v, want a normal closure", d.Err)
		}
	}
}

// TestTokenLogin: a chat token the hook knows logs in as its
// account; others are refused.
func TestTokenLogin(t *testing.T) {
	ctx := testCtx(t)
	var asked []string
	e := newTestEnv(t, func(c *Config) {
		c.Tokens = TokenFunc(func(_ context.Context, token string) (uint32, bool) {
			asked = append(asked, token)
			return 1001, token == "good-token"
		})
	})
	e.account(t, 1001, "Alice", "pa")
	c := e.dial(t, ctx, client.Options{})
	w, err := c.LoginToken(ctx, "good-token")
	if err != nil || w.Account.Number != 1001 || w.Account.Email != "u1001@example.com" {
		t.Fatalf("token login: %+v, %v", w, err)
	}
	c2 := e.dial(t, ctx, client.Options{})
	if _, err := c2.LoginToken(ctx, "forged"); errorCode(err) != wire.CodeLoginFailed {
		t.Fatalf("forged token: %v", err)
	}
	if strings.Join(asked, ",") != "good-token,forged" {
		t.Errorf("tokens asked: %v", asked)
	}
}

// TestDisabledRefused: a disabled account is refused with the right
// password and with a token its hook still knows, and logs in again once
// enabled.
func TestDisabledRefused(t *testing.T) {
	ctx := testCtx(t)
	e := newTestEnv(t, func(c *Config) {
		c.Tokens = TokenFunc(func(context.Context, string) (uint32, bool) { return 1001, true })
	})
	e.account(t, 1001, "Alice", "pa")
	for _, disabled := range []bool{true, false} {
		if err := e.store.SetDisabled(ctx, 1001, disabled); err != nil {
			t.Fatal(err)
		}
		refused := func(err error) bool { return errorCode(err) == wire.CodeLoginFailed }
		c := e.dial(t, ctx, client.Options{})
		if _, err := c.Login(ctx, "u1001@example.com", "pa"); refused(err) != disabled || !disabled && err != nil {
			t.Fatalf("password login, disabled %v: %v", disabled, err)
		}
		c.Close()
		c = e.dial(t, ctx, client.Options{})
		if _, err := c.LoginToken(ctx, "token"); refused(err) != disabled || !disabled && err != nil {
			t.Fatalf("token login, disabled %v: %v", disabled, err)
		}
		c.Close()
	}
}

// TestTokenLoginWithoutHook: with no web sessions configured, every token
// is refused.
func TestTokenLoginWithoutHook(t *testing.T) {
	ctx := testCtx(t)
	e := newTestEnv(t, nil)
	e.account(t, 1001, "Alice", "pa")
	c := e.dial(t, ctx, client.Options{})
	if _, err := c.LoginToken(ctx, "anything"); errorCode(err) != wire.CodeLoginFailed {
		t.Fatalf("token login without a hook: %v", err)
	}
}

// TestOriginChecked: a page of another site may not open the socket
// (cross-site WebSocket hijacking); one of the service's own host may,
// and so may a client without Origin.
func TestOriginChecked(t *testing.T) {
	ctx := testCtx(t)
	e := newTestEnv(t, func(c *Config) { c.OriginPatterns = []string{"chat.example.net"} })
	host := strings.TrimSuffix(strings.TrimPrefix(e.base, "http://"), "/chat/")
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"http://evil.example", false},
		{"http://" + host + ".evil.example", false},
		{"http://" + host, true},
		{"https://chat.example.net", true},
		{"", true},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		c, err := client.Dial(ctx, e.socketURL(), client.Options{Header: h})
		if (err == nil) != tc.ok {
			t.Errorf("origin %q: %v, want allowed %v", tc.origin, err, tc.ok)
		}
		if err == nil {
			c.Close()
		}
	}
}

// TestBadInput: malformed and unknown messages are answered with errors
// and the session goes on; requests before login are refused; binary and
// oversized messages close the connection with their status.
func TestBadInput(t *testing.T) {
	ctx := testCtx(t)
	e := newTestEnv(t, func(c *Config) { c.MaxFrameBytes = 1024 })
	alice := e.account(t, 1001, "Alice", "pa")

	raw, _, err := websocket.Dial(ctx, e.socketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.CloseNow()
	exchange := func(msg string) map[string]any {
		t.Helper()
		if err := raw.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, data, err := raw.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := wire.DecodeServer(data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		return map[string]any{"msg": got}
	}
	codeOf := func(m map[string]any) string {
		if e, ok := m["msg"].(*wire.Error); ok {
			return e.ID + " " + e.Code
		}
		return ""
	}
	for _, tc := range []struct{ in, want string }{
		{`{"type":"ping","id":"1"}`, "1 " + wire.CodeNotLoggedIn},
		{`{not json`, " " + wire.CodeBadRequest},
		{`{"type":"fly","id":"2"}`, "2 " + wire.CodeUnknownType},
		{`{"type":"login","id":"3","email":"x@y"}`, "3 " + wire.CodeBadRequest},
	} {
		if got := codeOf(exchange(tc.in)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.in, got, tc.want)
		}
	}
	if w, ok := exchange(`{"type":"login","id":"4","email":"` + alice.Email + `","password":"pa"}`)["msg"].(*wire.Welcome); !ok || w.ID != "4" || w.MaxFrame != 1024 {
		t.Fatalf("welcome %+v", w)
	}
	if _, _, err := raw.Read(ctx); err != nil { // the contact list
		t.Fatal(err)
	}
	if got := codeOf(exchange(`{"type":"send","id":"5","to":{"number":1001},"text":"me"}`)); got != "5 "+wire.CodeUnknownContact {
		t.Errorf("message to oneself: %q", got)
	}
	if a, ok := exchange(`{"type":"ping","id":"6"}`)["msg"].(*wire.Ack); !ok || a.ID != "6" {
		t.Fatalf("ping after errors: %+v", a)
	}

	// Too large: status 1009.
	if err := raw.Write(ctx, websocket.MessageText, []byte(`{"type":"ping","id":"`+strings.Repeat("x", 2000)+`"}`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := raw.Read(ctx); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("oversized message: %v", err)
	}

	// Binary: status 1003.
	bin, _, err := websocket.Dial(ctx, e.socketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bin.CloseNow()
	if err := bin.Write(ctx, websocket.MessageBinary, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bin.Read(ctx); websocket.CloseStatus(err) != websocket.StatusUnsupportedData {
		t.Fatalf("binary message: %v", err)
	}
}

// TestNewLoginTakesOver: a second web chat login of the account says
// "bye" to the first.
func TestNewLoginTakesOver(t *testing.T) {
	ctx := testCtx(t)
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	first := e.login(t, ctx, alice, "pa")
	e.login(t, ctx, alice, "pa")
	if b := next[*wire.Bye](t, ctx, first); !strings.Contains(b.Reason, "another location") {
		t.Fatalf("bye %+v", b)
	}
	next[client.Disconnected](t, ctx, first)
}

// TestLoginTimeout: a connection that does not log in in time is closed.
func TestLoginTimeout(t *testing.T) {
	ctx := testCtx(t)
	e := newTestEnv(t, func(c *Config) { c.LoginTimeout = 200 * time.Millisecond })
	wantBye(t, ctx, e.dial(t, ctx, client.Options{}), "login timeout")
}

// wantBye waits for c's bye, for reason, then for its disconnection.
func wantBye(t *testing.T, ctx context.Context, c *client.Client, reason string) {
	t.Helper()
	if b := next[*wire.Bye](t, ctx, c); b.Reason != reason {
		t.Fatalf("bye %+v, want %q", b, reason)
	}
	next[client.Disconnected](t, ctx, c)
}

// Over TLS, where offstack cannot wait on the socket without reading and
// a session's read waits for its client itself, the login and idle
// timeouts still say "bye" before the connection closes.
func TestTimeoutsOverTLS(t *testing.T) {
	ctx := testCtx(t)
	e := newTLSTestEnv(t, func(c *Config) { c.LoginTimeout = 200 * time.Millisecond })
	wantBye(t, ctx, e.dial(t, ctx, client.Options{}), "login timeout")
	e = newTLSTestEnv(t, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
	wantBye(t, ctx, e.login(t, ctx, e.account(t, 1001, "Alice", "pa"), "pa"), "idle timeout")
}

// TestIdleTimeout: a logged-in connection that stays silent is closed;
// one that pings is not.
func TestIdleTimeout(t *testing.T) {
	ctx := testCtx(t)
	// Pings ten times as often as the timeout: a busy machine may hold
	// the pinger back for a few hundred milliseconds.
	const idle = time.Second
	e := newTestEnv(t, func(c *Config) { c.IdleTimeout = idle })
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	silent := e.login(t, ctx, alice, "pa")
	talker := e.login(t, ctx, bob, "pb")
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			if err := talker.Ping(ctx); err != nil {
				t.Errorf("ping: %v", err)
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(idle / 10):
			}
		}
	}()
	if b := next[*wire.Bye](t, ctx, silent); b.Reason != "idle timeout" {
		t.Fatalf("bye %+v", b)
	}
	next[client.Disconnected](t, ctx, silent)
	close(stop)
	<-done
	if err := talker.Ping(ctx); err != nil {
		t.Fatalf("the pinging session ended: %v", err)
	}
}

// TestFrameRate: a client sending faster than its allowance is slowed to
// it (it waits; nothing is refused).
func TestFrameRate(t *testing.T) {
	ctx := testCtx(t)
	e := newTestEnv(t, func(c *Config) { c.FramesPerSecond, c.FrameBurst = 5, 1 })
	alice := e.account(t, 1001, "Alice", "pa")
	c := e.login(t, ctx, alice, "pa") // the login is the burst
	start := time.Now()
	for range 3 {
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The burst may have refilled since the login; the second and third
	// ping still wait 1/5 s each, however busy the machine.
	if took := time.Since(start); took < 2*time.Second/5 {
		t.Fatalf("three pings at 5 a second took %v", took)
	}
}

// TestSlowReaderDropped: a client that stops reading is dropped once
// MaxPendingBytes wait for it, and messages it took but never got go back
// to the mailbox: what their senders were told stays true.
func TestSlowReaderDropped(t *testing.T) {
	ctx := testCtx(t)
	e := newTestEnv(t, func(c *Config) { c.MaxPendingBytes, c.FramesPerSecond, c.FrameBurst = 64<<10, 1e6, 1e6 })
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	ac := e.login(t, ctx, alice, "pa")

	// Bob logs in by hand and then never reads.
	raw, _, err := websocket.Dial(ctx, e.socketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.CloseNow()
	if err := raw.Write(ctx, websocket.MessageText, []byte(`{"type":"login","id":"1","email":"`+bob.Email+`","password":"pb"}`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := raw.Read(ctx); err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("x", 16000)
	delivered := 0
	for sent := 0; ; sent++ {
		res, err := ac.Send(ctx, to(1002), text)
		if err != nil {
			t.Fatal(err)
		}
		if res == wire.ResultStored {
			break
		}
		delivered++
		if sent > 5000 {
			t.Fatal("bob was never dropped")
		}
	}
	// Whatever bob's connection took and dropped is back in the mailbox;
	// with what the kernel held, bob's next login gets at least as many
	// as were delivered but never read.
	raw.CloseNow()
	if delivered == 0 {
		t.Fatal("nothing was delivered before the drop")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		waiting, err := e.store.OfflineMessages(ctx, 1002, "probe", []string{"probe"})
		if err != nil {
			t.Fatal(err)
		}
		if len(waiting) >= 2 || time.Now().After(deadline) {
			if len(waiting) < 2 {
				t.Fatalf("%d messages in the mailbox after the drop", len(waiting))
			}
			break
		}
		if _, err := e.store.ReleaseOffline(ctx, 1002, "probe"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestShutdownSaysBye: on shutdown every session hears why and closes
// with "going away"; new sockets are turned away.
func TestShutdownSaysBye(t *testing.T) {
	ctx := testCtx(t)
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	c := e.login(t, ctx, alice, "pa")
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if b := next[*wire.Bye](t, ctx, c); b.Reason != "server shutting down" {
		t.Fatalf("bye %+v", b)
	}
	if d := next[client.Disconnected](t, ctx, c); websocket.CloseStatus(d.Err) != websocket.StatusGoingAway {
		t.Fatalf("closed with %v", d.Err)
	}
	late, _, err := websocket.Dial(ctx, e.socketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer late.CloseNow()
	if _, _, err := late.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("a socket after shutdown: %v", err)
	}
}
