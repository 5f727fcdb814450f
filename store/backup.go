package store

import (
	"context"
	"fmt"
	"path/filepath"
)

// Names of a data directory's files that a restore needs: without its key,
// a database's passwords cannot be read.
const (
	DatabaseFile = dbFile
	KeyFile      = keyFile
)

// Backup writes a consistent copy of the store into dir, which must exist
// and hold none of the files it writes: the database, copied by VACUUM INTO
// in one read transaction (so servers and other processes may go on
// writing), then the keys. The copy is not synced; whoever keeps it does
// that.
func (s *SQLite) Backup(ctx context.Context, dir string) ([]string, error) {
	// A connection of its own: the read pool is query_only, which refuses
	// VACUUM INTO, and the writer must stay free for this process's writes.
	db, err := openPool(s.path, "", 1)
	if err != nil {
		return nil, err
	}
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", filepath.Join(dir, dbFile))
	db.Close()
	if err != nil {
		return nil, fmt.Errorf("store: backup: %w", err)
	}
	keys, err := s.keys.writeFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("store: backup: %w", err)
	}
	return append([]string{dbFile}, keys...), nil
}
