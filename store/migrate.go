package store

import (
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// Migrations are numbered from 1 without gaps: migrations/0001_name.sql,
// migrations/0002_name.sql, and so on. Never edit one that has shipped; add
// the next instead.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrate brings the schema up to date. It runs in a write transaction, so
// processes opening a new database at the same moment migrate it once, one
// after the other.
func migrate(t txn) error {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return err
	}
	if _, err := t.exec(`CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER PRIMARY KEY,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return err
	}
	var current int
	if err := t.scan(`SELECT COALESCE(MAX(version), 0) FROM schema_version`, nil, &current); err != nil {
		return err
	}
	if current > len(ms) {
		return fmt.Errorf("store: database schema version %d is newer than this program's %d", current, len(ms))
	}
	for _, m := range ms[current:] {
		if _, err := t.exec(m.sql); err != nil {
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
		if _, err := t.exec(`INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`,
			m.version, time.Now().Unix()); err != nil {
			return err
		}
	}
	return nil
}

// loadMigrations reads the migrations in order and checks their numbering.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	ms := make([]migration, 0, len(names)) // Glob sorts, and numbers are zero-padded
	for i, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		prefix, _, _ := strings.Cut(base, "_")
		if v, err := strconv.Atoi(prefix); err != nil || v != i+1 {
			return nil, fmt.Errorf("store: migration %s: want number %04d", base, i+1)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: i + 1, name: base, sql: string(body)})
	}
	return ms, nil
}
