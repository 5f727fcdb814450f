package store

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
)

// TestLoginCacheForgetsChanges: every change the store makes to what a
// login reads is seen by the next login at once, and told to
// OnLoginChange's function (for the other nodes).
func TestLoginCacheForgetsChanges(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		withAccounts(t, s, 1)
		var mu sync.Mutex
		var told []uint32
		s.OnLoginChange(func(number uint32) {
			mu.Lock()
			told = append(told, number)
			mu.Unlock()
		})
		ctx := t.Context()
		email := account(1).Email
		login := func() (hub.Account, string, error) {
			t.Helper()
			a, p, err := s.AccountWithPassword(ctx, email)
			if err == nil {
				// Twice: the second comes from the cache.
				a2, p2, err2 := s.AccountWithPassword(ctx, email)
				if a2 != a || p2 != p || err2 != nil {
					t.Fatalf("read again: %+v %q %v; first %+v %q", a2, p2, err2, a, p)
				}
			}
			return a, p, err
		}
		if _, p, err := login(); err != nil || p != "pw" {
			t.Fatalf("first login: %q, %v", p, err)
		}
		if err := s.SetPassword(ctx, 1, "new password"); err != nil {
			t.Fatal(err)
		}
		if _, p, err := login(); err != nil || p != "new password" {
			t.Fatalf("after SetPassword: %q, %v", p, err)
		}
		if _, err := s.SetDisplayName(ctx, 1, "Renamed"); err != nil {
			t.Fatal(err)
		}
		if a, _, err := login(); err != nil || a.DisplayName != "Renamed" {
			t.Fatalf("after SetDisplayName: %+v, %v", a, err)
		}
		if err := s.SetDisabled(ctx, 1, true); err != nil {
			t.Fatal(err)
		}
		if a, _, err := login(); err != nil || !a.Disabled {
			t.Fatalf("after SetDisabled: %+v, %v", a, err)
		}
		if err := s.SetAdmin(ctx, 1, true); err != nil { // no part of a login
			t.Fatal(err)
		}
		if err := s.DeleteAccount(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, _, err := login(); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("after DeleteAccount: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if want := []uint32{1, 1, 1, 1}; !slices.Equal(told, want) {
			t.Fatalf("told of changes to %v, want %v", told, want)
		}
	})
}

// TestLoginCacheKeepsWhatOthersChange: a change made behind the store's
// back (another node's, `crosstalk user passwd` on the same database) is
// seen once ForgetLogin says so, or the TTL has passed.
func TestLoginCacheKeepsWhatOthersChange(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		at := e.place(t)
		s, other := at.open(t), at.open(t)
		now := time.Now()
		s.logins.now = func() time.Time { return now }
		withAccounts(t, s, 2)
		ctx := t.Context()
		password := func(n uint32) string {
			t.Helper()
			_, p, err := s.AccountWithPassword(ctx, account(n).Email)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		for n := uint32(1); n <= 2; n++ {
			if p := password(n); p != "pw" {
				t.Fatalf("account %d: %q", n, p)
			}
			if err := other.SetPassword(ctx, n, "changed elsewhere"); err != nil {
				t.Fatal(err)
			}
			if p := password(n); p != "pw" {
				t.Fatalf("account %d, changed elsewhere, read at once: %q, want the kept one", n, p)
			}
		}
		s.ForgetLogin(1)
		if p := password(1); p != "changed elsewhere" {
			t.Fatalf("after ForgetLogin: %q", p)
		}
		now = now.Add(DefaultLoginCacheTTL - time.Millisecond)
		if p := password(2); p != "pw" {
			t.Fatalf("before the TTL: %q", p)
		}
		now = now.Add(time.Millisecond)
		if p := password(2); p != "changed elsewhere" {
			t.Fatalf("after the TTL: %q", p)
		}
	})
}

