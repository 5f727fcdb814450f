package store

import (
	"context"

	"github.com/crosstalk-im/crosstalk/hub"
)

// storedList reports whether l is a list owners change themselves; the
// reverse list follows from other owners' forward lists.
func storedList(l hub.List) bool {
	return l == hub.Forward || l == hub.Allow || l == hub.Block
}

func opposite(l hub.List) hub.List {
	if l == hub.Allow {
		return hub.Block
	}
	return hub.Allow
}

// AddToList puts contact on owner's FL, AL or BL; see hub.Store.
func (c *core) AddToList(ctx context.Context, owner, contact uint32, l hub.List, group int, maxEntries int) (hub.ListChange, error) {
	if !storedList(l) {
		return hub.ListChange{}, invalid("cannot add to list %q", l)
	}
	var ch hub.ListChange
	err := c.db.write(ctx, func(t tx) error {
		if err := mustExist(t, owner); err != nil {
			return err
		}
		if err := mustExist(t, contact); err != nil {
			return err
		}
		var err error
		if l == hub.Forward {
			ch, err = addToForward(t, owner, contact, group, maxEntries)
		} else {
			ch, err = addToPrivacy(t, owner, contact, l, maxEntries)
		}
		return err
	})
	return ch, err
}

func addToForward(t tx, owner, contact uint32, group, maxEntries int) (hub.ListChange, error) {
	if err := mustHaveGroup(t, owner, group); err != nil {
		return hub.ListChange{}, err
	}
	on, err := onList(t, owner, contact, hub.Forward)
	if err != nil {
		return hub.ListChange{}, err
	}
	if on {
		return addToGroup(t, owner, contact, group)
	}
	ch, err := insertEntry(t, owner, contact, hub.Forward, maxEntries)
	if err != nil {
		return hub.ListChange{}, err
	}
	if _, err := t.exec(`INSERT INTO fl_groups (owner, contact, group_id) VALUES (?, ?, ?)`,
		owner, contact, group); err != nil {
		return hub.ListChange{}, err
	}
	return ch, nil
}

// addToGroup adds a further group to a contact already on FL. The contact's
// reverse list does not change.
func addToGroup(t tx, owner, contact uint32, group int) (hub.ListChange, error) {
	in, err := exists(t, `SELECT 1 FROM fl_groups WHERE owner = ? AND contact = ? AND group_id = ?`,
		owner, contact, group)
	if err != nil {
		return hub.ListChange{}, err
	}
	if in {
		return hub.ListChange{}, hub.ErrAlreadyOnList
	}
	if _, err := t.exec(`INSERT INTO fl_groups (owner, contact, group_id) VALUES (?, ?, ?)`,
		owner, contact, group); err != nil {
		return hub.ListChange{}, err
	}
	return bumpStamped(t, owner, contact, hub.Forward)
}

// bumpStamped moves the owner's serial after a change to its entry of
// contact on l, and stamps the entry with it.
func bumpStamped(t tx, owner, contact uint32, l hub.List) (hub.ListChange, error) {
	serial, err := bump(t, owner)
	if err != nil {
		return hub.ListChange{}, err
	}
	return hub.ListChange{OwnerSerial: serial}, stampEntry(t, owner, contact, l, serial)
}

func addToPrivacy(t tx, owner, contact uint32, l hub.List, maxEntries int) (hub.ListChange, error) {
	if on, err := onList(t, owner, contact, l); err != nil || on {
		return hub.ListChange{}, orErr(err, hub.ErrAlreadyOnList)
	}
	if on, err := onList(t, owner, contact, opposite(l)); err != nil || on {
		return hub.ListChange{}, orErr(err, hub.ErrInOppositeList)
	}
	return insertEntry(t, owner, contact, l, maxEntries)
}

// orErr returns err if there is one, else fallback.
func orErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// insertEntry appends contact to list l unless it already has maxEntries
// entries (no limit when maxEntries <= 0), moving the owner's serial, and
// for FL the contact's, whose RL changes with it; the entry carries them.
func insertEntry(t tx, owner, contact uint32, l hub.List, maxEntries int) (hub.ListChange, error) {
	if maxEntries > 0 {
		var n int
		if err := t.scan(`SELECT COUNT(*) FROM list_entries WHERE owner = ? AND list = ?`,
			[]any{owner, l}, &n); err != nil {
			return hub.ListChange{}, err
		}
		if n >= maxEntries {
			return hub.ListChange{}, hub.ErrListFull
		}
	}
	var ch hub.ListChange
	var err error
	if l == hub.Forward {
		ch, err = bumpBoth(t, owner, contact)
	} else {
		ch.OwnerSerial, err = bump(t, owner)
	}
	if err != nil {
		return hub.ListChange{}, err
	}
	_, err = t.exec(`INSERT INTO list_entries (owner, list, contact, changed, contact_changed) VALUES (?, ?, ?, ?, ?)`,
		owner, l, contact, ch.OwnerSerial, ch.ContactSerial)
	return ch, err
}

