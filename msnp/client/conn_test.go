package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// writeConn is a conn over a loopback socket whose other end is server;
// nothing reads what the server sends.
func writeConn(t *testing.T) (c *conn, server net.Conn) {
	t.Helper()
	server, nc := fakeserver.TCPPair(t)
	c = newConn(nc, wire.DefaultLimits, slog.New(slog.DiscardHandler), 1, hooks{async: func(*conn, wire.Command) {}})
	return c, server
}

// More than the socket takes at once still arrives whole and in order:
// the rest waits for room. A write after a deadline that a waiting write
// had does not wait, nor fail for it.
func TestWriteWaitsForRoom(t *testing.T) {
	c, server := writeConn(t)
	big := make([]byte, 32<<20)
	for i := range big {
		big[i] = byte(i % 251)
	}
	read := make(chan []byte)
	go func() {
		got, _ := io.ReadAll(io.LimitReader(server, int64(len(big)+len("PNG\r\n"))))
		read <- got
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := c.write(ctx, big); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	if err := c.write(context.Background(), []byte("PNG\r\n")); err != nil {
		t.Fatalf("a write after the last one's deadline: %v", err)
	}
	if got := <-read; !bytes.Equal(got, append(big, "PNG\r\n"...)) {
		t.Fatalf("the server read %d bytes, not the %d written in order", len(got), len(big)+5)
	}
}

// A peer that reads nothing fails the write once its context's deadline
// passes, and the connection with it.
func TestWriteToAStalledPeerEnds(t *testing.T) {
	c, _ := writeConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := c.write(ctx, make([]byte, 64<<20))
	if !errors.Is(err, ErrClosed) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a write nobody reads: %v, want the connection closed for the deadline", err)
	}
	if err := c.write(context.Background(), []byte("PNG\r\n")); !errors.Is(err, ErrClosed) {
		t.Fatalf("a write after the failed one: %v, want ErrClosed", err)
	}
}

// A call's outcome reaches its waiter whether it came before the wait or
// while it waits, only the first outcome counts, and a waiter whose
// context ended first is not answered later. (Package outcome's
// TestOutcome checks the wake channels: that one is left only by a
// waiter that came first, and not reused after an abandoned wait.)
func TestCallOutcome(t *testing.T) {
	c, _ := writeConn(t)
	ctx := context.Background()
	ack := wire.Command{Name: "ACK", Args: []string{"1"}}

	before := &call{name: "MSG"}
	before.complete(ack, nil)
	before.complete(wire.Command{}, ErrClosed)
	if reply, err := c.wait(ctx, 1, before); err != nil || reply.Name != "ACK" {
		t.Fatalf("answered before the wait: %v %v, want the first outcome", reply, err)
	}

	during := &call{name: "MSG"}
	go during.complete(wire.Command{Name: "NAK"}, ErrNotDelivered)
	if _, err := c.wait(ctx, 2, during); !errors.Is(err, ErrNotDelivered) {
		t.Fatalf("answered during the wait: %v, want ErrNotDelivered", err)
	}

	abandoned := &call{name: "MSG"}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.wait(gone, 3, abandoned); !errors.Is(err, context.Canceled) {
		t.Fatalf("a wait whose context ended: %v", err)
	}
	abandoned.complete(ack, nil) // late: no one waits
	if !abandoned.answered() {
		t.Fatal("a late answer was not kept")
	}

	// An answered call, reset, serves again.
	before.reset()
	go before.complete(ack, nil)
	if reply, err := c.wait(ctx, 4, before); err != nil || reply.Name != "ACK" {
		t.Fatalf("a call used again: %v %v", reply, err)
	}
}

// A request whose parameter holds a line break is refused before anything
// is written, and the calls of the same write registered before it stop
// waiting.
func TestLineBreakInParameterRefused(t *testing.T) {
	c, _ := writeConn(t)
	calls := []*call{{name: "CAL"}, {name: "CAL"}}
	args := [][]string{{"a@b.c"}, {"x@y.z\r\nOUT"}}
	err := c.sendAll(context.Background(), "CAL", 2,
		func(i int) (*call, []byte, bool, []string) { return calls[i], nil, false, args[i] },
		func(int, int) {})
	if err == nil {
		t.Fatal("a parameter with a line break was sent")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) != 0 {
		t.Fatalf("%d calls still wait after the refused write", len(c.pending))
	}
}
