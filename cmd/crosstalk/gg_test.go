package main

import (
	"strings"
	"testing"
	"time"

	ggserver "github.com/crosstalk-im/crosstalk/gg/server"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/node"
)

// ggSend is gg send from 1001 (password pw-a).
func ggSend(t *testing.T, n *node.Node, to uint32, text string) ran {
	return command((&ggSendCmd{ggLogin: ggAs(n, 1001, "pw-a"), To: to, Text: strings.Fields(text)}).run).run(t, testContext(t))
}

// gg send says what became of the message: delivered, stored for an
// offline contact, or refused because nobody has the number or the
// contact blocks the sender.
func TestGGSendTellsWhatHappened(t *testing.T) {
	ctx := testContext(t)
	n := startNode(t, nil)
	addAccount(t, n, 1001, "a@example.com", "pw-a")
	addAccount(t, n, 1002, "online@example.com", "pw-b")
	addAccount(t, n, 1003, "offline@example.com", "pw-c")
	addAccount(t, n, 1004, "blocker@example.com", "pw-d")
	if _, err := n.Store.AddToList(ctx, 1004, 1001, hub.Block, 0, 100); err != nil {
		t.Fatal(err)
	}
	listen := command((&ggListenCmd{ggLogin: ggAs(n, 1002, "pw-b")}).run).start(t, ctx, "listening as 1002")

	if r := ggSend(t, n, 1002, "hello there"); r.err != nil || r.out.String() != "delivered to 1002\n" {
		t.Errorf("to an online contact: %q, %v", r.out, r.err)
	}
	waitFor(t, ctx, "the message", func() bool { return listen.out.String() == "1001: hello there\n" })
	if r := ggSend(t, n, 1003, "call me"); r.err != nil || r.out.String() != "1003 is offline: stored for later\n" {
		t.Errorf("to an offline contact: %q, %v", r.out, r.err)
	}
	if r := ggSend(t, n, 9999, "anyone?"); r.err == nil || r.err.Error() != "9999: no such account" || r.out.String() != "" {
		t.Errorf("to nobody: %q, %v", r.out, r.err)
	}
	if r := ggSend(t, n, 1004, "let me in"); r.err == nil || r.err.Error() != "1004 does not accept your messages" || r.out.String() != "" {
		t.Errorf("to someone who blocks the sender: %q, %v", r.out, r.err)
	}
	if r := listen.interrupt(); r.err != nil {
		t.Errorf("listen: %v", r.err)
	}
}

// gg listen pings the server, so it outlives the server's idle timeout
// however long nothing arrives.
func TestGGListenOutlivesIdleTimeout(t *testing.T) {
	// Long enough that a loaded machine's scheduling delays do not
	// outlast the gap between pings (a third of it).
	const idle = 2 * time.Second
	ctx := testContext(t)
	n := startNode(t, func(o *node.Options) { o.GG = ggserver.Config{IdleTimeout: idle} })
	addAccount(t, n, 1001, "a@example.com", "pw-a")
	addAccount(t, n, 1002, "b@example.com", "pw-b")
	login := ggAs(n, 1002, "pw-b")
	login.Ping = idle / 3
	listen := command((&ggListenCmd{ggLogin: login}).run).start(t, ctx, "listening as 1002")

	select {
	case <-time.After(3 * idle):
	case <-ctx.Done():
	}
	if r := ggSend(t, n, 1002, "still there?"); r.err != nil || r.out.String() != "delivered to 1002\n" {
		t.Fatalf("send after %v: %q, %v (listen: %v)", 3*idle, r.out, r.err, listen.errOut)
	}
	waitFor(t, ctx, "the message", func() bool { return listen.out.String() == "1001: still there?\n" })
	if r := listen.interrupt(); r.err != nil {
		t.Errorf("listen: %v", r.err)
	}
}
