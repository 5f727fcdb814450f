package testenv

import (
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// NATS runs a NATS server with JetStream on a loopback port for one test,
// as several nodes share it, and returns its URL; it shuts down when the
// test ends. Call it before starting the nodes, so that it stops after
// they shut down.
func NATS(tb testing.TB) string {
	tb.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: tb.TempDir(), NoSigs: true})
	if err != nil {
		tb.Fatal(err)
	}
	ns.Start()
	tb.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(5 * time.Second) {
		tb.Fatal("nats not ready")
	}
	return ns.ClientURL()
}
