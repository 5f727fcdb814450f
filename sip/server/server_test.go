package server

import (
	"errors"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/sip/client"
)

const polish = "Zażółć gęślą jaźń"

// TestSignInMessagesAndPresence: two SIP users who follow each other sign
// in, see each other's presence and note, and exchange messages both ways
// in IM sessions.
func TestSignInMessagesAndPresence(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	e.follow(t, alice.Number, bob.Number)
	e.follow(t, bob.Number, alice.Number)
	ctx := testCtx(t)

	a := e.signIn(t, alice, "pa")
	list := next[client.ContactList](t, a)
	if len(list.Contacts) != 1 || list.Contacts[0].URI != "sip:user1002@example.com" || list.Contacts[0].Name != "Bob" {
		t.Fatalf("alice's contact list %+v", list)
	}
	if list.Groups[1] != "~" {
		t.Fatalf("groups %v", list.Groups)
	}
	b := e.signIn(t, bob, "pb")
	presenceOf(t, a, "sip:user1002@example.com", client.Presence.Online)
	presenceOf(t, b, "sip:user1001@example.com", client.Presence.Online)

	if err := b.SetStatus(ctx, client.AvailabilityAway, polish); err != nil {
		t.Fatal(err)
	}
	p := presenceOf(t, a, "sip:user1002@example.com", func(p client.Presence) bool { return p.Availability == 15500 })
	if p.Note != polish || p.DisplayName != "Bob" {
		t.Fatalf("alice sees bob as %+v", p)
	}

	if err := a.SendMessage(ctx, "user1002@example.com", polish+" 1"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, b); m.From != "sip:user1001@example.com" || m.Text != polish+" 1" {
		t.Fatalf("bob got %+v", m)
	}
	if err := a.SendMessage(ctx, "user1002@example.com", "second, in the session"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, b); m.Text != "second, in the session" {
		t.Fatalf("bob got %+v", m)
	}
	if err := b.SendMessage(ctx, "sip:user1001@example.com", "answer"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, a); m.From != "sip:user1002@example.com" || m.Text != "answer" {
		t.Fatalf("alice got %+v", m)
	}
	if err := a.Typing(ctx, "user1002@example.com", true); err != nil {
		t.Fatal(err)
	}
	if ty := next[client.Typing](t, b); ty.From != "sip:user1001@example.com" || !ty.Active {
		t.Fatalf("bob got %+v", ty)
	}

	if err := b.SignOut(ctx); err != nil {
		t.Fatal(err)
	}
	presenceOf(t, a, "sip:user1002@example.com", func(p client.Presence) bool { return !p.Online() })
}

func TestWrongPasswordAndUnknownAccount(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	err := e.dial(t).SignIn(testCtx(t), alice.Email, "wrong")
	var se *client.StatusError
	if !errors.As(err, &se) || se.Code != 401 || !errors.Is(err, client.ErrAuthentication) {
		t.Fatalf("wrong password: %v", err)
	}
	err = e.dial(t).SignIn(testCtx(t), "nobody@example.com", "pa")
	if !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("unknown account: %v", err)
	}
}

// TestCrossProtocol: a SIP user and a user of another protocol (a hub
// session, as any frontend makes) see each other and exchange messages.
func TestCrossProtocol(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	gg := e.account(t, 2002, "Gie", "pg")
	e.follow(t, alice.Number, gg.Number)
	e.follow(t, gg.Number, alice.Number)
	other := e.hubSession(t, gg, hub.StatusBusy, polish)
	ctx := testCtx(t)

	a := e.signIn(t, alice, "pa")
	p := presenceOf(t, a, "sip:user2002@example.com", client.Presence.Online)
	if p.Availability != 6500 || p.Note != polish {
		t.Fatalf("alice sees %+v", p)
	}
	other.Wait(t, testCtx(t), hub.EventPresence, func(ev hub.Event) bool {
		return ev.From.Number == alice.Number && ev.Status == hub.StatusOnline
	})

	if err := a.SendMessage(ctx, gg.Email, polish); err != nil {
		t.Fatal(err)
	}
	ev := other.Wait(t, testCtx(t), hub.EventMessage, func(hub.Event) bool { return true })
	if ev.From.Number != alice.Number || ev.Message.Text != polish {
		t.Fatalf("the other protocol got %+v", ev)
	}
	if d, err := e.hub.SendMessage(ctx, gg, alice.Number, hub.Message{Text: "odpowiedź"}, ""); err != nil || d != hub.Delivered {
		t.Fatalf("SendMessage: %v, %v", d, err)
	}
	if m := next[client.Message](t, a); m.From != "sip:user2002@example.com" || m.Text != "odpowiedź" {
		t.Fatalf("alice got %+v", m)
	}
}

// TestOffline: messages kept while the SIP user was away arrive at
// sign-in and leave the mailbox; an INVITE to an offline contact is
// answered 480, as OCS does.
func TestOffline(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	ctx := testCtx(t)
	for _, text := range []string{"first", "second"} {
		if d, err := e.hub.SendMessage(ctx, bob, alice.Number, hub.Message{Text: text}, ""); err != nil || d != hub.Queued {
			t.Fatalf("SendMessage: %v, %v", d, err)
		}
	}
	a := e.signIn(t, alice, "pa")
	for _, want := range []string{"first", "second"} {
		if m := next[client.Message](t, a); m.From != "sip:user1002@example.com" || m.Text != want {
			t.Fatalf("got %+v, want %q", m, want)
		}
	}
	// Bob's messages came in an IM session; bob is offline, so the
	// session's MESSAGE gets 480, the client starts a new session, and
	// its INVITE gets 480 too.
	err := a.SendMessage(ctx, bob.Email, "are you there?")
	var se *client.StatusError
	if !errors.As(err, &se) || se.Code != 480 {
		t.Fatalf("message to an offline contact: %v", err)
	}
	// What the client answered left the mailbox: after sign-out (which
	// gives back unanswered claims) nothing is left.
	if err := a.SignOut(ctx); err != nil {
		t.Fatal(err)
	}
	waitDetached(t, e, alice.Number)
	if left, err := e.store.OfflineMessages(ctx, alice.Number, "probe", nil); err != nil || len(left) != 0 {
		t.Fatalf("mailbox after delivery: %+v, %v", left, err)
	}
}

// waitDetached waits until the account has no session.
func waitDetached(t *testing.T, e *testEnv, number uint32) {
	t.Helper()
	ctx := testCtx(t)
	for {
		s, err := e.hub.Sessions(ctx, number)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("still signed in: %v", s)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
