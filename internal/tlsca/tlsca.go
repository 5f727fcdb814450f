// Package tlsca makes a small local certificate authority and server
// certificates signed by it: what an operator needs for clients that
// insist on HTTPS to fixed host names (MSN Messenger's Passport and SOAP
// services), once the CA is installed on the client machines.
//
// Keys are RSA 2048 and signatures SHA-256: Windows XP SP3's TLS stack,
// which MSN Messenger 5–7.5 use, knows nothing newer.
package tlsca

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// MSNHostNames are the HTTPS host names MSN Messenger 5 to Windows Live
// Messenger 2009 and Pidgin's MSN plugin reach (spec msnp8-18 §2, §3c, §7):
// the Passport nexus and login servers, single sign-on, the address book,
// offline messages and storage.
var MSNHostNames = []string{
	"nexus.passport.com", "login.passport.com", "loginnet.passport.com",
	"login.live.com", "*.login.live.com",
	"contacts.msn.com", "*.contacts.msn.com", "*.omega.contacts.msn.com",
	"rsi.hotmail.com", "ows.messenger.msn.com", "messenger.msn.com", "*.messenger.msn.com",
	"storage.msn.com", "*.storage.msn.com", "sup.live.com", "*.msn.com",
}

// Lifetimes: the CA long enough to install once; server certificates
// within the 825 days clients of Apple and browsers still accept.
const (
	CALifetime   = 10 * 365 * 24 * time.Hour
	CertLifetime = 825 * 24 * time.Hour
)

// CA is a certificate authority's certificate and key.
type CA struct {
	Cert *x509.Certificate
	Key  *rsa.PrivateKey
}

// New makes a CA named name.
func New(name string, now time.Time) (*CA, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Crosstalk local CA"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Issue makes a server certificate for names (host names, wildcards, IP
// addresses) and returns it and its key in PEM.
func (ca *CA) Issue(names []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if len(names) == 0 {
		return nil, nil, errors.New("tlsca: no names for the certificate")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(CertLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)), nil
}

// CertPEM and KeyPEM encode the CA for files.
func (ca *CA) CertPEM() []byte { return pemBlock("CERTIFICATE", ca.Cert.Raw) }
func (ca *CA) KeyPEM() []byte {
	return pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(ca.Key))
}

// Parse reads a CA written by CertPEM and KeyPEM.
func Parse(certPEM, keyPEM []byte) (*CA, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	key, ok := pair.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("tlsca: the CA key is not RSA")
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, errors.New("tlsca: the certificate is not a CA")
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Paths names the four files of a CA and the certificate it signed.
type Paths struct {
	CACert, CAKey, Cert, Key string
}

// DefaultPaths are the files under dir (the data directory's tls folder).
func DefaultPaths(dir string) Paths {
	return Paths{
		CACert: filepath.Join(dir, "ca.pem"), CAKey: filepath.Join(dir, "ca-key.pem"),
		Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem"),
	}
}

// Make loads the CA at p (or makes one when its files do not exist yet, so
// clients that installed it keep trusting what it signs next) and writes a
// new certificate for names. It reports whether the CA is new.
func Make(p Paths, names []string, now time.Time) (created bool, err error) {
	ca, err := load(p)
	if errors.Is(err, os.ErrNotExist) {
		if ca, err = New("Crosstalk local CA", now); err != nil {
			return false, err
		}
		if err := write(p.CAKey, ca.KeyPEM(), 0o600); err != nil {
			return false, err
		}
		if err := write(p.CACert, ca.CertPEM(), 0o644); err != nil {
			return false, err
		}
		created = true
	} else if err != nil {
		return false, err
	}
	certPEM, keyPEM, err := ca.Issue(names, now)
	if err != nil {
		return created, err
	}
	if err := write(p.Key, keyPEM, 0o600); err != nil {
		return created, err
	}
	return created, write(p.Cert, certPEM, 0o644)
}

func load(p Paths) (*CA, error) {
	certPEM, err := os.ReadFile(p.CACert)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(p.CAKey)
	if err != nil {
		return nil, err
	}
	return Parse(certPEM, keyPEM)
}

func write(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// ServerConfig is the TLS configuration for serving MSN's HTTPS names:
// with legacy on, TLS 1.0 and the RSA key-exchange suites Windows XP's
// TLS stack needs (MSN Messenger 5–7.5 use it), besides the modern ones.
func ServerConfig(cert tls.Certificate, legacy bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if legacy {
		c.MinVersion = tls.VersionTLS10
		for _, s := range tls.CipherSuites() {
			c.CipherSuites = append(c.CipherSuites, s.ID)
		}
		for _, id := range []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA,
			tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_RC4_128_SHA} {
			if !slices.Contains(c.CipherSuites, id) {
				c.CipherSuites = append(c.CipherSuites, id)
			}
		}
	}
	return c
}
