package hub

import (
	"slices"
	"testing"
)

// An account's sessions come back in attach order however many it has,
// and one that is down to a single session keeps it in the slot of one.
func TestLocalSessions(t *testing.T) {
	l := newLocalSessions()
	a1 := &Session{account: Account{Number: 1}}
	a2 := &Session{account: Account{Number: 1}}
	a3 := &Session{account: Account{Number: 1}}
	b := &Session{account: Account{Number: 2}}
	for _, s := range []*Session{a1, b, a2, a3} {
		l.add(s)
	}
	check := func(number uint32, want ...*Session) {
		t.Helper()
		if got := l.appendOf(nil, number); !slices.Equal(got, want) {
			t.Errorf("account %d has %p, want %p", number, got, want)
		}
		if got := slices.Collect(l.of(number)); !slices.Equal(got, want) {
			t.Errorf("account %d yields %p, want %p", number, got, want)
		}
		if l.has(number) != (len(want) > 0) {
			t.Errorf("account %d: has says %v with %d sessions", number, l.has(number), len(want))
		}
	}
	check(1, a1, a2, a3)
	check(2, b)
	if all := l.appendAll(nil); len(all) != 4 {
		t.Errorf("all sessions: %d, want 4", len(all))
	}
	l.remove(a2)
	check(1, a1, a3)
	l.remove(a1)
	check(1, a3)
	if _, ok := l.one[1]; !ok || len(l.more) != 0 {
		t.Errorf("an account down to one session is kept in %v and %v", l.one, l.more)
	}
	l.remove(a1) // gone already: nothing changes
	check(1, a3)
	l.remove(a3)
	l.remove(b)
	check(1)
	check(2)
	if len(l.one)+len(l.more) != 0 {
		t.Errorf("nothing attached, yet %d + %d accounts kept", len(l.one), len(l.more))
	}
}
