// Package store keeps Crosstalk's accounts, passwords and contact lists in
// SQLite. SQLite implements hub.Store.
package store

import (
	"context"
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/crosstalk-im/crosstalk/hub"
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

// SQLite is a hub.Store in a SQLite database. It is safe for concurrent use,
// and several processes may open the same directory.
type SQLite struct {
	path string
	// w has a single connection, so writers in this process queue in
	// database/sql (honouring their contexts) rather than in SQLite's busy
	// handler; the busy handler only arbitrates between processes.
	w      pool
	r      pool
	aead   cipher.AEAD
	secret []byte // the key behind aead, for DeriveKey

	closeOnce sync.Once
	closeErr  error
}

var _ hub.Store = (*SQLite)(nil)

// ErrNoDatabase is what OpenExistingSQLite returns for a directory that
// holds no database.
var ErrNoDatabase = errors.New("store: no database")

// OpenExistingSQLite opens the store in dir like OpenSQLite, but only when
// dir already holds a database: a mistyped directory fails with
// ErrNoDatabase and nothing is created.
func OpenExistingSQLite(ctx context.Context, dir string) (*SQLite, error) {
	path := filepath.Join(dir, dbFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", ErrNoDatabase, path)
	} else if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return OpenSQLite(ctx, dir)
}

// OpenSQLite opens the store in data directory dir, creating the directory,
// the database dir/crosstalk.db and the password key dir/secret.key as
// needed, and brings the schema up to date.
func OpenSQLite(ctx context.Context, dir string) (*SQLite, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	secret, aead, err := loadKey(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, err
	}
	s := &SQLite{path: filepath.Join(dir, dbFile), aead: aead, secret: secret}
	if s.w.db, err = openPool(s.path, writeParams, 1); err != nil {
		return nil, err
	}
	if s.r.db, err = openPool(s.path, readParams, readConns); err != nil {
		s.w.db.Close()
		return nil, err
	}
	// Setting up the database through the writer first means it exists, in
	// WAL mode, before any read-only connection opens it.
	if err := enableWAL(ctx, s.w.db); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.write(ctx, migrate); err != nil {
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
		selectRelation, selectSettings, selectGroups, selectOwnEntries, selectMemberships,
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

// exists reports whether a query of one statement returns a row.
func (p *pool) exists(ctx context.Context, query string, args ...any) (bool, error) {
	var one int
	return found(scanErr(p.row(ctx, query, args...).Scan(&one)))
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

// Close closes the database. Later calls only return the first one's result.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = errors.Join(s.r.close(), s.w.close())
	})
	return s.closeErr
}

// txn is a transaction together with the context of the call it serves
// and the pool it runs on.
type txn struct {
	ctx  context.Context
	tx   *sql.Tx
	pool *pool
}

// write runs fn in a write transaction, committing if fn returns nil.
func (s *SQLite) write(ctx context.Context, fn func(txn) error) error {
	tx, err := s.w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(txn{ctx, tx, &s.w}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// read runs fn in a read-only transaction, so that what fn reads in several
// queries is one consistent snapshot.
func (s *SQLite) read(ctx context.Context, fn func(txn) error) error {
	tx, err := s.r.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()
	return fn(txn{ctx, tx, &s.r})
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

// scanErr wraps the error of a scan, except sql.ErrNoRows, which callers
// turn into the hub error that fits.
func scanErr(err error) error {
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: %w", err)
	}
	return err
}

// exists reports whether query returns a row.
func (t txn) exists(query string, args ...any) (bool, error) {
	var one int
	return found(t.scan(query, args, &one))
}

// found turns the result of scanning for a row into whether there was one.
func found(err error) (bool, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// all runs query and converts each row with scan.
func all[T any](t txn, scan func(*sql.Rows) (T, error), query string, args ...any) ([]T, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(t.ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return out, nil
}
