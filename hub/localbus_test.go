package hub_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crosstalk-im/crosstalk/bus"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/store"
)

// On a local bus the presence bucket is on disk. A hub that starts where
// a process ended without closing its own (killed, say) finds none of
// that process's sessions online, and a hub that closes leaves no bucket
// behind, which a version keeping it in memory could not open.
func TestLocalBusPresence(t *testing.T) {
	ctx := context.Background()
	st, b, alice := localBus(t)

	// What a process that was killed left: its bucket, alice online.
	stale, err := b.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "crosstalk_presence", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stale.Put(ctx, "1", []byte("a record of a session that ended")); err != nil {
		t.Fatal(err)
	}

	h, err := hub.New(ctx, hub.Config{Store: st, Conn: b.Conn, JS: b.JS, LocalBus: true})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := b.JS.KeyValue(ctx, "crosstalk_presence")
	if err != nil {
		t.Fatal(err)
	}
	if status, err := kv.Status(ctx); err != nil || status.Values() != 0 {
		t.Errorf("the presence bucket holds %v values (%v) at start, want none", status.Values(), err)
	}
	stream, err := b.JS.Stream(ctx, "KV_crosstalk_presence")
	if err != nil {
		t.Fatal(err)
	}
	if storage := stream.CachedInfo().Config.Storage; storage != jetstream.FileStorage {
		t.Errorf("the presence bucket is kept in %v, want file storage", storage)
	}
	s, err := h.Attach(ctx, alice, "msnp", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := h.Presence(ctx, alice.Number); got != hub.StatusOnline {
		t.Errorf("alice is %q, want online", got)
	}

	h.Close()
	if _, err := b.JS.KeyValue(ctx, "crosstalk_presence"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Errorf("after the hub closed the presence bucket: %v, want it gone", err)
	}
}

// A hub outlives the context it was started with: serve's ends at the
// first signal, while sessions are still leaving, and the hub's replica of
// the presence bucket must go on following it until the hub closes.
func TestHubOutlivesStartContext(t *testing.T) {
	ctx := context.Background()
	st, b, alice := localBus(t)
	started, cancel := context.WithCancel(ctx)
	h, err := hub.New(started, hub.Config{Store: st, Conn: b.Conn, JS: b.JS, LocalBus: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	cancel()

	s, err := h.Attach(ctx, alice, "msnp", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPresence(ctx, hub.StatusAway, ""); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := h.Presence(ctx, alice.Number); got != hub.StatusAway {
		t.Errorf("after the start context ended, the replica shows alice %q, want away", got)
	}
}

// localBus is testenv.StoreAndBus with alice's account, for a hub the
// test starts itself.
func localBus(t *testing.T) (*store.SQLite, *bus.Bus, hub.Account) {
	t.Helper()
	st, b := testenv.StoreAndBus(t)
	return st, b, account(t, st, 1, "alice@example.com")
}