// TestLoginCacheRacingChange: a login read that began before a change and
// ends after it keeps nothing, so the change is not undone by it.
func TestLoginCacheRacingChange(t *testing.T) {
	var l loginCache
	a := hub.Account{Number: 1, Email: "a@example.com"}
	_, _, epoch := l.get(a.Email)
	l.forget(1) // the change commits while the read runs
	l.put(a.Email, a, []byte("old"), epoch)
	if _, ok, _ := l.get(a.Email); ok {
		t.Fatal("a read from before the change was kept")
	}
	_, _, epoch = l.get(a.Email)
	l.put(a.Email, a, []byte("new"), epoch)
	if c, ok, _ := l.get(a.Email); !ok || string(c.sealed) != "new" {
		t.Fatalf("a read after the change: %+v, %v", c, ok)
	}
}

// TestLoginCacheBounded: past maxCachedLogins entries, one makes room for
// the next.
func TestLoginCacheBounded(t *testing.T) {
	var l loginCache
	for n := range uint32(maxCachedLogins + 10) {
		a := account(n)
		_, _, epoch := l.get(a.Email)
		l.put(a.Email, a, nil, epoch)
	}
	if len(l.byEmail) != maxCachedLogins || len(l.emails) != maxCachedLogins {
		t.Fatalf("%d entries (%d numbers), want %d", len(l.byEmail), len(l.emails), maxCachedLogins)
	}
}

// TestLoginCacheTTL: Config.LoginCacheTTL sets how long a record is kept;
// a negative one keeps none, and every login reads the database.
func TestLoginCacheTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl, kept time.Duration
	}{{0, DefaultLoginCacheTTL}, {time.Minute, time.Minute}, {-1, 0}} {
		p := engines[0].place(t)
		cfg := p.config()
		cfg.LoginCacheTTL = tc.ttl
		st, err := Open(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s := coreOf(st)
		now := time.Now()
		s.logins.now = func() time.Time { return now }
		withAccounts(t, s, 1)
		if _, _, err := s.AccountWithPassword(t.Context(), account(1).Email); err != nil {
			t.Fatal(err)
		}
		c, ok, _ := s.logins.get(account(1).Email)
		if kept := c.expires.Sub(now); ok != (tc.kept > 0) || ok && kept != tc.kept {
			t.Errorf("TTL %v: kept %v for %v, want %v", tc.ttl, ok, kept, tc.kept)
		}
	}
}

// TestLoginCacheSweepsExpired: records are dropped once their TTL has
// passed even when no login asks for them again.
func TestLoginCacheSweepsExpired(t *testing.T) {
	now := time.Now()
	l := &loginCache{ttl: time.Hour, now: func() time.Time { return now }}
	l.put("a@example.com", hub.Account{Number: 1, Email: "a@example.com"}, []byte("sealed"), 0)
	l.put("c@example.com", hub.Account{Number: 3, Email: "c@example.com"}, []byte("sealed"), 0)
	now = now.Add(30 * time.Minute)
	l.put("b@example.com", hub.Account{Number: 2, Email: "b@example.com"}, []byte("sealed"), 0)
	l.mu.Lock()
	scheduled := l.sweep != nil
	l.mu.Unlock()
	if !scheduled {
		t.Fatal("no sweep scheduled")
	}
	now = now.Add(45 * time.Minute) // a's and c's TTL have passed, b's has not: the maps are made again
	l.sweepExpired()
	l.mu.Lock()
	_, a := l.byEmail["a@example.com"]
	_, b := l.byEmail["b@example.com"]
	_, aNumber := l.emails[1]
	_, bNumber := l.emails[2]
	l.mu.Unlock()
	if a || aNumber || !b || !bNumber || len(l.byEmail) != 1 || len(l.emails) != 1 {
		t.Fatalf("after a's TTL: a kept %v (by number %v), b kept %v (by number %v)", a, aNumber, b, bNumber)
	}
	now = now.Add(time.Hour)
	l.sweepExpired()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byEmail != nil || l.emails != nil || l.sweep != nil {
		t.Fatalf("after every TTL: %d records, %d numbers (maps kept: %v), sweep %v", len(l.byEmail), len(l.emails), l.byEmail != nil, l.sweep)
	}
}
