package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crosstalk-im/crosstalk/hub"
)

func TestOfflineMessages(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ctx := context.Background()
		s := e.newStore(t)
		for _, a := range []hub.Account{{Number: 1, Email: "a@example.com"}, {Number: 2, Email: "b@example.com"}} {
			if _, err := s.CreateAccount(ctx, a, "pw"); err != nil {
				t.Fatal(err)
			}
		}
		sent := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
		texts := []string{"Zażółć gęślą jaźń", "second", "third"}
		runs := []hub.Run{{Text: "sec"}, {Text: "ond", Format: hub.Format{Italic: true}}}
		for i, text := range texts {
			msg := hub.Message{Text: text, Sent: sent.Add(time.Duration(i) * time.Second)}
			switch i {
			case 0:
				msg.Format = &hub.Format{Bold: true, Color: "FF0000"}
			case 1:
				msg.Runs = runs
			}
			if _, err := s.QueueOffline(ctx, 2, 1, msg, hub.MailboxLimits{Total: 3}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.QueueOffline(ctx, 2, 1, hub.Message{Text: "one too many"}, hub.MailboxLimits{Total: 3}); !errors.Is(err, hub.ErrListFull) {
			t.Fatalf("fourth message with a limit of 3: %v", err)
		}
		if _, err := s.QueueOffline(ctx, 2, 99, hub.Message{Text: "x"}, hub.MailboxLimits{Total: 3}); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("unknown sender: %v", err)
		}
		got, err := s.OfflineMessages(ctx, 2, "first", []string{"first"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("%d messages", len(got))
		}
		for i, m := range got {
			if m.Text != texts[i] || m.From.Email != "a@example.com" || !m.Sent.Equal(sent.Add(time.Duration(i)*time.Second)) || m.Offline != m.ID {
				t.Errorf("message %d = %+v", i, m)
			}
		}
		if got[0].Format == nil || !got[0].Format.Bold || got[0].Format.Color != "FF0000" {
			t.Errorf("format lost: %+v", got[0].Format)
		}
		if len(got[1].Runs) != 2 || got[1].Runs[0] != runs[0] || got[1].Runs[1] != runs[1] {
			t.Errorf("runs lost: %+v", got[1].Runs)
		}
		if err := s.DeleteOffline(ctx, 1, got[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteOffline(ctx, 2, got[0].ID, got[1].ID); err != nil {
			t.Fatal(err)
		}
		if again, _ := s.OfflineMessages(ctx, 2, "first", []string{"first"}); len(again) != 0 {
			t.Fatalf("the same session read again what it holds: %+v", again)
		}
		// A second live session gets nothing the first holds; a session that
		// no longer exists holds nothing.
		if other, _ := s.OfflineMessages(ctx, 2, "second", []string{"first", "second"}); len(other) != 0 {
			t.Fatalf("a second session took what the first holds: %+v", other)
		}
		left, _ := s.OfflineMessages(ctx, 2, "third", []string{"third"})
		if len(left) != 1 || left[0].Text != "third" {
			t.Fatalf("after delete: %+v (another recipient's delete must not touch them)", left)
		}
		if n, err := s.ReleaseOffline(ctx, 2, "third"); err != nil || n != 1 {
			t.Fatalf("release: %d %v", n, err)
		}
		if again, _ := s.OfflineMessages(ctx, 2, "fourth", []string{"first", "fourth"}); len(again) != 1 || again[0].Text != "third" {
			t.Fatalf("after release: %+v", again)
		}
	})
}

// TestReadOffline: messages read by id, or all of them, whoever holds
// them, without claiming them; another recipient's ids read nothing.
func TestReadOffline(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ctx := context.Background()
		s := e.newStore(t)
		for _, a := range []hub.Account{{Number: 1, Email: "a@example.com", DisplayName: "A"}, {Number: 2, Email: "b@example.com"}} {
			if _, err := s.CreateAccount(ctx, a, "pw"); err != nil {
				t.Fatal(err)
			}
		}
		var ids []int64
		for _, text := range []string{"one", "two", "three"} {
			id, err := s.QueueOffline(ctx, 2, 1, hub.Message{Text: text, Sent: time.Now()}, hub.MailboxLimits{})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		held, err := s.OfflineMessages(ctx, 2, "s1", []string{"s1"})
		if err != nil || len(held) != 3 {
			t.Fatalf("claim: %d %v", len(held), err)
		}
		every, err := s.ReadOffline(ctx, 2)
		if err != nil || len(every) != 3 || every[0].Text != "one" || every[2].Text != "three" || every[0].From.Email != "a@example.com" || every[0].From.DisplayName != "A" {
			t.Fatalf("read all: %+v %v", every, err)
		}
		two, err := s.ReadOffline(ctx, 2, ids[2], ids[1], 12345)
		if err != nil || len(two) != 2 || two[0].ID != ids[1] || two[1].Text != "three" {
			t.Fatalf("read by id: %+v %v", two, err)
		}
		if other, err := s.ReadOffline(ctx, 1, ids...); err != nil || len(other) != 0 {
			t.Fatalf("another recipient read %+v %v", other, err)
		}
		if n, err := s.ReleaseOffline(ctx, 2, "s1"); err != nil || n != 3 {
			t.Fatalf("reading claimed something: released %d %v", n, err)
		}
	})
}

// storeWithAccounts is a new store of engine e holding accounts 1 to n.
func storeWithAccounts(t *testing.T, e testEngine, n uint32) *core {
	t.Helper()
	s := e.newStore(t)
	for number := uint32(1); number <= n; number++ {
		if _, err := s.CreateAccount(context.Background(), hub.Account{Number: number, Email: fmt.Sprintf("u%d@example.com", number)}, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestMailboxShares(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ctx := context.Background()
		s := storeWithAccounts(t, e, 3)
		limits := hub.MailboxLimits{Total: 5, PerSender: 3}
		for i := range 3 {
			if _, err := s.QueueOffline(ctx, 1, 2, hub.Message{Text: fmt.Sprint(i)}, limits); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.QueueOffline(ctx, 1, 2, hub.Message{Text: "over the share"}, limits); !errors.Is(err, hub.ErrListFull) {
			t.Fatalf("a sender past its share: %v", err)
		}
		for i := range 2 {
			if _, err := s.QueueOffline(ctx, 1, 3, hub.Message{Text: fmt.Sprint(i)}, limits); err != nil {
				t.Fatalf("another sender within the total: %v", err)
			}
		}
		if _, err := s.QueueOffline(ctx, 1, 3, hub.Message{Text: "over the total"}, limits); !errors.Is(err, hub.ErrListFull) {
			t.Fatalf("past the total: %v", err)
		}
	})
}

// A batch keeps each message within the limits as QueueOffline would,
// refusing only those past them or for an account that is gone.
func TestQueueOfflineBatch(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ctx := context.Background()
		s := storeWithAccounts(t, e, 3)
		limits := hub.MailboxLimits{Total: 3}
		msgs := []hub.QueuedMessage{
			{To: 1, From: 2, Message: hub.Message{Text: "one"}},
			{To: 1, From: 3, Message: hub.Message{Text: "two"}},
			{To: 9, From: 2, Message: hub.Message{Text: "to no one"}},
			{To: 1, From: 2, Message: hub.Message{Text: "three"}},
			{To: 1, From: 3, Message: hub.Message{Text: "past the total"}},
			{To: 2, From: 1, Message: hub.Message{Text: "another mailbox"}},
		}
		refused, err := s.QueueOfflineBatch(ctx, msgs, limits)
		if err != nil {
			t.Fatal(err)
		}
		want := []error{nil, nil, hub.ErrNotFound, nil, hub.ErrListFull, nil}
		for i := range want {
			if !errors.Is(refused[i], want[i]) || (want[i] == nil) != (refused[i] == nil) {
				t.Errorf("message %q: %v, want %v", msgs[i].Message.Text, refused[i], want[i])
			}
		}
		for to, texts := range map[uint32][]string{1: {"one", "two", "three"}, 2: {"another mailbox"}} {
			kept, err := s.ReadOffline(ctx, to)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range kept {
				got = append(got, m.Text)
			}
			if !slices.Equal(got, texts) {
				t.Errorf("mailbox %d holds %q, want %q", to, got, texts)
			}
		}
	})
}

func TestContactFile(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ctx := context.Background()
		s := e.newStore(t)
		if _, err := s.CreateAccount(ctx, hub.Account{Number: 1, Email: "a@example.com"}, "pw"); err != nil {
			t.Fatal(err)
		}
		data, v, err := s.ContactFile(ctx, 1, "gg100")
		if err != nil || v != 0 || len(data) != 0 {
			t.Fatalf("empty: %q %d %v", data, v, err)
		}
		for want := uint32(1); want <= 2; want++ {
			v, err := s.SaveContactFile(ctx, 1, "gg100", []byte{byte(want), 0, 0xff})
			if err != nil || v != want {
				t.Fatalf("save: %d %v", v, err)
			}
		}
		data, v, err = s.ContactFile(ctx, 1, "gg100")
		if err != nil || v != 2 || string(data) != "\x02\x00\xff" {
			t.Fatalf("read back: %q %d %v", data, v, err)
		}
		if _, err := s.SaveContactFile(ctx, 1, "gg100", make([]byte, maxContactFile+1)); !errors.Is(err, hub.ErrInvalid) {
			t.Fatalf("oversize: %v", err)
		}
	})
}

