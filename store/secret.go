package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Passwords must be recoverable (challenge logins hash them with a nonce),
// so they are encrypted rather than hashed, with a key kept beside the
// database: a copy of the database alone reveals no password.
const (
	keyFile = "secret.key"
	keySize = 32 // AES-256
)

// loadKey reads the password key, creating it if it does not exist yet.
func loadKey(path string) ([]byte, cipher.AEAD, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKey(path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: password key: %w", err)
	}
	if len(key) != keySize {
		return nil, nil, fmt.Errorf("store: password key %s has %d bytes, want %d", path, len(key), keySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, fmt.Errorf("store: password key: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	return key, aead, err
}

// DeriveKey returns a key for purpose made from the store's secret key, so
// that every node sharing the data directory (or, later, the database and
// its key) derives the same one, and no two purposes share a key.
func (s *SQLite) DeriveKey(purpose string) []byte {
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte("crosstalk key: " + purpose))
	return mac.Sum(nil)
}

// createKey writes a new key under a temporary name and links it into place,
// so that a process opening the store at the same moment sees no key or a
// whole one, never a partial one; whoever links second uses the first key.
func createKey(path string) ([]byte, error) {
	key := make([]byte, keySize)
	rand.Read(key)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret-*") // mode 0600
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	} else if err != nil {
		return nil, err
	}
	return key, nil
}

// seal encrypts a password for account number.
func (s *SQLite) seal(number uint32, password string) []byte {
	return s.aead.Seal(nil, nil, []byte(password), accountData(number))
}

// unseal decrypts what seal produced for the same account.
func (s *SQLite) unseal(number uint32, sealed []byte) (string, error) {
	p, err := s.aead.Open(nil, nil, sealed, accountData(number))
	if err != nil {
		return "", fmt.Errorf("store: decrypt password of %d: %w", number, err)
	}
	return string(p), nil
}

// accountData binds a ciphertext to its account, so one account's encrypted
// password copied onto another does not decrypt there.
func accountData(number uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, number)
}
