package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"testing"
)

// The expected responses were computed outside Go, with a short Python
// script (hashlib SHA-1, UTF-16LE encoding and RC4 written from its
// textbook definition), for the nonce 00 01 02 ... 3F.
var login2Vectors = []struct {
	email, password string
	padded          bool
	length          uint32
	ip              []byte
	plaintext       string // hex
	response        string
}{
	// Pidgin's layout: e-mail, NUL, 0xFB up to a multiple of 4, length 0.
	// Only "secret-pas" of the password counts.
	{"alice@example.com", "Secret-Password", true, 0, nil,
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f616c696365406578616d706c652e636f6d00fbfb00000000",
		"HBnP50gwZYhlnFodxiqgZOlVhpA/i2r5/m0QqGQAPl63asFhcYsuoNUgUnvG77S8ib79xgraQUE="},
	{"alice@example.com", "secret", true, 0, nil,
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f616c696365406578616d706c652e636f6d00fbfb00000000",
		"IrvxCCYElAfc3NbqRP/sKDIUIyazQWF/QpclcBby5zZ15TK6s1emjCoFsAI+9mZKVwSoRDT4byM="},
	// Digsby's layout: no padding, the number of IPv4 addresses, then each.
	{"bob@example.com", "pässwörd", false, 1, []byte{127, 0, 0, 1},
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f626f62406578616d706c652e636f6d00000000017f000001",
		"B3NrTsDKs0Mo81t6aCOFlj4XxWhGgQ1wcRHQMEqxISJvZmDztwI8T6E7Vr78P6S7kZlznuBlotA="},
}

func testNonce() []byte {
	n := make([]byte, NonceSize)
	for i := range n {
		n[i] = byte(i)
	}
	return n
}

func TestLogin2Vectors(t *testing.T) {
	nonce := testNonce()
	for _, v := range login2Vectors {
		plain := Login2Plaintext(nonce, v.email, v.padded, v.length, v.ip)
		if got := hex.EncodeToString(plain); got != v.plaintext {
			t.Errorf("plaintext %s\nwant      %s", got, v.plaintext)
		}
		got, err := EncryptLogin2(nonce, HashPassword(v.password), plain)
		if err != nil || got != v.response {
			t.Errorf("EncryptLogin2(%q) = %s, %v; want %s", v.password, got, err, v.response)
		}
		if v.padded {
			if got, err := Login2Response(nonce, v.email, v.password); err != nil || got != v.response {
				t.Errorf("Login2Response(%q) = %s, %v", v.password, got, err)
			}
		}
		if !VerifyLogin2(nonce, v.response, v.email, v.password) {
			t.Errorf("VerifyLogin2 rejects the %q vector", v.email)
		}
		if !VerifyLogin2Hash(nonce, v.response, v.email, HashPassword(v.password)) {
			t.Errorf("VerifyLogin2Hash rejects the %q vector", v.email)
		}
		if back, err := DecryptLogin2(nonce, v.response, HashPassword(v.password)); err != nil || !bytes.Equal(back, plain) {
			t.Errorf("DecryptLogin2 = %x, %v", back, err)
		}
	}
	if h := HashPassword("Secret-Password"); hex.EncodeToString(h[:]) != "8767e8c7c6739980bb06d923e7e9521d546dd39d" {
		t.Errorf("HashPassword = %x", h)
	}
}

func TestVerifyLogin2(t *testing.T) {
	nonce := testNonce()
	const email, pw = "alice@example.com", "Secret-Password"
	good, _ := Login2Response(nonce, email, pw)
	if !VerifyLogin2(nonce, good, "ALICE@Example.COM", pw) {
		t.Error("e-mail case should not matter")
	}
	if !VerifyLogin2(nonce, good, email, "SECRET-PASsword-whatever") {
		t.Error("only the first ten characters, lower-cased, count")
	}
	other := testNonce()
	other[0] ^= 1
	otherSalt := testNonce()
	otherSalt[40] ^= 1
	raw, _ := base64.StdEncoding.DecodeString(good)
	for name, ok := range map[string]bool{
		"wrong password":     VerifyLogin2(nonce, good, email, "secret-pa"),
		"wrong e-mail":       VerifyLogin2(nonce, good, "alice@example.co", pw),
		"longer e-mail":      VerifyLogin2(nonce, good, "alice@example.comx", pw),
		"other first half":   VerifyLogin2(other, good, email, pw),
		"other second half":  VerifyLogin2(otherSalt, good, email, pw),
		"short nonce":        VerifyLogin2(nonce[:63], good, email, pw),
		"not base64":         VerifyLogin2(nonce, "!!", email, pw),
		"empty":              VerifyLogin2(nonce, "", email, pw),
		"cut before the NUL": VerifyLogin2(nonce, base64.StdEncoding.EncodeToString(raw[:32+len(email)]), email, pw),
		"nonce only":         VerifyLogin2(nonce, base64.StdEncoding.EncodeToString(raw[:32]), "", pw),
		"hash, wrong":        VerifyLogin2Hash(nonce, good, email, HashPassword("x")),
		"hash, short nonce":  VerifyLogin2Hash(nil, good, email, HashPassword(pw)),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
	// Cut right after the NUL: the layout after it is not checked.
	if !VerifyLogin2(nonce, base64.StdEncoding.EncodeToString(raw[:33+len(email)]), email, pw) {
		t.Error("rejects a response without padding and IP list")
	}
	if _, err := Login2Response(nonce[:10], email, pw); err != ErrNonceSize {
		t.Errorf("short nonce: %v", err)
	}
	if _, err := EncryptLogin2(nil, PasswordHash{}, nil); err != ErrNonceSize {
		t.Errorf("EncryptLogin2 short nonce: %v", err)
	}
	if _, err := DecryptLogin2(nil, good, PasswordHash{}); err != ErrNonceSize {
		t.Errorf("DecryptLogin2 short nonce: %v", err)
	}
	if _, err := DecryptLogin2(nonce, "%%", PasswordHash{}); err == nil {
		t.Error("DecryptLogin2 of non-base64")
	}
	if n1, n2 := NewNonce(), NewNonce(); len(n1) != NonceSize || bytes.Equal(n1, n2) {
		t.Error("NewNonce")
	}
}

// TestPasswordForms: pidgin cuts the password to ten bytes before
// lower-casing, Digsby to ten characters after. They differ only when a
// multi-byte character is involved; VerifyLogin2 takes either.
func TestPasswordForms(t *testing.T) {
	nonce := testNonce()
	const email = "u@example.com"
	pw := "ÄÖÜäöüßabcdef"                         // 13 characters, 20 bytes
	pidgin, _ := Login2Response(nonce, email, pw) // first 10 bytes: ÄÖÜäö
	digsby, _ := EncryptLogin2(nonce, HashPassword(pw), Login2Plaintext(nonce, email, false, 0, nil))
	if pidgin == digsby {
		t.Fatal("the two forms should differ for this password")
	}
	if hashPidgin(pw) != HashPassword("äöüäö") || HashPassword(pw) != HashPassword("äöüäöüßabc") {
		t.Fatal("truncation")
	}
	if hashPidgin("ab€€€x") != HashPassword("ab€€") { // 11 bytes: the third € does not fit
		t.Fatal("a character cut by the limit is dropped")
	}
	for name, resp := range map[string]string{"pidgin": pidgin, "digsby": digsby} {
		if !VerifyLogin2(nonce, resp, email, pw) {
			t.Errorf("%s form rejected", name)
		}
	}
	if hashPidgin("short") != HashPassword("SHORT") {
		t.Fatal("ASCII passwords hash the same both ways")
	}
}
