package store

import (
	"fmt"
	"testing"

	"github.com/crosstalk-im/crosstalk/hub"
)

// benchStore holds 200 accounts; 1 has 2..51 on its forward and allow
// lists.
func benchStore(b *testing.B, e testEngine) *core {
	s := e.newStore(b)
	withAccounts(b, s, 200)
	for n := uint32(2); n <= 51; n++ {
		if _, err := s.AddToList(b.Context(), 1, n, hub.Forward, 0, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := s.AddToList(b.Context(), 1, n, hub.Allow, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	return s
}

func BenchmarkAccountByEmail(b *testing.B) {
	benchEachEngine(b, func(b *testing.B, e testEngine) {
		s := benchStore(b, e)
		i := 0
		for b.Loop() {
			i = i%200 + 1
			if a, err := s.AccountByEmail(b.Context(), fmt.Sprintf("USER%d@example.com", i)); err != nil || a.Number != uint32(i) {
				b.Fatalf("account %d: %+v, %v", i, a, err)
			}
		}
	})
}

// BenchmarkLoginQueries is what an MD5 login and its logout ask of the
// store: the account with its password, and giving back unacknowledged
// mailbox messages (none).
func BenchmarkLoginQueries(b *testing.B) {
	benchEachEngine(b, func(b *testing.B, e testEngine) {
		s := benchStore(b, e)
		i := 0
		for b.Loop() {
			i = i%200 + 1
			a, pw, err := s.AccountWithPassword(b.Context(), fmt.Sprintf("user%d@example.com", i))
			if err != nil || pw != "pw" {
				b.Fatalf("password %q, %v", pw, err)
			}
			if n, err := s.ReleaseOffline(b.Context(), a.Number, "session"); err != nil || n != 0 {
				b.Fatalf("released %d, %v", n, err)
			}
		}
	})
}

// BenchmarkAccountWithPassword is a login's read of its account, from the
// login cache (an account that logged in before) and from the database
// (the first login, or one after a change).
func BenchmarkAccountWithPassword(b *testing.B) {
	benchEachEngine(b, func(b *testing.B, e testEngine) {
		for _, cached := range []bool{true, false} {
			b.Run(map[bool]string{true: "cached", false: "database"}[cached], func(b *testing.B) {
				s := benchStore(b, e)
				i := 0
				b.ReportAllocs()
				for b.Loop() {
					i = i%200 + 1
					if !cached {
						s.ForgetLogin(uint32(i))
					}
					if _, pw, err := s.AccountWithPassword(b.Context(), fmt.Sprintf("user%d@example.com", i)); err != nil || pw != "pw" {
						b.Fatalf("password %q, %v", pw, err)
					}
				}
			})
		}
	})
}

// BenchmarkRelation is the privacy check of every message.
func BenchmarkRelation(b *testing.B) {
	benchEachEngine(b, func(b *testing.B, e testEngine) {
		s := benchStore(b, e)
		i := 0
		for b.Loop() {
			i = i%50 + 2
			if r, err := s.Relation(b.Context(), 1, uint32(i)); err != nil || !r.OnAllow {
				b.Fatalf("relation to %d: %+v, %v", i, r, err)
			}
		}
	})
}

// BenchmarkEmptyMailbox is a login's first look at a mailbox that holds
// nothing: claim what waits, count what waits.
func BenchmarkEmptyMailbox(b *testing.B) {
	benchEachEngine(b, func(b *testing.B, e testEngine) {
		s := benchStore(b, e)
		for b.Loop() {
			if ms, err := s.OfflineMessages(b.Context(), 1, "session", []string{"session"}); err != nil || len(ms) != 0 {
				b.Fatalf("%d messages, %v", len(ms), err)
			}
			if n, err := s.CountOffline(b.Context(), 1); err != nil || n != 0 {
				b.Fatalf("%d waiting, %v", n, err)
			}
		}
	})
}
