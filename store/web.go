package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crosstalk-im/crosstalk/hub"
)

// FirstNumber is the number SignUp gives the first account when none is
// asked for; later ones get the next after the highest in use.
const FirstNumber = 1001

// DefaultMinPasswordLength is the fewest characters a password set by
// `crosstalk user` may have, and the web sign-up's default.
const DefaultMinPasswordLength = 6

// CheckPasswordPolicy refuses a new password shorter than minLength
// characters, or one that is the account's e-mail address, its part
// before the @, its nick or its display name. The error never holds the
// password.
func CheckPasswordPolicy(password string, minLength int, a hub.Account) error {
	if utf8.RuneCountInString(password) < minLength {
		return fmt.Errorf("%w: the password is too short: it needs at least %d characters", hub.ErrInvalid, minLength)
	}
	local, _, _ := strings.Cut(a.Email, "@")
	for _, known := range []string{a.Email, local, a.Nick, a.DisplayName} {
		if known != "" && strings.EqualFold(password, known) {
			return fmt.Errorf("%w: the password must not be the account's e-mail address, nick or name", hub.ErrInvalid)
		}
	}
	return checkPassword(password)
}

// SignUpRules are what a sign-up must satisfy beyond a valid account.
type SignUpRules struct {
	// Invite is the SHA-256 of the invite code given; nil when none is
	// needed. One use of it is spent with the sign-up.
	Invite []byte
	// Addr names the address the sign-up came from (IPv6: its /64); with
	// MaxPerAddr > 0 at most that many sign-ups from it are allowed
	// within Window. Empty: not counted.
	Addr       string
	MaxPerAddr int
	Window     time.Duration
}

// Errors of SignUp.
var (
	ErrBadInvite   = errors.New("the invite code is unknown, used up or expired")
	ErrSignUpLimit = errors.New("too many sign-ups from this address: try again later")
)

// SignUp creates an account as CreateAccount does, giving it the next free
// number when it has none, within rules; all in one transaction, so that
// an invite's last use or an address's last sign-up cannot be taken twice.
func (c *core) SignUp(ctx context.Context, a hub.Account, password string, rules SignUpRules) (hub.Account, error) {
	assign := a.Number == 0
	if assign {
		a.Number = FirstNumber // for the checks; the transaction picks the real one
	}
	checked, err := newAccount(a, password)
	if err != nil {
		return hub.Account{}, err
	}
	now := time.Now()
	err = c.db.write(ctx, func(t tx) error {
		a := checked
		if rules.Addr != "" && rules.MaxPerAddr > 0 {
			var n int
			if err := t.scan(`SELECT COUNT(*) FROM signups WHERE addr = ? AND created_at > ?`,
				[]any{rules.Addr, now.Add(-rules.Window).Unix()}, &n); err != nil {
				return err
			}
			if n >= rules.MaxPerAddr {
				return ErrSignUpLimit
			}
		}
		if rules.Invite != nil {
			n, err := t.exec(`UPDATE invites SET uses_left = uses_left - 1
				WHERE code_hash = ? AND uses_left > 0 AND expires_at > ?`, rules.Invite, now.Unix())
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrBadInvite
			}
		}
		if assign {
			var next int64
			if err := t.scan(`SELECT COALESCE(MAX(number), 0) + 1 FROM accounts`, nil, &next); err != nil {
				return err
			}
			if next > math.MaxUint32 {
				return invalid("no account number is free above the highest")
			}
			a.Number = max(uint32(next), FirstNumber)
		}
		if err := c.insertAccount(t, a, password); err != nil {
			return err
		}
		if rules.Addr != "" {
			if _, err := t.exec(`DELETE FROM signups WHERE created_at <= ?`, now.Add(-rules.Window).Unix()); err != nil {
				return err
			}
			if _, err := t.exec(`INSERT INTO signups (addr, created_at) VALUES (?, ?)`, rules.Addr, now.Unix()); err != nil {
				return err
			}
		}
		checked = a
		return nil
	})
	if err != nil {
		return hub.Account{}, err
	}
	return checked, nil
}

// SetAdmin gives or takes an account's admin rights.
func (c *core) SetAdmin(ctx context.Context, number uint32, admin bool) error {
	return c.setFlag(ctx, number, "admin", admin)
}

// SetDisabled disables or enables an account. Disabling also ends its web
// sessions; ending its live protocol sessions is the caller's part.
func (c *core) SetDisabled(ctx context.Context, number uint32, disabled bool) error {
	return c.setFlag(ctx, number, "disabled", disabled)
}

