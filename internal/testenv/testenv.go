// Package testenv builds what every protocol server's tests stand on: a
// SQLite store in a temporary directory, the embedded NATS bus and a hub,
// all closed when the test ends, and the server itself on a loopback port.
package testenv

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/bus"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/store"
)

// Hub returns a hub on a fresh store and bus. Cleanups registered after
// it (servers' shutdowns) run before it closes them.
func Hub(tb testing.TB, cfg hub.Config) (*store.SQLite, *hub.Hub) {
	tb.Helper()
	return WrappedHub(tb, cfg, nil)
}

// WrappedHub is Hub with the store the hub uses made by wrap from the
// real one (which it returns), for tests that step into store calls.
func WrappedHub(tb testing.TB, cfg hub.Config, wrap func(hub.Store) hub.Store) (*store.SQLite, *hub.Hub) {
	tb.Helper()
	st, b := StoreAndBus(tb)
	cfg.Store, cfg.Conn, cfg.JS, cfg.LocalBus = st, b.Conn, b.JS, true
	if wrap != nil {
		cfg.Store = wrap(st)
	}
	h, err := hub.New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.Close)
	return st, h
}

// StoreAndBus opens a fresh SQLite store and an embedded bus in one
// temporary data directory, for a test that starts its hub itself. Both
// close when the test ends, after what it registers later.
func StoreAndBus(tb testing.TB) (*store.SQLite, *bus.Bus) {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	st, err := store.OpenSQLite(ctx, dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	b, err := bus.Open(ctx, bus.Options{DataDir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(b.Close)
	return st, b
}

// Server is what the protocol servers have in common for their tests.
type Server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// Serve runs srv on a loopback port and returns its address. When the test
// ends it shuts srv down and checks that Serve returned closed.
func Serve(tb testing.TB, srv Server, closed error) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, closed) {
			tb.Errorf("Serve = %v, want %v", err, closed)
		}
	})
	return l.Addr().String()
}