func TestRelation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ctx := context.Background()
		s := e.newStore(t)
		for _, a := range []hub.Account{{Number: 1, Email: "a@example.com"}, {Number: 2, Email: "b@example.com"}, {Number: 3, Email: "c@example.com"}} {
			if _, err := s.CreateAccount(ctx, a, "pw"); err != nil {
				t.Fatal(err)
			}
		}
		s.AddToList(ctx, 1, 2, hub.Forward, 0, 0)
		s.AddToList(ctx, 1, 2, hub.Allow, -1, 0)
		s.AddToList(ctx, 1, 3, hub.Block, -1, 0)
		s.SetPrivacy(ctx, 1, hub.BlockUnlisted)
		for _, tc := range []struct {
			contact uint32
			want    hub.Relation
			allows  bool
		}{
			{2, hub.Relation{Privacy: hub.BlockUnlisted, OnForward: true, OnAllow: true}, true},
			{3, hub.Relation{Privacy: hub.BlockUnlisted, OnBlock: true}, false},
			{99, hub.Relation{Privacy: hub.BlockUnlisted}, false},
		} {
			r, err := s.Relation(ctx, 1, tc.contact)
			if err != nil || r != tc.want || r.Allows() != tc.allows {
				t.Errorf("relation to %d = %+v (allows %v), %v", tc.contact, r, r.Allows(), err)
			}
			roster, _ := s.Roster(ctx, 1)
			if roster.Allows(tc.contact) != r.Allows() {
				t.Errorf("Relation and Roster disagree about %d", tc.contact)
			}
		}
		if _, err := s.Relation(ctx, 42, 1); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("unknown owner: %v", err)
		}
	})
}

