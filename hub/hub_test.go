package hub_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/metrics"
)

// recorder is an Endpoint that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	events []hub.Event
	signal chan struct{}
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1024)} }

func (r *recorder) Deliver(ev hub.Event) bool {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	r.signal <- struct{}{}
	return true
}

// wait returns the next event of the given kind.
func (r *recorder) wait(t *testing.T, kind hub.EventKind) hub.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		for i, ev := range r.events {
			if ev.Kind == kind {
				r.events = append(r.events[:i], r.events[i+1:]...)
				r.mu.Unlock()
				return ev
			}
		}
		r.mu.Unlock()
		select {
		case <-r.signal:
		case <-deadline:
			t.Fatalf("no %s event", kind)
		}
	}
}

func newHub(t *testing.T) (*hub.Hub, hub.Store) {
	return newHubWith(t, nil)
}

// newHubWith gives the hub the store that wrap makes of the real one, and
// returns the real one.
func newHubWith(t *testing.T, wrap func(hub.Store) hub.Store) (*hub.Hub, hub.Store) {
	t.Helper()
	st, h := testenv.WrappedHub(t, hub.Config{}, wrap)
	return h, st
}

func account(t *testing.T, st hub.Store, n uint32, email string) hub.Account {
	t.Helper()
	a, err := st.CreateAccount(context.Background(), hub.Account{Number: n, Email: email}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestPresenceAcrossProtocols(t *testing.T) {
	ctx := context.Background()
	h, st := newHub(t)
	alice, bob := account(t, st, 1, "alice@example.com"), account(t, st, 2, "bob@example.com")

	watcher := newRecorder()
	ws, err := h.Attach(ctx, bob, "msnp", watcher)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.AddContact(ctx, hub.Forward, alice.Number, 0); err != nil {
		t.Fatal(err)
	}

	// Alice online through two protocols: the most available status wins,
	// and leaving one keeps her online through the other.
	msn, err := h.Attach(ctx, alice, "msnp", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	gg, err := h.Attach(ctx, alice, "gg", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if err := msn.SetPresence(ctx, hub.StatusAway, ""); err != nil {
		t.Fatal(err)
	}
	if ev := watcher.wait(t, hub.EventPresence); ev.Status != hub.StatusAway {
		t.Fatalf("bob sees %s", ev.Status)
	}
	if err := gg.SetPresence(ctx, hub.StatusOnline, "at work"); err != nil {
		t.Fatal(err)
	}
	if ev := watcher.wait(t, hub.EventPresence); ev.Status != hub.StatusOnline || ev.Text != "at work" {
		t.Fatalf("bob sees %s %q", ev.Status, ev.Text)
	}
	gg.Detach(ctx)
	if ev := watcher.wait(t, hub.EventPresence); ev.Status != hub.StatusAway {
		t.Fatalf("after gg left bob sees %s", ev.Status)
	}
	// Invisible looks offline to others, but she is still there.
	if err := msn.SetPresence(ctx, hub.StatusInvisible, ""); err != nil {
		t.Fatal(err)
	}
	if ev := watcher.wait(t, hub.EventPresence); ev.Status != hub.StatusOffline {
		t.Fatalf("invisible shows as %s", ev.Status)
	}
	if st, _, _ := h.VisiblePresence(ctx, bob.Number, alice.Number); st != hub.StatusOffline {
		t.Fatalf("VisiblePresence of invisible = %s", st)
	}
	if st, _, _ := h.Presence(ctx, alice.Number); st != hub.StatusInvisible {
		t.Fatalf("Presence of invisible = %s", st)
	}
	msn.Detach(ctx)
	if st, _, _ := h.Presence(ctx, alice.Number); st != hub.StatusOffline {
		t.Fatalf("after both left: %s", st)
	}
}

func TestKickOnlySameProtocol(t *testing.T) {
	ctx := context.Background()
	h, st := newHub(t)
	alice := account(t, st, 1, "alice@example.com")
	first, gg := newRecorder(), newRecorder()
	if _, err := h.Attach(ctx, alice, "msnp", first); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Attach(ctx, alice, "gg", gg); err != nil {
		t.Fatal(err)
	}
	second := newRecorder()
	s2, err := h.Attach(ctx, alice, "msnp", second)
	if err != nil {
		t.Fatal(err)
	}
	if ev := first.wait(t, hub.EventKick); ev.Session != s2.ID() {
		t.Fatalf("kick names %s, want %s", ev.Session, s2.ID())
	}
	notKicked(t, h, st, alice, gg, second)
}

// notKicked checks that kicks sent so far passed the sessions by: the bus
// keeps order, so a later event reaching each proves no kick came before.
func notKicked(t *testing.T, h *hub.Hub, st hub.Store, alice hub.Account, sessions ...*recorder) {
	t.Helper()
	ctx := context.Background()
	probe := account(t, st, 2, "probe@example.com")
	ps, err := h.Attach(ctx, probe, "probe", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ps.AddContact(ctx, hub.Forward, alice.Number, 0); err != nil {
		t.Fatal(err)
	}
	for _, r := range sessions {
		r.wait(t, hub.EventReverseAdded)
		r.mu.Lock()
		for _, ev := range r.events {
			if ev.Kind == hub.EventKick {
				t.Errorf("a session that should stay was kicked")
			}
		}
		r.mu.Unlock()
	}
}

// TestKickByInstance: logins naming different instances (MSNP16+ machine
// GUIDs) stay side by side; the same instance again, or a login naming
// none, takes over.
func TestKickByInstance(t *testing.T) {
	ctx := context.Background()
	h, st := newHub(t)
	alice := account(t, st, 1, "alice@example.com")
	home, work := newRecorder(), newRecorder()
	if _, err := h.AttachInstance(ctx, alice, "msnp", "{home}", home); err != nil {
		t.Fatal(err)
	}
	if _, err := h.AttachInstance(ctx, alice, "msnp", "{work}", work); err != nil {
		t.Fatal(err)
	}
	homeAgain := newRecorder()
	s3, err := h.AttachInstance(ctx, alice, "msnp", "{home}", homeAgain)
	if err != nil {
		t.Fatal(err)
	}
	if ev := home.wait(t, hub.EventKick); ev.Session != s3.ID() {
		t.Fatalf("kick names %s, want %s", ev.Session, s3.ID())
	}
	notKicked(t, h, st, alice, work)
	// A login without an instance takes over from every one.
	s4, err := h.Attach(ctx, alice, "msnp", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*recorder{work, homeAgain} {
		if ev := r.wait(t, hub.EventKick); ev.Session != s4.ID() {
			t.Fatalf("kick names %s, want %s", ev.Session, s4.ID())
		}
	}
}

// TestNotifyProtocol: a notification for one protocol's sessions passes
// the others by.
func TestNotifyProtocol(t *testing.T) {
	ctx := context.Background()
	h, st := newHub(t)
	alice := account(t, st, 1, "alice@example.com")
	msn, gg := newRecorder(), newRecorder()
	for p, r := range map[string]*recorder{"msnp": msn, "gg": gg} {
		if _, err := h.Attach(ctx, alice, p, r); err != nil {
			t.Fatal(err)
		}
	}
	h.Notify(alice.Number, hub.Notification{Kind: "msnp/x", Protocol: "msnp"})
	h.Notify(alice.Number, hub.Notification{Kind: "all"})
	if ev := msn.wait(t, hub.EventNotify); ev.Notification.Kind != "msnp/x" {
		t.Fatalf("msnp got %+v first", ev.Notification)
	}
	if ev := gg.wait(t, hub.EventNotify); ev.Notification.Kind != "all" {
		t.Fatalf("gg got %+v", ev.Notification)
	}
}

// TestListsChangedTellsOtherSessions: a change to an account's lists or
// groups reaches its other sessions, of any protocol, as EventListsChanged,
// and not the session that made it; a change made by a service (a list
// editor) reaches every session.
func TestListsChangedTellsOtherSessions(t *testing.T) {
	ctx := context.Background()
	h, st := newHub(t)
	alice := account(t, st, 1, "alice@example.com")
	bob := account(t, st, 2, "bob@example.com")
	gg, msn := newRecorder(), newRecorder()
	ggSess, err := h.Attach(ctx, alice, "gg", gg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Attach(ctx, alice, "msnp", msn); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ggSess.AddContact(ctx, hub.Forward, bob.Number, 0); err != nil {
		t.Fatal(err)
	}
	msn.wait(t, hub.EventListsChanged)
	g, _, err := ggSess.AddGroup(ctx, "Friends")
	if err != nil {
		t.Fatal(err)
	}
	msn.wait(t, hub.EventListsChanged)
	if _, err := ggSess.RemoveGroup(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	msn.wait(t, hub.EventListsChanged)
	if _, err := h.ListEditor(alice).RemoveContact(ctx, hub.Forward, bob.Number, -1); err != nil {
		t.Fatal(err)
	}
	msn.wait(t, hub.EventListsChanged)
	gg.wait(t, hub.EventListsChanged) // the editor's change, the first gg hears
	gg.mu.Lock()
	defer gg.mu.Unlock()
	for _, ev := range gg.events {
		if ev.Kind == hub.EventListsChanged {
			t.Errorf("the session that changed its lists was told: %+v", ev)
		}
	}
}

func TestSendMessage(t *testing.T) {
	ctx := context.Background()
	h, st := newHub(t)
	alice, bob := account(t, st, 1, "alice@example.com"), account(t, st, 2, "bob@example.com")

	// Bob offline: queued, and kept with its formatting.
	msg := hub.Message{Text: "Zażółć gęślą jaźń", Format: &hub.Format{Italic: true}}
	if d, err := h.SendMessage(ctx, alice, bob.Number, msg, ""); err != nil || d != hub.Queued {
		t.Fatalf("to offline bob: %v %v", d, err)
	}
	// Bob online through two protocols: both get it, except the skipped one.
	msn, gg := newRecorder(), newRecorder()
	ms, _ := h.Attach(ctx, bob, "msnp", msn)
	gs, _ := h.Attach(ctx, bob, "gg", gg)
	if err := gs.SetPresence(ctx, hub.StatusInvisible, ""); err != nil {
		t.Fatal(err)
	}
	offline, err := gs.OfflineMessages(ctx)
	if err != nil || len(offline) != 1 || offline[0].Text != msg.Text || !offline[0].Format.Italic {
		t.Fatalf("offline: %+v %v", offline, err)
	}
	if err := gs.DeleteOffline(ctx, offline[0].ID); err != nil {
		t.Fatal(err)
	}
	if d, err := h.SendMessage(ctx, alice, bob.Number, hub.Message{Text: "hi"}, "msnp"); err != nil || d != hub.Delivered {
		t.Fatalf("to invisible bob: %v %v", d, err)
	}
	if ev := gg.wait(t, hub.EventMessage); ev.Message.Text != "hi" || ev.From.Number != alice.Number {
		t.Fatalf("gg got %+v", ev)
	}
	if d, _ := h.SendMessage(ctx, alice, bob.Number, hub.Message{Text: "both"}, ""); d != hub.Delivered {
		t.Fatal(d)
	}
	if ev := msn.wait(t, hub.EventMessage); ev.Message.Text != "both" {
		t.Fatalf("msnp got %q: the skipped message arrived", ev.Message.Text)
	}
	gg.wait(t, hub.EventMessage)

	// Blocked: nothing delivered, nothing queued.
	if _, _, err := ms.AddContact(ctx, hub.Block, alice.Number, 0); err != nil {
		t.Fatal(err)
	}
	if d, err := h.SendMessage(ctx, alice, bob.Number, hub.Message{Text: "let me in"}, ""); err != nil || d != hub.Blocked {
		t.Fatalf("blocked: %v %v", d, err)
	}
	if d, err := h.SendMessage(ctx, alice, bob.Number, hub.Message{Text: string(make([]byte, hub.MaxMessageBytes+1))}, ""); err != hub.ErrTooLong {
		t.Fatalf("oversize: %v %v", d, err)
	}
}

// loginDuringQueue is a store that logs the recipient in, mailbox read and
// all, while a message for them is being queued: just before the message
// is stored or just after.
type loginDuringQueue struct {
	hub.Store
	loginFirst bool
	login      func()
}

func (s *loginDuringQueue) QueueOffline(ctx context.Context, to, from uint32, msg hub.Message, max hub.MailboxLimits) (int64, error) {
	if s.loginFirst {
		s.login()
		return s.Store.QueueOffline(ctx, to, from, msg, max)
	}
	id, err := s.Store.QueueOffline(ctx, to, from, msg, max)
	s.login()
	return id, err
}

// TestMessageRacingLogin: a message that found its recipient offline but
// was queued while they logged in reaches them exactly once: from the
// mailbox read at login when it was there in time, and when it was not,
// from a second read that the hub asks the new session to make.
func TestMessageRacingLogin(t *testing.T) {
	for _, loginFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("login first %v", loginFirst), func(t *testing.T) {
			ctx := context.Background()
			racing := &loginDuringQueue{loginFirst: loginFirst}
			h, st := newHubWith(t, func(st hub.Store) hub.Store { racing.Store = st; return racing })
			alice, bob := account(t, st, 1, "alice@example.com"), account(t, st, 2, "bob@example.com")
			rec := newRecorder()
			var (
				session *hub.Session
				mailbox []hub.OfflineMessage
			)
			racing.login = func() {
				s, err := h.Attach(ctx, bob, "gg", rec)
				if err != nil {
					t.Error(err)
					return
				}
				session = s
				if err := s.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
					t.Error(err)
				}
				if mailbox, err = s.OfflineMessages(ctx); err != nil {
					t.Error(err)
				}
			}

			d, err := h.SendMessage(ctx, alice, bob.Number, hub.Message{Text: "just in time"}, "")
			if err != nil || d != hub.Queued {
				t.Fatalf("send: %v %v", d, err)
			}
			if loginFirst != (len(mailbox) == 0) {
				t.Fatalf("mailbox read at login: %+v", mailbox)
			}
			rec.wait(t, hub.EventMailbox)
			again, err := session.OfflineMessages(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := append(mailbox, again...)
			if len(got) != 1 || got[0].Text != "just in time" {
				t.Fatalf("read at login %+v, then %+v", mailbox, again)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, ev := range rec.events {
				if ev.Kind == hub.EventMessage {
					t.Fatalf("also delivered live: %+v", ev)
				}
			}
		})
	}
}

// stuckEndpoint takes its first event and then holds the dispatcher until
// released, so that the node's event queue fills; it records the rest.
type stuckEndpoint struct {
	*recorder
	release chan struct{}
	once    sync.Once
}

func (s *stuckEndpoint) Deliver(ev hub.Event) bool {
	s.once.Do(func() { <-s.release })
	return s.recorder.Deliver(ev)
}

// aliceAndStuckBob makes accounts 1 (alice, on MSN with the given
// status) and 2 (bob, whose GG session's endpoint is stuck until
// released).
func aliceAndStuckBob(t *testing.T, h *hub.Hub, st hub.Store, status hub.Status, text string) (alice, bob hub.Account, bs *hub.Session, stuck *stuckEndpoint) {
	t.Helper()
	ctx := context.Background()
	alice, bob = account(t, st, 1, "alice@example.com"), account(t, st, 2, "bob@example.com")
	as, err := h.Attach(ctx, alice, "msnp", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if err := as.SetPresence(ctx, status, text); err != nil {
		t.Fatal(err)
	}
	stuck = &stuckEndpoint{recorder: newRecorder(), release: make(chan struct{})}
	bs, err = h.Attach(ctx, bob, "gg", stuck)
	if err != nil {
		t.Fatal(err)
	}
	return alice, bob, bs, stuck
}

// TestEventQueueFull: events the bus cannot queue for the node are counted
// as refused, a message among them is kept in the mailbox, its sender told
// it is stored rather than delivered, and the session whose events were
// lost is given its contacts' presence again.
func TestEventQueueFull(t *testing.T) {
	ctx := context.Background()
	st, h := testenv.Hub(t, hub.Config{EventQueue: 1, DeliveryTimeout: 200 * time.Millisecond})
	alice, bob, s, stuck := aliceAndStuckBob(t, h, st, hub.StatusBusy, "in a meeting")
	if _, _, err := s.AddContact(ctx, hub.Forward, alice.Number, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	refused := metrics.EventsRefused.WithLabelValues(string(hub.EventTyping), "queue_full")
	before := metrics.Value(refused)
	for range 50 {
		if err := h.SendTyping(ctx, alice, bob.Number, 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	d, err := h.SendMessage(ctx, alice, bob.Number, hub.Message{Text: "queued behind a stuck node"}, "")
	close(stuck.release)
	if err != nil || d != hub.Queued {
		t.Fatalf("send while the node's queue is full: %v %v", d, err)
	}
	if n, _ := st.CountOffline(ctx, bob.Number); n != 1 {
		t.Fatalf("%d messages in the mailbox", n)
	}
	for deadline := time.Now().Add(5 * time.Second); metrics.Value(refused) == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no refused event counted")
		}
	}
	if ev := stuck.wait(t, hub.EventPresence); ev.From.Number != alice.Number || ev.Status != hub.StatusBusy || ev.Text != "in a meeting" {
		t.Fatalf("resync gave %+v", ev)
	}
}

// refusing is a connection that cannot take anything (its queue is full).
type refusing struct{}

func (refusing) Deliver(hub.Event) bool { return false }

// A message no session takes is stored, not said to be delivered.
func TestRefusedMessageIsStored(t *testing.T) {
	ctx := context.Background()
	h, st := newHub(t)
	alice, bob := account(t, st, 1, "alice@example.com"), account(t, st, 2, "bob@example.com")
	s, err := h.Attach(ctx, bob, "gg", refusing{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	refused := metrics.EventsRefused.WithLabelValues(string(hub.EventMessage), "session_refused")
	before := metrics.Value(refused)
	if d, err := h.SendMessage(ctx, alice, bob.Number, hub.Message{Text: "later"}, ""); err != nil || d != hub.Queued {
		t.Fatalf("to a session that refuses: %v %v", d, err)
	}
	if metrics.Value(refused) != before+1 {
		t.Fatal("the refusal was not counted")
	}
}

// Mirror publishes only for an account with a session of another protocol.
func TestMirrorOnlyWhenItHelps(t *testing.T) {
	ctx := context.Background()
	h, st := newHub(t)
	alice, bob := account(t, st, 1, "alice@example.com"), account(t, st, 2, "bob@example.com")
	s, err := h.Attach(ctx, bob, "msnp", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	published := metrics.Events.WithLabelValues(string(hub.EventMessage), "published")
	before := metrics.Value(published)
	h.Mirror(alice, bob.Number, hub.Message{Text: "msn only"}, "msnp")
	if metrics.Value(published) != before {
		t.Fatal("mirrored to an account with no session of another protocol")
	}
	gg := newRecorder()
	gs, err := h.Attach(ctx, bob, "gg", gg)
	if err != nil {
		t.Fatal(err)
	}
	if err := gs.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !h.HasSessionBesides(bob.Number, "msnp"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the directory never saw the GG session")
		}
	}
	h.Mirror(alice, bob.Number, hub.Message{Text: "to both"}, "msnp")
	if ev := gg.wait(t, hub.EventMessage); ev.Message.Text != "to both" {
		t.Fatalf("gg got %+v", ev)
	}
}

// TestSharedOffline: the shared view of a mailbox holds what no live
// session claimed and what sessions of the sharing kind claimed, not what
// another protocol's session is delivering until that session ends.
func TestSharedOffline(t *testing.T) {
	ctx := context.Background()
	h, st := newHub(t)
	alice, bob := account(t, st, 1, "alice@example.com"), account(t, st, 2, "bob@example.com")
	for _, text := range []string{"one", "two"} {
		if d, err := h.SendMessage(ctx, alice, bob.Number, hub.Message{Text: text}, ""); err != nil || d != hub.Queued {
			t.Fatalf("to offline bob: %v %v", d, err)
		}
	}
	sharing := func(protocol, details string) bool { return protocol == "msnp" && details == "oim" }
	texts := func() []string {
		t.Helper()
		view, err := h.SharedOffline(ctx, bob.Number, sharing)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range view {
			out = append(out, m.Text)
		}
		return out
	}
	if got := texts(); len(got) != 2 {
		t.Fatalf("unclaimed: %v", got)
	}
	gs, _ := h.Attach(ctx, bob, "gg", newRecorder())
	if err := gs.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	if claimed, err := gs.OfflineMessages(ctx); err != nil || len(claimed) != 2 || claimed[0].HeldBy == "" {
		t.Fatalf("gg claimed %+v %v", claimed, err)
	}
	if got := texts(); len(got) != 0 {
		t.Fatalf("what gg delivers is shown: %v", got)
	}
	gs.Detach(ctx)
	ms, _ := h.Attach(ctx, bob, "msnp", newRecorder())
	ms.SetDetails("oim")
	if err := ms.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	if claimed, err := ms.OfflineMessages(ctx); err != nil || len(claimed) != 2 {
		t.Fatalf("msnp claimed %+v %v", claimed, err)
	}
	if got := texts(); len(got) != 2 {
		t.Fatalf("what the sharing kind holds: %v", got)
	}
	if got, err := h.SharedOffline(ctx, bob.Number, sharing, 424242); err != nil || len(got) != 0 {
		t.Fatalf("an unknown id: %+v %v", got, err)
	}
}

// TestMessageKeepsEventOrder: a message handed over on its sender's
// goroutine never overtakes events queued for the dispatcher before it,
// nor one the dispatcher is delivering: bob's session gets both typing
// notices, then the message, which its sender hears was delivered.
func TestMessageKeepsEventOrder(t *testing.T) {
	ctx := context.Background()
	h, st := newHub(t)
	alice, bob, bs, stuck := aliceAndStuckBob(t, h, st, hub.StatusOnline, "")
	if err := bs.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := h.SendTyping(ctx, alice, bob.Number, 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	sent := make(chan hub.Delivery, 1)
	go func() {
		d, err := h.SendMessage(ctx, alice, bob.Number, hub.Message{Text: "after the typing"}, "")
		if err != nil {
			t.Error(err)
		}
		sent <- d
	}()
	time.Sleep(50 * time.Millisecond) // the message on its way, behind the stuck delivery
	close(stuck.release)
	if d := <-sent; d != hub.Delivered {
		t.Fatalf("message: %v", d)
	}
	stuck.mu.Lock()
	defer stuck.mu.Unlock()
	var kinds []hub.EventKind
	for _, ev := range stuck.events {
		if ev.Kind == hub.EventTyping || ev.Kind == hub.EventMessage {
			kinds = append(kinds, ev.Kind)
		}
	}
	if want := []hub.EventKind{hub.EventTyping, hub.EventTyping, hub.EventMessage}; !slices.Equal(kinds, want) {
		t.Fatalf("bob got %v, want %v", kinds, want)
	}
}

// TestSignInWithListsRead: SignIn takes the lists the session read before
// (MSN's SYN) while their serial says they have not changed, and reads
// them again when someone added the account meanwhile, who is then told
// of the sign-in as well.
func TestSignInWithListsRead(t *testing.T) {
	ctx := context.Background()
	counter := &rosterCounter{}
	h, st := newHubWith(t, func(st hub.Store) hub.Store { counter.Store = st; return counter })
	alice, bob, carol := account(t, st, 1, "alice@example.com"), account(t, st, 2, "bob@example.com"), account(t, st, 3, "carol@example.com")
	bobHears, carolHears := newRecorder(), newRecorder()
	onlineWatching(t, h, bob, "gg", bobHears, alice.Number, hub.StatusOnline, "")
	cs, err := h.Attach(ctx, carol, "gg", carolHears)
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}

	as, err := h.Attach(ctx, alice, "msnp", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	read, err := as.Roster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := counter.reads.Load()
	roster, _, err := as.SignIn(ctx, hub.StatusOnline, "first", read)
	if err != nil {
		t.Fatal(err)
	}
	if reads := counter.reads.Load() - before; reads != 0 || roster != read {
		t.Errorf("SignIn with unchanged lists read them %d times and returned a different roster: %v", reads, roster != read)
	}
	if ev := bobHears.wait(t, hub.EventPresence); ev.From.Number != alice.Number || ev.Text != "first" {
		t.Errorf("Bob was told %+v, want Alice online \"first\"", ev)
	}
	as.Detach(ctx)
	bobHears.wait(t, hub.EventPresence) // Alice offline

	// Carol adds Alice between the read and the sign-in.
	as, err = h.Attach(ctx, alice, "msnp", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if read, err = as.Roster(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cs.AddContact(ctx, hub.Forward, alice.Number, 0); err != nil {
		t.Fatal(err)
	}
	before = counter.reads.Load()
	roster, _, err = as.SignIn(ctx, hub.StatusOnline, "second", read)
	if err != nil {
		t.Fatal(err)
	}
	if reads := counter.reads.Load() - before; reads != 1 || !roster.On(hub.Reverse, carol.Number) {
		t.Errorf("SignIn after a change read the lists %d times (want 1); Carol on its reverse list: %v", reads, roster.On(hub.Reverse, carol.Number))
	}
	if ev := carolHears.wait(t, hub.EventPresence); ev.From.Number != alice.Number || ev.Text != "second" {
		t.Errorf("Carol was told %+v, want Alice online \"second\"", ev)
	}
}

// onlineWatching attaches acct over protocol as ep, with watched on its
// forward list, and sets its presence.
func onlineWatching(t *testing.T, h *hub.Hub, acct hub.Account, protocol string, ep hub.Endpoint, watched uint32, st hub.Status, text string) *hub.Session {
	t.Helper()
	ctx := context.Background()
	s, err := h.Attach(ctx, acct, protocol, ep)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddContact(ctx, hub.Forward, watched, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPresence(ctx, st, text); err != nil {
		t.Fatal(err)
	}
	return s
}

// rosterCounter counts the reads of lists a hub makes.
type rosterCounter struct {
	hub.Store
	reads atomic.Int32
}

func (c *rosterCounter) Roster(ctx context.Context, owner uint32) (*hub.Roster, error) {
	c.reads.Add(1)
	return c.Store.Roster(ctx, owner)
}

func TestSignIn(t *testing.T) {
	ctx := context.Background()
	counter := &rosterCounter{}
	h, st := newHubWith(t, func(st hub.Store) hub.Store { counter.Store = st; return counter })
	alice, bob, carol := account(t, st, 1, "alice@example.com"), account(t, st, 2, "bob@example.com"), account(t, st, 3, "carol@example.com")

	// Bob is online and has Alice on his list; Carol is on Alice's list
	// but offline.
	watcher := newRecorder()
	onlineWatching(t, h, bob, "gg", watcher, alice.Number, hub.StatusBusy, "working")
	as, err := h.Attach(ctx, alice, "msnp", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []uint32{bob.Number, carol.Number} {
		if _, _, err := as.AddContact(ctx, hub.Forward, c, 0); err != nil {
			t.Fatal(err)
		}
	}

	before := counter.reads.Load()
	roster, online, err := as.SignIn(ctx, hub.StatusOnline, "hello", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fl := roster.Of(hub.Forward); len(fl) != 2 {
		t.Errorf("SignIn's lists have %d contacts on the forward list, want Bob and Carol", len(fl))
	}
	if reads := counter.reads.Load() - before; reads != 1 {
		t.Errorf("SignIn read the lists %d times, want once", reads)
	}
	if len(online) != 1 || online[0].Contact.Number != bob.Number || online[0].Status != hub.StatusBusy || online[0].Text != "working" {
		t.Errorf("SignIn's online contacts = %+v, want Bob busy \"working\"", online)
	}
	if ev := watcher.wait(t, hub.EventPresence); ev.From.Number != alice.Number || ev.Status != hub.StatusOnline || ev.Text != "hello" {
		t.Errorf("Bob was told %+v, want Alice online \"hello\"", ev)
	}
	if want, err := as.OnlineContacts(ctx); err != nil || !reflect.DeepEqual(want, online) {
		t.Errorf("OnlineContacts = %+v, %v; SignIn said %+v", want, err, online)
	}
	if _, _, err := as.SignIn(ctx, hub.StatusOffline, "", nil); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("SignIn offline: %v, want ErrInvalid", err)
	}
}
