package store

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// FuzzParseKey: a key file holds a key's 32 bytes or their base64; any
// other content is refused, and what is accepted is a key.
func FuzzParseKey(f *testing.F) {
	key := bytes.Repeat([]byte{7}, keySize)
	f.Add(key)
	f.Add([]byte(base64.StdEncoding.EncodeToString(key) + "\n"))
	f.Add([]byte("not a key"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKey(b)
		if err != nil {
			return
		}
		if len(k) != keySize {
			t.Fatalf("ParseKey(%q) gave %d bytes", b, len(k))
		}
		if again, err := ParseKey([]byte(base64.StdEncoding.EncodeToString(k))); err != nil || !bytes.Equal(again, k) {
			t.Fatalf("the key's base64 reads back as %x, %v", again, err)
		}
	})
}

// FuzzUnseal: whatever the database holds in place of a sealed password
// (a torn write, a copy from elsewhere), opening it gives the password it
// sealed or an error, never a crash; what this node sealed opens.
func FuzzUnseal(f *testing.F) {
	current, previous := bytes.Repeat([]byte{1}, keySize), bytes.Repeat([]byte{2}, keySize)
	ks, err := LoadKeys(f.TempDir(), KeyConfig{Current: current, Previous: [][]byte{previous}, Signing: current})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(1001), "secret", ks.seal(1001, "secret"))
	f.Add(uint32(1002), "", []byte(sealMagic))
	f.Add(uint32(0), "x", []byte("ctk1\x00\x01\x02"))
	f.Fuzz(func(t *testing.T, number uint32, password string, sealed []byte) {
		if p, err := ks.unseal(number, ks.seal(number, password)); err != nil || p != password {
			t.Fatalf("sealed %q opens as %q, %v", password, p, err)
		}
		// AES-GCM authenticates nothing shorter than its nonce and tag.
		if p, err := ks.unseal(number, sealed); err == nil && len(sealed) < 12+16 {
			t.Fatalf("%q opened as %q without being a sealed password", sealed, p)
		}
	})
}
