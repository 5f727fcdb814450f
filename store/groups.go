package store

import (
	"context"

	"github.com/crosstalk-im/crosstalk/hub"
)

// AddGroup creates a forward-list group with the smallest unused positive
// id. Group 0 counts towards hub.MaxGroups.
func (c *core) AddGroup(ctx context.Context, owner uint32, name string) (hub.Group, uint32, error) {
	if err := checkGroupName(name); err != nil {
		return hub.Group{}, 0, err
	}
	g := hub.Group{Name: name}
	var serial uint32
	err := c.db.write(ctx, func(t tx) error {
		if err := mustExist(t, owner); err != nil {
			return err
		}
		if err := checkGroupNameFree(t, owner, -1, name); err != nil {
			return err
		}
		var err error
		if g.ID, err = freeGroupID(t, owner); err != nil {
			return err
		}
		if serial, err = bump(t, owner); err != nil {
			return err
		}
		g.Changed = serial
		_, err = t.exec(`INSERT INTO groups (owner, id, name, changed) VALUES (?, ?, ?, ?)`, owner, g.ID, name, serial)
		return err
	})
	if err != nil {
		return hub.Group{}, 0, err
	}
	return g, serial, nil
}

// freeGroupID returns the smallest positive id not in use, or
// hub.ErrTooManyGroups. Group 0 always exists, so the smallest free id is
// one more than some existing id.
func freeGroupID(t tx, owner uint32) (int, error) {
	var count, id int
	if err := t.scan(`SELECT
		(SELECT COUNT(*) FROM groups WHERE owner = ?),
		(SELECT MIN(g.id + 1) FROM groups g WHERE g.owner = ? AND NOT EXISTS
			(SELECT 1 FROM groups n WHERE n.owner = g.owner AND n.id = g.id + 1))`,
		[]any{owner, owner}, &count, &id); err != nil {
		return 0, err
	}
	if count >= hub.MaxGroups {
		return 0, hub.ErrTooManyGroups
	}
	return id, nil
}

// RemoveGroup deletes a group. Contacts that were only in it stay on the
// forward list, in group 0.
func (c *core) RemoveGroup(ctx context.Context, owner uint32, id int) (uint32, error) {
	if id == 0 {
		return 0, hub.ErrDefaultGroup
	}
	var serial uint32
	err := c.db.write(ctx, func(t tx) error {
		if err := mustExist(t, owner); err != nil {
			return err
		}
		if err := mustHaveGroup(t, owner, id); err != nil {
			return err
		}
		var err error
		if serial, err = bump(t, owner); err != nil {
			return err
		}
		// The group's contacts change with it: their groups do.
		if _, err := t.exec(`UPDATE list_entries SET changed = ? WHERE owner = ? AND list = 'FL' AND contact IN
			(SELECT contact FROM fl_groups WHERE owner = ? AND group_id = ?)`, serial, owner, owner, id); err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO fl_groups (owner, contact, group_id)
			SELECT owner, contact, 0 FROM fl_groups f WHERE f.owner = ? AND f.group_id = ? AND NOT EXISTS
			(SELECT 1 FROM fl_groups o WHERE o.owner = f.owner AND o.contact = f.contact AND o.group_id <> f.group_id)`,
			owner, id); err != nil {
			return err
		}
		// The group's memberships go with it by foreign-key cascade.
		if _, err := t.exec(`DELETE FROM groups WHERE owner = ? AND id = ?`, owner, id); err != nil {
			return err
		}
		return c.groupRemoved(t, owner, id, serial)
	})
	return serial, err
}

// RenameGroup renames any group, group 0 included.
func (c *core) RenameGroup(ctx context.Context, owner uint32, id int, name string) (uint32, error) {
	if err := checkGroupName(name); err != nil {
		return 0, err
	}
	var serial uint32
	err := c.db.write(ctx, func(t tx) error {
		if err := mustExist(t, owner); err != nil {
			return err
		}
		if err := mustHaveGroup(t, owner, id); err != nil {
			return err
		}
		if err := checkGroupNameFree(t, owner, id, name); err != nil {
			return err
		}
		var err error
		if serial, err = bump(t, owner); err != nil {
			return err
		}
		_, err = t.exec(`UPDATE groups SET name = ?, changed = ? WHERE owner = ? AND id = ?`, name, serial, owner, id)
		return err
	})
	return serial, err
}

// checkGroupNameFree returns hub.ErrGroupExists if a group other than
// except has the name.
func checkGroupNameFree(t tx, owner uint32, except int, name string) error {
	taken, err := exists(t, `SELECT 1 FROM groups WHERE owner = ? AND name = ? AND id <> ?`, owner, name, except)
	if err == nil && taken {
		return hub.ErrGroupExists
	}
	return err
}

func mustHaveGroup(t tx, owner uint32, id int) error {
	ok, err := exists(t, `SELECT 1 FROM groups WHERE owner = ? AND id = ?`, owner, id)
	if err == nil && !ok {
		return hub.ErrNoSuchGroup
	}
	return err
}
