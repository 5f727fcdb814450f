package loginguard

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/metrics"
)

// clock is a test clock that moves only when told.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newGuard(cfg Config) (*Guard, *clock) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	cfg.Now = c.now
	return New(cfg), c
}

func ip(s string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(s), Port: 40000} }

var quiet = slog.New(slog.DiscardHandler)

// guess makes one login with a wrong password and reports whether its
// password was checked.
func guess(g *Guard, from net.Addr, account string) bool {
	a := g.Begin("test", from, account)
	if !a.Allowed() {
		a.Fail(context.Background(), quiet, Locked)
		return false
	}
	a.Fail(context.Background(), quiet, BadPassword)
	return true
}

func TestAddressWaitsGrowThenLock(t *testing.T) {
	g, clk := newGuard(Config{
		Address: Policy{Free: 2, LockAfter: 5, LockFor: time.Hour},
		Delay:   10 * time.Second, MaxDelay: 15 * time.Second, Forget: 2 * time.Hour,
	})
	from, acct := ip("192.0.2.1"), Account(1001)
	for i := range 2 {
		if !guess(g, from, acct) {
			t.Fatalf("free guess %d was held back", i+1)
		}
		if s := g.Status(from, acct); s.Held != "" {
			t.Fatalf("after free guess %d: %+v", i+1, s)
		}
	}
	for i, want := range []time.Duration{10 * time.Second, 15 * time.Second} { // doubled, capped
		if !guess(g, from, acct) {
			t.Fatalf("guess %d was held back", i+3)
		}
		s := g.Status(from, acct)
		if s.Held != ScopeAddress || s.Wait != want || s.Locked {
			t.Fatalf("after guess %d: %+v, want a wait of %v by address", i+3, s, want)
		}
		// Hammering during the wait is refused, and neither counts nor
		// lengthens the wait.
		for range 3 {
			if guess(g, from, acct) {
				t.Fatal("a guess during the wait was checked")
			}
		}
		if s2 := g.Status(from, acct); s2.AddressFailures != s.AddressFailures || s2.Wait != s.Wait {
			t.Fatalf("refused guesses changed the count: %+v, then %+v", s, s2)
		}
		clk.advance(want)
	}
	if !guess(g, from, acct) {
		t.Fatal("fifth guess was held back")
	}
	s := g.Status(from, acct)
	if s.Held != ScopeAddress || !s.Locked || s.Wait != time.Hour || s.AddressFailures != 5 {
		t.Fatalf("after the fifth failure: %+v, want locked by address for an hour", s)
	}
	if other := g.Status(ip("192.0.2.2"), acct); other.Held != "" {
		t.Fatalf("another address is held back: %+v", other)
	}

	clk.advance(time.Hour)
	if !guess(g, from, acct) {
		t.Fatal("the guess after the lock was held back")
	}
	if s := g.Status(from, acct); !s.Locked || s.Wait != time.Hour {
		t.Fatalf("a failure after the lock does not lock again: %+v", s)
	}

	clk.advance(time.Hour + 2*time.Hour) // the lock's end, then Forget
	if s := g.Status(from, acct); s.AddressFailures != 0 || s.Held != "" {
		t.Fatalf("the count is not forgotten: %+v", s)
	}
}

