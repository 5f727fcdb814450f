package hub_test

import (
	"context"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/bus"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/store"
)

// TestLoginChangesReachEveryNode: two nodes, each with a store of its own
// on one database (as two processes), each keeping the login records it
// read; a password set, a rename and a disabling on one node are what the
// other's next login reads, once the bus has told it.
func TestLoginChangesReachEveryNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	natsURL, dir := testenv.NATS(t), t.TempDir()
	var stores [2]*store.SQLite
	for i := range stores {
		st, err := store.OpenSQLite(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		b, err := bus.Open(ctx, bus.Options{URL: natsURL})
		if err != nil {
			st.Close()
			t.Fatal(err)
		}
		h, err := hub.New(ctx, hub.Config{Store: st, Conn: b.Conn, JS: b.JS})
		if err != nil {
			b.Close()
			st.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close(); b.Close(); st.Close() })
		stores[i] = st
	}
	reader, writer := stores[0], stores[1]
	a, err := writer.CreateAccount(ctx, hub.Account{Number: 1001, Email: "alice@example.com", DisplayName: "Alice"}, "first password")
	if err != nil {
		t.Fatal(err)
	}
	// awaitLogin reads as a login does on the reading node until it reads
	// what want accepts: the old record stays kept until the word comes.
	awaitLogin := func(what string, want func(hub.Account, string) bool) {
		t.Helper()
		for {
			got, password, err := reader.AccountWithPassword(ctx, a.Email)
			if err == nil && want(got, password) {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: the other node still reads %+v %v", what, got, err)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	awaitLogin("first login", func(_ hub.Account, p string) bool { return p == "first password" })
	if err := writer.SetPassword(ctx, a.Number, "second password"); err != nil {
		t.Fatal(err)
	}
	awaitLogin("password changed", func(_ hub.Account, p string) bool { return p == "second password" })
	if _, err := writer.SetDisplayName(ctx, a.Number, "Alice Renamed"); err != nil {
		t.Fatal(err)
	}
	awaitLogin("renamed", func(got hub.Account, _ string) bool { return got.DisplayName == "Alice Renamed" })
	if err := writer.SetDisabled(ctx, a.Number, true); err != nil {
		t.Fatal(err)
	}
	awaitLogin("disabled", func(got hub.Account, _ string) bool { return got.Disabled })
}
