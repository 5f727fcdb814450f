package store

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
)

// loginCache keeps what a login reads of an account (AccountWithPassword):
// the account and its password as stored, sealed, by e-mail address. A
// client that logs in again, or a crowd of them, costs no query. Every
// change this store makes to what a login reads (password, display name,
// disabled, deletion) forgets the account once committed, and tells
// OnLoginChange's function, which tells the other nodes to ForgetLogin it
// too. Entries also expire after their TTL (Config.LoginCacheTTL), which
// bounds how long a change made behind every node's back (`crosstalk user
// passwd` on the database) goes unseen. Nothing is kept of an address with
// no account, so a new account logs in at once.
type loginCache struct {
	mu      sync.Mutex
	byEmail map[string]cachedLogin
	emails  map[uint32]string // number → key in byEmail
	// epoch counts what was forgotten: a read that raced a change keeps
	// nothing, as what it read may be from before the change.
	epoch   uint64
	changed func(number uint32)
	ttl     time.Duration    // 0: DefaultLoginCacheTTL; negative: keep none
	now     func() time.Time // time.Now; tests set their own clock
	// sweep drops expired records a TTL after the first is kept, so that
	// none outlives it by more than a TTL when no login comes to ask: a
	// crowd's records (and their sealed passwords) are not kept idle.
	sweep *time.Timer
}

type cachedLogin struct {
	account hub.Account
	sealed  []byte
	expires time.Time
}

const (
	// DefaultLoginCacheTTL is how long a login record is kept unless
	// Config says otherwise.
	DefaultLoginCacheTTL = 10 * time.Second
	// maxCachedLogins bounds the cache (about 200 bytes an entry).
	maxCachedLogins = 100_000
)

// setTTL sets how long records are kept: zero: DefaultLoginCacheTTL,
// negative: none is kept.
func (l *loginCache) setTTL(ttl time.Duration) {
	l.mu.Lock()
	l.ttl = ttl
	l.mu.Unlock()
}

// get returns the cached record of email and the epoch to hand put.
func (l *loginCache) get(email string) (cachedLogin, bool, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.byEmail[email]
	if ok && !l.clock().Before(c.expires) {
		l.dropLocked(c.account.Number)
		ok = false
	}
	return c, ok, l.epoch
}

// put keeps what a login read, unless something was forgotten since the
// read began (at epoch).
func (l *loginCache) put(email string, a hub.Account, sealed []byte, epoch uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ttl := cmp.Or(l.ttl, DefaultLoginCacheTTL)
	if l.epoch != epoch || ttl < 0 {
		return
	}
	if l.byEmail == nil {
		l.byEmail, l.emails = make(map[string]cachedLogin), make(map[uint32]string)
	}
	if len(l.byEmail) >= maxCachedLogins {
		for number := range l.emails { // a random entry makes room
			l.dropLocked(number)
			break
		}
	}
	l.dropLocked(a.Number)
	l.byEmail[email] = cachedLogin{account: a, sealed: slices.Clone(sealed), expires: l.clock().Add(ttl)}
	l.emails[a.Number] = email
	if l.sweep == nil {
		l.sweep = time.AfterFunc(ttl, l.sweepExpired)
	}
}

// sweepExpired drops the records whose TTL has passed, and comes again a
// TTL later while any are left.
func (l *loginCache) sweepExpired() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock()
	dropped := 0
	for email, c := range l.byEmail {
		if !now.Before(c.expires) {
			delete(l.byEmail, email)
			delete(l.emails, c.account.Number)
			dropped++
		}
	}
	// A map keeps the room it grew to: a crowd's logins would hold some
	// 100 bytes an entry after their records are gone. Maps that lost
	// most of their entries are made again at the size that is left.
	switch {
	case len(l.byEmail) == 0:
		l.byEmail, l.emails, l.sweep = nil, nil, nil
		return
	case dropped > len(l.byEmail):
		byEmail, emails := make(map[string]cachedLogin, len(l.byEmail)), make(map[uint32]string, len(l.byEmail))
		for email, c := range l.byEmail {
			byEmail[email], emails[c.account.Number] = c, email
		}
		l.byEmail, l.emails = byEmail, emails
	}
	l.sweep.Reset(cmp.Or(l.ttl, DefaultLoginCacheTTL))
}

// forget drops an account's record.
func (l *loginCache) forget(number uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch++
	l.dropLocked(number)
}

func (l *loginCache) dropLocked(number uint32) {
	if email, ok := l.emails[number]; ok {
		delete(l.byEmail, email)
		delete(l.emails, number)
	}
}

func (l *loginCache) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// loginChanged forgets an account after a change committed to what a
// login reads of it, and tells the other nodes (OnLoginChange).
func (c *core) loginChanged(number uint32) {
	c.logins.forget(number)
	c.logins.mu.Lock()
	changed := c.logins.changed
	c.logins.mu.Unlock()
	if changed != nil {
		changed(number)
	}
}

// OnLoginChange has changed called after every change this store commits
// to what a login reads of an account, for the other nodes to ForgetLogin
// it.
func (c *core) OnLoginChange(changed func(number uint32)) {
	c.logins.mu.Lock()
	c.logins.changed = changed
	c.logins.mu.Unlock()
}

// ForgetLogin drops what this store keeps of an account's login record,
// which another node changed.
func (c *core) ForgetLogin(number uint32) { c.logins.forget(number) }
