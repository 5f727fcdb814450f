package store

import (
	"bytes"
	"context"
	"os"
	"slices"
	"testing"
)

// A backup taken while another connection keeps writing opens as a store
// of its own, with every account committed before it began and their
// passwords readable, and holds exactly BackupFiles.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	withAccounts(t, &s.core, 3)
	writer := openAt(t, dir) // as another process would
	ctx, stop := context.WithCancel(t.Context())
	wrote := make(chan error, 1)
	writing := make(chan struct{})
	go func() {
		for n := uint32(100); ; n++ {
			if n == 101 {
				close(writing)
			}
			if _, err := writer.CreateAccount(ctx, account(n), "pw"); err != nil {
				if ctx.Err() != nil {
					err = nil
				}
				wrote <- err
				return
			}
		}
	}()
	select {
	case <-writing:
	case err := <-wrote:
		t.Fatalf("writing beside the backup: %v", err)
	}
	copyDir := t.TempDir()
	written, err := s.Backup(t.Context(), copyDir)
	stop()
	if werr := <-wrote; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatal(err)
	}

	entries, err := os.ReadDir(copyDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{DatabaseFile, KeyFile}; !slices.Equal(names, want) || !slices.Equal(written, want) {
		t.Fatalf("backup holds %v, want %v", names, want)
	}
	restored, err := OpenExistingSQLite(t.Context(), copyDir)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	for n := uint32(1); n <= 3; n++ {
		if pw, err := restored.Password(t.Context(), n); err != nil || pw != "pw" {
			t.Errorf("account %d in the backup: password %q, %v", n, pw, err)
		}
	}
	if _, err := s.Backup(t.Context(), copyDir); err == nil {
		t.Error("a second backup into the same directory overwrote the first")
	}
}

// A PostgreSQL store's backup is its keys, with which a store on a copy of
// the database (pg_dump's job) reads the passwords.
func TestPostgresBackupHoldsKeys(t *testing.T) {
	at := engines[1].place(t)
	previous := NewKey()
	kc := KeyConfig{Current: NewKey(), Previous: [][]byte{previous}, Signing: NewKey()}
	s, err := at.tryOpen(t.Context(), kc)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	withAccounts(t, s, 1)
	dir := t.TempDir()
	names, err := s.db.(*Postgres).Backup(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := KeyID(previous)
	if want := []string{KeyFile, "secret.previous-" + id + ".key", "signing.key"}; !slices.Equal(names, want) {
		t.Fatalf("backup wrote %v, want %v", names, want)
	}
	restored, err := Open(t.Context(), Config{DataDir: dir, Database: at.url})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if pw, err := restored.Password(t.Context(), 1); err != nil || pw != "pw" {
		t.Errorf("password with the backed-up keys: %q, %v", pw, err)
	}
	if !bytes.Equal(restored.DeriveKey("drive"), s.DeriveKey("drive")) {
		t.Error("the backed-up signing key derives other keys")
	}
}
