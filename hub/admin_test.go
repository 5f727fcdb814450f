package hub_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
)

// addressedRecorder is a recorder whose client has an address.
type addressedRecorder struct {
	*recorder
	addr net.Addr
}

func (r addressedRecorder) RemoteAddr() net.Addr { return r.addr }

// sessionsOf waits until h's replica shows n sessions and returns them.
func sessionsOf(t *testing.T, h *hub.Hub, n int) []hub.OnlineSession {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := h.OnlineSessions()
		if len(got) == n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions %+v, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An operator on one node sees the sessions of the other with their
// addresses, and kicks one of them without touching the rest.
func TestOperatorKickAcrossNodes(t *testing.T) {
	ctx := context.Background()
	h1, h2, st := twoNodes(t)
	alice, bob := account(t, st, 1, "alice@example.com"), account(t, st, 2, "bob@example.com")
	aliceMSN := addressedRecorder{newRecorder(), &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 50000}}
	aliceGG, bobGG := newRecorder(), newRecorder()
	for _, s := range []struct {
		a        hub.Account
		protocol string
		ep       hub.Endpoint
	}{{alice, "msnp", aliceMSN}, {alice, "gg", aliceGG}, {bob, "gg", bobGG}} {
		sess, err := h2.Attach(ctx, s.a, s.protocol, s.ep)
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
			t.Fatal(err)
		}
	}
	got := sessionsOf(t, h1, 3)
	if got[0].Account != 1 || got[0].Protocol != "gg" || got[1].Protocol != "msnp" || got[2].Account != 2 {
		t.Fatalf("sessions out of order: %+v", got)
	}
	msn := got[1]
	if msn.Addr != "192.0.2.7:50000" || msn.Node != h2.Node() || msn.Status != hub.StatusOnline || got[0].Addr != "" {
		t.Fatalf("alice's MSN session: %+v", msn)
	}
	if err := h1.Kick(ctx, 1, "no-such-session"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("kick of an unknown session: %v", err)
	}
	if err := h1.Kick(ctx, 1, msn.ID); err != nil {
		t.Fatal(err)
	}
	if ev := aliceMSN.wait(t, hub.EventKick); ev.Session != msn.ID || ev.Reason != hub.KickOperator {
		t.Fatalf("kick names %q for %v", ev.Session, ev.Reason)
	}
	// Bob's kicks, sent after Alice's on the same path, arrive after it:
	// by then her GG session would have had one too.
	h1.KickAll(ctx, 2, hub.KickAccountClosed)
	if ev := bobGG.wait(t, hub.EventKick); ev.Reason != hub.KickAccountClosed {
		t.Fatalf("bob kicked for %v", ev.Reason)
	}
	aliceGG.mu.Lock()
	defer aliceGG.mu.Unlock()
	for _, ev := range aliceGG.events {
		if ev.Kind == hub.EventKick {
			t.Fatal("alice's GG session was kicked too")
		}
	}
}

func TestDisabledAccountCannotAttach(t *testing.T) {
	h, st := newHub(t)
	a := account(t, st, 1, "alice@example.com")
	a.Disabled = true
	if _, err := h.Attach(context.Background(), a, "gg", newRecorder()); !errors.Is(err, hub.ErrDisabled) {
		t.Fatalf("attach of a disabled account: %v", err)
	}
}

func TestKickAllLocalBeforePresence(t *testing.T) {
	ctx := context.Background()
	h, st := newHub(t)
	a := account(t, st, 1, "alice@example.com")
	r := newRecorder()
	if _, err := h.Attach(ctx, a, "gg", r); err != nil {
		t.Fatal(err)
	}
	h.KickAll(ctx, 1, hub.KickAccountClosed)
	if ev := r.wait(t, hub.EventKick); ev.Reason != hub.KickAccountClosed {
		t.Fatalf("kicked for %v", ev.Reason)
	}
}

// KickProtocol ends an account's sessions of one protocol, on another
// node too, and leaves its others.
func TestKickProtocolAcrossNodes(t *testing.T) {
	ctx := context.Background()
	h1, h2, st := twoNodes(t)
	alice := account(t, st, 1, "alice@example.com")
	sessions := map[string]*recorder{"gg": newRecorder(), "webchat": newRecorder(), "msnp": newRecorder()}
	for protocol, r := range sessions {
		sess, err := h2.Attach(ctx, alice, protocol, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
			t.Fatal(err)
		}
	}
	got := sessionsOf(t, h1, 3)
	h1.KickProtocol(ctx, 1, "webchat", hub.KickSignedOut)
	if ev := sessions["webchat"].wait(t, hub.EventKick); ev.Reason != hub.KickSignedOut {
		t.Fatalf("web chat kicked for %v", ev.Reason)
	}
	// A kick sent after it on the same path arrives after it: by then the
	// GG session would have had one too.
	if err := h1.Kick(ctx, 1, got[1].ID); err != nil { // msnp, in the directory's order
		t.Fatal(err)
	}
	sessions["msnp"].wait(t, hub.EventKick)
	gg := sessions["gg"]
	gg.mu.Lock()
	defer gg.mu.Unlock()
	for _, ev := range gg.events {
		if ev.Kind == hub.EventKick {
			t.Fatal("the GG session was kicked too")
		}
	}
}
