package node

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/testenv"
	sipclient "github.com/crosstalk-im/crosstalk/sip/client"
)

// TestSIPOverTLS: with a certificate, SIP also listens over TLS, and a
// client signs in there and talks to one on plain TCP.
func TestSIPOverTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	certs := testenv.TLSCertificates(t)
	n := startNodeWith(t, Options{DataDir: t.TempDir(), SIPTLSAddr: "127.0.0.1:0", SIPTLSCert: certs.Cert, SIPTLSKey: certs.Key})
	if n.SIPTLSAddr == "" || n.SIPAddr == "" {
		t.Fatalf("listeners: tls %q tcp %q", n.SIPTLSAddr, n.SIPAddr)
	}
	addAccount(t, n, 1001, "tls@example.com", "Tls", "pw")
	secure, err := sipclient.Dial(ctx, n.SIPTLSAddr, sipclient.Options{TLS: &tls.Config{RootCAs: certs.Pool, ServerName: testenv.ServerName}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { secure.Close() })
	if err := secure.SignIn(ctx, "tls@example.com", "pw"); err != nil {
		t.Fatal(err)
	}
	plain := newSIPPeer(t, ctx, n, 1002, "tcp@example.com")
	if err := secure.SendMessage(ctx, "tcp@example.com", "over TLS"); err != nil {
		t.Fatal(err)
	}
	plain.wait(t, ctx, "the message", plain.has("sip:tls@example.com: over TLS"))

	// Without a certificate there is no TLS listener.
	n2 := startNodeWith(t, Options{DataDir: t.TempDir(), SIPTLSAddr: "127.0.0.1:0"})
	if n2.SIPTLSAddr != "" {
		t.Fatalf("a TLS listener without a certificate: %s", n2.SIPTLSAddr)
	}
}
