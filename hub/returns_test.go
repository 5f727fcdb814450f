package hub_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/metrics"
)

// heldReturns is a store whose batches of returned messages each wait for
// a release, after saying how many messages they hold.
type heldReturns struct {
	hub.Store
	started chan int
	release chan struct{}
}

func (s *heldReturns) QueueOfflineBatch(ctx context.Context, msgs []hub.QueuedMessage, limits hub.MailboxLimits) ([]error, error) {
	s.started <- len(msgs)
	<-s.release
	return s.Store.QueueOfflineBatch(ctx, msgs, limits)
}

// returnsFixture is a hub over heldReturns, with alice and bob.
func returnsFixture(t *testing.T, cfg hub.Config) (*hub.Hub, hub.Store, *heldReturns, hub.Account, hub.Account) {
	t.Helper()
	held := &heldReturns{started: make(chan int, 16), release: make(chan struct{})}
	st, h := testenv.WrappedHub(t, cfg, func(s hub.Store) hub.Store {
		held.Store = s
		return held
	})
	return h, st, held, account(t, st, 1, "alice@example.com"), account(t, st, 2, "bob@example.com")
}

// waitForMailbox waits until the mailbox of account to holds n messages.
func waitForMailbox(t *testing.T, st hub.Store, to uint32, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		kept, err := st.ReadOffline(context.Background(), to)
		if err == nil && len(kept) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mailbox holds %d messages (%v), want %d", len(kept), err, n)
		}
	}
}

// A client that stops reading drops everything its queue held at once:
// those messages go back to the mailbox many to a transaction, not one
// each, and none is lost.
func TestDroppedMessagesShareTransactions(t *testing.T) {
	h, st, held, alice, bob := returnsFixture(t, hub.Config{})
	h.Undelivered(bob.Number, alice, hub.Message{Text: "first"}, "test")
	batches := []int{<-held.started}
	for i := range 300 {
		h.Undelivered(bob.Number, alice, hub.Message{Text: fmt.Sprint(i)}, "test")
	}
	close(held.release)
	waitForMailbox(t, st, bob.Number, 301)
	for len(held.started) > 0 {
		batches = append(batches, <-held.started)
	}
	if want := []int{1, 256, 44}; !slices.Equal(batches, want) {
		t.Errorf("the messages went back in batches of %v, want %v", batches, want)
	}
}

// While the store is slow, at most MaxQueuedReturnBytes of dropped
// messages wait for it; those past that are lost, and counted.
func TestReturnQueueLimit(t *testing.T) {
	// Ten messages of this text, and what records them, fit; eleven do not.
	text := strings.Repeat("x", 10_000)
	h, st, held, alice, bob := returnsFixture(t, hub.Config{MaxQueuedReturnBytes: 10*len(text) + 5_000})
	lost := metrics.MessageOutcomes.WithLabelValues("lost")
	before := metrics.Value(lost)
	h.Undelivered(bob.Number, alice, hub.Message{Text: text}, "test")
	<-held.started // the first is on its way to the store: no longer queued
	for range 29 {
		h.Undelivered(bob.Number, alice, hub.Message{Text: text}, "test")
	}
	if n := metrics.Value(lost) - before; n != 19 {
		t.Errorf("%v messages counted lost, want 19", n)
	}
	close(held.release)
	waitForMailbox(t, st, bob.Number, 11)
}

// stuckReturns is a store that never answers a batch of returned
// messages, and counts the batches it was given while they could still
// have been written.
type stuckReturns struct {
	hub.Store
	mu                sync.Mutex
	batches, withHope int
}

func (s *stuckReturns) QueueOfflineBatch(ctx context.Context, msgs []hub.QueuedMessage, limits hub.MailboxLimits) ([]error, error) {
	s.mu.Lock()
	s.batches++
	if ctx.Err() == nil {
		s.withHope++
	}
	s.mu.Unlock()
	<-ctx.Done()
	return nil, ctx.Err()
}

// A hub closing over a store that does not answer gives the dropped
// messages still queued one DeliveryTimeout, not one for each batch of
// them, and counts every one it could not return as lost.
func TestReturnsGiveUpAtClose(t *testing.T) {
	st, b := testenv.StoreAndBus(t)
	stuck := &stuckReturns{Store: st}
	h, err := hub.New(context.Background(), hub.Config{Store: stuck, Conn: b.Conn, JS: b.JS, LocalBus: true, DeliveryTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := account(t, st, 1, "alice@example.com"), account(t, st, 2, "bob@example.com")
	lost := metrics.MessageOutcomes.WithLabelValues("lost")
	before := metrics.Value(lost)
	const dropped = 20 * 256
	for range dropped {
		h.Undelivered(bob.Number, alice, hub.Message{Text: "x"}, "test")
	}
	h.Close()
	if n := metrics.Value(lost) - before; n != dropped {
		t.Errorf("%v messages counted lost, want %d", n, dropped)
	}
	stuck.mu.Lock()
	defer stuck.mu.Unlock()
	// The first batch, and the one under way when the close gave up.
	if stuck.withHope > 3 || stuck.batches < 20 {
		t.Errorf("the store was given %d batches, %d of them before the close gave up; want 20 or more, at most 3",
			stuck.batches, stuck.withHope)
	}
}
