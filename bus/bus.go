// Package bus connects a Crosstalk node to NATS, the path every event between
// sessions travels. By default it starts an embedded NATS server inside the
// process with no network listener; given a URL it joins an external server or
// cluster instead. Both give the same *nats.Conn and JetStream context, so
// the code above cannot tell one node from many.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options choose between the embedded server and an external one.
type Options struct {
	// URL of an external NATS server or cluster (comma-separated); empty
	// starts the embedded server.
	URL string
	// DataDir holds the embedded server's JetStream state.
	DataDir string
	// Name identifies this node's connection in NATS monitoring.
	Name   string
	Logger *slog.Logger
}

// Bus is a connection to NATS with JetStream.
type Bus struct {
	Conn     *nats.Conn
	JS       jetstream.JetStream
	embedded *server.Server
	closed   chan struct{}
}

// Open starts or joins NATS.
func Open(ctx context.Context, opts Options) (*Bus, error) {
	name := opts.Name
	if name == "" {
		name = "crosstalk"
	}
	b := &Bus{closed: make(chan struct{})}
	var connOpts = []nats.Option{
		nats.Name(name),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
	}
	url := opts.URL
	if url == "" {
		ns, err := server.NewServer(&server.Options{
			ServerName: name,
			DontListen: true,
			JetStream:  true,
			StoreDir:   filepath.Join(opts.DataDir, "nats"),
			NoSigs:     true,
			// Presence and events are small; keep the embedded server lean.
			JetStreamMaxMemory: 256 << 20,
		})
		if err != nil {
			return nil, fmt.Errorf("embedded nats: %w", err)
		}
		ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			ns.Shutdown()
			return nil, errors.New("embedded nats: not ready after 10s")
		}
		b.embedded = ns
		url = ns.ClientURL()
		connOpts = append(connOpts, nats.InProcessServer(ns))
	}
	nc, err := nats.Connect(url, connOpts...)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("nats connect: %w", err)
	}
	b.Conn = nc
	if b.JS, err = jetstream.New(nc); err != nil {
		b.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if opts.Logger != nil {
		// The embedded server's client URL names a port it never opens.
		if b.embedded != nil {
			opts.Logger.Info("bus: embedded NATS, in-process, no network listener", "store", filepath.Join(opts.DataDir, "nats"))
		} else {
			opts.Logger.Info("bus: connected to NATS", "url", nc.ConnectedUrlRedacted())
		}
	}
	return b, nil
}

// Close drains the connection and stops the embedded server, if any.
func (b *Bus) Close() {
	if b.Conn != nil {
		if err := b.Conn.Drain(); err != nil {
			b.Conn.Close()
		}
		<-b.closed
	}
	if b.embedded != nil {
		b.embedded.Shutdown()
		b.embedded.WaitForShutdown()
	}
}
