package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
)

func ticket(id string, sender, recipient uint32, size int64, expires time.Time) drive.Ticket {
	return drive.Ticket{ID: id, Sender: sender, Recipient: recipient, FileName: "f.txt", FileSize: size,
		Created: expires.Add(-time.Hour), Expires: expires}
}

func TestTickets(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		withAccounts(t, s, 3)
		ctx := context.Background()
		now := time.Now().UTC()

		if err := s.CreateTicket(ctx, ticket("t1", 1, 2, 10, now.Add(time.Hour)), 0); err != nil {
			t.Fatal(err)
		}
		got, err := s.Ticket(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		want := ticket("t1", 1, 2, 10, now.Add(time.Hour))
		want.Ack, want.Status = drive.AckUnknown, drive.StatusInProgress
		if !got.Created.Equal(want.Created) || !got.Expires.Equal(want.Expires) {
			t.Fatalf("times %v %v, want %v %v", got.Created, got.Expires, want.Created, want.Expires)
		}
		got.Created, got.Expires, want.Created, want.Expires = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}

		if err := s.CreateTicket(ctx, ticket("t1", 1, 2, 10, now), 0); !errors.Is(err, hub.ErrInvalid) {
			t.Fatalf("duplicate id: %v", err)
		}
		if err := s.CreateTicket(ctx, ticket("t9", 1, 99, 10, now), 0); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("unknown recipient: %v", err)
		}
		if err := s.CreateTicket(ctx, ticket("t9", 1, 2, -1, now), 0); !errors.Is(err, hub.ErrInvalid) {
			t.Fatalf("negative size: %v", err)
		}
		if _, err := s.Ticket(ctx, "nope"); !errors.Is(err, drive.ErrNoTicket) || !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("missing ticket: %v", err)
		}

		// Quota: t1 holds 10 of 25 bytes.
		if err := s.CreateTicket(ctx, ticket("t2", 1, 2, 16, now), 25); !errors.Is(err, drive.ErrQuota) {
			t.Fatalf("over quota: %v", err)
		}
		if err := s.CreateTicket(ctx, ticket("t2", 1, 2, 15, now), 25); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateTicket(ctx, ticket("t3", 2, 1, 25, now), 25); err != nil {
			t.Fatalf("another sender's quota: %v", err)
		}

		// Updates: only the mutable fields change; errors roll back.
		upd, err := s.UpdateTicket(ctx, "t1", func(tk *drive.Ticket) error {
			tk.Ack, tk.Status, tk.Progress, tk.SHA256 = drive.AckAllowed, drive.StatusCompleted, 10, "abc"
			tk.FileName, tk.Sender = "evil", 3
			return nil
		})
		if err != nil || upd.Ack != drive.AckAllowed || upd.FileName != "f.txt" || upd.Sender != 1 {
			t.Fatalf("update: %+v, %v", upd, err)
		}
		boom := errors.New("boom")
		if _, err := s.UpdateTicket(ctx, "t1", func(tk *drive.Ticket) error { tk.Progress = 0; return boom }); !errors.Is(err, boom) {
			t.Fatalf("failed update: %v", err)
		}
		if _, err := s.UpdateTicket(ctx, "t1", func(tk *drive.Ticket) error { tk.Progress = 11; return nil }); !errors.Is(err, hub.ErrInvalid) {
			t.Fatalf("progress beyond size: %v", err)
		}
		if _, err := s.UpdateTicket(ctx, "t1", func(tk *drive.Ticket) error { tk.Ack = "maybe"; return nil }); !errors.Is(err, hub.ErrInvalid) {
			t.Fatalf("bad ack: %v", err)
		}
		if _, err := s.UpdateTicket(ctx, "nope", func(*drive.Ticket) error { return nil }); !errors.Is(err, drive.ErrNoTicket) {
			t.Fatalf("update missing: %v", err)
		}
		got, _ = s.Ticket(ctx, "t1")
		if got.Progress != 10 || got.SHA256 != "abc" || got.Status != drive.StatusCompleted || got.FileName != "f.txt" {
			t.Fatalf("after updates %+v", got)
		}

		// A rejected ticket no longer counts against the quota.
		if _, err := s.UpdateTicket(ctx, "t2", func(tk *drive.Ticket) error { tk.Ack = drive.AckRejected; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateTicket(ctx, ticket("t4", 1, 3, 15, now.Add(2*time.Hour)), 25); err != nil {
			t.Fatalf("after reject: %v", err)
		}

		// Expiry: t2 and t3 expire at now, t1 in an hour, t4 in two.
		exp, err := s.ExpiredTickets(ctx, now, 0)
		if err != nil || len(exp) != 2 || exp[0].ID != "t2" || exp[1].ID != "t3" {
			t.Fatalf("expired: %+v, %v", exp, err)
		}
		if exp, _ := s.ExpiredTickets(ctx, now.Add(90*time.Minute), 2); len(exp) != 2 {
			t.Fatalf("limit: %+v", exp)
		}
		for _, id := range []string{"t2", "t3", "t3"} {
			if err := s.DeleteTicket(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		if exp, _ := s.ExpiredTickets(ctx, now, 0); len(exp) != 0 {
			t.Fatalf("after delete: %+v", exp)
		}

		// Deleting an account takes its tickets along.
		if err := s.DeleteAccount(ctx, 3); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Ticket(ctx, "t4"); !errors.Is(err, drive.ErrNoTicket) {
			t.Fatalf("ticket of a deleted account: %v", err)
		}
	})
}

// Updates of one ticket racing each other each see the one before: none is
// lost.
func TestConcurrentTicketUpdates(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		withAccounts(t, s, 2)
		const updates = 20
		if err := s.CreateTicket(t.Context(), ticket("t", 1, 2, updates, time.Now().Add(time.Hour)), 0); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range updates {
			wg.Go(func() {
				if _, err := s.UpdateTicket(t.Context(), "t", func(tk *drive.Ticket) error {
					tk.Progress++
					return nil
				}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if tk, err := s.Ticket(t.Context(), "t"); err != nil || tk.Progress != updates {
			t.Errorf("progress %d after %d updates, %v", tk.Progress, updates, err)
		}
	})
}
