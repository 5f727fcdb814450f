package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/internal/loginprobe"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/metrics"
)

// testClock is the login guard's clock in these tests: it moves when told,
// so no test waits out a delay or a lock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Unix(1_700_000_000, 0)} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// startGuarded starts a node whose login guard, set up by guard, runs on a
// test clock.
func startGuarded(t *testing.T, guard loginguard.Config, log *slog.Logger) (*Node, *testClock) {
	t.Helper()
	clk := newTestClock()
	guard.Now = clk.now
	return startNodeWith(t, Options{DataDir: t.TempDir(), Logger: log, LoginGuard: guard}), clk
}

// guardTarget is one protocol's login: where, and as whom.
type guardTarget struct {
	protocol, server, account string
	number                    uint32
}

// guardTargets makes an account per protocol (so their counts stay apart)
// with the password "right".
func guardTargets(t *testing.T, n *Node) []guardTarget {
	t.Helper()
	var out []guardTarget
	for i, protocol := range loginprobe.Protocols {
		number := uint32(2001 + i)
		email := fmt.Sprintf("%s-user@example.com", protocol)
		addAccount(t, n, number, email, protocol+" user", "right")
		g := guardTarget{protocol: protocol, account: email, number: number}
		switch protocol {
		case "msnp":
			g.server = n.MSNPAddr
		case "gg":
			g.server, g.account = n.GGAddr, fmt.Sprint(number)
		case "msim":
			g.server = n.MSIMAddr
		case "imip":
			g.server, g.account = n.IMIPAddr, fmt.Sprint(number)
		case "sip":
			g.server = n.SIPAddr
		case "webchat":
			g.server = n.HTTPAddr
		}
		out = append(out, g)
	}
	return out
}

// try logs in from a loopback address and returns nil, or an error
// wrapping loginprobe.ErrRefused; anything else ends the test.
func (g guardTarget) try(t *testing.T, ctx context.Context, from, password string) error {
	t.Helper()
	err := loginprobe.Login(ctx, g.protocol, g.server, net.ParseIP(from), g.account, password)
	if err != nil && !errors.Is(err, loginprobe.ErrRefused) {
		t.Fatalf("%s login from %s: %v", g.protocol, from, err)
	}
	return err
}

func (g guardTarget) mustRefuse(t *testing.T, ctx context.Context, from, password string) {
	t.Helper()
	if err := g.try(t, ctx, from, password); err == nil {
		t.Fatalf("%s: login from %s with password %q was taken", g.protocol, from, password)
	}
}

func (g guardTarget) mustLogIn(t *testing.T, ctx context.Context, from string) {
	t.Helper()
	if err := g.try(t, ctx, from, "right"); err != nil {
		t.Fatalf("%s: the right password from %s: %v", g.protocol, from, err)
	}
}

func (g guardTarget) status(n *Node, from string) loginguard.Status {
	return n.Guard.Status(&net.TCPAddr{IP: net.ParseIP(from)}, loginguard.Account(g.number))
}

// Wrong passwords from one address are slowed, then locked, in each
// protocol's failure terms, while the right password from another address
// still logs in.
func TestGuessingFromOneAddressIsSlowedThenLocked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, clk := startGuarded(t, loginguard.Config{
		Address: loginguard.Policy{Free: 2, LockAfter: 4, LockFor: time.Hour},
		Account: loginguard.Policy{Free: 50, LockAfter: 100, LockFor: time.Hour},
		Delay:   10 * time.Second, MaxDelay: 10 * time.Second,
	}, nil)
	for i, g := range guardTargets(t, n) {
		t.Run(g.protocol, func(t *testing.T) {
			attacker, owner := fmt.Sprintf("127.0.%d.1", i+1), fmt.Sprintf("127.0.%d.2", i+1)
			locked := metrics.Logins.WithLabelValues(g.protocol, string(loginguard.Locked))
			lockedBefore := metrics.Value(locked)

			for range 3 {
				g.mustRefuse(t, ctx, attacker, "wrong")
			}
			if s := g.status(n, attacker); s.Held != loginguard.ScopeAddress || s.Locked || s.Wait != 10*time.Second {
				t.Fatalf("after 3 failures: %+v, want a 10 s wait", s)
			}
			// While it waits, even the right password is refused unchecked,
			// with a word on why where the protocol has room for one.
			err := g.try(t, ctx, attacker, "right")
			if err == nil {
				t.Fatal("the right password was taken during the wait")
			}
			if (g.protocol == "msim" || g.protocol == "imip" || g.protocol == "sip") && !strings.Contains(strings.ToLower(err.Error()), "try again later") {
				t.Errorf("held-back login answered %v, want a text saying to try later", err)
			}
			if s := g.status(n, attacker); s.AddressFailures != 3 {
				t.Fatalf("a login during the wait counted: %+v", s)
			}

			clk.advance(10 * time.Second)
			g.mustRefuse(t, ctx, attacker, "wrong")
			if s := g.status(n, attacker); s.Held != loginguard.ScopeAddress || !s.Locked {
				t.Fatalf("after 4 failures: %+v, want locked", s)
			}
			g.mustRefuse(t, ctx, attacker, "right")
			if got := metrics.Value(locked) - lockedBefore; got != 2 {
				t.Errorf("%v logins counted as locked, want 2", got)
			}

			g.mustLogIn(t, ctx, owner)

			clk.advance(time.Hour)
			g.mustLogIn(t, ctx, attacker)
		})
	}
}