func (c *core) setFlag(ctx context.Context, number uint32, column string, on bool) error {
	err := c.db.write(ctx, func(t tx) error {
		n, err := t.exec(`UPDATE accounts SET `+column+` = ? WHERE number = ?`, on, number)
		if err == nil && n == 0 {
			return hub.ErrNotFound
		}
		if err == nil && column == "disabled" && on {
			_, err = t.exec(`DELETE FROM web_sessions WHERE account = ?`, number)
		}
		return err
	})
	if err == nil && column == "disabled" {
		c.loginChanged(number)
	}
	return err
}

// IsAdmin reports whether an account has admin rights.
func (c *core) IsAdmin(ctx context.Context, number uint32) (bool, error) {
	var admin bool
	err := c.db.row(ctx, `SELECT admin FROM accounts WHERE number = ?`, number).Scan(&admin)
	if errors.Is(err, sql.ErrNoRows) {
		return false, hub.ErrNotFound
	}
	return admin, scanErr(err)
}

// AccountInfo is an account as the admin API shows it.
type AccountInfo struct {
	hub.Account
	Admin bool
	// Mailbox is how many offline messages wait for it.
	Mailbox int
}

// selectAccountInfo reads what scanAccountInfo scans.
const selectAccountInfo = `SELECT ` + accountCols + `, a.admin,
	(SELECT COUNT(*) FROM offline_messages m WHERE m.recipient = a.number)
	FROM accounts a`

// scanAccountInfo reads accountCols, the admin right and the mailbox size.
func scanAccountInfo(row scanner) (AccountInfo, error) {
	var ai AccountInfo
	var err error
	ai.Account, err = scanAccount(row, &ai.Admin, &ai.Mailbox)
	return ai, err
}

// AccountInfo reads one account as the admin API shows it.
func (c *core) AccountInfo(ctx context.Context, number uint32) (AccountInfo, error) {
	ai, err := scanAccountInfo(c.db.row(ctx, selectAccountInfo+` WHERE a.number = ?`, number))
	if errors.Is(err, sql.ErrNoRows) {
		return AccountInfo{}, hub.ErrNotFound
	}
	if err != nil {
		return AccountInfo{}, fmt.Errorf("store: %w", err)
	}
	return ai, nil
}

// SearchAccounts lists up to limit accounts, ordered by number, whose
// number is query or whose e-mail, nick or display name contains it
// (case-insensitive); all of them for an empty query.
func (c *core) SearchAccounts(ctx context.Context, query string, limit int) ([]AccountInfo, error) {
	pattern := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(query)) + "%"
	var number int64 = -1
	if n, err := strconv.ParseUint(query, 10, 32); err == nil {
		number = int64(n)
	}
	var out []AccountInfo
	err := c.db.read(ctx, func(t tx) error {
		var err error
		out, err = all(t, scanAccountInfo, selectAccountInfo+`
			WHERE ? = '' OR a.number = ? OR a.email LIKE ? ESCAPE '\' OR a.nick_key LIKE ? ESCAPE '\'
				OR LOWER(a.display_name) LIKE ? ESCAPE '\'
			ORDER BY a.number LIMIT ?`, query, number, pattern, pattern, pattern, limit)
		return err
	})
	return out, err
}

// Mailboxes lists the accounts with offline messages waiting and how many,
// fullest first, at most limit of them.
func (c *core) Mailboxes(ctx context.Context, limit int) ([]AccountInfo, error) {
	var out []AccountInfo
	err := c.db.read(ctx, func(t tx) error {
		var err error
		out, err = all(t, scanAccountInfo, `SELECT `+accountCols+`, a.admin, m.n
			FROM accounts a JOIN (SELECT recipient, COUNT(*) AS n FROM offline_messages GROUP BY recipient) m
				ON m.recipient = a.number
			ORDER BY m.n DESC, a.number LIMIT ?`, limit)
		return err
	})
	return out, err
}

