// Package loginguard slows password guessing to a crawl for every protocol
// at once. A server asks it, before checking a password, whether the login
// may be checked now (Guard.Begin), and tells it how the check went; it
// also counts every login in the metrics and logs failures, at a rationed
// rate, with their reason.
//
// Failures (wrong passwords and unknown accounts) are counted per remote
// address, IPv6 addresses by their /64 (one host holds a whole /64), and
// per account, by account number whatever protocol the login came through.
// After Policy.Free failures each further one makes the next login wait,
// Config.Delay at first, twice as long each time, at most Config.MaxDelay;
// at Policy.LockAfter failures the count locks for Policy.LockFor, and
// every failure after that locks again, until the count is forgotten
// (Config.Forget after its last failure or the end of its wait). A login
// that comes while its address or account waits is refused without its
// password being checked, in the protocol's usual failure terms, and does
// not count: hammering during a wait neither lengthens it nor costs a
// check. A login that may go on counts as failed from the moment it begins
// until its password proves right, so logins begun together cannot all
// slip through before the first of them fails. Waits are moments on a
// clock, not sleeps: no goroutine or timer is held for them, and one
// attacker's wait holds back nobody else.
//
// # The balance between attackers and the rightful user
//
// The address count is the strict one (by default 5 free failures, locked
// at 20 for 15 minutes): it stops one address quickly, and the rightful
// user elsewhere never notices it. The account count is looser and shorter
// (30 free, locked at 60 for 5 minutes); an address's failures stop adding
// to it once the address is locked, so no single address can make an
// account wait; and it only holds back addresses that have not logged in
// to the account successfully within Config.KnownFor (30 days). So an
// attacker spread over many addresses can keep an account closed to new
// places, 5 minutes at a time, but never to the places its owner logs in
// from. The price: during a sustained attack from many addresses, the
// owner's first login from a new place may wait until the attack stops;
// and clients behind one address (a carrier NAT, a TCP proxy that hides
// client addresses) share one address count. Successful logins clear no
// count, so an attacker holding one account cannot launder an address by
// logging in to it.
//
// With the defaults, one address gets 6 guesses at once (5 free failures
// and the one after them), 14 more over about 9 minutes, then one every 15
// minutes (4 an hour); one account, from any number of addresses, 31 at
// once, 29 more over about 24 minutes, then one every 5 minutes (12 an
// hour).
//
// Memory is bounded: each table (addresses, accounts, known places) holds
// at most Config.MaxTracked entries of fixed size (keys are hashed; at the
// default 100,000 about 4 MB for addresses and for accounts, and 2 MB for
// known places, which keep only when they are forgotten); an entry is dropped when met
// after it expired, and a full table makes room by evicting, of a few
// entries met at random, the one due to expire first, which is rarely a
// lock. Counts live in one process: with several nodes each counts the
// logins it serves, so an attacker who spreads over n nodes gets up to n
// times the guesses.
package loginguard

import (
	"context"
	"hash/maphash"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/loglimit"
	"github.com/crosstalk-im/crosstalk/internal/setting"
	"github.com/crosstalk-im/crosstalk/metrics"
)

// Policy is how many failures one address, or one account, may have.
type Policy struct {
	// Free failures cost no wait.
	Free int
	// LockAfter failures lock for LockFor.
	LockAfter int
	LockFor   time.Duration
}