func onList(t tx, owner, contact uint32, l hub.List) (bool, error) {
	return exists(t, `SELECT 1 FROM list_entries WHERE owner = ? AND list = ? AND contact = ?`, owner, l, contact)
}

// bumpBoth moves the serials of an owner whose FL changed and of the contact
// whose RL changed with it. Listing oneself is one change to one account,
// so its serial moves once.
func bumpBoth(t tx, owner, contact uint32) (hub.ListChange, error) {
	own, err := bump(t, owner)
	if err != nil || contact == owner {
		return hub.ListChange{OwnerSerial: own, ContactSerial: own}, err
	}
	theirs, err := bump(t, contact)
	return hub.ListChange{OwnerSerial: own, ContactSerial: theirs}, err
}

// RemoveFromList takes contact off owner's FL, AL or BL; see hub.Store.
func (c *core) RemoveFromList(ctx context.Context, owner, contact uint32, l hub.List, group int) (hub.ListChange, error) {
	if !storedList(l) {
		return hub.ListChange{}, invalid("cannot remove from list %q", l)
	}
	var ch hub.ListChange
	err := c.db.write(ctx, func(t tx) error {
		if err := mustExist(t, owner); err != nil {
			return err
		}
		var err error
		switch {
		case l == hub.Forward && group >= 0:
			ch, err = c.removeFromGroup(t, owner, contact, group)
		case l == hub.Forward:
			ch, err = c.removeFromForward(t, owner, contact)
		default:
			ch, err = c.removeFromPrivacy(t, owner, contact, l)
		}
		return err
	})
	return ch, err
}

// removeFromGroup drops one group membership; the contact leaves FL with
// its last group.
func (c *core) removeFromGroup(t tx, owner, contact uint32, group int) (hub.ListChange, error) {
	if err := mustHaveGroup(t, owner, group); err != nil {
		return hub.ListChange{}, err
	}
	n, err := t.exec(`DELETE FROM fl_groups WHERE owner = ? AND contact = ? AND group_id = ?`, owner, contact, group)
	if err != nil || n == 0 {
		return hub.ListChange{}, orErr(err, hub.ErrNotOnList)
	}
	left, err := exists(t, `SELECT 1 FROM fl_groups WHERE owner = ? AND contact = ?`, owner, contact)
	if err != nil {
		return hub.ListChange{}, err
	}
	if left {
		return bumpStamped(t, owner, contact, hub.Forward)
	}
	return c.removeFromForward(t, owner, contact)
}

// removeFromForward takes contact off owner's FL, which takes the owner
// off the contact's RL: both keep the removal.
func (c *core) removeFromForward(t tx, owner, contact uint32) (hub.ListChange, error) {
	if err := deleteEntry(t, owner, contact, hub.Forward); err != nil {
		return hub.ListChange{}, err
	}
	if _, err := t.exec(`DELETE FROM fl_groups WHERE owner = ? AND contact = ?`, owner, contact); err != nil {
		return hub.ListChange{}, err
	}
	ch, err := bumpBoth(t, owner, contact)
	if err != nil {
		return ch, err
	}
	if err := c.contactRemoved(t, owner, contact, hub.Forward, ch.OwnerSerial); err != nil {
		return ch, err
	}
	return ch, c.contactRemoved(t, contact, owner, hub.Reverse, ch.ContactSerial)
}

func (c *core) removeFromPrivacy(t tx, owner, contact uint32, l hub.List) (hub.ListChange, error) {
	if err := deleteEntry(t, owner, contact, l); err != nil {
		return hub.ListChange{}, err
	}
	serial, err := bump(t, owner)
	if err != nil {
		return hub.ListChange{}, err
	}
	return hub.ListChange{OwnerSerial: serial}, c.contactRemoved(t, owner, contact, l, serial)
}

func deleteEntry(t tx, owner, contact uint32, l hub.List) error {
	n, err := t.exec(`DELETE FROM list_entries WHERE owner = ? AND list = ? AND contact = ?`, owner, l, contact)
	if err == nil && n == 0 {
		return hub.ErrNotOnList
	}
	return err
}
