package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
)

// accountCols are the columns scanAccount reads, from accounts aliased a.
const accountCols = "a.number, a.email, a.nick, a.display_name, a.created_at, a.disabled"

const (
	selectAccount         = "SELECT " + accountCols + " FROM accounts a WHERE "
	selectAccountByNumber = selectAccount + "a.number = ?"
	selectAccountByEmail  = selectAccount + "a.email = ?"
	selectAccountByNick   = selectAccount + "a.nick_key = ?"
	selectPassword        = `SELECT password_enc FROM accounts WHERE number = ?`
	selectAccountExists   = `SELECT 1 FROM accounts WHERE number = ?`
	// selectLoginByEmail is selectAccountByEmail with the sealed password.
	selectLoginByEmail = "SELECT " + accountCols + ", a.password_enc FROM accounts a WHERE a.email = ?"
)

// scanAccount reads accountCols followed by the columns for extra.
func scanAccount(row scanner, extra ...any) (hub.Account, error) {
	var (
		a       hub.Account
		nick    sql.NullString
		created int64
	)
	dest := append([]any{&a.Number, &a.Email, &nick, &a.DisplayName, &created, &a.Disabled}, extra...)
	if err := row.Scan(dest...); err != nil {
		return hub.Account{}, err
	}
	a.Nick = nick.String
	a.CreatedAt = time.Unix(created, 0).UTC()
	return a, nil
}

func scanAccountRow(rows scanner) (hub.Account, error) { return scanAccount(rows) }

// CreateAccount adds an account with serial 0, privacy AL, prompting on add
// and the default group.
func (c *core) CreateAccount(ctx context.Context, a hub.Account, password string) (hub.Account, error) {
	a, err := newAccount(a, password)
	if err != nil {
		return hub.Account{}, err
	}
	err = c.db.write(ctx, func(t tx) error { return c.insertAccount(t, a, password) })
	if err != nil {
		return hub.Account{}, err
	}
	return a, nil
}