// Config is the guard's settings; zero fields take the defaults below.
type Config struct {
	Address Policy // default 5, 20, 15 minutes
	Account Policy // default 30, 60, 5 minutes
	// Delay is the first wait after the free failures; each failure
	// doubles it, up to MaxDelay. Defaults 1 second and 1 minute.
	Delay, MaxDelay time.Duration
	// Forget drops a count this long after its last failure or the end of
	// its wait, whichever is later. Default 1 hour.
	Forget time.Duration
	// KnownFor is how long a successful login from an address lets that
	// address past the account's count. Default 30 days.
	KnownFor time.Duration
	// MaxTracked bounds each table's entries. Default 100,000 (about 5 MB
	// per table when full).
	MaxTracked int
	// FailureLogsPerSecond and FailureLogBurst ration the "login failed"
	// lines of all servers together, and apart from them the "login
	// locked" ones. Defaults 1 and 20.
	FailureLogsPerSecond float64
	FailureLogBurst      int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Defaults.
var (
	DefaultAddress = Policy{Free: 5, LockAfter: 20, LockFor: 15 * time.Minute}
	DefaultAccount = Policy{Free: 30, LockAfter: 60, LockFor: 5 * time.Minute}
)

const (
	DefaultDelay                = time.Second
	DefaultMaxDelay             = time.Minute
	DefaultForget               = time.Hour
	DefaultKnownFor             = 30 * 24 * time.Hour
	DefaultMaxTracked           = 100_000
	DefaultFailureLogsPerSecond = 1
	DefaultFailureLogBurst      = 20
)

func (c *Config) defaults() {
	c.Address.defaults(DefaultAddress)
	c.Account.defaults(DefaultAccount)
	setting.Default(&c.Delay, DefaultDelay)
	setting.Default(&c.MaxDelay, DefaultMaxDelay)
	setting.Default(&c.Forget, DefaultForget)
	setting.Default(&c.KnownFor, DefaultKnownFor)
	setting.Default(&c.MaxTracked, DefaultMaxTracked)
	setting.Default(&c.FailureLogsPerSecond, DefaultFailureLogsPerSecond)
	setting.Default(&c.FailureLogBurst, DefaultFailureLogBurst)
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (p *Policy) defaults(d Policy) {
	setting.Default(&p.Free, d.Free)
	setting.Default(&p.LockAfter, d.LockAfter)
	setting.Default(&p.LockFor, d.LockFor)
}

// Reason is why a login failed; it is the result label of the login metric.
type Reason string

const (
	BadPassword    Reason = "bad_password"
	UnknownAccount Reason = "unknown_account"
	// Locked: the address or the account waits after earlier failures;
	// the password was not checked.
	Locked Reason = "locked"
	// BadRequest: the login was malformed or out of order.
	BadRequest Reason = "bad_request"
	// Disabled: the password was right, but an operator disabled the
	// account; refused like a wrong password, and not counted as a guess.
	Disabled Reason = "disabled"
)

// guess reports failures that count: someone tried a password.
func (r Reason) guess() bool { return r == BadPassword || r == UnknownAccount }

// Scope says which count holds a login back.
type Scope string

const (
	ScopeAddress Scope = "address"
	ScopeAccount Scope = "account"
)

// Guard keeps the counts. It is safe for concurrent use; every server of a
// process shares one, so an address's failures add up over all protocols.
type Guard struct {
	cfg      Config
	seed     maphash.Seed
	logs     *loglimit.Limiter // failed logins
	lockLogs *loglimit.Limiter // locks, which floods of failures must not hide

	mu        sync.Mutex
	addresses failures
	accounts  failures
	known     table[knownUntil] // (account, address) pairs that logged in
}

// New makes a guard.
func New(cfg Config) *Guard {
	cfg.defaults()
	return &Guard{
		cfg:       cfg,
		seed:      maphash.MakeSeed(),
		logs:      loglimit.New(cfg.FailureLogsPerSecond, cfg.FailureLogBurst, cfg.Now),
		lockLogs:  loglimit.New(cfg.FailureLogsPerSecond, cfg.FailureLogBurst, cfg.Now),
		addresses: failures{newTable[record](cfg.MaxTracked)},
		accounts:  failures{newTable[record](cfg.MaxTracked)},
		known:     newTable[knownUntil](cfg.MaxTracked),
	}
}

// Account is the account key of an existing account: its number, which
// every protocol's logins to it share.
func Account(number uint32) string { return "#" + strconv.FormatUint(uint64(number), 10) }

// Name is the account key of a login name that names no account.
func Name(name string) string { return "@" + strings.ToLower(name) }

// Status is what the guard holds about an address and an account.
type Status struct {
	AddressFailures, AccountFailures int
	// Held is the count that holds a login back now ("" when none), for
	// Wait more; Locked says whether that is a lock rather than a delay.
	Held   Scope
	Wait   time.Duration
	Locked bool
	// Known: the address logged in to the account lately, so the
	// account's count does not hold it back.
	Known bool
}

// Status reports on logins to account (see Account and Name) from remote.
func (g *Guard) Status(remote net.Addr, account string) Status {
	k := g.keys(remote, account)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.status(k, g.cfg.Now().UnixNano())
}

type keys struct{ address, account, pair uint64 }

func (g *Guard) keys(remote net.Addr, account string) keys {
	addr := addressKey(remote)
	return keys{
		address: maphash.String(g.seed, addr),
		account: maphash.String(g.seed, account),
		pair:    maphash.String(g.seed, account+"\x00"+addr),
	}
}

// addressKey is the address as counted: the IP, an IPv6 one by its /64.
func addressKey(remote net.Addr) string {
	if remote == nil {
		return ""
	}
	ap, err := netip.ParseAddrPort(remote.String())
	if err != nil {
		return remote.Network() + " " + remote.String()
	}
	ip := ap.Addr().Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

func (g *Guard) status(k keys, now int64) Status {
	addr, _ := g.addresses.get(k.address, now)
	acct, _ := g.accounts.get(k.account, now)
	_, known := g.known.get(k.pair, now)
	s := Status{AddressFailures: int(addr.failures), AccountFailures: int(acct.failures), Known: known}
	switch {
	case now < addr.waitUntil:
		s.Held, s.Wait, s.Locked = ScopeAddress, time.Duration(addr.waitUntil-now), int(addr.failures) >= g.cfg.Address.LockAfter
	case !known && now < acct.waitUntil:
		s.Held, s.Wait, s.Locked = ScopeAccount, time.Duration(acct.waitUntil-now), int(acct.failures) >= g.cfg.Account.LockAfter
	}
	return s
}

// Attempt is one login, from Begin to Fail or Succeed.
type Attempt struct {
	g        *Guard
	protocol string
	keys     keys
	held     Status
	// What Begin counted, taken back if the password was right.
	address, account change
}

// Begin starts a login to account (see Account and Name) from remote over
// protocol (the metric's protocol label). A login that may go on is counted
// as failed at once, and taken back by Succeed: logins begun together
// cannot all slip through before the first of them fails. One that ends
// with neither Fail nor Succeed (its server broke off) stays counted.
func (g *Guard) Begin(protocol string, remote net.Addr, account string) Attempt {
	a := Attempt{g: g, protocol: protocol, keys: g.keys(remote, account)}
	now := g.cfg.Now().UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	if a.held = g.status(a.keys, now); a.held.Held != "" {
		return a
	}
	a.address = g.addresses.fail(a.keys.address, g.cfg.Address, &g.cfg, now)
	// Once its address is locked, an address's guesses are paced by that
	// lock and no longer add to the account's count: no single address can
	// push an account past Address.LockAfter.
	if a.address.failures <= g.cfg.Address.LockAfter {
		a.account = g.accounts.fail(a.keys.account, g.cfg.Account, &g.cfg, now)
	}
	return a
}

// Allowed reports whether the password may be checked. When it is not, the
// server answers as for a wrong password and calls Fail with Locked.
func (a Attempt) Allowed() bool { return a.held.Held == "" }

// Fail ends a failed login: it stays counted against its address and
// account when it was a guess (a wrong password or an unknown account), is
// counted in the login metric, and is logged with its reason unless too
// many failures were logged lately; args say whose login it was. A failure
// that locked is logged again, as a warning with its own ration.
func (a Attempt) Fail(ctx context.Context, log *slog.Logger, reason Reason, args ...any) {
	g := a.g
	switch {
	case a.held.Held != "":
		g.Report(ctx, log, a.protocol, reason, append(args[:len(args):len(args)],
			"held_by", a.held.Held, "retry_in", a.held.Wait.Round(time.Second))...)
		return
	case !reason.guess():
		a.takeBack()
	}
	g.Report(ctx, log, a.protocol, reason, args...)
	if !reason.guess() {
		return
	}
	for _, l := range []struct {
		scope Scope
		c     change
		lock  time.Duration
	}{{ScopeAddress, a.address, g.cfg.Address.LockFor}, {ScopeAccount, a.account, g.cfg.Account.LockFor}} {
		if l.c.locked {
			metrics.LoginLocks.WithLabelValues(a.protocol, string(l.scope)).Inc()
			g.lockLogs.Log(ctx, log, slog.LevelWarn, "login locked", append(args[:len(args):len(args)], "scope", l.scope, "for", l.lock)...)
		}
	}
}

// Report counts a failed login in the metric and logs it with its reason,
// rationed; servers call it for failures that come before there is an
// account to name (bad requests).
func (g *Guard) Report(ctx context.Context, log *slog.Logger, protocol string, reason Reason, args ...any) {
	metrics.Logins.WithLabelValues(protocol, string(reason)).Inc()
	g.logs.Log(ctx, log, slog.LevelInfo, "login failed", append([]any{"reason", reason}, args...)...)
}

// Succeed ends a successful login: it is counted in the metric, taken back
// from the failures Begin counted it among, and its address is remembered
// as one the account logs in from.
func (a Attempt) Succeed() {
	metrics.Logins.WithLabelValues(a.protocol, "ok").Inc()
	a.takeBack()
	g := a.g
	now := g.cfg.Now().UnixNano()
	g.mu.Lock()
	g.known.put(a.keys.pair, knownUntil(now+int64(g.cfg.KnownFor)), now)
	g.mu.Unlock()
}

// takeBack undoes what Begin counted.
func (a Attempt) takeBack() {
	g := a.g
	g.mu.Lock()
	g.addresses.undo(a.keys.address, a.address)
	g.accounts.undo(a.keys.account, a.account)
	g.mu.Unlock()
}

// record is one address's or account's entry: 24 bytes, times in Unix
// nanoseconds.
type record struct {
	failures  int32
	waitUntil int64 // no check before
	expires   int64 // forgotten at
}

func (r record) forgottenAt() int64 { return r.expires }

// knownUntil is when a known place is forgotten, in Unix nanoseconds: all
// a known place keeps, as every login keeps one.
type knownUntil int64

func (k knownUntil) forgottenAt() int64 { return int64(k) }

// entry is what a table keeps.
type entry interface{ forgottenAt() int64 }

type table[E entry] struct {
	m   map[uint64]E
	max int
}

func newTable[E entry](max int) table[E] { return table[E]{m: make(map[uint64]E), max: max} }

// get returns a live entry, dropping an expired one.
func (t *table[E]) get(key uint64, now int64) (E, bool) {
	e, ok := t.m[key]
	if ok && now >= e.forgottenAt() {
		delete(t.m, key)
		var zero E
		return zero, false
	}
	return e, ok
}

// failures is a table of failed logins, by address or by account.
type failures struct{ table[record] }

// change is what one failure did to an entry, so that it can be undone.
type change struct {
	counted   bool
	failures  int // the count after it
	locked    bool
	was, made record // the entry before and after (was is zero if new)
}

// fail counts a failure.
func (t *failures) fail(key uint64, p Policy, cfg *Config, now int64) change {
	r, _ := t.get(key, now)
	c := change{counted: true, was: r}
	r.failures++
	c.failures = int(r.failures)
	switch {
	case c.failures >= p.LockAfter:
		r.waitUntil = now + int64(p.LockFor)
		c.locked = true
	case c.failures > p.Free:
		d := cfg.Delay
		for i := p.Free + 1; i < c.failures && d < cfg.MaxDelay; i++ {
			d *= 2
		}
		r.waitUntil = now + int64(min(d, cfg.MaxDelay))
	}
	r.expires = max(r.waitUntil, now) + int64(cfg.Forget)
	c.made = r
	t.put(key, r, now)
	return c
}

// undo takes a counted failure back: the entry returns to what it was, or
// when other failures came since, loses one from its count.
func (t *failures) undo(key uint64, c change) {
	r, ok := t.m[key]
	switch {
	case !c.counted || !ok || r.failures == 0:
	case r == c.made && c.was == record{}:
		delete(t.m, key)
	case r == c.made:
		t.m[key] = c.was
	default:
		r.failures--
		t.m[key] = r
	}
}

// evictionSample is how many entries a full table looks at to make room.
const evictionSample = 8

func (t *table[E]) put(key uint64, e E, now int64) {
	if _, ok := t.m[key]; !ok && len(t.m) >= t.max {
		t.evict(now)
	}
	t.m[key] = e
}

// evict drops an expired entry or, failing that, of a few entries met at
// random (map order), the one due to expire first.
func (t *table[E]) evict(now int64) {
	var victim uint64
	var first int64
	seen := 0
	for k, e := range t.m {
		if now >= e.forgottenAt() {
			delete(t.m, k)
			return
		}
		if seen == 0 || e.forgottenAt() < first {
			victim, first = k, e.forgottenAt()
		}
		if seen++; seen == evictionSample {
			break
		}
	}
	delete(t.m, victim)
}

// Tracked returns the number of entries in the address, account and
// known-place tables.
func (g *Guard) Tracked() (addresses, accounts, known int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.addresses.m), len(g.accounts.m), len(g.known.m)
}
