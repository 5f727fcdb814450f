package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/sip/client"
	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// TestKeepAliveRenewSignOut: a keep-alive gets a CRLF pong, a signed
// re-REGISTER renews the registration, Expires: 0 signs out and the
// server hangs up.
func TestKeepAliveRenewSignOut(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	c := dialRawSIP(t, e.addr)
	c.signIn(alice.Email, "pa")

	c.write([]byte("\r\n\r\n"))
	if m, err := c.read(); m != nil || err != nil {
		t.Fatalf("answer to a keep-alive: %v %v", m, err)
	}

	res := c.roundTrip(c.register(""), true)
	if res.StatusCode != 200 || res.Get(wire.HeaderExpires) != "7200" || res.Get(wire.HeaderAuthenticationInfo) == "" {
		t.Fatalf("renewal: %s", res.LogString())
	}
	if !strings.Contains(res.Get(wire.HeaderKeepAlive), "timeout=300") {
		t.Fatalf("keep-alive %q", res.Get(wire.HeaderKeepAlive))
	}

	out := c.register("")
	out.Add(wire.HeaderExpires, "0")
	if res := c.roundTrip(out, true); res.StatusCode != 200 || res.Get(wire.HeaderExpires) != "0" {
		t.Fatalf("sign-out: %s", res.LogString())
	}
	c.closed()
	waitDetached(t, e, alice.Number)
}

// TestSignatures: once signed in, a request without a good signature is
// answered 401 (pidgin-sipe then signs it again), and a client that keeps
// sending them is dropped.
func TestSignatures(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	c := dialRawSIP(t, e.addr)
	c.signIn(alice.Email, "pa")

	if res := c.roundTrip(c.request(wire.MethodOptions), true); res.StatusCode != 200 {
		t.Fatalf("signed OPTIONS: %s", res.FirstLine())
	}
	if res := c.roundTrip(c.request(wire.MethodOptions), false); res.StatusCode != 401 {
		t.Fatalf("unsigned OPTIONS: %s", res.FirstLine())
	}
	tampered := c.request(wire.MethodOptions)
	c.sign(tampered, "")
	tampered.Set(wire.HeaderTo, "<sip:bob@example.com>")
	if res := c.roundTrip(tampered, false); res.StatusCode != 401 {
		t.Fatalf("tampered OPTIONS: %s", res.FirstLine())
	}
	for range maxBadSignatures - 2 {
		c.send(c.request(wire.MethodOptions), false)
	}
	c.closed()
	waitDetached(t, e, alice.Number)
}

// TestBeforeSignIn: requests before sign-in are refused, REGISTERs that
// do not follow the handshake start it again, a broken AUTHENTICATE is a
// bad request.
func TestBeforeSignIn(t *testing.T) {
	e := newTestEnv(t, nil)
	e.account(t, 1001, "Alice", "pa")
	c := dialRawSIP(t, e.addr)
	c.self = "sip:user1001@example.com"
	if res := c.roundTrip(c.request(wire.MethodSubscribe), false); res.StatusCode != 403 {
		t.Fatalf("SUBSCRIBE before sign-in: %s", res.FirstLine())
	}
	res := c.roundTrip(c.register(`Digest username="x"`), false)
	if scheme, _ := wire.AuthParams(res.Get(wire.HeaderWWWAuthenticate)); res.StatusCode != 401 || scheme != "NTLM" {
		t.Fatalf("Digest: %s", res.LogString())
	}
	if res := c.roundTrip(c.register(`NTLM opaque="nope", gssapi-data="TlRMTVNTUAAD", version=4`), false); res.StatusCode != 401 {
		t.Fatalf("AUTHENTICATE without a challenge: %s", res.FirstLine())
	}
	res = c.roundTrip(c.register(`NTLM qop="auth", gssapi-data="", version=4`), false)
	_, p := wire.AuthParams(res.Get(wire.HeaderWWWAuthenticate))
	if res := c.roundTrip(c.register(`NTLM opaque="`+p["opaque"]+`", gssapi-data="bm90IE5UTE0=", version=4`), false); res.StatusCode != 400 {
		t.Fatalf("garbage AUTHENTICATE: %s", res.FirstLine())
	}
	bad := wire.NewRequest(wire.MethodOptions, "sip:x").Add(wire.HeaderCSeq, "1 OPTIONS")
	if res := c.roundTrip(bad, false); res.StatusCode != 400 {
		t.Fatalf("request without Call-ID: %s", res.FirstLine())
	}
}

