package passport

import (
	"bytes"
	"crypto/cipher"
	"crypto/des"
	"encoding/base64"
	"strings"
	"testing"
)

func TestMBIResponse(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, 24)
	nonce := strings.Repeat("n", NonceLength)
	resp, err := MBIResponse(key, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyMBIResponse(key, nonce, resp); err != nil {
		t.Fatalf("own proof refused: %v", err)
	}
	blob, _ := base64.StdEncoding.DecodeString(resp)
	if len(blob) != 128 {
		t.Fatalf("blob is %d bytes, clients send 128", len(blob))
	}
	// Decrypting with the derived encryption key gives the nonce and the
	// 8-byte padding back.
	block, _ := des.NewTripleDESCipher(deriveKey(key, "SESSION KEY ENCRYPTION"))
	plain := make([]byte, 72)
	cipher.NewCBCDecrypter(block, blob[28:36]).CryptBlocks(plain, blob[56:])
	if string(plain[:64]) != nonce || !bytes.Equal(plain[64:], bytes.Repeat([]byte{8}, 8)) {
		t.Fatalf("ciphertext decrypts to %q", plain)
	}

	otherKey := bytes.Repeat([]byte{0x43}, 24)
	tampered := append([]byte{}, blob...)
	tampered[4] = 2 // mode
	flipped := append([]byte{}, blob...)
	flipped[40] ^= 1 // HMAC
	for name, c := range map[string]struct {
		key   []byte
		nonce string
		resp  string
	}{
		"wrong key":   {otherKey, nonce, resp},
		"wrong nonce": {key, strings.Repeat("m", NonceLength), resp},
		"bad header":  {key, nonce, base64.StdEncoding.EncodeToString(tampered)},
		"bad hmac":    {key, nonce, base64.StdEncoding.EncodeToString(flipped)},
		"short":       {key, nonce, base64.StdEncoding.EncodeToString(blob[:100])},
		"not base64":  {key, nonce, "%%%"},
		"short nonce": {key, "abc", resp},
		"empty":       {key, nonce, ""},
	} {
		if err := VerifyMBIResponse(c.key, c.nonce, c.resp); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
