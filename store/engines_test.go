package store

import (
	"context"
	"os"
	"testing"

	"github.com/crosstalk-im/crosstalk/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m).Run()) }

// testEngine is one database every store test runs on.
type testEngine struct {
	name string
	// place makes a new, empty database and says where it is.
	place func(t testing.TB) place
}

// place is where a store lives: a data directory (the keys; SQLite's
// database) and, for PostgreSQL, the database's URL.
type place struct{ dir, url string }

var engines = []testEngine{
	{sqliteMigrations, func(t testing.TB) place { return place{dir: t.TempDir()} }},
	{postgresMigrations, func(t testing.TB) place { return place{dir: t.TempDir(), url: pgtest.URL(t)} }},
}

// forEachEngine runs test once per engine, as subtests named after them.
func forEachEngine(t *testing.T, test func(t *testing.T, e testEngine)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { test(t, e) })
	}
}

// benchEachEngine is forEachEngine for benchmarks.
func benchEachEngine(b *testing.B, bench func(b *testing.B, e testEngine)) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) { bench(b, e) })
	}
}

// newStore opens a store on a new database of the engine.
func (e testEngine) newStore(t testing.TB) *core { return e.place(t).open(t) }

func (p place) config() Config { return Config{DataDir: p.dir, Database: p.url} }

// open opens the store at p, closed when t ends.
func (p place) open(t testing.TB) *core {
	t.Helper()
	s, err := p.tryOpen(t.Context(), KeyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tryOpen opens the store at p with keys kc.
func (p place) tryOpen(ctx context.Context, kc KeyConfig) (*core, error) {
	cfg := p.config()
	cfg.Keys = kc
	s, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return coreOf(s), nil
}

func coreOf(s Store) *core {
	switch s := s.(type) {
	case *SQLite:
		return &s.core
	case *Postgres:
		return &s.core
	}
	panic("unknown store")
}

// sql runs a statement of the test's own on the store's database.
func sqlExec(t testing.TB, s *core, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.db.write(t.Context(), func(tx tx) (err error) {
		n, err = tx.exec(query, args...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// sqlInt reads one number with a query of the test's own.
func sqlInt(t testing.TB, s *core, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.read(t.Context(), func(tx tx) error { return tx.scan(query, args, &n) }); err != nil {
		t.Fatal(err)
	}
	return n
}
