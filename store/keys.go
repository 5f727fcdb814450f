package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Passwords must be recoverable (challenge logins hash them with a nonce),
// so they are encrypted rather than hashed, with a key kept apart from the
// database: a copy of the database alone reveals no password.
//
// A data directory may hold a node's keys: secret.key, the password key
// (created on first start); secret.previous-<id>.key, older password keys;
// signing.key, the root of the token-signing keys. Keys given by KeyConfig
// (flags, the environment) take their place.
const (
	keyFile            = "secret.key"
	signingKeyFile     = "signing.key"
	previousKeyPattern = "secret.previous-*.key"
	keySize            = 32 // AES-256
	keyIDSize          = 8
	// sealMagic starts a password sealed with a key whose id follows it.
	// Passwords sealed before keys had ids start with a random nonce
	// instead; a nonce that happens to look like this prefix is still
	// tried as such a legacy ciphertext.
	sealMagic = "ctk1"
)

// ErrUnknownKey says that a password was sealed with a key the store was
// not given.
var ErrUnknownKey = errors.New("store: password sealed with a key this node does not have")

// KeyConfig gives a store its keys; what it leaves out comes from the data
// directory. Keys are 32 bytes.
type KeyConfig struct {
	// Current seals passwords; nil: the data directory's secret.key,
	// created if missing.
	Current []byte
	// Previous are older password keys that still open what they sealed;
	// nil: the data directory's secret.previous-*.key files.
	Previous [][]byte
	// Signing is the root of the token-signing keys (drive sign-ins, GG
	// IMTokens); nil: the data directory's signing.key if there is one,
	// else the current password key.
	Signing []byte
}

// Keys are a store's keys, loaded and checked.
type Keys struct {
	current  *passwordKey
	previous []*passwordKey
	signing  []byte
}

type passwordKey struct {
	id   []byte // keyIDSize bytes, derived from the key: it says nothing of it
	raw  []byte
	aead cipher.AEAD
}

