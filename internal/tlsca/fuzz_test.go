package tlsca

import (
	"bytes"
	"testing"
	"time"
)

// FuzzParse: the CA files an operator keeps (or damages) either parse
// into a CA that writes back the certificate it read, or are refused.
func FuzzParse(f *testing.F) {
	ca, err := New("Crosstalk fuzz CA", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ca.CertPEM(), ca.KeyPEM())
	f.Add(ca.CertPEM(), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		parsed, err := Parse(certPEM, keyPEM)
		if err != nil {
			return
		}
		if !parsed.Cert.IsCA {
			t.Fatal("parsed a certificate that is not a CA")
		}
		again, err := Parse(parsed.CertPEM(), parsed.KeyPEM())
		if err != nil || !bytes.Equal(again.Cert.Raw, parsed.Cert.Raw) {
			t.Fatalf("written back, it does not read the same: %v", err)
		}
	})
}
