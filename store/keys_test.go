package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	key := NewKey()
	b64 := base64.StdEncoding.EncodeToString(key)
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"raw", key, true},
		{"base64", []byte(b64), true},
		{"base64 and a newline", []byte(" " + b64 + "\n"), true},
		{"short", key[:31], false},
		{"base64 of 16 bytes", []byte(base64.StdEncoding.EncodeToString(key[:16])), false},
		{"hex", []byte(hex.EncodeToString(key)), false},
	} {
		got, err := ParseKey(tc.in)
		if tc.ok && (err != nil || !bytes.Equal(got, key)) {
			t.Errorf("%s: %x, %v", tc.name, got, err)
		}
		if !tc.ok {
			if err == nil {
				t.Errorf("%s: accepted", tc.name)
			} else if strings.Contains(err.Error(), string(tc.in)) || strings.Contains(err.Error(), hex.EncodeToString(tc.in)) {
				t.Errorf("%s: the error shows what was read: %v", tc.name, err)
			}
		}
	}
}

// Passwords sealed before keys had ids (AES-GCM straight after the nonce)
// still open, with the data directory's key as current or as previous key,
// and rotation seals them with an id.
func TestLegacyPasswords(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		at := e.place(t)
		s := at.open(t)
		withAccounts(t, s, 2)
		old, err := ReadKeyFile(filepath.Join(at.dir, keyFile))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := aes.NewCipher(old)
		aead, _ := cipher.NewGCMWithRandomNonce(block)
		sqlExec(t, s, `UPDATE accounts SET password_enc = ? WHERE number = ?`,
			aead.Seal(nil, nil, []byte("legacy pw"), accountData(2)), 2)
		if pw, err := s.Password(t.Context(), 2); err != nil || pw != "legacy pw" {
			t.Fatalf("legacy password: %q, %v", pw, err)
		}
		s.Close()

		s, err = at.tryOpen(t.Context(), KeyConfig{Current: NewKey(), Previous: [][]byte{old}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if pw, err := s.Password(t.Context(), 2); err != nil || pw != "legacy pw" {
			t.Fatalf("legacy password under a previous key: %q, %v", pw, err)
		}
		if r, err := s.RotatePasswords(t.Context(), 0); err != nil || r != (Rotation{Resealed: 2}) {
			t.Fatalf("rotate: %+v, %v", r, err)
		}
		if r, err := s.RotatePasswords(t.Context(), 0); err != nil || r != (Rotation{Current: 2}) {
			t.Fatalf("rotate again: %+v, %v", r, err)
		}
	})
}

// Rotation in small batches while the store is in use: afterwards the new
// key alone opens every password, the old one alone none, with an error
// that names the key ids and nothing secret.
func TestRotatePasswords(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		at := e.place(t)
		oldKey, newKey := NewKey(), NewKey()
		s, err := at.tryOpen(t.Context(), KeyConfig{Current: oldKey})
		if err != nil {
			t.Fatal(err)
		}
		withAccounts(t, s, 7)
		s.Close()

		both, err := at.tryOpen(t.Context(), KeyConfig{Current: newKey, Previous: [][]byte{oldKey}})
		if err != nil {
			t.Fatal(err)
		}
		defer both.Close()
		// A password set during the rotation is sealed with the new key
		// and needs no resealing.
		if err := both.SetPassword(t.Context(), 3, "changed"); err != nil {
			t.Fatal(err)
		}
		r, err := both.RotatePasswords(t.Context(), 2)
		if err != nil || r != (Rotation{Resealed: 6, Current: 1}) {
			t.Fatalf("rotate: %+v, %v", r, err)
		}

		fresh, err := at.tryOpen(t.Context(), KeyConfig{Current: newKey, Previous: [][]byte{}})
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		for n := uint32(1); n <= 7; n++ {
			want := "pw"
			if n == 3 {
				want = "changed"
			}
			if pw, err := fresh.Password(t.Context(), n); err != nil || pw != want {
				t.Errorf("account %d with the new key alone: %q, %v", n, pw, err)
			}
		}

		stale, err := at.tryOpen(t.Context(), KeyConfig{Current: oldKey, Previous: [][]byte{}})
		if err != nil {
			t.Fatal(err)
		}
		defer stale.Close()
		_, err = stale.Password(t.Context(), 1)
		if !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("with the old key only: %v, want ErrUnknownKey", err)
		}
		newID, _ := KeyID(newKey)
		oldID, _ := KeyID(oldKey)
		msg := err.Error()
		if !strings.Contains(msg, newID) || !strings.Contains(msg, oldID) {
			t.Errorf("the error does not name the keys %s and %s: %s", newID, oldID, msg)
		}
		for _, secret := range [][]byte{oldKey, newKey} {
			for _, form := range []string{string(secret), hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret)} {
				if strings.Contains(msg, form) {
					t.Errorf("the error shows a key: %s", msg)
				}
			}
		}
		if strings.Contains(msg, "pw") {
			t.Errorf("the error shows the password: %s", msg)
		}
		// Rotating with a node that lacks a key stops at the first password
		// it cannot open, and says so.
		if _, err := stale.RotatePasswords(t.Context(), 0); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("rotate without the key: %v", err)
		}
	})
}

