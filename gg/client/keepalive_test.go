package client

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	ggserver "github.com/crosstalk-im/crosstalk/gg/server"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"google.golang.org/protobuf/proto"
)

// Once logged in, the client pings at its interval without being asked.
func TestKeepAlivePings(t *testing.T) {
	pinged := make(chan struct{})
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		for range 3 {
			p.expectBody(wire.TypePing, nil)
			p.sendProto(wire.TypePong110, &ggpb.GG110Pong{ServerTime: proto.Uint32(uint32(time.Now().Unix()))})
		}
		close(pinged)
		p.ExpectClose()
	})
	loggedIn(t, f, Options{PingInterval: 20 * time.Millisecond})
	select {
	case <-pinged:
	case <-ctx(t).Done():
		t.Fatal("no three pings")
	}
}

// A client that only listens outlives a server idle timeout many times
// over thanks to its pings, while one that does not ping is dropped. The
// pings come five times per timeout: at 300 ms and three per timeout the
// race detector at a load average of 20 once held one back too long.
func TestKeepAliveOutlivesIdleTimeout(t *testing.T) {
	const idle = time.Second
	st, h := testenv.Hub(t, hub.Config{})
	srv := ggserver.New(ggserver.Config{Hub: h, IdleTimeout: idle})
	addr := testenv.Serve(t, srv, ggserver.ErrServerClosed)
	login := func(uin uint32, ping time.Duration) *Client {
		t.Helper()
		if _, err := st.CreateAccount(context.Background(), hub.Account{Number: uin, Email: fmt.Sprintf("%d@example.com", uin)}, "pw"); err != nil {
			t.Fatal(err)
		}
		c, err := Dial(ctx(t), addr, Options{PingInterval: ping})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Login(ctx(t), uin, "pw", wire.StatusAvail, ""); err != nil {
			t.Fatal(err)
		}
		if err := c.NotifyList(ctx(t), nil); err != nil {
			t.Fatal(err)
		}
		return c
	}
	pinging := login(1001, idle/5)
	silent := login(1002, -1)

	// The silent one is dropped after the idle timeout.
	drained := func(c *Client) bool {
		for {
			select {
			case _, ok := <-c.Events():
				if !ok {
					return true
				}
			default:
				return false
			}
		}
	}
	wait, cancel := context.WithTimeout(context.Background(), 10*idle)
	defer cancel()
	for !drained(silent) {
		select {
		case <-wait.Done():
			t.Fatal("the client that sends nothing was not dropped")
		case <-time.After(idle / 10):
		}
	}
	// Five idle timeouts on, the pinging one is still served.
	time.Sleep(5 * idle)
	if drained(pinging) {
		t.Fatalf("the pinging client was dropped: %v", pinging.Err())
	}
	if _, err := pinging.Ping(ctx(t)); err != nil {
		t.Fatalf("ping after %v: %v", 5*idle, err)
	}
}
