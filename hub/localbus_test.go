package hub_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crosstalk-im/crosstalk/bus"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/store"
)

// On a local bus the presence bucket is on disk, and a process that
// starts again on the same data directory finds none of the sessions of
// the one before it (which ended without detaching them) online.
func TestLocalBusPresenceStartsEmpty(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	alice := account(t, st, 1, "alice@example.com")
	start := func() (*hub.Hub, *bus.Bus) {
		t.Helper()
		b, err := bus.Open(ctx, bus.Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		h, err := hub.New(ctx, hub.Config{Store: st, Conn: b.Conn, JS: b.JS, LocalBus: true})
		if err != nil {
			b.Close()
			t.Fatal(err)
		}
		return h, b
	}

	h, b := start()
	s, err := h.Attach(ctx, alice, "msnp", newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := h.Presence(ctx, alice.Number); got != hub.StatusOnline {
		t.Fatalf("alice is %q, want online", got)
	}
	stream, err := b.JS.Stream(ctx, "KV_crosstalk_presence")
	if err != nil {
		t.Fatal(err)
	}
	if storage := stream.CachedInfo().Config.Storage; storage != jetstream.FileStorage {
		t.Errorf("the presence bucket is kept in %v, want file storage", storage)
	}
	// The process ends without its sessions leaving.
	h.Close()
	b.Close()

	h, b = start()
	defer b.Close()
	defer h.Close()
	if got, _, _ := h.Presence(ctx, alice.Number); got != hub.StatusOffline {
		t.Errorf("after a restart alice is %q, want offline", got)
	}
	kv, err := b.JS.KeyValue(ctx, "crosstalk_presence")
	if err != nil {
		t.Fatal(err)
	}
	if status, err := kv.Status(ctx); err != nil || status.Values() != 0 {
		t.Errorf("after a restart the presence bucket holds %v values (%v), want none", status.Values(), err)
	}
}
