package drive_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
)

// events keeps what a session is sent.
type events chan hub.Event

func (ev events) Deliver(e hub.Event) bool {
	select {
	case ev <- e:
		return true
	default:
		return false
	}
}

// attach puts number online through protocol and returns its events.
func (e *env) attach(t *testing.T, number uint32, protocol string) events {
	t.Helper()
	ctx := context.Background()
	a, err := e.st.Account(ctx, number)
	if err != nil {
		t.Fatal(err)
	}
	ev := make(events, 64)
	s, err := e.hub.Attach(ctx, a, protocol, ev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Detach(context.Background()) })
	if err := s.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	return ev
}

// waitKind returns the next event of kind, failing after a few seconds.
func waitKind(t *testing.T, ev events, kind hub.EventKind) hub.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e := <-ev:
			if e.Kind == kind {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event", kind)
		}
	}
}

// TestLinkForRecipient: Link serves only the recipient's completed
// tickets, with the public address in front of the link path.
func TestLinkForRecipient(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *drive.Config) { c.PublicURL = "http://files.example/" })
	e.account(t, alice, false)
	e.account(t, bob, true)
	tk, err := e.srv.Deposit(ctx, alice, bob, "a.txt", 3, strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	got, url, err := e.srv.Link(ctx, tk.ID, bob)
	if err != nil || got.ID != tk.ID || url != "http://files.example"+e.srv.LinkPath(tk) {
		t.Fatalf("Link: %+v %q %v", got, url, err)
	}
	if _, _, err := e.srv.Link(ctx, tk.ID, alice); !errors.Is(err, drive.ErrNoTicket) {
		t.Errorf("the sender's Link: %v", err)
	}
	offered, err := e.srv.Offer(ctx, alice, bob, "b.txt", 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.srv.Link(ctx, offered.ID, bob); !errors.Is(err, drive.ErrNoTicket) {
		t.Errorf("Link of a ticket without its file: %v", err)
	}
}

// TestBridges: web chat users are handed files as links, unless they are
// on GG too (GG's own flow) or the drive has no public address; SIP users
// get them through SIP's own file transfer.
func TestBridges(t *testing.T) {
	on := hub.StatusOnline
	e := newEnv(t, func(c *drive.Config) { c.PublicURL = "http://files.example" })
	for _, tc := range []struct {
		sessions map[string]hub.Status
		want     bool
	}{
		{map[string]hub.Status{drive.ProtocolWebchat: on}, true},
		{map[string]hub.Status{"imip": on}, true},
		{map[string]hub.Status{drive.ProtocolWebchat: on, drive.ProtocolGG: on}, false},
		{map[string]hub.Status{"sip": on}, true},
		{map[string]hub.Status{drive.ProtocolWebchat: hub.StatusInvisible}, false},
		{nil, false},
	} {
		if got := e.srv.Bridges(tc.sessions); got != tc.want {
			t.Errorf("Bridges(%v) = %v", tc.sessions, got)
		}
	}
	bare := newEnv(t, nil)
	if bare.srv.Bridges(map[string]hub.Status{drive.ProtocolWebchat: on}) {
		t.Error("a drive without a public address bridges to the web chat")
	}
}

// TestAnnounce: web chat sessions get a file event, the recipient's other
// sessions a message with the link, and the web chat not that message too.
func TestAnnounce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *drive.Config) { c.PublicURL = "http://files.example" })
	e.account(t, alice, false)
	e.account(t, bob, false)
	web := e.attach(t, bob, drive.ProtocolWebchat)
	from, err := e.st.Account(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := e.srv.Deposit(ctx, alice, bob, "only-web.txt", 1, bytes.NewReader([]byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Announce(ctx, from, tk); err != nil {
		t.Fatal(err)
	}
	if ev := waitKind(t, web, hub.EventFile); ev.File != tk.ID || ev.Protocol != drive.ProtocolWebchat || ev.From.Number != alice {
		t.Fatalf("file event %+v", ev)
	}
	if waiting, err := e.st.OfflineMessages(ctx, bob, "probe", []string{"probe"}); err != nil || len(waiting) != 0 {
		t.Fatalf("mailbox of a web-only recipient: %v %v", waiting, err)
	}

	imip := e.attach(t, bob, "imip")
	tk2, err := e.srv.Deposit(ctx, alice, bob, "both.txt", 1, bytes.NewReader([]byte("y")))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Announce(ctx, from, tk2); err != nil {
		t.Fatal(err)
	}
	msg := waitKind(t, imip, hub.EventMessage)
	if !strings.Contains(msg.Message.Text, "both.txt") || !strings.Contains(msg.Message.Text, "http://files.example/link/"+tk2.ID) {
		t.Fatalf("link message %q", msg.Message.Text)
	}
	if ev := waitKind(t, web, hub.EventFile); ev.File != tk2.ID {
		t.Fatalf("file event %+v", ev)
	}
	select {
	case ev := <-web:
		t.Fatalf("the web chat got %s too", ev.Kind)
	default:
	}
}

// TestReserve: a reserved ticket is allowed at once under Offer's checks,
// and Fill takes its file once.
func TestReserve(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *drive.Config) { c.QuotaBytes = 10 })
	e.account(t, alice, false)
	e.account(t, bob, false)
	tk, err := e.srv.Reserve(ctx, alice, bob, "r.txt", 4)
	if err != nil || tk.Ack != drive.AckAllowed || tk.Status != drive.StatusInProgress {
		t.Fatalf("reserve: %+v, %v", tk, err)
	}
	if _, err := e.srv.Reserve(ctx, alice, bob, "big.txt", 7); !errors.Is(err, drive.ErrQuota) {
		t.Errorf("over the quota: %v", err)
	}
	if err := e.srv.Fill(ctx, tk.ID, strings.NewReader("abcd")); err != nil {
		t.Fatal(err)
	}
	if got, err := e.srv.Ticket(ctx, tk.ID); err != nil || got.Status != drive.StatusCompleted {
		t.Fatalf("after Fill: %+v, %v", got, err)
	}
	if err := e.srv.Fill(ctx, tk.ID, strings.NewReader("abcd")); err == nil {
		t.Error("a second Fill was taken")
	}
	if _, err := e.st.AddToList(ctx, bob, alice, hub.Block, -1, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Reserve(ctx, alice, bob, "no.txt", 1); !errors.Is(err, drive.ErrNotAllowed) {
		t.Errorf("to a blocker: %v", err)
	}
}
