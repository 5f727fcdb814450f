package wire

import (
	"bytes"
	"crypto/rand"
	"crypto/rc4"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// NonceSize is the size of the decoded "nc" of the greeting; pidgin gives
// up ("Unexpected challenge length from server") on any other size. The
// first half is echoed inside the response, the second half salts the key.
const NonceSize = 64

// passwordLimit: only this much of a password counts.
const passwordLimit = 10

// ErrNonceSize: a nonce that is not NonceSize bytes.
var ErrNonceSize = errors.New("msim: login nonce is not 64 bytes")

// NewNonce returns NonceSize fresh random bytes for a greeting.
func NewNonce() []byte {
	n := make([]byte, NonceSize)
	rand.Read(n)
	return n
}

// PasswordHash is SHA-1 of the UTF-16LE form of the lower-cased first ten
// characters of a password. A server may store it instead of the password.
type PasswordHash [sha1.Size]byte

// HashPassword lower-cases the password and keeps its first ten
// characters, as Digsby does. For passwords whose first ten characters are
// ASCII this is also what pidgin does.
func HashPassword(password string) PasswordHash {
	return hashUTF16(truncateRunes(strings.ToLower(password), passwordLimit))
}

// hashPidgin keeps the first ten bytes and then lower-cases them, as pidgin
// does. A multi-byte character cut by the limit is dropped (pidgin's result
// for that case is unknown).
func hashPidgin(password string) PasswordHash {
	end := 0
	for end < len(password) {
		_, size := utf8.DecodeRuneInString(password[end:])
		if end+size > passwordLimit {
			break
		}
		end += size
	}
	p := password[:end]
	return hashUTF16(strings.ToLower(p))
}

func truncateRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

func hashUTF16(s string) PasswordHash {
	units := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(units))
	for _, u := range units {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return sha1.Sum(b)
}

// login2Cipher returns the RC4 cipher keyed with the first 16 bytes of
// SHA-1(hash || second half of the nonce).
func login2Cipher(nonce []byte, hash PasswordHash) *rc4.Cipher {
	h := sha1.New()
	h.Write(hash[:])
	h.Write(nonce[NonceSize/2:])
	c, _ := rc4.NewCipher(h.Sum(nil)[:16]) // 16 bytes is always a valid key
	return c
}

// Login2Plaintext builds the plaintext of a login2 response: the first half
// of the nonce, the e-mail, a NUL, then in pidgin's form (padded) 0xFB
// bytes up to a multiple of four, then a big-endian uint32 length and that
// many bytes of IP data. Pidgin 2.10.12 sends padded with no IP data (length
// 0); Digsby sends unpadded, the number of local IPv4 addresses and four
// bytes for each. ipData goes after the length as it is.
func Login2Plaintext(nonce []byte, email string, padded bool, length uint32, ipData []byte) []byte {
	p := make([]byte, 0, NonceSize/2+len(email)+8+len(ipData))
	p = append(p, nonce[:NonceSize/2]...)
	p = append(p, email...)
	p = append(p, 0)
	for padded && len(p)%4 != 0 {
		p = append(p, 0xFB)
	}
	p = binary.BigEndian.AppendUint32(p, length)
	return append(p, ipData...)
}

// EncryptLogin2 encrypts a plaintext (see Login2Plaintext) and returns the
// base64 "response" value.
func EncryptLogin2(nonce []byte, hash PasswordHash, plaintext []byte) (string, error) {
	if len(nonce) != NonceSize {
		return "", ErrNonceSize
	}
	out := make([]byte, len(plaintext))
	login2Cipher(nonce, hash).XORKeyStream(out, plaintext)
	return base64.StdEncoding.EncodeToString(out), nil
}

// Login2Response computes the "response" of login2 as pidgin 2.10.12
// sends it: padded plaintext, IP list length 0, the password cut to its
// first ten bytes and lower-cased.
func Login2Response(nonce []byte, email, password string) (string, error) {
	if len(nonce) != NonceSize {
		return "", ErrNonceSize
	}
	return EncryptLogin2(nonce, hashPidgin(password), Login2Plaintext(nonce, email, true, 0, nil))
}

// VerifyLogin2 checks a login2 "response" (base64, as on the wire) against
// the nonce sent in the greeting, the account's e-mail and its password.
// It accepts the plaintext iff it starts with the first half of the nonce
// followed by a NUL-terminated e-mail equal to email (ignoring case); what
// follows (padding, IP list) is not looked at, so both the padded and the
// unpadded layouts pass. When pidgin's reading of the password (first ten
// bytes, then lower-cased) and Digsby's (lower-cased, then ten characters)
// differ, which takes non-ASCII characters, both are tried. It never
// panics; malformed input is simply false.
func VerifyLogin2(nonce []byte, response, email, password string) bool {
	if len(nonce) != NonceSize {
		return false
	}
	plain, ok := decryptLogin2(nonce, response, HashPassword(password))
	if ok && matchLogin2(nonce, plain, email) {
		return true
	}
	if h := hashPidgin(password); h != HashPassword(password) {
		plain, ok = decryptLogin2(nonce, response, h)
		return ok && matchLogin2(nonce, plain, email)
	}
	return false
}

// VerifyLogin2Hash is VerifyLogin2 for a server that stores HashPassword
// instead of the password.
func VerifyLogin2Hash(nonce []byte, response, email string, hash PasswordHash) bool {
	if len(nonce) != NonceSize {
		return false
	}
	plain, ok := decryptLogin2(nonce, response, hash)
	return ok && matchLogin2(nonce, plain, email)
}

// DecryptLogin2 returns the plaintext of a response, for logs and tests.
func DecryptLogin2(nonce []byte, response string, hash PasswordHash) ([]byte, error) {
	if len(nonce) != NonceSize {
		return nil, ErrNonceSize
	}
	plain, ok := decryptLogin2(nonce, response, hash)
	if !ok {
		return nil, malformed("response is not base64")
	}
	return plain, nil
}

func decryptLogin2(nonce []byte, response string, hash PasswordHash) ([]byte, bool) {
	ct, err := base64.StdEncoding.DecodeString(response)
	if err != nil {
		return nil, false
	}
	login2Cipher(nonce, hash).XORKeyStream(ct, ct)
	return ct, true
}

func matchLogin2(nonce, plain []byte, email string) bool {
	const half = NonceSize / 2
	if len(plain) < half+1 || subtle.ConstantTimeCompare(plain[:half], nonce[:half]) != 1 {
		return false
	}
	rest := plain[half:]
	end := bytes.IndexByte(rest, 0)
	return end >= 0 && strings.EqualFold(string(rest[:end]), email)
}
