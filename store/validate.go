package store

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crosstalk-im/crosstalk/hub"
)

// Field limits; e-mail and display name follow MSN's passport and friendly
// name limits.
const (
	maxEmailBytes       = 129
	maxNickChars        = 32
	maxDisplayNameBytes = 387
	maxPasswordBytes    = 128
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{hub.ErrInvalid}, args...)...)
}

// newAccount checks a new account's fields and fills in what may be left
// out: display name, creation time.
func newAccount(a hub.Account, password string) (hub.Account, error) {
	if a.Number == 0 {
		return a, invalid("account number 0")
	}
	a.Email = strings.ToLower(a.Email)
	if err := checkEmail(a.Email); err != nil {
		return a, err
	}
	if a.Nick != "" {
		if err := checkNick(a.Nick); err != nil {
			return a, err
		}
	}
	if a.DisplayName == "" {
		a.DisplayName = a.Email
	}
	if err := checkDisplayName(a.DisplayName); err != nil {
		return a, err
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now()
	}
	// The database keeps seconds; return what a later read will.
	a.CreatedAt = time.Unix(a.CreatedAt.Unix(), 0).UTC()
	return a, checkPassword(password)
}

func checkEmail(email string) error {
	if len(email) > maxEmailBytes {
		return invalid("e-mail longer than %d bytes", maxEmailBytes)
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") ||
		strings.ContainsFunc(email, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return invalid("e-mail %q is not of the form name@domain", email)
	}
	return nil
}

// checkNick allows ASCII letters, digits and ._- only. An all-digit nick
// would be mistaken for an account number where either may be typed.
func checkNick(nick string) error {
	if len(nick) > maxNickChars {
		return invalid("nick longer than %d characters", maxNickChars)
	}
	digits := true
	for _, r := range nick {
		switch {
		case r >= '0' && r <= '9':
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '.', r == '_', r == '-':
			digits = false
		default:
			return invalid("nick %q: only letters, digits, '.', '_' and '-' are allowed", nick)
		}
	}
	if digits {
		return invalid("nick %q is all digits", nick)
	}
	return nil
}

func checkDisplayName(name string) error {
	if len(name) > maxDisplayNameBytes {
		return invalid("display name longer than %d bytes", maxDisplayNameBytes)
	}
	return checkText("display name", name)
}

// checkGroupName reports a long name as ErrGroupNameTooLong, which
// frontends have a protocol error for.
func checkGroupName(name string) error {
	if len(name) > hub.MaxGroupNameBytes {
		return hub.ErrGroupNameTooLong
	}
	return checkText("group name", name)
}

// checkText rejects empty names and control characters: names go out
// into line-based protocols, not all of which escape them.
func checkText(what, s string) error {
	if s == "" {
		return invalid("empty %s", what)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return invalid("%s %q has control characters or invalid UTF-8", what, s)
	}
	return nil
}

// checkPassword never puts the password in its error.
func checkPassword(password string) error {
	if password == "" || len(password) > maxPasswordBytes {
		return invalid("password must have 1 to %d bytes", maxPasswordBytes)
	}
	return nil
}
