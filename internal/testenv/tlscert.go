package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSFiles are a test certificate authority and a server certificate it
// signed, for 127.0.0.1 and ServerName, valid for an hour either side of
// now: PEM files in a temporary directory, and the pool that trusts the
// authority.
type TLSFiles struct {
	// CADir holds the authority's certificate alone (ca.pem), for clients
	// that read trusted certificates from a directory.
	CADir, CA string
	// Cert and Key are the server's certificate and key.
	Cert, Key string
	Pool      *x509.CertPool
}

// ServerName is the DNS name the server certificate of TLSCertificates
// is for, besides 127.0.0.1.
const ServerName = "sip.example.com"

// TLSCertificates makes a TLSFiles.
func TLSCertificates(tb testing.TB) TLSFiles {
	tb.Helper()
	dir := tb.TempDir()
	f := TLSFiles{CADir: filepath.Join(dir, "ca"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	f.CA = filepath.Join(f.CADir, "ca.pem")
	if err := os.Mkdir(f.CADir, 0o700); err != nil {
		tb.Fatal(err)
	}
	caKey, caDER := makeCertificate(tb, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Crosstalk test CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil, nil)
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		tb.Fatal(err)
	}
	key, der := makeCertificate(tb, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: ServerName},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{ServerName},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, caKey)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	writePEM(tb, f.CA, "CERTIFICATE", caDER)
	writePEM(tb, f.Cert, "CERTIFICATE", der)
	writePEM(tb, f.Key, "EC PRIVATE KEY", keyDER)
	f.Pool = x509.NewCertPool()
	f.Pool.AddCert(ca)
	return f
}

// makeCertificate signs tmpl with parent's key, or itself without a
// parent, for a new key.
func makeCertificate(tb testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		tb.Fatal(err)
	}
	return key, der
}

func writePEM(tb testing.TB, path, typ string, der []byte) {
	tb.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
}
