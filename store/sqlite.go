package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

const (
	dbFile = "crosstalk.db"
	// readConns bounds the read pool; WAL lets readers run beside the writer.
	readConns = 4
	// busyTimeout is how long a connection waits for another process's write
	// lock before giving up with SQLITE_BUSY.
	busyTimeout = 5 * time.Second
	// writeParams: _txlock=immediate takes the write lock at BEGIN, so a
	// transaction never has to upgrade a read lock, which SQLite answers with
	// SQLITE_BUSY instead of waiting.
	writeParams = "&_txlock=immediate"
	readParams  = "&_pragma=query_only(1)"
)

// SQLite is a Store in a SQLite database. It is safe for concurrent use,
// and several processes may open the same directory.
type SQLite struct {
	core
	path string
	// w has a single connection, so writers in this process queue in
	// database/sql (honouring their contexts) rather than in SQLite's busy
	// handler; the busy handler only arbitrates between processes.
	w pool
	r pool
}

var _ Store = (*SQLite)(nil)

// OpenExistingSQLite opens the store in dir like OpenSQLite, but only when
// dir already holds a database: a mistyped directory fails with
// ErrNoDatabase and nothing is created.
func OpenExistingSQLite(ctx context.Context, dir string) (*SQLite, error) {
	return openSQLite(ctx, dir, KeyConfig{}, true, 0)
}

// OpenSQLite opens the store in data directory dir, creating the directory,
// the database dir/crosstalk.db and the password key dir/secret.key as
// needed, and brings the schema up to date.
func OpenSQLite(ctx context.Context, dir string) (*SQLite, error) {
	return openSQLite(ctx, dir, KeyConfig{}, false, 0)
}

// openSQLite opens the store in dir with the keys kc gives (the
// directory's when it gives none); existing: only a database that is there.
func openSQLite(ctx context.Context, dir string, kc KeyConfig, existing bool, pageCache int) (*SQLite, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	path := filepath.Join(dir, dbFile)
	if existing {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s", ErrNoDatabase, path)
		} else if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	keys, err := LoadKeys(dir, kc)
	if err != nil {
		return nil, err
	}
	s := &SQLite{path: path}
	s.core.db, s.core.keys = s, keys
	cache := ""
	if pageCache > 0 {
		cache = fmt.Sprintf("&_pragma=cache_size(-%d)", max(1, pageCache>>10)) // negative: KiB
	}
	if s.w.db, err = openPool(s.path, writeParams+cache, 1); err != nil {
		return nil, err
	}
	if s.r.db, err = openPool(s.path, readParams+cache, readConns); err != nil {
		s.w.db.Close()
		return nil, err
	}
	// Setting up the database through the writer first means it exists, in
	// WAL mode, before any read-only connection opens it.
	if err := enableWAL(ctx, s.w.db); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.write(ctx, func(t tx) error {
		if err := migrate(t, sqliteMigrations); err != nil {
			return err
		}
		return admitKeys(t, keys)
	}); err != nil {
		s.Close()
		return nil, err
	}
	if err := errors.Join(s.w.prepare(ctx, hotWrites), s.r.prepare(ctx, hotReads)); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// hotReads and hotWrites are the statements of a login, a message and a
// look at the mailbox. Each is compiled once per connection and kept;
// any other statement is compiled on every call.
var (
	hotReads = []string{
		selectAccountByNumber, selectAccountByEmail, selectAccountByNick, selectPassword,
		selectLoginByEmail, selectRelation, selectSettings, selectSerial, selectGroups, selectOwnEntries, selectMemberships,
		selectReverseEntries, countOffline, selectAnyMessage, selectUnheldMessage, selectHeldClaim,
	}
	hotWrites = []string{selectAccountExists, countMailboxShares, insertOffline, releaseClaims}
)

// pool is one side of the store's connections, with the statements
// prepared on it when the store opened.
type pool struct {
	db *sql.DB
	// prepared maps a hot statement's text to the statement; it does not
	// change after open. Compiling the SQL on every call was a tenth of a
	// login's CPU.
	prepared map[string]*sql.Stmt
}

func (p *pool) prepare(ctx context.Context, queries []string) error {
	p.prepared = make(map[string]*sql.Stmt, len(queries))
	for _, q := range queries {
		st, err := p.db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("store: prepare %q: %w", q, err)
		}
		p.prepared[q] = st
	}
	return nil
}

// ReleaseMemory empties the page cache of every connection that is not in
// use (PRAGMA shrink_memory). What a burst of logins read stays there, out
// of Go's heap and its collector's reach, as long as the connection lives:
// a megabyte or two per connection that an idle server has no use for, and
// that the system's file cache serves again when it is read next. serve
// calls it when the server goes quiet (see gctune.Config.Release).
func (s *SQLite) ReleaseMemory(ctx context.Context) error {
	return errors.Join(s.w.shrink(ctx), s.r.shrink(ctx))
}

