package tlsca

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMakeAndServe makes a CA and certificate, serves TLS with it over
// loopback, and checks what a client that trusts only that CA sees: the
// MSN names verify, others do not, and a TLS 1.0 client with a Windows XP
// cipher suite gets in when legacy is on.
func TestMakeAndServe(t *testing.T) {
	dir := t.TempDir()
	p := DefaultPaths(filepath.Join(dir, "tls"))
	now := time.Now()
	created, err := Make(p, append(MSNHostNames, "127.0.0.1"), now)
	if err != nil || !created {
		t.Fatalf("make: %v %v", created, err)
	}
	firstCA, _ := os.ReadFile(p.CACert)
	// Again: the CA stays, so installed copies keep working.
	if created, err := Make(p, MSNHostNames, now); err != nil || created {
		t.Fatalf("remake: %v %v", created, err)
	}
	if again, _ := os.ReadFile(p.CACert); string(again) != string(firstCA) {
		t.Fatal("the CA changed")
	}
	if fi, err := os.Stat(p.CAKey); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode: %v %v", fi.Mode(), err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(firstCA) {
		t.Fatal("CA not PEM")
	}
	cert, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(cert, true))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				_, _ = io.WriteString(c, "ok")
				c.Close()
			}()
		}
	}()
	dial := func(name string, cfg *tls.Config) error {
		cfg.RootCAs, cfg.ServerName = pool, name
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", l.Addr().String(), cfg)
		if err != nil {
			return err
		}
		return c.Close()
	}
	for _, name := range []string{"nexus.passport.com", "login.passport.com", "login.live.com", "local-bay.contacts.msn.com", "rsi.hotmail.com", "ows.messenger.msn.com"} {
		if err := dial(name, &tls.Config{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := dial("example.com", &tls.Config{}); err == nil {
		t.Error("a name the certificate does not carry verified")
	}
	xp := &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10, CipherSuites: []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}}
	if err := dial("login.passport.com", xp); err != nil {
		t.Errorf("TLS 1.0 with 3DES: %v", err)
	}
}

func TestParseRejectsLeaf(t *testing.T) {
	ca, err := New("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue([]string{"x.example"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(certPEM, keyPEM); err == nil {
		t.Error("a server certificate was taken for a CA")
	}
	if _, _, err := ca.Issue(nil, time.Now()); err == nil {
		t.Error("a certificate without names")
	}
}
