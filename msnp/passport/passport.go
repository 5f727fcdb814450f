// Package passport is the Passport 1.4 sign-in that MSNP8–MSNP12 clients
// use before USR TWN S: the nexus names the login server, the login server
// checks the password in an Authorization header and answers a ticket, and
// the notification server verifies that ticket.
//
// Tickets carry their own proof (an HMAC over the account number and the
// expiry), so any node holding the same key verifies a ticket another node
// issued, and nothing is stored per sign-in.
package passport

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/setting"
)

// Tickets issues and verifies sign-in tickets.
type Tickets struct {
	// Key signs tickets; nodes that verify each other's tickets share it.
	Key []byte
	// Lifetime is how long a ticket stays valid. MSNP13+ clients present
	// it again in SOAP calls, so it spans a session rather than a login.
	Lifetime time.Duration
	// RenewalLifetime is how long the Passport.NET/tb token of a token
	// request stays good for renewing the other tickets (RenewPath).
	RenewalLifetime time.Duration
}

// DefaultTicketLifetime is a day: most clients renew nothing, and Pidgin
// renews a ticket only once a service refuses it.
const DefaultTicketLifetime = 24 * time.Hour

// DefaultRenewalLifetime is a week: a client signed in that long signs
// in again.
const DefaultRenewalLifetime = 7 * 24 * time.Hour

// Labels of the two kinds of signed token: a ticket is good for the
// services, a renewal token only for getting new tickets.
const (
	ticketLabel  = "msn passport ticket"
	renewalLabel = "msn passport renewal"
)

const macSize = 16

// Issue returns a ticket for account number in the form clients pass on
// verbatim: "t=<token>&p=<profile>".
func (t Tickets) Issue(number uint32, now time.Time) string {
	setting.Default(&t.Lifetime, DefaultTicketLifetime)
	return "t=" + t.sign(ticketLabel, number, now.Add(t.Lifetime)) + "&p="
}

// IssueRenewal returns the Passport.NET/tb token of account number, which
// renews its tickets until RenewalLifetime has passed.
func (t Tickets) IssueRenewal(number uint32, now time.Time) string {
	setting.Default(&t.RenewalLifetime, DefaultRenewalLifetime)
	return t.sign(renewalLabel, number, now.Add(t.RenewalLifetime))
}

// VerifyRenewal returns the account a renewal token was issued to.
func (t Tickets) VerifyRenewal(token string, now time.Time) (uint32, error) {
	return t.check(renewalLabel, token, now)
}

// sign writes number and expiry with their MAC under label.
func (t Tickets) sign(label string, number uint32, expiry time.Time) string {
	var raw [4 + 8 + macSize]byte
	binary.BigEndian.PutUint32(raw[0:], number)
	binary.BigEndian.PutUint64(raw[4:], uint64(expiry.Unix()))
	copy(raw[12:], t.mac(label, raw[:12]))
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// check reads what sign wrote, if it is good under label at now.
func (t Tickets) check(label, token string, now time.Time) (uint32, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 4+8+macSize || len(t.Key) == 0 {
		return 0, ErrBadTicket
	}
	if !hmac.Equal(raw[12:], t.mac(label, raw[:12])) {
		return 0, ErrBadTicket
	}
	if now.Unix() > int64(binary.BigEndian.Uint64(raw[4:])) {
		return 0, ErrBadTicket
	}
	return binary.BigEndian.Uint32(raw), nil
}

func (t Tickets) mac(label string, b []byte) []byte {
	m := hmac.New(sha256.New, t.Key)
	m.Write([]byte(label))
	m.Write(b)
	return m.Sum(nil)[:macSize]
}

// ErrBadTicket is returned for a ticket that is malformed, forged or expired.
var ErrBadTicket = errors.New("passport: bad ticket")

// Verify returns the account a ticket was issued to. It accepts the whole
// "t=…&p=…" form or the t value alone (MSPAuth, SOAP headers).
func (t Tickets) Verify(ticket string, now time.Time) (uint32, error) {
	token := ticket
	if strings.Contains(ticket, "=") {
		q, err := url.ParseQuery(ticket)
		if err != nil {
			return 0, ErrBadTicket
		}
		token = q.Get("t")
	}
	return t.check(ticketLabel, token, now)
}

// Token returns the t value of a "t=…&p=…" ticket (MSPAuth in the profile
// message).
func Token(ticket string) string {
	q, err := url.ParseQuery(ticket)
	if err != nil {
		return ""
	}
	return q.Get("t")
}
