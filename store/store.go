// Package store keeps Crosstalk's accounts, passwords, contact lists,
// mailboxes and drive tickets, in SQLite (the embedded default) or
// PostgreSQL (several nodes on one database). Both implement Store with the
// same logic: only the database underneath differs.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
)

// Store is a hub.Store with what the node, the drive and the commands also
// ask of it.
type Store interface {
	hub.Store
	drive.Tickets
	// CountOffline says how many messages wait in an account's mailbox,
	// claimed or not.
	CountOffline(ctx context.Context, to uint32) (int, error)
	// DeriveKey returns the signing key for purpose (drive sign-ins, GG
	// IMTokens): the same on every node given the same keys.
	DeriveKey(purpose string) []byte
	// RotatePasswords seals every password with the current key.
	RotatePasswords(ctx context.Context, batch int) (Rotation, error)
	// CurrentKeyID names the key that seals passwords, without revealing it.
	CurrentKeyID() string
	// OnLoginChange and ForgetLogin keep the login records that nodes
	// sharing the database cache (AccountWithPassword) current: changed
	// is told of every change this store makes to one, and ForgetLogin
	// takes another node's word.
	OnLoginChange(changed func(number uint32))
	ForgetLogin(number uint32)
	// Backup writes into dir, which must exist, what a restore needs from
	// the store and returns the names of the files it wrote: the keys, and
	// for SQLite the database. PostgreSQL's database is pg_dump's job.
	Backup(ctx context.Context, dir string) ([]string, error)

	// The web service's part (web.go): sign-ups, admin rights, disabled
	// accounts, web sign-in sessions, their chat tokens and invites.
	SignUp(ctx context.Context, a hub.Account, password string, rules SignUpRules) (hub.Account, error)
	SetAdmin(ctx context.Context, number uint32, admin bool) error
	IsAdmin(ctx context.Context, number uint32) (bool, error)
	SetDisabled(ctx context.Context, number uint32, disabled bool) error
	SearchAccounts(ctx context.Context, query string, limit int) ([]AccountInfo, error)
	Mailboxes(ctx context.Context, limit int) ([]AccountInfo, error)
	Tickets(ctx context.Context, limit int) ([]drive.Ticket, error)
	AccountInfo(ctx context.Context, number uint32) (AccountInfo, error)
	CreateWebSession(ctx context.Context, number uint32, tokenHash []byte, expires time.Time, keep int) error
	WebSession(ctx context.Context, tokenHash []byte) (AccountInfo, error)
	DeleteWebSession(ctx context.Context, tokenHash []byte) error
	DeleteWebSessions(ctx context.Context, number uint32, keep []byte) error
	CreateChatToken(ctx context.Context, tokenHash, sessionHash []byte, expires time.Time) error
	TakeChatToken(ctx context.Context, tokenHash []byte) (AccountInfo, error)
	CreateInvite(ctx context.Context, codeHash []byte, uses int, expires time.Time) error
}

// Config chooses the database and the keys of Open.
type Config struct {
	// DataDir holds the SQLite database, and the password key unless Keys
	// gives one.
	DataDir string
	// Database is empty for SQLite in DataDir, or a postgres:// URL.
	Database string
	Keys     KeyConfig
	// Existing opens only a database that holds a store already, so that a
	// mistyped --data or --database creates nothing (ErrNoDatabase).
	Existing bool
	// MaxRemovals is how many removals from its lists each account keeps
	// for clients that fetch only what changed (zero: DefaultMaxRemovals);
	// a client whose copy is older than the oldest fetches everything.
	MaxRemovals int
	// LoginCacheTTL is how long a login record is kept (see loginCache);
	// zero: DefaultLoginCacheTTL, negative: none is kept.
	LoginCacheTTL time.Duration
	// SQLitePageCache is the most memory each SQLite connection keeps of
	// the database's pages, in bytes (zero: SQLite's own 2,000 KiB). The
	// server holds five; the system's file cache keeps what they let go.
	SQLitePageCache int
}

