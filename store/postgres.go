package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is a Store in a PostgreSQL database, which any number of nodes
// may share. Every write transaction is SERIALIZABLE, so writes keep the
// guarantees SQLite's single writer gives: one that loses a conflict with
// another is run again, for up to writeRetryBudget.
//
// The connection pool takes its bounds from the URL (pool_max_conns=N,
// default the larger of 4 and the number of CPUs; pool_max_conn_lifetime
// and the like); the password may come from the URL, PGPASSWORD or a
// .pgpass file.
type Postgres struct {
	core
	pool *pgxpool.Pool
}

var _ Store = (*Postgres)(nil)

const (
	// writeRetryBudget bounds how long a write transaction keeps running
	// again when it loses serialization conflicts or deadlocks. A count of
	// attempts would not do: on a loaded machine each attempt takes longer,
	// and a transaction on a row everyone writes (a popular account's
	// serial, bumped by each new follower) can lose dozens in a row.
	writeRetryBudget = 5 * time.Second
	// maxRetryWait bounds the random pause before a write runs again; the
	// bound doubles from a millisecond with every lost attempt.
	maxRetryWait = 64 * time.Millisecond
	// migrationLock is the advisory lock a node holds while it migrates,
	// so that nodes starting together migrate one after the other.
	migrationLock = 0x63726f7373746b // "crosstk"
)

// openPostgres opens the store in the database at url, with keys from kc
// and the data directory dir.
func openPostgres(ctx context.Context, url, dir string, kc KeyConfig, existing bool) (*Postgres, error) {
	if kc.Current == nil {
		if dir == "" {
			return nil, errors.New("store: PostgreSQL needs the password key: a data directory holding secret.key, a key file or the environment")
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	keys, err := LoadKeys(dir, kc)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors can quote the URL, password and all.
		return nil, errors.New("store: --database is not a valid PostgreSQL URL")
	}
	if err := migratePostgres(ctx, cfg.ConnConfig, keys, existing); err != nil {
		return nil, err
	}
	cfg.AfterConnect = prepareHot
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Postgres{pool: pool}
	s.core.db, s.core.keys = s, keys
	return s, nil
}

// migratePostgres brings the schema up to date and admits the node's keys,
// on a connection of its own, before the pool's connections prepare
// statements on the schema.
func migratePostgres(ctx context.Context, cfg *pgx.ConnConfig, keys *Keys, existing bool) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if existing {
		var has bool
		if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_version') IS NOT NULL`).Scan(&has); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if !has {
			return fmt.Errorf("%w: database %s holds no crosstalk store", ErrNoDatabase, cfg.Database)
		}
	}
	// READ COMMITTED, so that once the lock is ours the migration sees
	// what a node that held it before committed.
	return pgx.BeginFunc(ctx, conn, func(t pgx.Tx) error {
		if _, err := t.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		if err := migrate(pgTx{ctx, t}, postgresMigrations); err != nil {
			return err
		}
		return admitKeys(pgTx{ctx, t}, keys)
	})
}

// prepareHot prepares the statements of a login, a message and a look at
// the mailbox on each new connection; pgx runs a statement prepared under
// its own text as that statement, and caches the others as they come.
func prepareHot(ctx context.Context, conn *pgx.Conn) error {
	for _, q := range hotStatements() {
		q = rebind(q)
		if _, err := conn.Prepare(ctx, q, q); err != nil {
			return fmt.Errorf("store: prepare %q: %w", q, err)
		}
	}
	return nil
}

func hotStatements() []string { return append(append([]string(nil), hotReads...), hotWrites...) }

func (s *Postgres) close() error {
	s.pool.Close()
	return nil
}

// Backup writes the keys into dir; the database is pg_dump's to copy.
func (s *Postgres) Backup(_ context.Context, dir string) ([]string, error) {
	names, err := s.keys.writeFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("store: backup: %w", err)
	}
	return names, nil
}

func (s *Postgres) row(ctx context.Context, query string, args ...any) scanner {
	return s.pool.QueryRow(ctx, rebind(query), args...)
}

// write runs fn in a SERIALIZABLE transaction, again when it loses a
// serialization conflict or a deadlock, after a random pause.
func (s *Postgres) write(ctx context.Context, fn func(tx) error) error {
	deadline := time.Now().Add(writeRetryBudget)
	wait := time.Millisecond
	for {
		err := s.writeOnce(ctx, fn)
		if !retryable(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(rand.N(wait) + time.Millisecond):
		}
		wait = min(2*wait, maxRetryWait)
	}
}

func (s *Postgres) writeOnce(ctx context.Context, fn func(tx) error) error {
	t, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(pgTx{ctx, t}); err != nil {
		t.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := t.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// retryable reports whether err is PostgreSQL's word that the transaction
// lost a conflict and may succeed when run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01") // serialization_failure, deadlock_detected
}

// read runs fn in a read-only REPEATABLE READ transaction: one snapshot.
func (s *Postgres) read(ctx context.Context, fn func(tx) error) error {
	t, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer t.Rollback(context.WithoutCancel(ctx))
	return fn(pgTx{ctx, t})
}

// pgTx is a transaction together with the context of the call it serves.
type pgTx struct {
	ctx context.Context
	tx  pgx.Tx
}

func (t pgTx) exec(query string, args ...any) (int64, error) {
	if len(args) > 0 { // a statement without arguments may be several (a migration)
		query = rebind(query)
	}
	tag, err := t.tx.Exec(t.ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return tag.RowsAffected(), nil
}

func (t pgTx) scan(query string, args []any, dest ...any) error {
	return scanErr(t.tx.QueryRow(t.ctx, rebind(query), args...).Scan(dest...))
}

func (t pgTx) each(fn func(scanner) error, query string, args ...any) error {
	rows, err := t.tx.Query(t.ctx, rebind(query), args...)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	return eachRow(rows, fn)
}

// rebound caches rebind's work: the store's queries are a bounded set
// (the longest are lists of one placeholder per live session or per
// message id, bounded by the mailbox).
var rebound sync.Map

// rebind turns the ? placeholders the store's queries are written with
// into PostgreSQL's $1, $2, … The queries hold no ? in literals or
// comments.
func rebind(query string) string {
	if q, ok := rebound.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	n := 0
	for _, part := range strings.SplitAfter(query, "?") {
		if p, ok := strings.CutSuffix(part, "?"); ok {
			n++
			b.WriteString(p)
			b.WriteString("$" + strconv.Itoa(n))
		} else {
			b.WriteString(part)
		}
	}
	q, _ := rebound.LoadOrStore(query, b.String())
	return q.(string)
}
