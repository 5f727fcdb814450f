package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// msn send tells an address nobody has from a contact who is offline, and
// says delivered once the contact's listener has the message.
func TestMSNSendTellsWhatHappened(t *testing.T) {
	ctx := testContext(t)
	n := startNode(t, nil)
	addAccount(t, n, 1001, "alice@example.com", "pw-a")
	addAccount(t, n, 1002, "bob@example.com", "pw-b")
	addAccount(t, n, 1003, "carol@example.com", "pw-c")
	listen := &msnListenCmd{msnLogin{Server: n.MSNPAddr, Login: "bob@example.com", Password: "pw-b", Timeout: 10 * time.Second}}
	lctx, stop := context.WithCancel(ctx)
	lcon, lout, lerr := testConsole()
	listened := make(chan error, 1)
	go func() { listened <- listen.run(lctx, testLogger(t), lcon) }()
	waitFor(t, ctx, "the listener", func() bool { return strings.Contains(lerr.String(), "listening as bob@example.com") })

	send := func(to, text string) (string, error) {
		cmd := &msnSendCmd{msnLogin: msnLogin{Server: n.MSNPAddr, Login: "alice@example.com", Password: "pw-a", Timeout: 10 * time.Second}, To: to, Text: strings.Fields(text)}
		con, out, _ := testConsole()
		err := cmd.run(ctx, testLogger(t), con)
		return out.String(), err
	}
	if out, err := send("bob@example.com", "hello bob"); err != nil || out != "delivered to bob@example.com\n" {
		t.Errorf("to a listening contact: %q, %v", out, err)
	}
	waitFor(t, ctx, "the message", func() bool { return lout.String() == "alice@example.com <alice@example.com>: hello bob\n" })
	for to, want := range map[string]string{
		"carol@example.com":  "carol@example.com is offline or not accepting messages",
		"nobody@example.com": "nobody@example.com: no such account",
		"not-an-address":     "not-an-address is not a valid address",
	} {
		if out, err := send(to, "hello"); err == nil || err.Error() != want || out != "" {
			t.Errorf("to %s: %q, %v; want the error %q", to, out, err, want)
		}
	}
	stop()
	if err := <-listened; err != nil {
		t.Errorf("listen: %v", err)
	}
}
