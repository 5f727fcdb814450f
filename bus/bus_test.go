package bus

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// The log says which bus a node is on: the embedded one, without a URL
// it does not listen at, or an external server by its URL.
func TestOpenLogsWhichBus(t *testing.T) {
	var log bytes.Buffer
	b, err := Open(context.Background(), Options{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if got := log.String(); !strings.Contains(got, "embedded NATS, in-process, no network listener") || strings.Contains(got, "nats://") {
		t.Fatalf("embedded bus logged:\n%s", got)
	}

	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	log.Reset()
	b, err = Open(context.Background(), Options{URL: ns.ClientURL(), Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if got := log.String(); !strings.Contains(got, "connected to NATS") || !strings.Contains(got, ns.ClientURL()) {
		t.Fatalf("external bus logged:\n%s", got)
	}
}