// CreateWebSession records a sign-in whose token hashes to tokenHash,
// ending the account's oldest ones beyond keep (keep > 0). Expired
// sessions are removed on the way.
func (c *core) CreateWebSession(ctx context.Context, number uint32, tokenHash []byte, expires time.Time, keep int) error {
	now := time.Now().Unix()
	return c.db.write(ctx, func(t tx) error {
		if _, err := t.exec(`DELETE FROM web_sessions WHERE expires_at <= ?`, now); err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO web_sessions (token_hash, account, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			tokenHash, number, now, expires.Unix()); err != nil {
			return err
		}
		_, err := t.exec(`DELETE FROM web_sessions WHERE account = ? AND token_hash NOT IN (
			SELECT token_hash FROM web_sessions WHERE account = ? ORDER BY created_at DESC, expires_at DESC LIMIT ?)`,
			number, number, max(keep, 1))
		return err
	})
}

// WebSession returns the account signed in with the token that hashes to
// tokenHash; hub.ErrNotFound when there is no such session, it expired or
// the account is disabled.
func (c *core) WebSession(ctx context.Context, tokenHash []byte) (AccountInfo, error) {
	var ai AccountInfo
	var err error
	ai.Account, err = scanAccount(c.db.row(ctx, `SELECT `+accountCols+`, a.admin
		FROM web_sessions s JOIN accounts a ON a.number = s.account
		WHERE s.token_hash = ? AND s.expires_at > ? AND NOT a.disabled`, tokenHash, time.Now().Unix()), &ai.Admin)
	if errors.Is(err, sql.ErrNoRows) {
		return AccountInfo{}, hub.ErrNotFound
	}
	if err != nil {
		return AccountInfo{}, fmt.Errorf("store: %w", err)
	}
	return ai, nil
}

// DeleteWebSession ends one sign-in; an unknown one is ignored.
func (c *core) DeleteWebSession(ctx context.Context, tokenHash []byte) error {
	return c.db.write(ctx, func(t tx) error {
		_, err := t.exec(`DELETE FROM web_sessions WHERE token_hash = ?`, tokenHash)
		return err
	})
}

// DeleteWebSessions ends an account's sign-ins but the one whose token
// hashes to keep (nil: all of them), as a password change does.
func (c *core) DeleteWebSessions(ctx context.Context, number uint32, keep []byte) error {
	return c.db.write(ctx, func(t tx) error {
		_, err := t.exec(`DELETE FROM web_sessions WHERE account = ? AND token_hash <> ?`, number, append([]byte{}, keep...))
		return err
	})
}

// CreateChatToken records a chat token, by its SHA-256, minted by the web
// session whose token hashes to sessionHash; it ends with that session.
// Expired chat tokens are removed on the way.
func (c *core) CreateChatToken(ctx context.Context, tokenHash, sessionHash []byte, expires time.Time) error {
	return c.db.write(ctx, func(t tx) error {
		if _, err := t.exec(`DELETE FROM chat_tokens WHERE expires_at <= ?`, time.Now().Unix()); err != nil {
			return err
		}
		_, err := t.exec(`INSERT INTO chat_tokens (token_hash, session_hash, expires_at) VALUES (?, ?, ?)`,
			tokenHash, sessionHash, expires.Unix())
		return err
	})
}

// TakeChatToken spends a chat token: it is deleted whatever the outcome,
// and the account of its web session returned when the token had not
// expired and the session is live and its account enabled (hub.ErrNotFound
// otherwise).
func (c *core) TakeChatToken(ctx context.Context, tokenHash []byte) (AccountInfo, error) {
	var (
		session []byte
		expires int64
	)
	err := c.db.write(ctx, func(t tx) error {
		return t.scan(`DELETE FROM chat_tokens WHERE token_hash = ? RETURNING session_hash, expires_at`,
			[]any{tokenHash}, &session, &expires)
	})
	if errors.Is(err, sql.ErrNoRows) || err == nil && expires <= time.Now().Unix() {
		return AccountInfo{}, hub.ErrNotFound
	}
	if err != nil {
		return AccountInfo{}, fmt.Errorf("store: %w", err)
	}
	return c.WebSession(ctx, session)
}

// CreateInvite records an invite code, by its SHA-256, good for uses
// sign-ups until expires.
func (c *core) CreateInvite(ctx context.Context, codeHash []byte, uses int, expires time.Time) error {
	if uses <= 0 {
		return invalid("an invite needs at least one use")
	}
	return c.db.write(ctx, func(t tx) error {
		now := time.Now().Unix()
		if _, err := t.exec(`DELETE FROM invites WHERE expires_at <= ? OR uses_left = 0`, now); err != nil {
			return err
		}
		_, err := t.exec(`INSERT INTO invites (code_hash, uses_left, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			codeHash, uses, now, expires.Unix())
		return err
	})
}
