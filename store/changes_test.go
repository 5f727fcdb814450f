package store

import (
	"errors"
	"slices"
	"testing"

	"github.com/crosstalk-im/crosstalk/hub"
)

// listChanges is ListChanges that must succeed.
func listChanges(t *testing.T, s *core, owner, since uint32) (*hub.Roster, []hub.Removal) {
	t.Helper()
	r, rs, err := s.ListChanges(t.Context(), owner, since)
	if err != nil {
		t.Fatalf("ListChanges(%d, %d): %v", owner, since, err)
	}
	return r, rs
}

func entryOf(r *hub.Roster, l hub.List, number uint32) (hub.Entry, bool) {
	for _, e := range r.Of(l) {
		if e.Contact.Number == number {
			return e, true
		}
	}
	return hub.Entry{}, false
}

func mustRun(t *testing.T, s *core, ops ...listOp) {
	t.Helper()
	for _, o := range ops {
		if _, err := o.run(t, s); err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
	}
}

// TestListChanges: every entry and group carries the owner's serial after
// its last change, and what leaves the lists is kept with the serial it
// left at, for the owner and for the contact whose reverse list changed
// with it; a deleted account leaves its e-mail behind.
func TestListChanges(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		withAccounts(t, s, 4)
		if r, rs := listChanges(t, s, 1, 0); r.Settings.Serial != 0 || len(rs) != 0 {
			t.Fatalf("a new account: serial %d, removals %+v", r.Settings.Serial, rs)
		}
		friends, _, err := s.AddGroup(t.Context(), 1, "Friends") // 1's serial 1
		if err != nil {
			t.Fatal(err)
		}
		mustRun(t, s, add(1, 2, hub.Forward, 0), add(1, 3, hub.Forward, friends.ID), add(1, 4, hub.Block, 0)) // 2, 3, 4
		mustRun(t, s, add(4, 1, hub.Forward, 0))                                                              // 1's RL: 5
		r, _ := listChanges(t, s, 1, 0)
		for _, c := range []struct {
			l       hub.List
			number  uint32
			changed uint32
		}{{hub.Forward, 2, 2}, {hub.Forward, 3, 3}, {hub.Block, 4, 4}, {hub.Reverse, 4, 5}} {
			if e, ok := entryOf(r, c.l, c.number); !ok || e.Changed != c.changed {
				t.Errorf("%s %d: %+v %v, want changed %d", c.l, c.number, e, ok, c.changed)
			}
		}
		if e, _ := entryOf(roster(t, s, 2), hub.Reverse, 1); e.Changed != 1 {
			t.Errorf("2's RL entry of 1 changed at %d, want 2's serial 1", e.Changed)
		}

		mark := r.Settings.Serial
		if _, err := s.RenameGroup(t.Context(), 1, friends.ID, "Pals"); err != nil { // 6
			t.Fatal(err)
		}
		mustRun(t, s, rm(1, 2, hub.Forward, -1), add(1, 2, hub.Allow, 0), rm(1, 2, hub.Allow, 0)) // 7, 8, 9
		if _, err := s.RemoveGroup(t.Context(), 1, friends.ID); err != nil {                      // 10
			t.Fatal(err)
		}
		r, rs := listChanges(t, s, 1, mark)
		want := []hub.Removal{
			{List: hub.Forward, Contact: 2, Email: "user2@example.com", Serial: 7},
			{List: hub.Allow, Contact: 2, Email: "user2@example.com", Serial: 9},
			{Group: friends.ID, Serial: 10},
		}
		if !slices.Equal(rs, want) {
			t.Errorf("removals since %d: %+v, want %+v", mark, rs, want)
		}
		if e, _ := entryOf(r, hub.Forward, 3); e.Changed != 10 || !slices.Equal(e.Groups, []int{0}) {
			t.Errorf("3, whose group went: %+v", e)
		}
		if _, rs := listChanges(t, s, 1, 9); len(rs) != 1 || rs[0].Group != friends.ID {
			t.Errorf("removals since 9: %+v", rs)
		}
		if _, rs := listChanges(t, s, 2, 0); !slices.Equal(rs, []hub.Removal{{List: hub.Reverse, Contact: 1, Email: "user1@example.com", Serial: 2}}) {
			t.Errorf("2's removals: %+v", rs)
		}
		// A renamed group carries its rename.
		g, _, err := s.AddGroup(t.Context(), 1, "Work") // 11
		if err != nil || g.Changed != 11 {
			t.Fatalf("%+v %v", g, err)
		}
		if _, err := s.RenameGroup(t.Context(), 1, g.ID, "Job"); err != nil { // 12
			t.Fatal(err)
		}
		if r := roster(t, s, 1); r.Groups[1].Changed != 12 {
			t.Errorf("renamed group %+v", r.Groups[1])
		}

		if err := s.DeleteAccount(t.Context(), 4); err != nil { // 13
			t.Fatal(err)
		}
		_, rs = listChanges(t, s, 1, 12)
		want = []hub.Removal{
			{List: hub.Block, Contact: 4, Email: "user4@example.com", Serial: 13},
			{List: hub.Reverse, Contact: 4, Email: "user4@example.com", Serial: 13},
		}
		if !slices.Equal(rs, want) {
			t.Errorf("after 4 was deleted: %+v, want %+v", rs, want)
		}
		if _, _, err := s.ListChanges(t.Context(), 1, 14); !errors.Is(err, hub.ErrChangesForgotten) {
			t.Errorf("since a serial to come: %v", err)
		}
		if _, _, err := s.ListChanges(t.Context(), 99, 0); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("unknown owner: %v", err)
		}
	})
}

