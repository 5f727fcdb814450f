package main

import (
	"strings"
	"testing"
)

// msn send tells an address nobody has from a contact who is offline, and
// says delivered once the contact's listener has the message.
func TestMSNSendTellsWhatHappened(t *testing.T) {
	ctx := testContext(t)
	n := startNode(t, nil)
	addAccount(t, n, 1001, "alice@example.com", "pw-a")
	addAccount(t, n, 1002, "bob@example.com", "pw-b")
	addAccount(t, n, 1003, "carol@example.com", "pw-c")
	listen := command((&msnListenCmd{msnLogin: msnAs(n, "bob@example.com", "pw-b")}).run).start(t, ctx, "listening as bob@example.com")

	send := func(to, text string) ran {
		return command((&msnSendCmd{msnLogin: msnAs(n, "alice@example.com", "pw-a"), To: to, Text: strings.Fields(text)}).run).run(t, ctx)
	}
	if r := send("bob@example.com", "hello bob"); r.err != nil || r.out.String() != "delivered to bob@example.com\n" {
		t.Errorf("to a listening contact: %q, %v", r.out, r.err)
	}
	waitFor(t, ctx, "the message", func() bool { return listen.out.String() == "alice@example.com <alice@example.com>: hello bob\n" })
	for to, want := range map[string]string{
		"carol@example.com":  "carol@example.com is offline or not accepting messages",
		"nobody@example.com": "nobody@example.com: no such account",
		"not-an-address":     "not-an-address is not a valid address",
	} {
		if r := send(to, "hello"); r.err == nil || r.err.Error() != want || r.out.String() != "" {
			t.Errorf("to %s: %q, %v; want the error %q", to, r.out, r.err, want)
		}
	}
	if r := listen.interrupt(); r.err != nil {
		t.Errorf("listen: %v", r.err)
	}
}
