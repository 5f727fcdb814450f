package hub_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/bus"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/store"
)

// twoNodes returns two hubs on one NATS server and one store, as two
// server processes would run them.
func twoNodes(t *testing.T) (*hub.Hub, *hub.Hub, hub.Store) {
	h1, h2, st, _ := twoNodesWith(t, hub.Config{})
	return h1, h2, st
}

// twoNodesWith is twoNodes with cfg, and the first node's bus connection.
func twoNodesWith(t *testing.T, cfg hub.Config) (*hub.Hub, *hub.Hub, hub.Store, *bus.Bus) {
	t.Helper()
	ctx := context.Background()
	natsURL := testenv.NATS(t)
	st, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var hubs [2]*hub.Hub
	var first *bus.Bus
	for i := range hubs {
		b, err := bus.Open(ctx, bus.Options{URL: natsURL})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Store, cfg.Conn, cfg.JS = st, b.Conn, b.JS
		h, err := hub.New(ctx, cfg)
		if err != nil {
			b.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close(); b.Close() })
		hubs[i] = h
		if first == nil {
			first = b
		}
	}
	return hubs[0], hubs[1], st, first
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
	onlineWatching(t, h2, bob, "gg", watcher, alice.Number, hub.StatusOnline, "")
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

// acrossNodes is alice on the first of two nodes (1 s node timeout),
// watched by bob on the second.
type acrossNodes struct {
	h1, h2  *hub.Hub
	bus1    *bus.Bus
	alice   *hub.Session
	bob     hub.Account
	watcher *recorder
}

// watchAcrossNodes sets acrossNodes up, alice in status st with text, and
// returns once bob has seen it.
func watchAcrossNodes(t *testing.T, st hub.Status, text string) acrossNodes {
	t.Helper()
	ctx := context.Background()
	h1, h2, store, bus1 := twoNodesWith(t, hub.Config{NodeTimeout: time.Second})
	alice, bob := account(t, store, 1, "alice@example.com"), account(t, store, 2, "bob@example.com")
	watcher := newRecorder()
	bs, err := h2.Attach(ctx, bob, "msnp", watcher)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bs.AddContact(ctx, hub.Forward, alice.Number, 0); err != nil {
		t.Fatal(err)
	}
	if err := bs.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	as, err := h1.Attach(ctx, alice, "gg", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if err := as.SetPresence(ctx, st, text); err != nil {
		t.Fatal(err)
	}
	if ev := watcher.wait(t, hub.EventPresence); ev.Status != st {
		t.Fatalf("bob sees %s", ev.Status)
	}
	return acrossNodes{h1: h1, h2: h2, bus1: bus1, alice: as, bob: bob, watcher: watcher}
}

// A node that stops renewing its liveness (killed: here its bus connection
// simply closes) has its sessions taken out of presence by the other, and
// their watchers are told.
func TestDeadNodeSessionsLeave(t *testing.T) {
	ctx := context.Background()
	w := watchAcrossNodes(t, hub.StatusAway, "")
	h2, bus1, as, watcher := w.h2, w.bus1, w.alice, w.watcher
	alice, bob := as.Account(), w.bob
	reaped := metrics.Value(metrics.SessionsReaped)
	killed := time.Now()
	bus1.Conn.Close()
	if ev := watcher.wait(t, hub.EventPresence); ev.From.Number != alice.Number || ev.Status != hub.StatusOffline {
		t.Fatalf("after her node died bob sees %+v", ev)
	}
	t.Logf("alice seen offline %s after her node died (node timeout 1s)", time.Since(killed).Round(time.Millisecond))
	if alive, _ := h2.HasSession(ctx, alice.Number, as.ID(), "gg"); alive {
		t.Error("the dead node's session still counts as attached")
	}
	if got := metrics.Value(metrics.SessionsReaped) - reaped; got != 1 {
		t.Errorf("%v sessions reaped, want 1", got)
	}
	// Messages to her are stored now, not offered to the dead node.
	if d, err := h2.SendMessage(ctx, bob, alice.Number, hub.Message{Text: "later"}, ""); err != nil || d != hub.Queued {
		t.Fatalf("send to the dead node's user: %v %v", d, err)
	}
}

// A node taken for dead while it lived (cut off for a while) writes its
// sessions' presence back when it sees the mark.
func TestNodeTakenForDeadRevives(t *testing.T) {
	ctx := context.Background()
	w := watchAcrossNodes(t, hub.StatusBusy, "here")
	h1, h2, bus1, as, watcher := w.h1, w.h2, w.bus1, w.alice, w.watcher
	alice := as.Account()
	// What a reaper writes: her session out of presence, her node marked
	// dead.
	presence, err := bus1.JS.KeyValue(ctx, "crosstalk_presence")
	if err != nil {
		t.Fatal(err)
	}
	if err := presence.Delete(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if alive, _ := h2.HasSession(ctx, alice.Number, as.ID(), "gg"); !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session never left presence")
		}
	}
	nodes, err := bus1.JS.KeyValue(ctx, "crosstalk_nodes")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.Put(ctx, h1.Node(), []byte("dead")); err != nil {
		t.Fatal(err)
	}
	if ev := watcher.wait(t, hub.EventPresence); ev.Status != hub.StatusBusy || ev.Text != "here" {
		t.Fatalf("bob sees %+v after her node revived", ev)
	}
	if alive, _ := h2.HasSession(ctx, alice.Number, as.ID(), "gg"); !alive {
		t.Fatal("the revived node's session is not back in presence")
	}
}