// TestRemovalsBounded: an account keeps at most Config.MaxRemovals
// removals; changes since a serial older than those let go are forgotten.
func TestRemovalsBounded(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		cfg := e.place(t).config()
		cfg.MaxRemovals = 3
		st, err := Open(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s := coreOf(st)
		withAccounts(t, s, 6)
		// Each contact's removal comes at an even serial: 2, 4, …, 10.
		for c := uint32(2); c <= 6; c++ {
			mustRun(t, s, add(1, c, hub.Allow, 0), rm(1, c, hub.Allow, 0))
		}
		if n := sqlInt(t, s, `SELECT COUNT(*) FROM list_removals WHERE owner = 1`); n != 3 {
			t.Errorf("%d removals kept, want 3", n)
		}
		for _, since := range []uint32{0, 3} {
			if _, _, err := s.ListChanges(t.Context(), 1, since); !errors.Is(err, hub.ErrChangesForgotten) {
				t.Errorf("since %d: %v, want forgotten", since, err)
			}
		}
		_, rs := listChanges(t, s, 1, 4)
		if len(rs) != 3 || rs[0].Contact != 4 || rs[2].Contact != 6 {
			t.Errorf("since 4: %+v", rs)
		}
		if other := e.newStore(t); s.removalLimit() != 3 || other.removalLimit() != DefaultMaxRemovals {
			t.Errorf("limits %d and %d", s.removalLimit(), other.removalLimit())
		}
	})
}

// TestListChangesAfterUpgrade: a store from before removals were kept
// answers no request for deltas from before its upgrade (clients' copies
// of that time are of an older form), and every one after its next change.
func TestListChangesAfterUpgrade(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		p := e.place(t)
		s := p.open(t)
		withAccounts(t, s, 2)
		mustRun(t, s, add(1, 2, hub.Forward, 0)) // 1's serial 1
		// Back to the schema of the version before, which had these lists.
		for _, q := range []string{`DROP TABLE list_removals`, `ALTER TABLE accounts DROP COLUMN changes_since`,
			`ALTER TABLE groups DROP COLUMN changed`, `ALTER TABLE list_entries DROP COLUMN changed`,
			`ALTER TABLE list_entries DROP COLUMN contact_changed`, `DELETE FROM schema_version WHERE version = 10`} {
			sqlExec(t, s, q)
		}
		s.Close()
		s = p.open(t)
		for _, since := range []uint32{0, 1} {
			if _, _, err := s.ListChanges(t.Context(), 1, since); !errors.Is(err, hub.ErrChangesForgotten) {
				t.Errorf("since %d, before the upgrade: %v", since, err)
			}
		}
		mustRun(t, s, add(1, 2, hub.Allow, 0)) // 2
		if _, _, err := s.ListChanges(t.Context(), 1, 1); !errors.Is(err, hub.ErrChangesForgotten) {
			t.Errorf("since the upgrade's serial: %v", err)
		}
		r, _ := listChanges(t, s, 1, 2)
		if e, _ := entryOf(r, hub.Forward, 2); e.Changed != 0 {
			t.Errorf("an entry from before the upgrade: %+v", e)
		}
	})
}

// TestListSerial: ListSerial is the roster's serial, moved by the owner's
// changes and by someone else's adding the owner to their list.
func TestListSerial(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ctx := t.Context()
		s := e.newStore(t)
		withAccounts(t, s, 2)
		serialIs := func(want uint32) {
			t.Helper()
			got, err := s.ListSerial(ctx, 1)
			r, rerr := s.Roster(ctx, 1)
			if err != nil || rerr != nil || got != want || r.Settings.Serial != want {
				t.Fatalf("ListSerial = %d, %v; Roster's serial %d, %v; want %d", got, err, r.Settings.Serial, rerr, want)
			}
		}
		serialIs(0)
		if _, _, err := s.AddGroup(ctx, 1, "Friends"); err != nil {
			t.Fatal(err)
		}
		serialIs(1)
		if _, err := s.AddToList(ctx, 2, 1, hub.Forward, 0, 0); err != nil {
			t.Fatal(err)
		}
		serialIs(2)
		if _, err := s.ListSerial(ctx, 99); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("ListSerial of no account: %v, want ErrNotFound", err)
		}
	})
}