// TestMalformedInput: a message that breaks the framing, or is over a
// limit, ends the connection.
func TestMalformedInput(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.Limits = wire.Limits{MaxBodyBytes: 100} })
	for _, input := range []string{
		"this is not SIP\r\n\r\n",
		"OPTIONS sip:x SIP/2.0\r\nContent-Length: 101\r\n\r\n",
		"OPTIONS sip:x SIP/2.0\r\nno colon\r\n\r\n",
	} {
		c := dialRawSIP(t, e.addr)
		c.write([]byte(input))
		c.closed()
	}
}

// TestTimeouts: a connection that does not sign in in time is closed; one
// that goes silent after sign-in is told it is deregistered, then closed.
func TestTimeouts(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.LoginTimeout = 200 * time.Millisecond; c.IdleTimeout = 300 * time.Millisecond })
	alice := e.account(t, 1001, "Alice", "pa")
	dialRawSIP(t, e.addr).closed()

	c := dialRawSIP(t, e.addr)
	c.signIn(alice.Email, "pa")
	for {
		m, err := c.read()
		if err != nil {
			t.Fatalf("no deregistration before the close: %v", err)
		}
		if m != nil && m.Method == wire.MethodBENotify && m.Get(wire.HeaderEvent) == "registration-notify" {
			break
		}
	}
	c.closed()
}

// TestTakeover: a second SIP sign-in of the account deregisters the first.
func TestTakeover(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	first := e.signIn(t, alice, "pa")
	e.signIn(t, alice, "pa")
	if d := next[client.Deregistered](t, first); !strings.Contains(d.Reason, "another location") {
		t.Fatalf("deregistered: %+v", d)
	}
	next[client.Disconnected](t, first)
}

// TestContactList: contacts and groups added and removed by the client
// reach the hub, and the client is sent its list again after each change.
func TestContactList(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	e.hubSession(t, bob, hub.StatusOnline, "here")
	ctx := testCtx(t)
	a := e.signIn(t, alice, "pa")
	next[client.ContactList](t, a)

	friends, err := a.AddGroup(ctx, "Przyjaciele")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AddContact(ctx, bob.Email, friends); err != nil {
		t.Fatal(err)
	}
	for {
		l := next[client.ContactList](t, a)
		if len(l.Contacts) == 1 && l.Contacts[0].URI == "sip:user1002@example.com" && len(l.Contacts[0].Groups) == 1 &&
			l.Contacts[0].Groups[0] == friends && l.Groups[friends] == "Przyjaciele" {
			break
		}
	}
	if p := presenceOf(t, a, "sip:user1002@example.com", client.Presence.Online); p.Note != "here" {
		t.Fatalf("bob's presence %+v", p)
	}
	r, err := e.store.Roster(ctx, alice.Number)
	if err != nil || !r.On(hub.Forward, bob.Number) {
		t.Fatalf("roster %+v %v", r, err)
	}
	if err := a.AddContact(ctx, "nobody@example.com"); err == nil {
		t.Fatal("an unknown contact was added")
	}

	if err := a.RemoveContact(ctx, bob.Email); err != nil {
		t.Fatal(err)
	}
	for len(next[client.ContactList](t, a).Contacts) != 0 {
	}
	if r, err := e.store.Roster(ctx, alice.Number); err != nil || r.On(hub.Forward, bob.Number) {
		t.Fatalf("bob still on the forward list: %v", err)
	}
}