// Guessing spread over many addresses locks the account for places it
// never logged in from, but not for the place its owner logs in from.
func TestGuessingFromManyAddressesSparesTheOwnersAddress(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, clk := startGuarded(t, loginguard.Config{
		Address: loginguard.Policy{Free: 10, LockAfter: 20, LockFor: time.Hour},
		Account: loginguard.Policy{Free: 2, LockAfter: 3, LockFor: 5 * time.Minute},
	}, nil)
	for i, g := range guardTargets(t, n) {
		t.Run(g.protocol, func(t *testing.T) {
			home, newPlace := fmt.Sprintf("127.1.%d.1", i), fmt.Sprintf("127.1.%d.2", i)
			g.mustLogIn(t, ctx, home)
			for a := range 3 {
				g.mustRefuse(t, ctx, fmt.Sprintf("127.2.%d.%d", i, a+1), "wrong")
			}
			if s := g.status(n, newPlace); s.Held != loginguard.ScopeAccount || !s.Locked {
				t.Fatalf("a new place: %+v, want held by the account's lock", s)
			}
			g.mustRefuse(t, ctx, newPlace, "right")
			g.mustLogIn(t, ctx, home)

			clk.advance(5 * time.Minute)
			g.mustLogIn(t, ctx, newPlace)
		})
	}
}

// Failed logins are logged with their reason, on every protocol, and no
// faster than the guard's log allowance; the next line says how many were
// left out.
func TestFailedLoginLinesAreRationedAndSayWhy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var logs testenv.LogBuffer
	n, clk := startGuarded(t, loginguard.Config{
		Address: loginguard.Policy{Free: 1, LockAfter: 50, LockFor: time.Hour},
		Delay:   time.Hour, MaxDelay: time.Hour,
		// A line for each protocol's failure and one for an unknown account.
		FailureLogsPerSecond: 1, FailureLogBurst: len(loginprobe.Protocols) + 1,
	}, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	targets := guardTargets(t, n)
	for i, g := range targets {
		g.mustRefuse(t, ctx, fmt.Sprintf("127.0.%d.1", 10+i), "wrong")
	}
	for i := range 3 {
		nobody := guardTarget{protocol: "msnp", server: n.MSNPAddr, account: fmt.Sprintf("nobody%d@example.com", i)}
		nobody.mustRefuse(t, ctx, "127.0.20.1", "wrong")
	}
	msn := targets[0]
	msn.mustRefuse(t, ctx, "127.0.10.1", "wrong") // the address now waits
	msn.mustRefuse(t, ctx, "127.0.10.1", "right") // held back
	clk.advance(time.Second)
	msn.mustRefuse(t, ctx, "127.0.10.1", "right")

	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="login failed"`) {
			lines = append(lines, l)
		}
	}
	burst := len(targets) + 1
	if len(lines) != burst+1 {
		t.Fatalf("%d login failure lines, want %d and then one after a second:\n%s", len(lines), burst, strings.Join(lines, "\n"))
	}
	for i, g := range targets {
		if !strings.Contains(lines[i], "protocol="+g.protocol) || !strings.Contains(lines[i], "reason=bad_password") {
			t.Errorf("line %d: %s, want a bad password on %s", i, lines[i], g.protocol)
		}
	}
	if unknown := lines[burst-1]; !strings.Contains(unknown, "reason=unknown_account") || !strings.Contains(unknown, "login=nobody0@example.com") {
		t.Errorf("line %d: %s, want an unknown account", burst-1, unknown)
	}
	for _, want := range []string{"protocol=msnp", "reason=locked", "held_by=address", "suppressed=4"} {
		if !strings.Contains(lines[burst], want) {
			t.Errorf("the line after the pause: %s, want %s", lines[burst], want)
		}
	}
}
