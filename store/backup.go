package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// BackupFiles are the names of the files Backup writes. A data directory
// restored from a backup needs them all: without its key, a database's
// passwords cannot be read.
func BackupFiles() []string { return []string{dbFile, keyFile} }

// Backup writes a consistent copy of the store into dir, which must exist
// and hold none of BackupFiles: the database, copied by VACUUM INTO in one
// read transaction (so servers and other processes may go on writing), and
// the password key. The copy is not synced; whoever keeps it does that.
func (s *SQLite) Backup(ctx context.Context, dir string) error {
	// A connection of its own: the read pool is query_only, which refuses
	// VACUUM INTO, and the writer must stay free for this process's writes.
	db, err := openPool(s.path, "", 1)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", filepath.Join(dir, dbFile))
	db.Close()
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, keyFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	_, err = f.Write(s.secret)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	return nil
}