// MemoryReleaser is a Store that keeps caches in this process and can give
// them back while the server is quiet: SQLite (PostgreSQL keeps its own, in
// the database server).
type MemoryReleaser interface {
	ReleaseMemory(ctx context.Context) error
}

var _ MemoryReleaser = (*SQLite)(nil)

// ErrNoDatabase is what opening an existing store returns where there is
// no database, or no store in it.
var ErrNoDatabase = errors.New("store: no database")

// Open opens the store cfg names and brings its schema up to date.
func Open(ctx context.Context, cfg Config) (Store, error) {
	// Each engine's error return is a nil interface, not a nil pointer in one.
	if cfg.Database == "" {
		s, err := openSQLite(ctx, cfg.DataDir, cfg.Keys, cfg.Existing, cfg.SQLitePageCache)
		if err != nil {
			return nil, err
		}
		s.maxRemovals = cfg.MaxRemovals
		s.logins.setTTL(cfg.LoginCacheTTL)
		return s, nil
	}
	if !IsPostgresURL(cfg.Database) {
		return nil, fmt.Errorf("store: --database must be a postgres:// URL, or empty for SQLite in the data directory")
	}
	s, err := openPostgres(ctx, cfg.Database, cfg.DataDir, cfg.Keys, cfg.Existing)
	if err != nil {
		return nil, err
	}
	s.maxRemovals = cfg.MaxRemovals
	s.logins.setTTL(cfg.LoginCacheTTL)
	return s, nil
}

// IsPostgresURL reports whether database names a PostgreSQL database.
func IsPostgresURL(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// engine is what a database gives the store's logic.
type engine interface {
	// write runs fn in a transaction serializable with every other
	// write, committing if fn returns nil. fn may run more than once, so it
	// must only read and write through its transaction and set its results
	// afresh each time.
	write(ctx context.Context, fn func(tx) error) error
	// read runs fn in a read-only transaction that sees one snapshot.
	read(ctx context.Context, fn func(tx) error) error
	// row runs a query of one statement, which sees one snapshot, outside
	// any transaction.
	row(ctx context.Context, query string, args ...any) scanner
	close() error
}

// tx is a transaction of an engine. Queries are written with ? for their
// parameters.
type tx interface {
	// exec runs a statement and returns how many rows it changed.
	exec(query string, args ...any) (int64, error)
	// scan reads one row into dest; sql.ErrNoRows (which pgx's error
	// matches too) when there is none.
	scan(query string, args []any, dest ...any) error
	// each calls fn for every row query returns.
	each(fn func(scanner) error, query string, args ...any) error
}

type scanner interface{ Scan(dest ...any) error }

// rowIter is what database/sql's rows and pgx's have in common.
type rowIter interface {
	scanner
	Next() bool
	Err() error
}

// eachRow calls fn for every row of rows.
func eachRow(rows rowIter, fn func(scanner) error) error {
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// core is the store's logic over an engine, shared by SQLite and Postgres.
type core struct {
	db     engine
	keys   *Keys
	logins loginCache

	// maxRemovals is how many removals from its lists each account
	// keeps (Config.MaxRemovals).
	maxRemovals int

	closeOnce sync.Once
	closeErr  error
}

// Close closes the database. Later calls only return the first one's result.
func (c *core) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.db.close() })
	return c.closeErr
}

// DeriveKey returns a key for purpose made from the signing key, so that
// every node given the same keys derives the same one, and no two purposes
// share a key.
func (c *core) DeriveKey(purpose string) []byte { return c.keys.derive(purpose) }

// CurrentKeyID names the key that seals passwords.
func (c *core) CurrentKeyID() string { return c.keys.current.name() }

// exists reports whether a query of one statement returns a row.
func (c *core) exists(ctx context.Context, query string, args ...any) (bool, error) {
	var one int
	return found(scanErr(c.db.row(ctx, query, args...).Scan(&one)))
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
func exists(t tx, query string, args ...any) (bool, error) {
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
func all[T any](t tx, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := t.each(func(row scanner) error {
		v, err := scan(row)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		out = append(out, v)
		return nil
	}, query, args...)
	return out, err
}
