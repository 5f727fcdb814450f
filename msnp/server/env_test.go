package server

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
	"github.com/crosstalk-im/crosstalk/store"
)

// testEnv is a whole service on loopback: SQLite in a temporary directory,
// the embedded NATS server, the hub and both MSNP listeners.
type testEnv struct {
	store  *store.SQLite
	hub    *hub.Hub
	srv    *Server
	nsAddr string
	sbAddr string
}

func newTestEnv(tb testing.TB, tweak func(*Config)) *testEnv {
	return newTestEnvHub(tb, tweak, hub.Config{})
}

// newTestEnvHub is newTestEnv with hub settings (limits) of the test's own.
func newTestEnvHub(tb testing.TB, tweak func(*Config), hc hub.Config) *testEnv {
	tb.Helper()
	st, h := testenv.Hub(tb, hc)
	nsL := listen(tb)
	sbL := listen(tb)
	cfg := Config{Hub: h, SwitchboardAddr: sbL.Addr().String()}
	if tweak != nil {
		tweak(&cfg)
	}
	srv := New(cfg)
	go srv.ServeNotification(nsL)
	go srv.ServeSwitchboard(sbL)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	})
	return &testEnv{store: st, hub: h, srv: srv, nsAddr: nsL.Addr().String(), sbAddr: sbL.Addr().String()}
}

func listen(tb testing.TB) net.Listener {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// encodedName is account number's display name as MSNP lines carry it.
func (e *testEnv) encodedName(tb testing.TB, number uint32) string {
	tb.Helper()
	a, err := e.store.Account(context.Background(), number)
	if err != nil {
		tb.Fatal(err)
	}
	return wire.EncodeName(a.DisplayName)
}

func (e *testEnv) addAccount(tb testing.TB, number uint32, email, name, password string) hub.Account {
	tb.Helper()
	a, err := e.store.CreateAccount(context.Background(), hub.Account{Number: number, Email: email, DisplayName: name}, password)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}