func newPasswordKey(raw []byte) (*passwordKey, error) {
	if len(raw) != keySize {
		return nil, fmt.Errorf("store: a key has %d bytes, want %d", len(raw), keySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte("crosstalk key id"))
	return &passwordKey{id: mac.Sum(nil)[:keyIDSize], raw: raw, aead: aead}, nil
}

// KeyID names a key in messages and file names without revealing it.
func KeyID(key []byte) (string, error) {
	k, err := newPasswordKey(key)
	if err != nil {
		return "", err
	}
	return k.name(), nil
}

func (k *passwordKey) name() string { return hex.EncodeToString(k.id) }

// LoadKeys loads the keys kc gives, taking what it leaves out from the data
// directory dir.
func LoadKeys(dir string, kc KeyConfig) (*Keys, error) {
	current := kc.Current
	if current == nil {
		var err error
		if current, err = loadOrCreateKey(filepath.Join(dir, keyFile)); err != nil {
			return nil, err
		}
	}
	ks := &Keys{signing: kc.Signing}
	var err error
	if ks.current, err = newPasswordKey(current); err != nil {
		return nil, fmt.Errorf("store: password key: %w", err)
	}
	previous := kc.Previous
	if previous == nil {
		if previous, err = readKeyFiles(filepath.Join(dir, previousKeyPattern)); err != nil {
			return nil, err
		}
	}
	for _, raw := range previous {
		k, err := newPasswordKey(raw)
		if err != nil {
			return nil, fmt.Errorf("store: previous password key: %w", err)
		}
		if !slices.ContainsFunc(ks.all(), func(o *passwordKey) bool { return bytes.Equal(o.id, k.id) }) {
			ks.previous = append(ks.previous, k)
		}
	}
	if ks.signing == nil {
		ks.signing, err = ReadKeyFile(filepath.Join(dir, signingKeyFile))
		if errors.Is(err, fs.ErrNotExist) {
			ks.signing, err = current, nil
		}
		if err != nil {
			return nil, err
		}
	}
	if len(ks.signing) != keySize {
		return nil, fmt.Errorf("store: the signing key has %d bytes, want %d", len(ks.signing), keySize)
	}
	return ks, nil
}

// readKeyFiles reads the key files that match pattern, in name order.
func readKeyFiles(pattern string) ([][]byte, error) {
	paths, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for _, p := range paths {
		k, err := ReadKeyFile(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// ParseKey reads a key written as its 32 bytes or as their base64.
func ParseKey(b []byte) ([]byte, error) {
	if len(b) == keySize {
		return bytes.Clone(b), nil
	}
	text := strings.TrimSpace(string(b))
	key, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(key) != keySize {
		// Neither the key nor what was read goes into the error.
		return nil, fmt.Errorf("store: a key is %d raw bytes or their base64 (44 characters); this one is %d bytes", keySize, len(b))
	}
	return key, nil
}

// ReadKeyFile reads a key file: the key's 32 bytes or their base64.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store: key file: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// NewKey returns a new random key.
func NewKey() []byte {
	key := make([]byte, keySize)
	rand.Read(key)
	return key
}

// loadOrCreateKey reads the data directory's password key, creating it if
// it does not exist yet.
func loadOrCreateKey(path string) ([]byte, error) {
	key, err := ReadKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKey(path)
		if err != nil {
			err = fmt.Errorf("store: password key: %w", err)
		}
	}
	return key, err
}

// createKey writes a new key under a temporary name and links it into place,
// so that a process opening the store at the same moment sees no key or a
// whole one, never a partial one; whoever links second uses the first key.
func createKey(path string) ([]byte, error) {
	key := NewKey()
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
		return ReadKeyFile(path)
	} else if err != nil {
		return nil, err
	}
	return key, nil
}

// derive returns a key for purpose made from the signing key.
func (ks *Keys) derive(purpose string) []byte {
	mac := hmac.New(sha256.New, ks.signing)
	mac.Write([]byte("crosstalk key: " + purpose))
	return mac.Sum(nil)
}

// all are the password keys, the current one first.
func (ks *Keys) all() []*passwordKey {
	return append([]*passwordKey{ks.current}, ks.previous...)
}

// seal encrypts a password for account number with the current key, after
// the key's id.
func (ks *Keys) seal(number uint32, password string) []byte {
	out := append([]byte(sealMagic), ks.current.id...)
	return ks.current.aead.Seal(out, nil, []byte(password), accountData(number))
}

// sealedWithCurrent reports whether sealed names the current key.
func (ks *Keys) sealedWithCurrent(sealed []byte) bool {
	id, _, ok := splitSealed(sealed)
	return ok && bytes.Equal(id, ks.current.id)
}

// splitSealed separates a key id from the ciphertext after it.
func splitSealed(sealed []byte) (id, ciphertext []byte, ok bool) {
	rest, ok := bytes.CutPrefix(sealed, []byte(sealMagic))
	if !ok || len(rest) < keyIDSize {
		return nil, nil, false
	}
	return rest[:keyIDSize], rest[keyIDSize:], true
}

// unseal decrypts what seal produced for the same account, with the key it
// names; a password sealed before keys had ids is tried with every key.
func (ks *Keys) unseal(number uint32, sealed []byte) (string, error) {
	ad := accountData(number)
	id, ciphertext, named := splitSealed(sealed)
	if named {
		for _, k := range ks.all() {
			if bytes.Equal(k.id, id) {
				if p, err := k.aead.Open(nil, nil, ciphertext, ad); err == nil {
					return string(p), nil
				}
			}
		}
	}
	for _, k := range ks.all() {
		if p, err := k.aead.Open(nil, nil, sealed, ad); err == nil {
			return string(p), nil
		}
	}
	var known []string
	for _, k := range ks.all() {
		known = append(known, k.name())
	}
	if named && !slices.Contains(known, hex.EncodeToString(id)) {
		return "", fmt.Errorf("%w: the password of %d was sealed with key %x; this node has %s (give the missing one as a previous key)",
			ErrUnknownKey, number, id, strings.Join(known, ", "))
	}
	return "", fmt.Errorf("store: the password of %d opens with none of this node's keys (%s): it was sealed with another key, or for another account",
		number, strings.Join(known, ", "))
}

// accountData binds a ciphertext to its account, so one account's encrypted
// password copied onto another does not decrypt there.
func accountData(number uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, number)
}

// writeFiles writes the keys into dir as a data directory holds them and
// returns the files' names.
func (ks *Keys) writeFiles(dir string) ([]string, error) {
	files := map[string][]byte{keyFile: ks.current.raw}
	if !bytes.Equal(ks.signing, ks.current.raw) {
		files[signingKeyFile] = ks.signing
	}
	for _, k := range ks.previous {
		files[strings.Replace(previousKeyPattern, "*", k.name(), 1)] = k.raw
	}
	var names []string
	for name, key := range files {
		if err := writeNewFile(filepath.Join(dir, name), key); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// writeNewFile writes data to a file that must not exist yet, readable by
// its owner only.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}

// ErrForeignKeys says that a node's password keys are not the ones the
// database's passwords were sealed with.
var ErrForeignKeys = errors.New("store: this node's password keys are not the database's")

// admitKeys checks the node's keys against those the database knows and
// records the current one: a database with no keys takes the node's; one
// that knows the current key, or a previous one (a rotation under way),
// takes it; any other is refused, before it seals a password no other node
// could open.
func admitKeys(t tx, ks *Keys) error {
	known, err := all(t, func(row scanner) (string, error) {
		var id string
		err := row.Scan(&id)
		return id, err
	}, `SELECT id FROM password_keys ORDER BY added_at, id`)
	if err != nil {
		return err
	}
	current := ks.current.name()
	if slices.Contains(known, current) {
		return nil
	}
	if len(known) > 0 && !slices.ContainsFunc(ks.previous, func(k *passwordKey) bool { return slices.Contains(known, k.name()) }) {
		var mine []string
		for _, k := range ks.all() {
			mine = append(mine, k.name())
		}
		return fmt.Errorf("%w: its passwords were sealed with keys %s, this node has %s; give every node the same "+
			"password key (--secret-key-file or CROSSTALK_SECRET_KEY), and while rotating, the old one as a previous key",
			ErrForeignKeys, strings.Join(known, ", "), strings.Join(mine, ", "))
	}
	_, err = t.exec(`INSERT INTO password_keys (id, added_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, current, time.Now().Unix())
	return err
}
