package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	sipclient "github.com/crosstalk-im/crosstalk/sip/client"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files
// and returns their paths and the pool that trusts it.
func selfSigned(t *testing.T) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sip.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"sip.example.com"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(parsed)
	return cert, key, pool
}

// TestSIPOverTLS: with a certificate, SIP also listens over TLS, and a
// client signs in there and talks to one on plain TCP.
func TestSIPOverTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cert, key, pool := selfSigned(t)
	n := startNodeWith(t, Options{DataDir: t.TempDir(), SIPTLSAddr: "127.0.0.1:0", SIPTLSCert: cert, SIPTLSKey: key})
	if n.SIPTLSAddr == "" || n.SIPAddr == "" {
		t.Fatalf("listeners: tls %q tcp %q", n.SIPTLSAddr, n.SIPAddr)
	}
	addAccount(t, n, 1001, "tls@example.com", "Tls", "pw")
	secure, err := sipclient.Dial(ctx, n.SIPTLSAddr, sipclient.Options{TLS: &tls.Config{RootCAs: pool, ServerName: "sip.example.com"}})
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