// insertAccount adds a checked account and its default group.
func (c *core) insertAccount(t tx, a hub.Account, password string) error {
	if err := checkTaken(t, a); err != nil {
		return err
	}
	if _, err := t.exec(`INSERT INTO accounts
		(number, email, nick, nick_key, display_name, password_enc, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.Number, a.Email, nullable(a.Nick), nullable(strings.ToLower(a.Nick)),
		a.DisplayName, c.keys.seal(a.Number, password), a.CreatedAt.Unix()); err != nil {
		return err
	}
	_, err := t.exec(`INSERT INTO groups (owner, id, name) VALUES (?, 0, ?)`, a.Number, hub.DefaultGroupName)
	return err
}

// checkTaken says which of the new account's keys is in use. Inside the
// write transaction nobody can take one between the check and the insert.
func checkTaken(t tx, a hub.Account) error {
	var (
		number uint32
		email  string
	)
	err := t.scan(`SELECT number, email FROM accounts WHERE number = ? OR email = ? OR nick_key = ? LIMIT 1`,
		[]any{a.Number, a.Email, strings.ToLower(a.Nick)}, &number, &email)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	case number == a.Number:
		return fmt.Errorf("%w: number %d", hub.ErrAccountExists, a.Number)
	case email == a.Email:
		return fmt.Errorf("%w: e-mail %s", hub.ErrAccountExists, a.Email)
	}
	return fmt.Errorf("%w: nick %s", hub.ErrAccountExists, a.Nick)
}

// nullable stores an empty string as NULL, which UNIQUE lets repeat.
func nullable(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func (c *core) Account(ctx context.Context, number uint32) (hub.Account, error) {
	return c.accountWhere(ctx, selectAccountByNumber, number)
}

func (c *core) AccountByEmail(ctx context.Context, email string) (hub.Account, error) {
	return c.accountWhere(ctx, selectAccountByEmail, strings.ToLower(email))
}

func (c *core) AccountByNick(ctx context.Context, nick string) (hub.Account, error) {
	return c.accountWhere(ctx, selectAccountByNick, strings.ToLower(nick))
}

// accountWhere returns the account query finds, or hub.ErrNotFound.
func (c *core) accountWhere(ctx context.Context, query string, arg any) (hub.Account, error) {
	a, err := scanAccount(c.db.row(ctx, query, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return hub.Account{}, hub.ErrNotFound
	}
	if err != nil {
		return hub.Account{}, fmt.Errorf("store: %w", err)
	}
	return a, nil
}

func (c *core) Accounts(ctx context.Context) ([]hub.Account, error) {
	var as []hub.Account
	err := c.db.read(ctx, func(t tx) error {
		var err error
		as, err = all(t, scanAccountRow, "SELECT "+accountCols+" FROM accounts a ORDER BY a.number")
		return err
	})
	return as, err
}

// DeleteAccount removes the account, its lists and groups, and its entries
// on other people's lists. Whoever had it on a list, and whoever had it on
// their reverse list, gets a new serial.
func (c *core) DeleteAccount(ctx context.Context, number uint32) error {
	err := c.db.write(ctx, func(t tx) error {
		if err := mustExist(t, number); err != nil {
			return err
		}
		if _, err := t.exec(`UPDATE accounts SET serial = (serial + 1) % 4294967296
			WHERE number <> ? AND number IN (
				SELECT owner FROM list_entries WHERE contact = ?
				UNION SELECT contact FROM list_entries WHERE owner = ? AND list = 'FL')`,
			number, number, number); err != nil {
			return err
		}
		if err := c.accountRemoved(t, number); err != nil {
			return err
		}
		// Foreign keys cascade to groups, list entries and group memberships.
		_, err := t.exec(`DELETE FROM accounts WHERE number = ?`, number)
		return err
	})
	if err == nil {
		c.loginChanged(number)
	}
	return err
}

func (c *core) SetPassword(ctx context.Context, number uint32, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	err := c.db.write(ctx, func(t tx) error {
		n, err := t.exec(`UPDATE accounts SET password_enc = ? WHERE number = ?`, c.keys.seal(number, password), number)
		if err == nil && n == 0 {
			return hub.ErrNotFound
		}
		return err
	})
	if err == nil {
		c.loginChanged(number)
	}
	return err
}

// AccountWithPassword reads the account and its sealed password in one
// query: half the database work of AccountByEmail and then Password.
// A record read before is taken from the login cache (loginCache).
func (c *core) AccountWithPassword(ctx context.Context, email string) (hub.Account, string, error) {
	email = strings.ToLower(email)
	cached, ok, epoch := c.logins.get(email)
	a, sealed := cached.account, cached.sealed
	if !ok {
		var err error
		a, err = scanAccount(c.db.row(ctx, selectLoginByEmail, email), &sealed)
		if errors.Is(err, sql.ErrNoRows) {
			return hub.Account{}, "", hub.ErrNotFound
		}
		if err != nil {
			return hub.Account{}, "", fmt.Errorf("store: %w", err)
		}
		c.logins.put(email, a, sealed, epoch)
	}
	password, err := c.keys.unseal(a.Number, sealed)
	if err != nil {
		return hub.Account{}, "", err
	}
	return a, password, nil
}

func (c *core) Password(ctx context.Context, number uint32) (string, error) {
	var sealed []byte
	err := c.db.row(ctx, selectPassword, number).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", hub.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	return c.keys.unseal(number, sealed)
}

func (c *core) SetDisplayName(ctx context.Context, number uint32, name string) (uint32, error) {
	if err := checkDisplayName(name); err != nil {
		return 0, err
	}
	var serial uint32
	err := c.db.write(ctx, func(t tx) error {
		if _, err := t.exec(`UPDATE accounts SET display_name = ? WHERE number = ?`, name, number); err != nil {
			return err
		}
		var err error
		serial, err = bump(t, number)
		return err
	})
	if err == nil {
		c.loginChanged(number)
	}
	return serial, err
}

// bump advances an account's list serial and returns the new value.
func bump(t tx, number uint32) (uint32, error) {
	var serial uint32
	err := t.scan(`UPDATE accounts SET serial = (serial + 1) % 4294967296 WHERE number = ? RETURNING serial`,
		[]any{number}, &serial)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, hub.ErrNotFound
	}
	return serial, err
}

// mustExist returns hub.ErrNotFound unless account number exists.
func mustExist(t tx, number uint32) error {
	ok, err := exists(t, selectAccountExists, number)
	if err == nil && !ok {
		return hub.ErrNotFound
	}
	return err
}