func TestAccountHoldsBackNewPlacesOnly(t *testing.T) {
	g, clk := newGuard(Config{
		Address: Policy{Free: 100, LockAfter: 200, LockFor: time.Hour},
		Account: Policy{Free: 3, LockAfter: 4, LockFor: 5 * time.Minute},
	})
	acct := Account(1001)
	home := ip("198.51.100.7")
	g.Begin("test", home, acct).Succeed()

	for i := range 4 {
		if !guess(g, ip(fmt.Sprintf("203.0.113.%d", i+1)), acct) {
			t.Fatalf("guess %d was held back", i+1)
		}
	}
	fresh := ip("203.0.113.99")
	if s := g.Status(fresh, acct); s.Held != ScopeAccount || !s.Locked || s.Wait != 5*time.Minute {
		t.Fatalf("a new address: %+v, want held by the account's lock", s)
	}
	if g.Begin("test", fresh, acct).Allowed() {
		t.Fatal("a new address may log in to a locked account")
	}
	if s := g.Status(home, acct); s.Held != "" || !s.Known {
		t.Fatalf("the owner's address: %+v, want known and not held", s)
	}
	if !g.Begin("test", home, acct).Allowed() {
		t.Fatal("the owner's address is held back")
	}
	if s := g.Status(fresh, Account(1002)); s.Held != "" {
		t.Fatalf("another account is held back: %+v", s)
	}
	clk.advance(5 * time.Minute)
	if !g.Begin("test", fresh, acct).Allowed() {
		t.Fatal("the account's lock outlasts LockFor")
	}
}

// With the defaults, one address hammering an account for hours never
// holds the account back for anyone else.
func TestDefaultsOneAddressNeverLocksTheAccount(t *testing.T) {
	g, clk := newGuard(Config{})
	attacker, owner, acct := ip("192.0.2.66"), ip("192.0.2.77"), Account(1001)
	checked := 0
	for range 24 * 60 { // a day, a try every minute plus whatever the waits add
		if guess(g, attacker, acct) {
			checked++
		}
		if s := g.Status(owner, acct); s.Held != "" {
			t.Fatalf("after %d checked guesses the owner's new address is held: %+v", checked, s)
		}
		if s := g.Status(attacker, acct); s.Held != "" {
			clk.advance(s.Wait)
		} else {
			clk.advance(time.Minute)
		}
	}
	if checked < DefaultAddress.LockAfter {
		t.Fatalf("only %d guesses checked", checked)
	}
}

func TestIPv6CountsBySlash64AndMappedIPv4AsIPv4(t *testing.T) {
	g, _ := newGuard(Config{Address: Policy{Free: 1, LockAfter: 2, LockFor: time.Hour}})
	acct := Account(1)
	guess(g, ip("2001:db8:1:2::1"), acct)
	guess(g, ip("2001:db8:1:2:ffff::9"), acct)
	if s := g.Status(ip("2001:db8:1:2::abcd"), acct); !s.Locked || s.Held != ScopeAddress {
		t.Fatalf("same /64: %+v, want locked", s)
	}
	if s := g.Status(ip("2001:db8:1:3::1"), acct); s.Held != "" {
		t.Fatalf("another /64: %+v", s)
	}
	guess(g, ip("192.0.2.5"), acct)
	if s := g.Status(ip("::ffff:192.0.2.5"), acct); s.AddressFailures != 1 {
		t.Fatalf("IPv4-mapped address counted apart: %+v", s)
	}
}

