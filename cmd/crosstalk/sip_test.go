package main

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/node"
)

// sip send says what became of the message: delivered to a listening
// contact, or refused because the contact is offline or blocks the
// sender (OCS says the same for both), or nobody has the address; a wrong
// password is refused at sign-in.
func TestSIPSendTellsWhatHappened(t *testing.T) {
	ctx := testContext(t)
	n := startNode(t, nil)
	addAccount(t, n, 1001, "alice@example.com", "pw-a")
	addAccount(t, n, 1002, "bob@example.com", "pw-b")
	addAccount(t, n, 1003, "carol@example.com", "pw-c")
	addAccount(t, n, 1004, "blocker@example.com", "pw-d")
	if _, err := n.Store.AddToList(ctx, 1004, 1001, hub.Block, 0, 100); err != nil {
		t.Fatal(err)
	}
	listen := command((&sipListenCmd{sipLogin: sipAs(n, "bob@example.com", "pw-b")}).run).start(t, ctx, "listening as bob@example.com")
	blocker := command((&sipListenCmd{sipLogin: sipAs(n, "blocker@example.com", "pw-d")}).run).start(t, ctx, "listening as blocker@example.com")

	send := func(login sipLogin, to, text string) ran {
		return command((&sipSendCmd{sipLogin: login, To: to, Text: strings.Fields(text)}).run).run(t, ctx)
	}
	alice := sipAs(n, "alice@example.com", "pw-a")
	if r := send(alice, "bob@example.com", "hello bob"); r.err != nil || r.out.String() != "delivered to bob@example.com\n" {
		t.Errorf("to a listening contact: %q, %v", r.out, r.err)
	}
	waitFor(t, ctx, "the message", func() bool { return listen.out.String() == "alice@example.com: hello bob\n" })
	for to, want := range map[string]string{
		"carol@example.com":   "carol@example.com is offline or not accepting messages",
		"blocker@example.com": "blocker@example.com is offline or not accepting messages",
		"nobody@example.com":  "nobody@example.com: no such account",
	} {
		if r := send(alice, to, "hello"); r.err == nil || r.err.Error() != want || r.out.String() != "" {
			t.Errorf("to %s: %q, %v; want the error %q", to, r.out, r.err, want)
		}
	}
	wrong := sipAs(n, "alice@example.com", "wrong")
	if r := send(wrong, "bob@example.com", "hi"); r.err == nil || r.err.Error() != "login refused: wrong e-mail address or password" {
		t.Errorf("with a wrong password: %q, %v", r.out, r.err)
	}
	if r := listen.interrupt(); r.err != nil {
		t.Errorf("listen: %v", r.err)
	}
	if r := blocker.interrupt(); r.err != nil || r.out.String() != "" {
		t.Errorf("the blocker's listen: %q, %v", r.out, r.err)
	}
}

// With --tls, sip send signs in over TLS, trusting the authority of
// --tls-ca; a server whose certificate no trusted authority signed is
// refused before anything is sent.
func TestSIPSendOverTLS(t *testing.T) {
	ctx := testContext(t)
	certs := testenv.TLSCertificates(t)
	n := startNode(t, func(o *node.Options) { o.SIPTLSAddr, o.SIPTLSCert, o.SIPTLSKey = "127.0.0.1:0", certs.Cert, certs.Key })
	addAccount(t, n, 1001, "alice@example.com", "pw-a")
	addAccount(t, n, 1002, "bob@example.com", "pw-b")
	listen := command((&sipListenCmd{sipLogin: sipAs(n, "bob@example.com", "pw-b")}).run).start(t, ctx, "listening as bob@example.com")

	alice := sipAs(n, "alice@example.com", "pw-a")
	alice.Server, alice.TLS, alice.TLSCA = n.SIPTLSAddr, true, certs.CA
	send := command((&sipSendCmd{sipLogin: alice, To: "bob@example.com", Text: []string{"over", "TLS"}}).run)
	if r := send.run(t, ctx); r.err != nil || r.out.String() != "delivered to bob@example.com\n" {
		t.Errorf("over TLS: %q, %v", r.out, r.err)
	}
	waitFor(t, ctx, "the message", func() bool { return listen.out.String() == "alice@example.com: over TLS\n" })

	alice.TLSCA = ""
	untrusted := command((&sipSendCmd{sipLogin: alice, To: "bob@example.com", Text: []string{"hi"}}).run)
	var unknown x509.UnknownAuthorityError
	if r := untrusted.run(t, ctx); !errors.As(r.err, &unknown) || r.out.String() != "" {
		t.Errorf("without the authority: %q, %v", r.out, r.err)
	}
	if r := listen.interrupt(); r.err != nil || r.out.String() != "alice@example.com: over TLS\n" {
		t.Errorf("listen: %q, %v", r.out, r.err)
	}
}