// shrink empties the page caches of the connections idle when it starts,
// holding each until all are done so that it reaches them all.
func (p *pool) shrink(ctx context.Context) error {
	idle := p.db.Stats().Idle
	conns := make([]*sql.Conn, 0, idle)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range idle {
		c, err := p.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("store: release memory: %w", err)
		}
		conns = append(conns, c)
		if _, err := c.ExecContext(ctx, "PRAGMA shrink_memory"); err != nil {
			return fmt.Errorf("store: release memory: %w", err)
		}
	}
	return nil
}

func (p *pool) close() error {
	var errs []error
	for _, st := range p.prepared {
		errs = append(errs, st.Close())
	}
	return errors.Join(append(errs, p.db.Close())...)
}

// row runs a query of one statement, which reads one consistent snapshot
// without a transaction. Once started it is not interrupted when ctx ends:
// such a read takes microseconds, and a context that can end costs a
// watching goroutine in database/sql and another in the driver per query.
func (p *pool) row(ctx context.Context, query string, args ...any) *sql.Row {
	if ctx.Err() == nil {
		ctx = context.WithoutCancel(ctx)
	}
	if st := p.prepared[query]; st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

func openPool(path, params string, conns int) (*sql.DB, error) {
	dsn := fmt.Sprintf("file:%s?_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)%s",
		(&url.URL{Path: path}).EscapedPath(), busyTimeout.Milliseconds(), params)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns) // keep connections: each new one reruns the pragmas
	return db, nil
}

// enableWAL puts the database in WAL mode, which lets the server keep reading
// while another process writes, and stays set in the file. Switching needs
// an exclusive lock that SQLite does not wait for, so when two processes
// open a new database together one gets SQLITE_BUSY at once; it retries.
func enableWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		switch {
		case err == nil && mode == "wal":
			return nil
		case err == nil:
			return fmt.Errorf("store: database stays in journal mode %q, want wal", mode)
		case !isBusy(err) || time.Now().After(deadline):
			return fmt.Errorf("store: enable WAL: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func isBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

// Path returns the database file's path.
func (s *SQLite) Path() string { return s.path }

func (s *SQLite) close() error { return errors.Join(s.r.close(), s.w.close()) }

// row runs a single-statement read on the read pool.
func (s *SQLite) row(ctx context.Context, query string, args ...any) scanner {
	return s.r.row(ctx, query, args...)
}

// txn is a transaction together with the context of the call it serves
// and the pool it runs on.
type txn struct {
	ctx  context.Context
	tx   *sql.Tx
	pool *pool
}

// write runs fn in a write transaction, committing if fn returns nil.
func (s *SQLite) write(ctx context.Context, fn func(tx) error) error {
	sqlTx, err := s.w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(txn{ctx, sqlTx, &s.w}); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// read runs fn in a read-only transaction, so that what fn reads in several
// queries is one consistent snapshot.
func (s *SQLite) read(ctx context.Context, fn func(tx) error) error {
	// As with row: once started, a read is not interrupted.
	if ctx.Err() == nil {
		ctx = context.WithoutCancel(ctx)
	}
	sqlTx, err := s.r.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer sqlTx.Rollback()
	return fn(txn{ctx, sqlTx, &s.r})
}

// stmt is query as a statement of the transaction: the pool's prepared
// one when query is hot, compiled now otherwise. The transaction closes it.
func (t txn) stmt(query string) (*sql.Stmt, error) {
	if st := t.pool.prepared[query]; st != nil {
		return t.tx.StmtContext(t.ctx, st), nil
	}
	st, err := t.tx.PrepareContext(t.ctx, query)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return st, nil
}

// exec runs a statement and returns how many rows it changed.
func (t txn) exec(query string, args ...any) (int64, error) {
	st, err := t.stmt(query)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(t.ctx, args...)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return res.RowsAffected()
}

// scan reads one row into dest. It returns sql.ErrNoRows unwrapped, for the
// caller to turn into the hub error that fits.
func (t txn) scan(query string, args []any, dest ...any) error {
	st, err := t.stmt(query)
	if err != nil {
		return err
	}
	return scanErr(st.QueryRowContext(t.ctx, args...).Scan(dest...))
}

// each runs query and calls fn for every row.
func (t txn) each(fn func(scanner) error, query string, args ...any) error {
	st, err := t.stmt(query)
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(t.ctx, args...)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	return eachRow(rows, fn)
}