func TestTablesStayBoundedAndKeepLocks(t *testing.T) {
	const max = 50
	g, _ := newGuard(Config{
		MaxTracked: max,
		Address:    Policy{Free: 1, LockAfter: 2, LockFor: time.Hour},
		Account:    Policy{Free: 1, LockAfter: 2, LockFor: time.Hour},
	})
	target := Account(1001)
	guess(g, ip("192.0.2.1"), target)
	guess(g, ip("192.0.2.2"), target)
	if s := g.Status(ip("192.0.2.3"), target); !s.Locked || s.Held != ScopeAccount {
		t.Fatalf("target not locked: %+v", s)
	}
	// Rotating addresses and names.
	for i := range 5000 {
		from := ip(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		guess(g, from, Name(fmt.Sprintf("nobody%d@example.com", i)))
		g.Begin("test", from, Name(fmt.Sprintf("nobody%d@example.com", i))).Succeed()
	}
	a, b, c := g.Tracked()
	if a > max || b > max || c > max {
		t.Fatalf("tables hold %d, %d, %d entries; the cap is %d", a, b, c, max)
	}
	if s := g.Status(ip("192.0.2.3"), target); !s.Locked {
		t.Fatalf("churn evicted the target's lock: %+v", s)
	}
}

// A lock is logged even when a flood of failures has spent the failure
// lines' allowance.
func TestLocksAreLoggedPastTheFailureFlood(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	g, _ := newGuard(Config{
		Address:              Policy{Free: 10, LockAfter: 5, LockFor: time.Hour},
		FailureLogsPerSecond: 1e-9, FailureLogBurst: 1,
	})
	from := ip("192.0.2.9")
	for range 5 {
		g.Begin("test", from, Account(7)).Fail(context.Background(), log, BadPassword, "account", 7)
	}
	out := buf.String()
	if n := strings.Count(out, `msg="login failed"`); n != 1 {
		t.Fatalf("%d failure lines, want the one allowed:\n%s", n, out)
	}
	if !strings.Contains(out, `level=WARN msg="login locked" account=7 scope=address for=1h0m0s`) {
		t.Fatalf("no lock line:\n%s", out)
	}
}

// Logins begun together count at once: no more of them get their password
// checked than one address's free failures and the one after.
func TestLoginsBegunTogetherCannotSlipThrough(t *testing.T) {
	g, _ := newGuard(Config{Address: Policy{Free: 2, LockAfter: 10, LockFor: time.Hour}, Delay: time.Hour})
	from := ip("192.0.2.40")
	var begun []Attempt
	allowed := 0
	for range 10 {
		a := g.Begin("test", from, Account(40))
		begun = append(begun, a)
		if a.Allowed() {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("%d of 10 logins begun together may be checked, want 3", allowed)
	}
	for _, a := range begun {
		reason := BadPassword
		if !a.Allowed() {
			reason = Locked
		}
		a.Fail(context.Background(), quiet, reason)
	}
	if s := g.Status(from, Account(40)); s.AddressFailures != 3 || s.Held != ScopeAddress {
		t.Fatalf("after them: %+v", s)
	}
}

// A right password takes back what Begin counted, the lock it would have
// set included.
func TestSuccessTakesItsCountBack(t *testing.T) {
	g, clk := newGuard(Config{Address: Policy{Free: 1, LockAfter: 3, LockFor: time.Hour}, Delay: time.Second})
	from, acct := ip("192.0.2.41"), Account(41)
	guess(g, from, acct)
	guess(g, from, acct)
	clk.advance(time.Second)
	locks := metrics.Value(metrics.LoginLocks.WithLabelValues("test", string(ScopeAddress)))
	a := g.Begin("test", from, acct)
	if s := g.Status(from, acct); !a.Allowed() || !s.Locked {
		t.Fatalf("the third login, begun: allowed %v, %+v; want allowed and counted to the lock", a.Allowed(), s)
	}
	a.Succeed()
	if s := g.Status(from, acct); s.AddressFailures != 2 || s.AccountFailures != 2 || s.Held != "" {
		t.Fatalf("after it succeeded: %+v, want the two failures before it and no wait", s)
	}
	if got := metrics.Value(metrics.LoginLocks.WithLabelValues("test", string(ScopeAddress))); got != locks {
		t.Fatalf("a lock was counted for a login that succeeded")
	}
}

// A place is known for KnownFor after a login from it, then forgotten.
func TestKnownPlaceIsForgotten(t *testing.T) {
	g, clk := newGuard(Config{KnownFor: time.Hour})
	home, acct := ip("198.51.100.7"), Account(1001)
	g.Begin("test", home, acct).Succeed()
	clk.advance(time.Hour - time.Nanosecond)
	if !g.Status(home, acct).Known {
		t.Fatal("the place is forgotten before KnownFor")
	}
	clk.advance(time.Nanosecond)
	if g.Status(home, acct).Known {
		t.Fatal("the place is known past KnownFor")
	}
	if _, _, known := g.Tracked(); known != 0 {
		t.Errorf("%d known places kept after they were forgotten", known)
	}
}
