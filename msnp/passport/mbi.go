package passport

import (
	"bytes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// The MBI_KEY_OLD proof of MSNP15+ single sign-on (spec msnp8-18 §2b): the
// client shows it holds the proof key issued with its messengerclear.live.com
// ticket by returning the server's nonce hashed and encrypted with keys
// derived from it.

// NonceLength is the length of the nonce in USR SSO S MBI_KEY_OLD: Pidgin
// copies exactly 72 bytes of ciphertext, so only 64-character nonces work.
const NonceLength = 64

// MBI blob layout: a 28-byte header of seven little-endian words, the IV,
// the HMAC and the ciphertext.
const (
	mbiHeaderSize = 28
	mbiIVSize     = 8
	mbiHashSize   = 20
	mbiCipherSize = 72
	mbiBlobSize   = mbiHeaderSize + mbiIVSize + mbiHashSize + mbiCipherSize

	mbiModeCBC  = 1
	mbiAlg3DES  = 0x6603
	mbiHashSHA1 = 0x8004
)

// mbiHeader is the fixed header every valid blob starts with.
var mbiHeader = func() []byte {
	h := make([]byte, mbiHeaderSize)
	for i, v := range []uint32{mbiHeaderSize, mbiModeCBC, mbiAlg3DES, mbiHashSHA1, mbiIVSize, mbiHashSize, mbiCipherSize} {
		binary.LittleEndian.PutUint32(h[4*i:], v)
	}
	return h
}()

// deriveKey is WS-SecureConversation's key derivation as the clients do
// it: two chained HMAC-SHA1 rounds giving 24 bytes.
func deriveKey(key []byte, label string) []byte {
	mac := func(parts ...[]byte) []byte {
		m := hmac.New(sha1.New, key)
		for _, p := range parts {
			m.Write(p)
		}
		return m.Sum(nil)
	}
	l := []byte("WS-SecureConversation" + label)
	h1 := mac(l)
	h2 := mac(h1, l)
	h3 := mac(h1)
	h4 := mac(h3, l)
	return append(h2, h4[:4]...)
}

// mbiParts returns the HMAC and ciphertext of the proof for nonce under the
// proof key and iv.
func mbiParts(proofKey []byte, nonce string, iv []byte) (sum, ciphertext []byte, err error) {
	hashKey := deriveKey(proofKey, "SESSION KEY HASH")
	encKey := deriveKey(proofKey, "SESSION KEY ENCRYPTION")
	m := hmac.New(sha1.New, hashKey)
	m.Write([]byte(nonce))
	block, err := des.NewTripleDESCipher(encKey)
	if err != nil {
		return nil, nil, err
	}
	plain := append([]byte(nonce), bytes.Repeat([]byte{8}, 8)...)
	if len(plain) != mbiCipherSize {
		return nil, nil, ErrBadProof
	}
	ciphertext = make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ciphertext, plain)
	return m.Sum(nil), ciphertext, nil
}

// ErrBadProof is returned for an MBI response that is malformed or not made
// with the expected key and nonce.
var ErrBadProof = errors.New("passport: bad MBI key proof")

// MBIResponse computes the base64 proof a client sends in USR SSO S.
func MBIResponse(proofKey []byte, nonce string) (string, error) {
	iv := make([]byte, mbiIVSize)
	rand.Read(iv)
	sum, ciphertext, err := mbiParts(proofKey, nonce, iv)
	if err != nil {
		return "", err
	}
	blob := append(append(append(append([]byte{}, mbiHeader...), iv...), sum...), ciphertext...)
	return base64.StdEncoding.EncodeToString(blob), nil
}

// VerifyMBIResponse checks a client's proof against the proof key issued
// with its ticket and the nonce the server sent.
func VerifyMBIResponse(proofKey []byte, nonce, response string) error {
	blob, err := base64.StdEncoding.DecodeString(response)
	if err != nil || len(blob) != mbiBlobSize || !bytes.Equal(blob[:mbiHeaderSize], mbiHeader) {
		return ErrBadProof
	}
	iv := blob[mbiHeaderSize : mbiHeaderSize+mbiIVSize]
	sum, ciphertext, err := mbiParts(proofKey, nonce, iv)
	if err != nil {
		return ErrBadProof
	}
	gotSum := blob[mbiHeaderSize+mbiIVSize : mbiHeaderSize+mbiIVSize+mbiHashSize]
	gotCipher := blob[mbiHeaderSize+mbiIVSize+mbiHashSize:]
	if !hmac.Equal(sum, gotSum) || !hmac.Equal(ciphertext, gotCipher) {
		return ErrBadProof
	}
	return nil
}

// MessengerClear is the service whose ticket and proof key sign MSNP15+
// clients in at the notification server.
const MessengerClear = "messengerclear.live.com"
