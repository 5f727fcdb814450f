package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/imip/client"
	"github.com/crosstalk-im/crosstalk/imip/wire"
)

// TestClientFlow drives two library clients through a whole friendship:
// the request with its text, acceptance, presence with texts, messages
// both ways, invisibility, going offline.
func TestClientFlow(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "Alice", "pa")
	env.account(t, 1002, "Bob", "pb")
	ctx := testCtx(t)

	a := imipClient(t, env.addr, "1001", "pa")
	if err := a.SetStatus(ctx, wire.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	b := imipClient(t, env.addr, "1002", "pb")
	if err := b.SetStatus(ctx, wire.StatusBusy, "in a meeting"); err != nil {
		t.Fatal(err)
	}

	// Alice adds Bob. By default Bob's privacy lets everyone not blocked
	// see him, so Alice sees him at once; Bob is asked with Alice's text.
	if err := a.ListAdd(ctx, "1002", "Hi Bob, it's Alice"); err != nil {
		t.Fatal(err)
	}
	if r := nextEvent[client.ListResult](t, a); r.User != "1002" || !r.Accepted || r.Nick != "Bob" {
		t.Fatalf("ListResult %+v", r)
	}
	if st := nextEvent[client.Status](t, a); st != (client.Status{Number: "1002", Nick: "Bob", Status: wire.StatusBusy, Text: "in a meeting"}) {
		t.Fatalf("Alice sees %+v", st)
	}
	req := nextEvent[client.ListRequest](t, b)
	if req != (client.ListRequest{From: "1001", Nick: "Alice", List: "Buddy", Text: "Hi Bob, it's Alice"}) {
		t.Fatalf("request %+v", req)
	}
	if err := b.ListAccept(ctx, req.From, req.Nick); err != nil {
		t.Fatal(err)
	}
	if r := env.relation(t, 1002, 1001); !r.OnAllow {
		t.Fatalf("Bob's lists after ACCEPT: %+v", r)
	}

	// Bob's status changes reach Alice, text included.
	if err := b.SetStatus(ctx, wire.StatusAway, "lunch"); err != nil {
		t.Fatal(err)
	}
	if st := nextStatus(t, a, "1002", wire.StatusAway); st.Text != "lunch" {
		t.Fatalf("Alice sees %+v", st)
	}

	// Messages both ways, errors-only and acknowledged.
	const text = "Zażółć gęślą jaźń"
	if _, err := a.SendMessage(ctx, "1002", text); err != nil {
		t.Fatal(err)
	}
	m := nextEvent[client.Message](t, b)
	if m.From != "1001" || m.Nick != "Alice" || m.To != "1002" || m.Text != text || time.Since(m.Time) > 5*time.Second {
		t.Fatalf("Bob got %+v", m)
	}
	if err := b.SendMessageAcked(ctx, "1001", "hi!"); err != nil {
		t.Fatal(err)
	}
	if m := nextEvent[client.Message](t, a); m.From != "1002" || m.Text != "hi!" {
		t.Fatalf("Alice got %+v", m)
	}

	// Invisible looks offline, and still gets messages.
	if err := b.SetStatus(ctx, wire.StatusOffline, ""); err != nil {
		t.Fatal(err)
	}
	nextStatus(t, a, "1002", wire.StatusOffline)
	if _, err := a.SendMessage(ctx, "1002", "are you there?"); err != nil {
		t.Fatal(err)
	}
	if m := nextEvent[client.Message](t, b); m.Text != "are you there?" {
		t.Fatalf("invisible Bob got %+v", m)
	}
	if err := b.SetStatus(ctx, wire.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	nextStatus(t, a, "1002", wire.StatusOnline)

	// Bob leaves: Alice sees him go.
	if err := b.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	nextStatus(t, a, "1002", wire.StatusOffline)

	// Alice's next login lists Bob in the LOGN echo and shows him online
	// after her first STAT.
	b = imipClient(t, env.addr, "1002", "pb")
	if err := b.SetStatus(ctx, wire.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	nextStatus(t, a, "1002", wire.StatusOnline)
	if err := a.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	a, err := client.Dial(ctx, env.addr, client.Options{KeepAlive: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	buddies, err := a.Login(ctx, "1001", "pa")
	if err != nil || len(buddies) != 1 || buddies[0] != (wire.Contact{User: "1002", Nick: "Bob"}) {
		t.Fatalf("Login = %v, %v", buddies, err)
	}
	if err := a.SetStatus(ctx, wire.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	nextStatus(t, a, "1002", wire.StatusOnline)
}

// TestAuthorization: with privacy "only my allow list", acceptance is
// what lets the requester see; rejection blocks presence and messages;
// removal ends presence.
func TestAuthorization(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "Alice", "pa")
	env.account(t, 1002, "Bob", "pb")
	ctx := testCtx(t)
	if _, err := env.store.SetPrivacy(ctx, 1002, hub.BlockUnlisted); err != nil {
		t.Fatal(err)
	}
	a := imipClient(t, env.addr, "1001", "pa")
	if err := a.SetStatus(ctx, wire.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	b := imipClient(t, env.addr, "1002", "pb")
	if err := b.SetStatus(ctx, wire.StatusOnline, "here"); err != nil {
		t.Fatal(err)
	}

	if err := a.ListAdd(ctx, "1002", ""); err != nil {
		t.Fatal(err)
	}
	req := nextEvent[client.ListRequest](t, b)
	if req.From != "1001" || req.Text != DefaultRequestText {
		t.Fatalf("request %+v", req)
	}
	noEvent(t, a, 200*time.Millisecond) // nothing to see before Bob answers
	if err := b.ListAccept(ctx, "1001", req.Nick); err != nil {
		t.Fatal(err)
	}
	if r := nextEvent[client.ListResult](t, a); r.Op != wire.ListAdd || r.User != "1002" || !r.Accepted {
		t.Fatalf("ListResult %+v", r)
	}
	if st := nextEvent[client.Status](t, a); st.Number != "1002" || st.Status != wire.StatusOnline || st.Text != "here" {
		t.Fatalf("Alice sees %+v", st)
	}

	// Bob changes his mind: Alice sees him offline and cannot write.
	if err := b.ListReject(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	nextStatus(t, a, "1002", wire.StatusOffline)
	if r := env.relation(t, 1002, 1001); !r.OnBlock || r.OnAllow {
		t.Fatalf("Bob's lists after REJECT: %+v", r)
	}
	id, err := a.SendMessage(ctx, "1002", "please?")
	if err != nil {
		t.Fatal(err)
	}
	if f := nextEvent[client.MessageFailed](t, a); f.ID != id || f.Code != CodeRefused || f.Text == "" {
		t.Fatalf("MessageFailed %+v", f)
	}
	var ae *client.AckError
	if err := a.SendMessageAcked(ctx, "1002", "please?"); !errors.As(err, &ae) || ae.Code != CodeRefused {
		t.Fatalf("acked message to a blocker: %v", err)
	}
	// Re-adding does not ask Bob again.
	if err := a.ListRemove(ctx, "1002"); err != nil {
		t.Fatal(err)
	}
	if err := a.ListAdd(ctx, "1002", "again"); err != nil {
		t.Fatal(err)
	}
	noEvent(t, b, 200*time.Millisecond)

	// Accepting later undoes the block.
	if err := b.ListAccept(ctx, "1001", ""); err != nil {
		t.Fatal(err)
	}
	nextStatus(t, a, "1002", wire.StatusOnline)
	if r := env.relation(t, 1002, 1001); r.OnBlock || !r.OnAllow {
		t.Fatalf("Bob's lists after ACCEPT: %+v", r)
	}

	// Removing Bob: ACK, then OFFLINE for him; his changes stop coming.
	if err := a.ListRemove(ctx, "1002"); err != nil {
		t.Fatal(err)
	}
	nextStatus(t, a, "1002", wire.StatusOffline)
	if err := b.SetStatus(ctx, wire.StatusBusy, ""); err != nil {
		t.Fatal(err)
	}
	noEvent(t, a, 200*time.Millisecond)
	if err := a.ListRemove(ctx, "1002"); err != nil {
		t.Fatalf("removing someone not on the list: %v", err)
	}
}

// TestPendingRequests: someone who added the account while it was away
// is asked about after the first STAT, at every login until answered.
func TestPendingRequests(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "Alice", "pa")
	env.account(t, 1002, "Bob", "pb")
	env.account(t, 1003, "Carol", "pc")
	ctx := testCtx(t)
	env.addToList(t, 1001, 1002, hub.Forward)
	env.addToList(t, 1003, 1002, hub.Forward)
	env.addToList(t, 1002, 1003, hub.Block) // answered long ago

	for round := range 2 {
		b := imipClient(t, env.addr, "1002", "pb")
		if err := b.SetStatus(ctx, wire.StatusOnline, ""); err != nil {
			t.Fatal(err)
		}
		if round == 1 {
			noEvent(t, b, 200*time.Millisecond)
			break
		}
		req := nextEvent[client.ListRequest](t, b)
		if req != (client.ListRequest{From: "1001", Nick: "Alice", List: "Buddy", Text: DefaultRequestText}) {
			t.Fatalf("request %+v", req)
		}
		noEvent(t, b, 200*time.Millisecond) // not Carol
		if err := b.ListAccept(ctx, "1001", "Alice"); err != nil {
			t.Fatal(err)
		}
		if err := b.Disconnect(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStatusMapping: what IMIP shows of the hub's statuses that other
// protocols set.
func TestStatusMapping(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "Alice", "pa")
	env.account(t, 1002, "Gary", "pg")
	env.addToList(t, 1001, 1002, hub.Forward)
	ctx := testCtx(t)
	gary := env.attach(t, 1002)
	if err := gary.SetPresence(ctx, hub.StatusOnThePhone, "dzwonię"); err != nil {
		t.Fatal(err)
	}
	a := imipClient(t, env.addr, "1001", "pa")
	if err := a.SetStatus(ctx, wire.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	// The snapshot after the first STAT.
	if st := nextEvent[client.Status](t, a); st != (client.Status{Number: "1002", Nick: "Gary", Status: wire.StatusBusy, Text: "dzwonię"}) {
		t.Fatalf("snapshot %+v", st)
	}
	for _, tt := range []struct {
		hub  hub.Status
		imip wire.Status
	}{
		{hub.StatusIdle, wire.StatusAway},
		{hub.StatusOnline, wire.StatusOnline},
		{hub.StatusBeRightBack, wire.StatusAway},
		{hub.StatusBusy, wire.StatusBusy},
		{hub.StatusOutToLunch, wire.StatusAway},
		{hub.StatusInvisible, wire.StatusOffline},
		{hub.StatusAway, wire.StatusAway},
	} {
		if err := gary.SetPresence(ctx, tt.hub, "text"); err != nil {
			t.Fatal(err)
		}
		st := nextEvent[client.Status](t, a)
		wantText := "text"
		if tt.imip == wire.StatusOffline {
			wantText = ""
		}
		if st.Number != "1002" || st.Status != tt.imip || st.Text != wantText {
			t.Fatalf("%s shows as %+v, want %s", tt.hub, st, tt.imip)
		}
	}
	// And the other way: what an IMIP client sets is what the hub keeps.
	for _, tt := range []struct {
		imip wire.Status
		hub  hub.Status
	}{
		{wire.StatusAway, hub.StatusAway},
		{wire.StatusBusy, hub.StatusBusy},
		{"online", hub.StatusOnline},
		{wire.StatusOffline, hub.StatusInvisible},
	} {
		if err := a.SetStatus(ctx, tt.imip, "x"); err != nil {
			t.Fatal(err)
		}
		st, text, err := env.hub.Presence(ctx, 1001)
		wantText := "x"
		if tt.hub == hub.StatusInvisible {
			wantText = ""
		}
		if err != nil || st != tt.hub || text != wantText {
			t.Fatalf("STAT %s: hub has %s %q, %v", tt.imip, st, text, err)
		}
	}
}

// TestOfflineMessages: kept while away, delivered after LOGN with their
// original time, gone from the store once written.
func TestOfflineMessages(t *testing.T) {
	env := newTestEnv(t, nil)
	alice := env.account(t, 1001, "Alice", "pa")
	env.account(t, 1002, "Bob", "pb")
	ctx := testCtx(t)
	sent := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	if d, err := env.hub.SendMessage(ctx, alice, 1002, hub.Message{Text: "first", Sent: sent}, ""); err != nil || d != hub.Queued {
		t.Fatalf("queue: %v %v", d, err)
	}
	// An IMIP sender gets no failure for an offline recipient.
	a := imipClient(t, env.addr, "1001", "pa")
	if err := a.SendMessageAcked(ctx, "1002", "second"); err != nil {
		t.Fatal(err)
	}

	b := imipClient(t, env.addr, "1002", "pb")
	m := nextEvent[client.Message](t, b)
	if m.From != "1001" || m.Nick != "Alice" || m.Text != "first" || !m.Time.Equal(sent) {
		t.Fatalf("first offline message %+v", m)
	}
	if m := nextEvent[client.Message](t, b); m.Text != "second" || time.Since(m.Time) > 5*time.Second {
		t.Fatalf("second offline message %+v", m)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left, err := env.store.CountOffline(ctx, 1002)
		if err == nil && left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("offline messages still queued: %v %v", left, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Between LOGN and the first STAT the account is there for messages.
	if _, err := a.SendMessage(ctx, "1002", "live"); err != nil {
		t.Fatal(err)
	}
	if m := nextEvent[client.Message](t, b); m.Text != "live" {
		t.Fatalf("live message %+v", m)
	}
	if left, _ := env.store.CountOffline(ctx, 1002); left != 0 {
		t.Fatalf("live message was queued: %v", left)
	}

	// A full mailbox refuses.
	env.account(t, 1003, "Carol", "pc")
	for range hub.DefaultMailbox.Total {
		if _, err := env.store.QueueOffline(ctx, 1003, 1001, hub.Message{Text: "x", Sent: sent}, hub.MailboxLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	id, err := a.SendMessage(ctx, "1003", "one too many")
	if err != nil {
		t.Fatal(err)
	}
	if f := nextEvent[client.MessageFailed](t, a); f.ID != id || f.Code != CodeMailboxFull {
		t.Fatalf("MessageFailed %+v", f)
	}
}

// TestTakeover: a second IMIP login of the account ends the first with a
// DISC; other protocols' sessions stay.
func TestTakeover(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "Alice", "pa")
	ctx := testCtx(t)
	other := env.attach(t, 1001)
	first := imipClient(t, env.addr, "1001", "pa")
	second := imipClient(t, env.addr, "1001", "pa")
	d := nextEvent[client.Disconnected](t, first)
	if !errors.Is(d.Err, client.ErrServerDisc) || !strings.Contains(d.Reason, "another location") {
		t.Fatalf("first session ended with %+v", d)
	}
	if err := second.Ping(ctx); err != nil {
		t.Fatalf("second session: %v", err)
	}
	if err := other.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatalf("other protocol's session: %v", err)
	}
}

// TestLoginFailures: 810 and 811 through the library, which hangs up as
// the server does.
func TestLoginFailures(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "Alice", "pa")
	for _, tt := range []struct {
		user, password string
		want           error
	}{
		{"1001", "wrong", client.ErrBadPassword},
		{"1002", "pa", client.ErrUnknownUser},
		{"alice", "pa", client.ErrUnknownUser},
		{"01001", "pa", client.ErrUnknownUser},
		{"99999999999", "pa", client.ErrUnknownUser},
	} {
		t.Run(tt.user+"/"+tt.password, func(t *testing.T) {
			c, err := client.Dial(testCtx(t), env.addr, client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Login(testCtx(t), tt.user, tt.password); !errors.Is(err, tt.want) {
				t.Fatalf("Login = %v, want %v", err, tt.want)
			}
			nextEvent[client.Disconnected](t, c)
		})
	}
}

// TestShutdown: clients are told the server is going away.
func TestShutdown(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "Alice", "pa")
	a := imipClient(t, env.addr, "1001", "pa")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := env.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := nextEvent[client.Disconnected](t, a); !errors.Is(d.Err, client.ErrServerDisc) || d.Reason != "server shutting down" {
		t.Fatalf("Disconnected %+v", d)
	}
}
