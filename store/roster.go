package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/crosstalk-im/crosstalk/hub"
)

// The statements of Roster and Relation.
const (
	selectSettings   = `SELECT privacy, prompt_on_add, serial FROM accounts WHERE number = ?`
	selectSerial     = `SELECT serial FROM accounts WHERE number = ?`
	selectGroups     = `SELECT id, name, changed FROM groups WHERE owner = ? ORDER BY id`
	selectOwnEntries = `SELECT ` + accountCols + `, e.list, e.changed
		FROM list_entries e JOIN accounts a ON a.number = e.contact
		WHERE e.owner = ?
		ORDER BY CASE e.list WHEN 'FL' THEN 0 WHEN 'AL' THEN 1 ELSE 2 END, e.id`
	selectReverseEntries = `SELECT ` + accountCols + `, e.contact_changed
		FROM list_entries e JOIN accounts a ON a.number = e.owner
		WHERE e.contact = ? AND e.list = 'FL' ORDER BY e.id`
	selectMemberships = `SELECT contact, group_id FROM fl_groups WHERE owner = ? ORDER BY group_id`
	selectRelation    = `SELECT a.privacy,
		EXISTS (SELECT 1 FROM list_entries WHERE owner = a.number AND contact = ? AND list = 'FL'),
		EXISTS (SELECT 1 FROM list_entries WHERE owner = a.number AND contact = ? AND list = 'AL'),
		EXISTS (SELECT 1 FROM list_entries WHERE owner = a.number AND contact = ? AND list = 'BL')
		FROM accounts a WHERE a.number = ?`
)

// Roster reads the owner's settings, groups and lists in one snapshot.
// Entries come FL, AL, BL, then RL, each in the order they were added.
func (c *core) Roster(ctx context.Context, owner uint32) (*hub.Roster, error) {
	var r *hub.Roster
	err := c.db.read(ctx, func(t tx) error {
		var err error
		r, err = readRoster(t, owner)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// readRoster reads Roster's answer in t.
func readRoster(t tx, owner uint32) (*hub.Roster, error) {
	r := &hub.Roster{}
	var err error
	if r.Settings, err = readSettings(t, owner); err != nil {
		return nil, err
	}
	if r.Groups, err = all(t, scanGroup, selectGroups, owner); err != nil {
		return nil, err
	}
	if r.Entries, err = ownEntries(t, owner); err != nil {
		return nil, err
	}
	rl, err := reverseEntries(t, owner)
	r.Entries = append(r.Entries, rl...)
	return r, err
}

func readSettings(t tx, owner uint32) (hub.Settings, error) {
	var st hub.Settings
	err := t.scan(selectSettings, []any{owner}, &st.Privacy, &st.PromptOnAdd, &st.Serial)
	if errors.Is(err, sql.ErrNoRows) {
		return st, hub.ErrNotFound
	}
	return st, err
}

func scanGroup(rows scanner) (hub.Group, error) {
	var g hub.Group
	err := rows.Scan(&g.ID, &g.Name, &g.Changed)
	return g, err
}

// ownEntries reads the owner's FL, AL and BL with each FL entry's groups.
func ownEntries(t tx, owner uint32) ([]hub.Entry, error) {
	entries, err := all(t, scanEntry(""), selectOwnEntries, owner)
	if err != nil {
		return nil, err
	}
	groups, err := memberships(t, owner)
	if err != nil {
		return nil, err
	}
	for i, e := range entries {
		if e.List == hub.Forward {
			entries[i].Groups = groups[e.Contact.Number]
		}
	}
	return entries, nil
}

// reverseEntries derives the owner's RL: everyone with the owner on their FL,
// in the order they added the owner.
func reverseEntries(t tx, owner uint32) ([]hub.Entry, error) {
	return all(t, scanEntry(hub.Reverse), selectReverseEntries, owner)
}

// scanEntry reads an entry of list l, or of the list named in a column
// after the account's when l is empty, and then when it changed.
func scanEntry(l hub.List) func(scanner) (hub.Entry, error) {
	return func(rows scanner) (hub.Entry, error) {
		e := hub.Entry{List: l}
		var err error
		if l == "" {
			e.Contact, err = scanAccount(rows, &e.List, &e.Changed)
		} else {
			e.Contact, err = scanAccount(rows, &e.Changed)
		}
		return e, err
	}
}

// memberships maps each contact on the owner's FL to its groups, in order.
func memberships(t tx, owner uint32) (map[uint32][]int, error) {
	type member struct {
		contact uint32
		group   int
	}
	ms, err := all(t, func(rows scanner) (member, error) {
		var m member
		err := rows.Scan(&m.contact, &m.group)
		return m, err
	}, selectMemberships, owner)
	if err != nil {
		return nil, err
	}
	groups := make(map[uint32][]int)
	for _, m := range ms {
		groups[m.contact] = append(groups[m.contact], m.group)
	}
	return groups, nil
}

// SetPrivacy sets what people on neither AL nor BL may do.
func (c *core) SetPrivacy(ctx context.Context, owner uint32, p hub.Privacy) (uint32, error) {
	if p != hub.AllowUnlisted && p != hub.BlockUnlisted {
		return 0, invalid("privacy %q", p)
	}
	return c.setOption(ctx, owner, "privacy", string(p))
}

// SetPromptOnAdd sets whether the owner is asked when someone adds them.
func (c *core) SetPromptOnAdd(ctx context.Context, owner uint32, prompt bool) (uint32, error) {
	return c.setOption(ctx, owner, "prompt_on_add", prompt)
}

// setOption sets one of the owner's list options and bumps the serial, or
// returns hub.ErrUnchanged if the option already has that value.
func (c *core) setOption(ctx context.Context, owner uint32, column string, value any) (uint32, error) {
	var serial uint32
	err := c.db.write(ctx, func(t tx) error {
		err := t.scan(`UPDATE accounts SET `+column+` = ?, serial = (serial + 1) % 4294967296
			WHERE number = ? AND `+column+` <> ? RETURNING serial`, []any{value, owner, value}, &serial)
		if errors.Is(err, sql.ErrNoRows) {
			if err = mustExist(t, owner); err == nil {
				err = hub.ErrUnchanged
			}
		}
		return err
	})
	return serial, err
}

// ListSerial reads the owner's list serial.
func (c *core) ListSerial(ctx context.Context, owner uint32) (uint32, error) {
	var serial uint32
	err := c.db.row(ctx, selectSerial, owner).Scan(&serial)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, hub.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return serial, nil
}

// Relation reads the owner's privacy mode and which of its lists hold
// contact, in one query.
func (c *core) Relation(ctx context.Context, owner, contact uint32) (hub.Relation, error) {
	var (
		r                hub.Relation
		privacy          string
		onFL, onAL, onBL bool
	)
	err := c.db.row(ctx, selectRelation, contact, contact, contact, owner).Scan(&privacy, &onFL, &onAL, &onBL)
	if errors.Is(err, sql.ErrNoRows) {
		return r, hub.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("store: %w", err)
	}
	r.Privacy, r.OnForward, r.OnAllow, r.OnBlock = hub.Privacy(privacy), onFL, onAL, onBL
	return r, nil
}
