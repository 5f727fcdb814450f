package store

import (
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// Migrations are numbered from 1 without gaps, in a directory per engine:
// migrations/sqlite/0001_name.sql, migrations/postgres/0001_name.sql, and
// so on. A number means the same change on both engines, in each one's
// dialect, and both have every number. Never edit one that has shipped; add
// the next instead.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// The engines' migration directories.
const (
	sqliteMigrations   = "sqlite"
	postgresMigrations = "postgres"
)

type migration struct {
	version int
	name    string
	sql     string
}

// migrate brings the schema up to date with the engine's migrations. It
// runs in a write transaction that excludes any other migration (SQLite's
// write lock, an advisory lock on PostgreSQL), so processes opening a new
// database at the same moment migrate it once, one after the other.
func migrate(t tx, engine string) error {
	ms, err := loadMigrations(migrationFiles, engine)
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

// loadMigrations reads an engine's migrations in order and checks their
// numbering.
func loadMigrations(fsys fs.FS, engine string) ([]migration, error) {
	dir := "migrations/" + engine + "/"
	names, err := fs.Glob(fsys, dir+"*.sql")
	if err != nil {
		return nil, err
	}
	ms := make([]migration, 0, len(names)) // Glob sorts, and numbers are zero-padded
	for i, name := range names {
		base := strings.TrimPrefix(name, dir)
		prefix, _, _ := strings.Cut(base, "_")
		if v, err := strconv.Atoi(prefix); err != nil || v != i+1 {
			return nil, fmt.Errorf("store: %s migration %s: want number %04d", engine, base, i+1)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: i + 1, name: base, sql: string(body)})
	}
	return ms, nil
}