// TestBlock: a contact the SIP user blocks sees it offline and cannot
// message it; unblocked, it can again.
func TestBlock(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	e.follow(t, bob.Number, alice.Number)
	b := e.hubSession(t, bob, hub.StatusOnline, "")
	ctx := testCtx(t)
	a := e.signIn(t, alice, "pa")
	b.Wait(t, testCtx(t), hub.EventPresence, func(ev hub.Event) bool { return ev.From.Number == alice.Number && ev.Status == hub.StatusOnline })

	if err := a.Block(ctx, bob.Email, true); err != nil {
		t.Fatal(err)
	}
	b.Wait(t, testCtx(t), hub.EventPresence, func(ev hub.Event) bool { return ev.From.Number == alice.Number && ev.Status == hub.StatusOffline })
	if d, err := e.hub.SendMessage(ctx, bob, alice.Number, hub.Message{Text: "hej"}, ""); err != nil || d != hub.Blocked {
		t.Fatalf("message from a blocked contact: %v %v", d, err)
	}
	if err := a.Block(ctx, bob.Email, false); err != nil {
		t.Fatal(err)
	}
	b.Wait(t, testCtx(t), hub.EventPresence, func(ev hub.Event) bool { return ev.From.Number == alice.Number && ev.Status == hub.StatusOnline })
}

// TestSubscribers: someone who adds the SIP user is shown to it (roaming
// self), and its acknowledgement puts them on the allow list.
func TestSubscribers(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	b := e.hubSession(t, bob, hub.StatusOnline, "")
	ctx := testCtx(t)
	a := e.signIn(t, alice, "pa")
	if _, _, err := b.AddContact(ctx, hub.Forward, alice.Number, 0); err != nil {
		t.Fatal(err)
	}
	if s := next[client.Subscribers](t, a); len(s.Users) != 1 || s.Users[0] != "user1002@example.com" {
		t.Fatalf("subscribers %+v", s)
	}
	for !e.relationOf(t, alice.Number, bob.Number).OnAllow {
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *testEnv) relationOf(t *testing.T, owner, contact uint32) hub.Relation {
	t.Helper()
	r, err := e.store.Relation(testCtx(t), owner, contact)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSessionLimit: with room for one IM session, a message from a second
// contact ends the idle session (BYE) and starts its own; both arrive.
func TestSessionLimit(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.MaxDialogs = 1 })
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	carol := e.account(t, 1003, "Carol", "pc")
	ctx := testCtx(t)
	a := e.signIn(t, alice, "pa")
	for _, from := range []hub.Account{bob, carol, bob} {
		if d, err := e.hub.SendMessage(ctx, from, alice.Number, hub.Message{Text: "from " + from.DisplayName}, ""); err != nil || d != hub.Delivered {
			t.Fatalf("SendMessage: %v %v", d, err)
		}
		if m := next[client.Message](t, a); m.Text != "from "+from.DisplayName {
			t.Fatalf("got %+v", m)
		}
	}
}

// TestWrongRequests: in-dialog requests outside any dialog are 481,
// unknown methods 501, unknown events 489.
func TestWrongRequests(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	c := dialRawSIP(t, e.addr)
	c.signIn(alice.Email, "pa")
	for method, want := range map[string]int{wire.MethodMessage: 481, wire.MethodBye: 481, wire.MethodInfo: 481, "PUBLISH": 501} {
		if res := c.roundTrip(c.request(method), true); res.StatusCode != want {
			t.Errorf("%s: %s, want %d", method, res.FirstLine(), want)
		}
	}
	sub := c.request(wire.MethodSubscribe).Add(wire.HeaderEvent, "dialog")
	if res := c.roundTrip(sub, true); res.StatusCode != 489 {
		t.Errorf("SUBSCRIBE to an unknown event: %s", res.FirstLine())
	}
	inv := c.request(wire.MethodInvite)
	inv.Set(wire.HeaderTo, "<sip:nobody@example.com>")
	if res := c.roundTrip(inv, true); res.StatusCode != 404 {
		t.Errorf("INVITE to nobody: %s", res.FirstLine())
	}
}

