package main

import (
	"context"
	"strings"
	"testing"
	"time"

	ggserver "github.com/crosstalk-im/crosstalk/gg/server"
	"github.com/crosstalk-im/crosstalk/node"
)

// gg send says what became of the message: delivered, stored for an
// offline contact, or refused because nobody has the number.
func TestGGSendTellsWhatHappened(t *testing.T) {
	ctx := testContext(t)
	n := startNode(t, nil)
	addAccount(t, n, 1001, "a@example.com", "pw-a")
	addAccount(t, n, 1002, "online@example.com", "pw-b")
	addAccount(t, n, 1003, "offline@example.com", "pw-c")
	listen := &ggListenCmd{ggLogin{Server: n.GGAddr, Number: 1002, Password: "pw-b", Timeout: 10 * time.Second}}
	lctx, stop := context.WithCancel(ctx)
	lcon, lout, lerr := testConsole()
	listened := make(chan error, 1)
	go func() { listened <- listen.run(lctx, testLogger(t), lcon) }()
	waitFor(t, ctx, "the listener", func() bool { return strings.Contains(lerr.String(), "listening as 1002") })

	send := func(to uint32, text string) (string, error) {
		cmd := &ggSendCmd{ggLogin: ggLogin{Server: n.GGAddr, Number: 1001, Password: "pw-a", Timeout: 10 * time.Second}, To: to, Text: strings.Fields(text)}
		con, out, _ := testConsole()
		err := cmd.run(ctx, testLogger(t), con)
		return out.String(), err
	}
	if out, err := send(1002, "hello there"); err != nil || out != "delivered to 1002\n" {
		t.Errorf("to an online contact: %q, %v", out, err)
	}
	waitFor(t, ctx, "the message", func() bool { return lout.String() == "1001: hello there\n" })
	if out, err := send(1003, "call me"); err != nil || out != "1003 is offline: stored for later\n" {
		t.Errorf("to an offline contact: %q, %v", out, err)
	}
	if out, err := send(9999, "anyone?"); err == nil || err.Error() != "9999: no such account" || out != "" {
		t.Errorf("to nobody: %q, %v", out, err)
	}
	stop()
	if err := <-listened; err != nil {
		t.Errorf("listen: %v", err)
	}
}

// gg listen pings the server, so it outlives the server's idle timeout
// however long nothing arrives.
func TestGGListenOutlivesIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	ctx := testContext(t)
	n := startNode(t, func(o *node.Options) { o.GG = ggserver.Config{IdleTimeout: idle} })
	addAccount(t, n, 1001, "a@example.com", "pw-a")
	addAccount(t, n, 1002, "b@example.com", "pw-b")
	listen := &ggListenCmd{ggLogin{Server: n.GGAddr, Number: 1002, Password: "pw-b", Timeout: 10 * time.Second, Ping: idle / 3}}
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	lcon, lout, lerr := testConsole()
	listened := make(chan error, 1)
	go func() { listened <- listen.run(lctx, testLogger(t), lcon) }()
	waitFor(t, ctx, "the listener", func() bool { return strings.Contains(lerr.String(), "listening as 1002") })

	select {
	case err := <-listened:
		t.Fatalf("listen ended: %v", err)
	case <-time.After(10 * idle):
	}
	send := &ggSendCmd{ggLogin: ggLogin{Server: n.GGAddr, Number: 1001, Password: "pw-a", Timeout: 10 * time.Second}, To: 1002, Text: []string{"still", "there?"}}
	scon, sout, _ := testConsole()
	if err := send.run(ctx, testLogger(t), scon); err != nil || sout.String() != "delivered to 1002\n" {
		t.Fatalf("send after %v: %q, %v", 10*idle, sout, err)
	}
	waitFor(t, ctx, "the message", func() bool { return lout.String() == "1001: still there?\n" })
	stop()
	if err := <-listened; err != nil {
		t.Errorf("listen: %v", err)
	}
}
