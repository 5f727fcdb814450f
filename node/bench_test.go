package node

import (
	"context"
	"testing"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	ggserver "github.com/crosstalk-im/crosstalk/gg/server"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/client"
)

// BenchmarkGGToMSN measures the delivery latency of a message from a GG
// client to an MSN client that has the chat open: GG send, server ack,
// hub, switchboard, MSN client.
func BenchmarkGGToMSN(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := benchNode(ctx, b, Options{MSNPAddr: "127.0.0.1:0", SBAddr: "127.0.0.1:0", GGAddr: "127.0.0.1:0", HTTPAddr: Off,
		GG: ggserver.Config{PacketsPerSecond: 1e9, PacketBurst: 1 << 30}},
		accountOf(1002, "bob@example.com", "Bob"), accountOf(2001, "gary@example.com", "Gary"))
	bob, err := client.Dial(ctx, n.MSNPAddr, client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer bob.Close()
	if err := bob.Login(ctx, "bob@example.com", "pw"); err != nil {
		b.Fatal(err)
	}
	if err := bob.SetStatus(ctx, client.StatusOnline); err != nil {
		b.Fatal(err)
	}
	gary, err := ggclient.Dial(ctx, n.GGAddr, ggclient.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer gary.Close()
	if err := gary.Login(ctx, 2001, "pw", wire.StatusAvail, ""); err != nil {
		b.Fatal(err)
	}
	if _, err := gary.SendMessage(ctx, 1002, "open the chat"); err != nil {
		b.Fatal(err)
	}
	ring, ok := waitFor[client.Ring](ctx, bob.Events())
	if !ok {
		b.Fatal("no ring")
	}
	sb, err := bob.Answer(ctx, ring)
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	waitText := func() {
		if _, ok := waitFor[client.Message](ctx, sb.Events()); !ok {
			b.Fatal("no message")
		}
	}
	waitText()
	b.ResetTimer()
	for b.Loop() {
		if _, err := gary.SendMessage(ctx, 1002, "benchmark message"); err != nil {
			b.Fatal(err)
		}
		waitText()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/delivery")
}

// benchNode starts a node in a temporary directory, with accounts whose
// password is "pw"; it shuts down when the benchmark ends.
func benchNode(ctx context.Context, b *testing.B, o Options, accounts ...hub.Account) *Node {
	o.DataDir = b.TempDir()
	n, err := Start(ctx, o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Shutdown(context.Background()) })
	for _, a := range accounts {
		if _, err := n.Store.CreateAccount(ctx, a, "pw"); err != nil {
			b.Fatal(err)
		}
	}
	return n
}

// drain discards events nobody waits for.
func drain[E any](events <-chan E) {
	for range events {
	}
}

func accountOf(number uint32, email, name string) hub.Account {
	return hub.Account{Number: number, Email: email, DisplayName: name}
}

// waitFor returns the next event of type T; false when the channel closed
// or ctx expired first.
func waitFor[T any](ctx context.Context, events <-chan client.Event) (T, bool) {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return *new(T), false
			}
			if v, ok := ev.(T); ok {
				return v, true
			}
		case <-ctx.Done():
			return *new(T), false
		}
	}
}
