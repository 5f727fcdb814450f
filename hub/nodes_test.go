package hub_test

import (
	"context"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/crosstalk-im/crosstalk/bus"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/store"
)

// twoNodes returns two hubs on one NATS server and one store, as two
// server processes would run them.
func twoNodes(t *testing.T) (*hub.Hub, *hub.Hub, hub.Store) {
	t.Helper()
	ctx := context.Background()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats not ready")
	}
	st, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var hubs [2]*hub.Hub
	for i := range hubs {
		b, err := bus.Open(ctx, bus.Options{URL: ns.ClientURL()})
		if err != nil {
			t.Fatal(err)
		}
		h, err := hub.New(ctx, hub.Config{Store: st, Conn: b.Conn, JS: b.JS})
		if err != nil {
			b.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close(); b.Close() })
		hubs[i] = h
	}
	return hubs[0], hubs[1], st
}

// causalWatcher checks, for each presence event it is given, that its own
// node already shows the status the event reports: a client that hears
// "online" and at once opens a chat must not be told the contact is away.
type causalWatcher struct {
	*recorder
	node    *hub.Hub
	mu      sync.Mutex
	stale   int
	checked int
}

func (c *causalWatcher) Deliver(ev hub.Event) bool {
	if ev.Kind == hub.EventPresence {
		st, _, _ := c.node.Presence(context.Background(), ev.From.Number)
		c.mu.Lock()
		c.checked++
		if st.Visible() != ev.Status {
			c.stale++
		}
		c.mu.Unlock()
	}
	return c.recorder.Deliver(ev)
}

func TestAcrossNodes(t *testing.T) {
	ctx := context.Background()
	h1, h2, st := twoNodes(t)
	alice, bob := account(t, st, 1, "alice@example.com"), account(t, st, 2, "bob@example.com")

	watcher := &causalWatcher{recorder: newRecorder(), node: h2}
	bs, err := h2.Attach(ctx, bob, "gg", watcher)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bs.AddContact(ctx, hub.Forward, alice.Number, 0); err != nil {
		t.Fatal(err)
	}
	if err := bs.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	aliceMSN := newRecorder()
	as, err := h1.Attach(ctx, alice, "msnp", aliceMSN)
	if err != nil {
		t.Fatal(err)
	}
	statuses := []hub.Status{hub.StatusOnline, hub.StatusAway, hub.StatusBusy}
	for i := range 30 {
		want := statuses[i%len(statuses)]
		if err := as.SetPresence(ctx, want, ""); err != nil {
			t.Fatal(err)
		}
		if ev := watcher.wait(t, hub.EventPresence); ev.Status != want {
			t.Fatalf("bob sees %s, want %s", ev.Status, want)
		}
	}
	watcher.mu.Lock()
	if watcher.stale > 0 || watcher.checked != 30 {
		t.Errorf("%d of %d presence events reached a node that did not show them yet", watcher.stale, watcher.checked)
	}
	watcher.mu.Unlock()

	// The sender on one node hears that the session on the other took it.
	if d, err := h2.SendMessage(ctx, bob, alice.Number, hub.Message{Text: "across"}, ""); err != nil || d != hub.Delivered {
		t.Fatalf("send across nodes: %v %v", d, err)
	}
	if ev := aliceMSN.wait(t, hub.EventMessage); ev.Message.Text != "across" || ev.From.Number != bob.Number {
		t.Fatalf("alice got %+v", ev)
	}

	// A newer login of the same protocol on the other node takes over.
	again, err := h2.Attach(ctx, alice, "msnp", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if ev := aliceMSN.wait(t, hub.EventKick); ev.Session != again.ID() {
		t.Fatalf("kick names %s, want %s", ev.Session, again.ID())
	}
	again.Detach(ctx)
	as.Detach(ctx)
	if ev := watcher.wait(t, hub.EventPresence); ev.Status != hub.StatusOffline {
		t.Fatalf("after alice left bob sees %s", ev.Status)
	}
	// Offline now: the message waits in the mailbox.
	if d, err := h2.SendMessage(ctx, bob, alice.Number, hub.Message{Text: "later"}, ""); err != nil || d != hub.Queued {
		t.Fatalf("send to an offline account: %v %v", d, err)
	}
}
