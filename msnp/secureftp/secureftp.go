// Package secureftp holds the cryptography of MSN_SECURE_FTP, the
// encrypted variant of MSNFTP that Office Communicator 2007 and
// pidgin-sipe use to move files between SIP users. The conversation is
// MSNFTP's (package msnp/msnftp runs it, with "VER MSN_SECURE_FTP" for
// "VER MSNFTP"); what differs is here:
//
//   - The receiver makes two random 24-byte keys and sends them in its
//     ACCEPT, base64-encoded, as Encryption-Key and Hash-Key.
//   - The data of every block is RC4-encrypted, one keystream over the
//     whole file (block headers stay clear), keyed with the first 16
//     bytes of SHA-1(Encryption-Key).
//   - After the receiver's BYE the sender sends "MAC <base64>", a NUL,
//     CRLF: the HMAC-SHA1 of the plaintext file keyed with the first 16
//     bytes of SHA-1(Hash-Key). The receiver keeps the file only if it
//     matches.
package secureftp

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rc4"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
)

// Version is the protocol name of the VER lines.
const Version = "MSN_SECURE_FTP"

// KeySize is the size of Encryption-Key and Hash-Key; a client refuses
// keys of any other size.
const KeySize = 24

// MACSize is the size of the HMAC-SHA1 the sender sends at the end.
const MACSize = sha1.Size

// derivedKeySize is how much of SHA-1(key) keys RC4 and the HMAC.
const derivedKeySize = 16

// Errors.
var (
	ErrKeySize = errors.New("secureftp: a key is not 24 bytes")
	ErrMACLine = errors.New("secureftp: not a MAC line")
	// ErrBadMAC: the file's MAC is not the sender's: it was altered, or
	// the keys differ.
	ErrBadMAC = errors.New("secureftp: the file does not match the sender's MAC")
)

// Keys are the receiver's two keys of one transfer.
type Keys struct {
	Encryption, Hash [KeySize]byte
}

// NewKeys makes fresh random keys, as a receiver does for each transfer.
func NewKeys() Keys {
	var k Keys
	_, _ = rand.Read(k.Encryption[:])
	_, _ = rand.Read(k.Hash[:])
	return k
}

// ParseKeys decodes the Encryption-Key and Hash-Key fields of an ACCEPT.
func ParseKeys(encryption, hashKey string) (Keys, error) {
	var k Keys
	for _, f := range []struct {
		text string
		dst  []byte
	}{{encryption, k.Encryption[:]}, {hashKey, k.Hash[:]}} {
		raw, err := base64.StdEncoding.DecodeString(f.text)
		if err != nil {
			return Keys{}, fmt.Errorf("secureftp: key: %w", err)
		}
		if len(raw) != KeySize {
			return Keys{}, ErrKeySize
		}
		copy(f.dst, raw)
	}
	return k, nil
}

// Fields returns the keys as the ACCEPT writes them: Encryption-Key and
// Hash-Key.
func (k Keys) Fields() (encryption, hashKey string) {
	return base64.StdEncoding.EncodeToString(k.Encryption[:]), base64.StdEncoding.EncodeToString(k.Hash[:])
}

func derive(key [KeySize]byte) []byte {
	sum := sha1.Sum(key[:])
	return sum[:derivedKeySize]
}

// cipher starts the keystream of a transfer.
func (k Keys) cipher() *rc4.Cipher {
	c, _ := rc4.NewCipher(derive(k.Encryption)) // 16 bytes: always a valid key
	return c
}

// mac starts the MAC of a transfer.
func (k Keys) mac() hash.Hash {
	return hmac.New(sha1.New, derive(k.Hash))
}

// MACLine is the sender's last line: "MAC ", the base64 MAC, a NUL (which
// pidgin-sipe requires: it compares the text up to it), CRLF.
func MACLine(sum []byte) []byte {
	return []byte("MAC " + base64.StdEncoding.EncodeToString(sum) + "\x00\r\n")
}

// ParseMACLine reads a MAC line, with or without the NUL and the line
// ending, and returns the MAC.
func ParseMACLine(line []byte) ([]byte, error) {
	rest, ok := bytes.CutPrefix(line, []byte("MAC "))
	if !ok {
		return nil, ErrMACLine
	}
	if i := bytes.IndexAny(rest, "\x00\r\n"); i >= 0 {
		rest = rest[:i]
	}
	sum, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(rest)))
	if err != nil || len(sum) != MACSize {
		return nil, ErrMACLine
	}
	return sum, nil
}

// Sealer encrypts a file as the sender reads it, and keeps its MAC.
type Sealer struct {
	r      io.Reader
	cipher *rc4.Cipher
	mac    hash.Hash
}

// Seal returns a reader of r's bytes encrypted with k.
func (k Keys) Seal(r io.Reader) *Sealer {
	return &Sealer{r: r, cipher: k.cipher(), mac: k.mac()}
}

func (s *Sealer) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.mac.Write(p[:n])
	s.cipher.XORKeyStream(p[:n], p[:n])
	return n, err
}

// Sum is the MAC of what was read so far.
func (s *Sealer) Sum() []byte { return s.mac.Sum(nil) }

// Opener decrypts what the receiver writes to it into the file, and
// keeps its MAC.
type Opener struct {
	w      io.Writer
	cipher *rc4.Cipher
	mac    hash.Hash
}

// Open returns a writer that decrypts with k into w.
func (k Keys) Open(w io.Writer) *Opener {
	return &Opener{w: w, cipher: k.cipher(), mac: k.mac()}
}

// openChunk is how much Write decrypts at a time, into a pooled buffer:
// Write may not change the caller's bytes.
const openChunk = 64 << 10

var openBuffers = sync.Pool{New: func() any { return new([openChunk]byte) }}

// Write decrypts p into the file. The keystream moves on by all of p even
// when the file takes less, since the bytes were taken off the wire.
func (o *Opener) Write(p []byte) (int, error) {
	buf := openBuffers.Get().(*[openChunk]byte)
	defer openBuffers.Put(buf)
	done := 0
	for done < len(p) {
		chunk := buf[:min(len(p)-done, openChunk)]
		o.cipher.XORKeyStream(chunk, p[done:done+len(chunk)])
		o.mac.Write(chunk)
		n, err := o.w.Write(chunk)
		done += n
		if err == nil && n < len(chunk) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// Sum is the MAC of what was written so far.
func (o *Opener) Sum() []byte { return o.mac.Sum(nil) }

// Check compares the sender's MAC line with the MAC of the file written.
func (o *Opener) Check(line []byte) error {
	sum, err := ParseMACLine(line)
	if err != nil {
		return err
	}
	if !hmac.Equal(sum, o.Sum()) {
		return ErrBadMAC
	}
	return nil
}
