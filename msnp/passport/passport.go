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
)

// Tickets issues and verifies sign-in tickets.
type Tickets struct {
	// Key signs tickets; nodes that verify each other's tickets share it.
	Key []byte
	// Lifetime is how long a ticket stays valid. MSNP13+ clients present
	// it again in SOAP calls, so it spans a session rather than a login.
	Lifetime time.Duration
}

// DefaultTicketLifetime is a day: clients renew nothing shorter-lived
// without a path this service does not have (spec §2b).
const DefaultTicketLifetime = 24 * time.Hour

const macSize = 16

// Issue returns a ticket for account number in the form clients pass on
// verbatim: "t=<token>&p=<profile>".
func (t Tickets) Issue(number uint32, now time.Time) string {
	life := t.Lifetime
	if life <= 0 {
		life = DefaultTicketLifetime
	}
	var raw [4 + 8 + macSize]byte
	binary.BigEndian.PutUint32(raw[0:], number)
	binary.BigEndian.PutUint64(raw[4:], uint64(now.Add(life).Unix()))
	copy(raw[12:], t.mac(raw[:12]))
	return "t=" + base64.RawURLEncoding.EncodeToString(raw[:]) + "&p="
}

func (t Tickets) mac(b []byte) []byte {
	m := hmac.New(sha256.New, t.Key)
	m.Write([]byte("msn passport ticket"))
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
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 4+8+macSize || len(t.Key) == 0 {
		return 0, ErrBadTicket
	}
	if !hmac.Equal(raw[12:], t.mac(raw[:12])) {
		return 0, ErrBadTicket
	}
	if now.Unix() > int64(binary.BigEndian.Uint64(raw[4:])) {
		return 0, ErrBadTicket
	}
	return binary.BigEndian.Uint32(raw), nil
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