// TestReauthentication: a new NTLM handshake on a signed-in connection
// (pidgin-sipe makes one every 8 hours) replaces the keys; the session
// goes on. Another account's handshake there is refused.
func TestReauthentication(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	e.account(t, 1002, "Bob", "pb")
	c := dialRawSIP(t, e.addr)
	c.signIn(alice.Email, "pa")
	old := c.keys
	c.signIn(alice.Email, "pa")
	if c.keys == old {
		t.Fatal("the keys were not replaced")
	}
	if res := c.roundTrip(c.request(wire.MethodOptions), true); res.StatusCode != 200 {
		t.Fatalf("OPTIONS with the new keys: %s", res.FirstLine())
	}
	if s, err := e.hub.Sessions(testCtx(t), alice.Number); err != nil || len(s) != 1 {
		t.Fatalf("sessions %v %v", s, err)
	}
	if res := c.handshake("user1002@example.com", "pb"); res.StatusCode != 403 {
		t.Fatalf("another account's handshake: %s", res.FirstLine())
	}
}

// TestUnansweredRequests: a client that leaves a request of ours
// unanswered is dropped once it has waited TransactionTimeout, also when
// an earlier one was answered, and the messages that waited for it go
// back to the mailbox.
func TestUnansweredRequests(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.TransactionTimeout = 300 * time.Millisecond })
	alice := e.account(t, 1001, "Alice", "pa")
	senders := []hub.Account{e.account(t, 1002, "Bob", "pb"), e.account(t, 1003, "Carol", "pc")}
	c := dialRawSIP(t, e.addr)
	c.signIn(alice.Email, "pa")
	ctx := testCtx(t)
	for i, from := range senders {
		if d, err := e.hub.SendMessage(ctx, from, alice.Number, hub.Message{Text: "from " + from.Email}, ""); err != nil || d != hub.Delivered {
			t.Fatalf("SendMessage: %v, %v", d, err)
		}
		// Each message opens an IM session with an INVITE of ours: the
		// first is accepted (its message then waits for an answer too),
		// the second left unanswered.
		for {
			m, err := c.read()
			if err != nil {
				t.Fatalf("no INVITE: %v", err)
			}
			if m != nil && m.Method == wire.MethodInvite {
				if i == 0 {
					c.send(wire.Response(m, 200, "raw"), true)
				}
				break
			}
		}
	}
	c.closed()
	// The hub puts them back from a goroutine of its own.
	for {
		left, err := e.store.OfflineMessages(ctx, alice.Number, "probe", nil)
		if err != nil || len(left) > len(senders) {
			t.Fatalf("mailbox after the drop: %+v, %v", left, err)
		}
		if len(left) == len(senders) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("mailbox after the drop: %+v", left)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestExpiryGoesOnToTheNextDue: the one timer of a connection's requests,
// firing when none is due (the request it was set for was answered), is
// set again for the next; with none waiting it is let go.
func TestExpiryGoesOnToTheNextDue(t *testing.T) {
	later := &transaction{due: time.Now().Add(time.Hour).UnixNano()}
	c := &conn{pending: map[wire.Transaction]*transaction{{CallID: "later", CSeq: 1, Method: wire.MethodMessage}: later}}
	c.expiry = time.AfterFunc(time.Hour, func() { t.Error("the timer ran the function it was made with") })
	defer c.expiry.Stop()
	c.expireTransactions()
	if c.expiry == nil || len(c.pending) != 1 {
		t.Fatalf("after a firing with one request waiting: timer %v, %d waiting", c.expiry, len(c.pending))
	}
	clear(c.pending)
	c.expireTransactions()
	if c.expiry != nil {
		t.Fatal("the timer is kept with no request waiting")
	}
}

// heldRecipient is a session of another protocol whose connection is
// held in the sender's batch (hub.Batch) as MSN and GG connections are:
// the messages it takes are written when the batch releases it.
type heldRecipient struct {
	mu      sync.Mutex
	held    bool
	written []string // texts written, in order
	waiting []string // texts held
}

func (r *heldRecipient) Hold() {
	r.mu.Lock()
	r.held = true
	r.mu.Unlock()
}

func (r *heldRecipient) Release() {
	r.mu.Lock()
	r.held = false
	r.written = append(r.written, r.waiting...)
	r.waiting = nil
	r.mu.Unlock()
}

func (r *heldRecipient) Deliver(ev hub.Event) bool {
	if ev.Kind != hub.EventMessage || ev.Message == nil {
		return true
	}
	ev.Batch.Track(r, func(bool) {})
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held {
		r.waiting = append(r.waiting, ev.Message.Text)
	} else {
		r.written = append(r.written, ev.Message.Text)
	}
	return true
}

// Messages sent at once are answered once the connections that took them
// wrote them (hub.Batch), and before a request that came after them in
// the same write: a BYE ending their session, or a sign-out, after whose
// answer the connection closes.
func TestMessagesThenMoreAtOnce(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	recipient := &heldRecipient{}
	s, err := e.hub.Attach(testCtx(t), bob, "test", recipient)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Detach(context.Background()) })
	if err := s.SetPresence(testCtx(t), hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	bobURI := "sip:" + bob.Email
	for _, last := range []string{wire.MethodBye, wire.MethodRegister} {
		recipient.mu.Lock()
		recipient.written = nil
		recipient.mu.Unlock()
		c := dialRawSIP(t, e.addr)
		c.signIn(alice.Email, "pa")
		inv := c.request(wire.MethodInvite)
		inv.RequestURI = bobURI
		inv.Set(wire.HeaderTo, "<"+bobURI+">").Set(wire.HeaderCallID, "chat")
		res := c.roundTrip(inv, true)
		if res.StatusCode != 200 {
			t.Fatalf("INVITE: %s", res.LogString())
		}
		to := res.Get(wire.HeaderTo)
		inviteSeq, _, _ := inv.CSeq()
		inDialog := func(method string) *wire.Message {
			m := c.request(method)
			m.RequestURI = bobURI
			return m.Set(wire.HeaderTo, to).Set(wire.HeaderCallID, "chat")
		}
		c.send(inDialog(wire.MethodAck).Set(wire.HeaderCSeq, fmt.Sprintf("%d ACK", inviteSeq)), true)

		var batch []byte
		var want []string
		texts := []string{"one", "two", "three"}
		add := func(m *wire.Message) {
			c.sign(m, "")
			enc, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, enc...)
			want = append(want, m.Get(wire.HeaderCSeq))
		}
		for _, text := range texts {
			m := inDialog(wire.MethodMessage).Add(wire.HeaderContentType, "text/plain; charset=UTF-8")
			m.Body = []byte(text)
			add(m)
		}
		if last == wire.MethodBye {
			add(inDialog(wire.MethodBye))
		} else {
			add(c.register("").Add(wire.HeaderExpires, "0"))
		}
		c.write(batch)

		var got []string
		for len(got) < len(want) {
			m, err := c.read()
			if err != nil {
				break
			}
			if m == nil || m.IsRequest() {
				continue
			}
			if m.StatusCode != 200 {
				t.Fatalf("%s: answer %s", last, m.LogString())
			}
			if len(got) == 0 {
				// The first answer leaves once every message was written.
				recipient.mu.Lock()
				written := slices.Clone(recipient.written)
				recipient.mu.Unlock()
				if !slices.Equal(written, texts) {
					t.Fatalf("%s: answered with %q written", last, written)
				}
			}
			got = append(got, m.Get(wire.HeaderCSeq))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: answers to %q, want %q", last, got, want)
		}
		if last == wire.MethodRegister {
			c.closed()
		}
	}
}
