package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestTLSCAAndMSNP11Send makes the CA and certificate with `crosstalk tls
// ca`, serves HTTPS with them, and sends a message with `crosstalk msn
// send --protocol MSNP11`, whose Passport sign-in trusts that CA, and with
// --protocol MSNP18, whose single sign-on and address book do; the
// listener speaks MSNP7.
func TestTLSCAAndMSNP11Send(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, ca := startTLSNode(t, nil)
	addAccount(t, n, 1001, "alice@example.com", "pw-a")
	addAccount(t, n, 1002, "bob@example.com", "pw-b")
	listen := command((&msnListenCmd{msnLogin: msnAs(n, "bob@example.com", "pw-b")}).run).start(t, ctx, "listening as bob@example.com")

	login := msnAs(n, "alice@example.com", "pw-a")
	login.CaCert, login.HttpsAt = ca, n.HTTPSAddr
	heard := ""
	for _, p := range []string{"MSNP11", "MSNP18"} {
		login.Protocol = p
		r := command((&msnSendCmd{msnLogin: login, To: "bob@example.com", Text: strings.Fields("hello from " + p)}).run).run(t, ctx)
		if r.err != nil || r.out.String() != "delivered to bob@example.com\n" {
			t.Fatalf("send with %s: %q, %v", p, r.out, r.err)
		}
		heard += "alice@example.com <alice@example.com>: hello from " + p + "\n"
		waitFor(t, ctx, "the message", func() bool { return listen.out.String() == heard })
	}

	// Without the CA the sign-in cannot trust the server.
	login.CaCert = ""
	r := command((&msnSendCmd{msnLogin: login, To: "bob@example.com", Text: []string{"x"}}).run).run(t, ctx)
	if r.err == nil || !strings.Contains(r.err.Error(), "certificate") {
		t.Fatalf("without the CA: %v", r.err)
	}
}