// A login's look at an empty mailbox, and the end of a session that holds
// no claims, take no write lock: they go on while a writer holds it.
func TestMailboxLookNeedsNoWriteLock(t *testing.T) {
	forEachEngine(t, testMailboxLookNeedsNoWriteLock)
}

func testMailboxLookNeedsNoWriteLock(t *testing.T, e testEngine) {
	s := e.newStore(t)
	withAccounts(t, s, 2)
	if _, err := s.QueueOffline(t.Context(), 2, 1, hub.Message{Text: "hi"}, hub.MailboxLimits{}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.OfflineMessages(t.Context(), 2, "first", []string{"first"}); err != nil || len(got) != 1 {
		t.Fatalf("claim: %+v, %v", got, err)
	}
	defer holdWrites(t, s)()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	for _, look := range []struct {
		to      uint32
		session string
		live    []string
	}{
		{1, "other", []string{"other"}},
		{1, "other", nil},
		{2, "first", []string{"first"}}, // holds the only message
	} {
		if got, err := s.OfflineMessages(ctx, look.to, look.session, look.live); err != nil || len(got) != 0 {
			t.Errorf("mailbox of %d for %s (live %v): %+v, %v", look.to, look.session, look.live, got, err)
		}
	}
	for _, to := range []uint32{1, 2} {
		if n, err := s.ReleaseOffline(ctx, to, "other"); err != nil || n != 0 {
			t.Errorf("release by a session of %d without claims: %d, %v", to, n, err)
		}
	}
	if n, err := s.CountOffline(ctx, 2); err != nil || n != 1 {
		t.Errorf("count: %d, %v", n, err)
	}
}

// holdWrites keeps the mailbox from being written until the function it
// returns is called: SQLite's write lock, or a PostgreSQL lock that lets
// plain reads through.
func holdWrites(t *testing.T, s *core) (release func()) {
	t.Helper()
	switch db := s.db.(type) {
	case *SQLite:
		busy, err := db.w.db.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return func() { busy.Rollback() }
	case *Postgres:
		// Connections prepare the hot statements, writes among them, as
		// they connect, which waits for the lock; have them connected.
		var conns []*pgxpool.Conn
		for range 3 {
			c, err := db.pool.Acquire(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Release()
		}
		busy, err := db.pool.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := busy.Exec(t.Context(), `LOCK TABLE offline_messages IN EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
		return func() { busy.Rollback(context.Background()) }
	}
	panic("unknown engine")
}

// Sessions of one account looking at its mailbox at once claim each
// message once between them.
func TestConcurrentClaims(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		withAccounts(t, s, 2)
		const messages, sessions = 30, 6
		for i := range messages {
			if _, err := s.QueueOffline(t.Context(), 2, 1, hub.Message{Text: fmt.Sprint(i)}, hub.MailboxLimits{}); err != nil {
				t.Fatal(err)
			}
		}
		var live []string
		for i := range sessions {
			live = append(live, fmt.Sprint("session ", i))
		}
		claimed := make([][]hub.OfflineMessage, sessions)
		var wg sync.WaitGroup
		for i := range sessions {
			wg.Go(func() {
				var err error
				if claimed[i], err = s.OfflineMessages(t.Context(), 2, live[i], live); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		seen := map[int64]int{}
		for _, ms := range claimed {
			for _, m := range ms {
				seen[m.ID]++
			}
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("message %d claimed %d times", id, n)
			}
		}
		if len(seen) != messages {
			t.Errorf("%d of %d messages claimed", len(seen), messages)
		}
	})
}

// A session that is not among the live ones gets back what it claimed.
func TestClaimsOfASessionNotLive(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		withAccounts(t, s, 2)
		if _, err := s.QueueOffline(t.Context(), 2, 1, hub.Message{Text: "hi"}, hub.MailboxLimits{}); err != nil {
			t.Fatal(err)
		}
		for _, live := range [][]string{{"first"}, {"other"}, nil} {
			if got, err := s.OfflineMessages(t.Context(), 2, "first", live); err != nil || len(got) != 1 {
				t.Fatalf("live %v: %+v, %v", live, got, err)
			}
			if got, _ := s.OfflineMessages(t.Context(), 2, "first", []string{"first"}); len(got) != 0 {
				t.Fatalf("claimed again by a live session: %+v", got)
			}
		}
	})
}

func TestProfile(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ctx := context.Background()
		s := e.newStore(t)
		if _, err := s.CreateAccount(ctx, hub.Account{Number: 1, Email: "a@example.com"}, "pw"); err != nil {
			t.Fatal(err)
		}
		if p, err := s.Profile(ctx, 1); err != nil || p.PictureVersion != 0 || p.Picture != nil || !p.Changed.IsZero() {
			t.Fatalf("none kept: %+v %v", p, err)
		}
		if _, err := s.Profile(ctx, 2); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("unknown account: %v", err)
		}
		if err := s.SetPersonalMessage(ctx, 1, "at lunch ☕"); err != nil {
			t.Fatal(err)
		}
		picture := []byte("\x89PNG\r\n\x1a\n\x00\xff")
		for want := uint32(1); want <= 2; want++ {
			if v, err := s.SetPicture(ctx, 1, "image/png", picture); err != nil || v != want {
				t.Fatalf("picture: %d %v", v, err)
			}
		}
		p, err := s.Profile(ctx, 1)
		if err != nil || p.PersonalMessage != "at lunch ☕" || string(p.Picture) != string(picture) ||
			p.PictureType != "image/png" || p.PictureVersion != 2 || p.Changed.IsZero() {
			t.Fatalf("read back: %+v %v", p, err)
		}
		// The message survives a new picture and the picture a new message.
		if err := s.SetPersonalMessage(ctx, 1, ""); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.Profile(ctx, 1); p.PersonalMessage != "" || p.PictureVersion != 2 {
			t.Fatalf("message cleared: %+v", p)
		}
		if v, err := s.SetPicture(ctx, 1, "image/png", nil); err != nil || v != 3 {
			t.Fatalf("remove picture: %d %v", v, err)
		}
		if p, _ := s.Profile(ctx, 1); p.Picture != nil || p.PictureType != "" || p.PictureVersion != 3 {
			t.Fatalf("removed: %+v", p)
		}
		if _, err := s.SetPicture(ctx, 1, "image/png", make([]byte, maxPicture+1)); !errors.Is(err, hub.ErrInvalid) {
			t.Fatalf("oversize picture: %v", err)
		}
		if err := s.SetPersonalMessage(ctx, 1, strings.Repeat("x", maxPersonalMessage+1)); !errors.Is(err, hub.ErrInvalid) {
			t.Fatalf("oversize message: %v", err)
		}
		if err := s.SetPersonalMessage(ctx, 2, "x"); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("unknown account: %v", err)
		}
		if err := s.DeleteAccount(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if n := sqlInt(t, s, `SELECT COUNT(*) FROM profiles`); n != 0 {
			t.Fatalf("%d profiles outlive their account", n)
		}
	})
}