// A block takes effect at once on the blocker's node, and on the other
// nodes as soon as the bus brings the word, though they answered earlier
// messages from what they had read before.
func TestBlockReachesEveryNode(t *testing.T) {
	ctx := context.Background()
	h1, h2, st := twoNodes(t)
	alice, bob := account(t, st, 1, "alice@example.com"), account(t, st, 2, "bob@example.com")
	as, err := h1.Attach(ctx, alice, "gg", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if err := as.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st, _, _ := h2.Presence(ctx, alice.Number); st == hub.StatusOnline {
			break // the other node has heard she is online
		}
		if time.Now().After(deadline) {
			t.Fatal("the other node never saw alice online")
		}
	}
	for _, h := range []*hub.Hub{h1, h2} {
		if d, err := h.SendMessage(ctx, bob, alice.Number, hub.Message{Text: "hi"}, ""); err != nil || d != hub.Delivered {
			t.Fatalf("before the block: %v %v", d, err)
		}
	}
	if _, _, err := as.AddContact(ctx, hub.Block, bob.Number, 0); err != nil {
		t.Fatal(err)
	}
	if d, err := h1.SendMessage(ctx, bob, alice.Number, hub.Message{Text: "let me in"}, ""); err != nil || d != hub.Blocked {
		t.Fatalf("on the blocker's node: %v %v", d, err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		d, err := h2.SendMessage(ctx, bob, alice.Number, hub.Message{Text: "let me in"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if d == hub.Blocked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other node never heard of the block")
		}
	}
}

// What a session says about itself in its protocol's terms reaches the
// other node with its presence: once bob has the presence event there, that
// node shows the details that came with it.
func TestDetailsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	n := watchAcrossNodes(t, hub.StatusOnline, "")
	alice := n.alice.Account().Number
	for _, want := range []string{"11 1073741860 %3Cmsnobj%2F%3E", "11 1073741860 0", ""} {
		n.alice.SetDetails(want)
		if err := n.alice.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
			t.Fatal(err)
		}
		n.watcher.wait(t, hub.EventPresence)
		if got := n.h2.Details(alice, "gg"); got != want {
			t.Fatalf("the other node shows %q with the presence, want %q", got, want)
		}
	}
	if got := n.h2.Details(alice, "msnp"); got != "" {
		t.Errorf("details of a protocol alice has no session of: %q", got)
	}
}