// The token-signing keys follow a signing key of their own when given, so
// that a new password key signs no one out; without one they follow the
// password key, as before keys could be given.
func TestSigningKeys(t *testing.T) {
	dir := t.TempDir()
	old, signing := NewKey(), NewKey()
	derive := func(kc KeyConfig) []byte {
		t.Helper()
		ks, err := LoadKeys(dir, kc)
		if err != nil {
			t.Fatal(err)
		}
		return ks.derive("drive")
	}
	withSigning := derive(KeyConfig{Current: old, Signing: signing})
	if got := derive(KeyConfig{Current: NewKey(), Previous: [][]byte{old}, Signing: signing}); !bytes.Equal(got, withSigning) {
		t.Error("a new password key changed the signing keys though a signing key was given")
	}
	if bytes.Equal(derive(KeyConfig{Current: old}), derive(KeyConfig{Current: NewKey()})) {
		t.Error("without a signing key, two password keys derive the same signing keys")
	}
	if err := os.WriteFile(filepath.Join(dir, signingKeyFile), []byte(base64.StdEncoding.EncodeToString(signing)), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := derive(KeyConfig{Current: NewKey()}); !bytes.Equal(got, withSigning) {
		t.Error("the data directory's signing.key is not used")
	}
}

// The data directory supplies what KeyConfig leaves out, previous keys
// included; bad keys are refused with errors that show none of them.
func TestLoadKeysFromDirectory(t *testing.T) {
	dir := t.TempDir()
	current, previous := NewKey(), NewKey()
	pid, _ := KeyID(previous)
	for name, key := range map[string][]byte{keyFile: current, "secret.previous-" + pid + ".key": previous} {
		if err := os.WriteFile(filepath.Join(dir, name), key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ks, err := LoadKeys(dir, KeyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if cid, _ := KeyID(current); ks.current.name() != cid || len(ks.previous) != 1 || ks.previous[0].name() != pid {
		t.Fatalf("loaded current %s and %d previous keys", ks.current.name(), len(ks.previous))
	}
	sealed := ks.seal(1, "pw")
	if !ks.sealedWithCurrent(sealed) || !bytes.HasPrefix(sealed, []byte(sealMagic)) {
		t.Errorf("sealed %x does not name the current key", sealed)
	}
	for _, bad := range []KeyConfig{{Current: current[:16]}, {Current: current, Previous: [][]byte{{1, 2, 3}}}, {Current: current, Signing: current[:31]}} {
		if _, err := LoadKeys(dir, bad); err == nil {
			t.Errorf("loaded %+v", bad)
		} else if strings.Contains(err.Error(), hex.EncodeToString(current[:16])) {
			t.Errorf("error shows the key: %v", err)
		}
	}
}

// A node whose keys the database has never seen is refused before it seals
// a password no other node could open; one that brings the database's key
// as a previous key is a rotation, and its current key is admitted.
func TestForeignKeysRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		at := e.place(t)
		first, second := NewKey(), NewKey()
		s, err := at.tryOpen(t.Context(), KeyConfig{Current: first})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		s, err = at.tryOpen(t.Context(), KeyConfig{Current: second, Previous: [][]byte{}})
		if !errors.Is(err, ErrForeignKeys) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("a node with another key: %v", err)
		}
		firstID, _ := KeyID(first)
		if !strings.Contains(err.Error(), firstID) {
			t.Errorf("the refusal does not name the database's key %s: %v", firstID, err)
		}
		for _, kc := range []KeyConfig{{Current: second, Previous: [][]byte{first}}, {Current: second, Previous: [][]byte{}}, {Current: first}} {
			s, err := at.tryOpen(t.Context(), kc)
			if err != nil {
				t.Fatalf("after a rotation began: %v", err)
			}
			s.Close()
		}
	})
}
