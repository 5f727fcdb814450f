package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/crosstalk-im/crosstalk/hub"
)

// What changed in an account's lists, for clients that fetch only that
// (MSN's address book deltas, MSNP13+): each entry and group carries the
// owner's serial after its last change, and what left the lists is kept
// as a removal, up to a limit per account.

// DefaultMaxRemovals is how many removals each account keeps when
// Config.MaxRemovals is not set: more than a whole list (hub's default
// cap is 600 entries), so that emptying one still leaves deltas possible.
const DefaultMaxRemovals = 1000

// groupRemoval is the list column of a deleted group's removal.
const groupRemoval = "GR"

// removalLimit is the number of removals each account keeps.
func (c *core) removalLimit() int {
	if c.maxRemovals > 0 {
		return c.maxRemovals
	}
	return DefaultMaxRemovals
}

// stampEntry records serial as when owner's entry of contact on l changed.
func stampEntry(t tx, owner, contact uint32, l hub.List, serial uint32) error {
	_, err := t.exec(`UPDATE list_entries SET changed = ? WHERE owner = ? AND list = ? AND contact = ?`, serial, owner, l, contact)
	return err
}

// upsertRemoval keeps the latest removal of an item.
const upsertRemoval = ` ON CONFLICT (owner, list, item) DO UPDATE SET email = excluded.email, serial = excluded.serial`

// contactRemoved keeps that contact left owner's list l at the owner's
// serial.
func (c *core) contactRemoved(t tx, owner, contact uint32, l hub.List, serial uint32) error {
	if _, err := t.exec(`INSERT INTO list_removals (owner, list, item, email, serial)
		SELECT ?, ?, number, email, ? FROM accounts WHERE number = ?`+upsertRemoval,
		owner, l, serial, contact); err != nil {
		return err
	}
	return c.trimRemovals(t, owner)
}

// groupRemoved keeps that owner deleted group id at the owner's serial.
func (c *core) groupRemoved(t tx, owner uint32, id int, serial uint32) error {
	if _, err := t.exec(`INSERT INTO list_removals (owner, list, item, email, serial)
		VALUES (?, '`+groupRemoval+`', ?, '', ?)`+upsertRemoval, owner, id, serial); err != nil {
		return err
	}
	return c.trimRemovals(t, owner)
}

// accountRemoved keeps, for everyone whose lists lose the account about
// to be deleted, its removal at their serial (already moved on).
func (c *core) accountRemoved(t tx, number uint32) error {
	affected, err := all(t, scanNumber, `SELECT owner FROM list_entries WHERE contact = ? AND owner <> ?
		UNION SELECT contact FROM list_entries WHERE owner = ? AND list = 'FL' AND contact <> ?`, number, number, number, number)
	if err != nil {
		return err
	}
	// From their FL, AL and BL, and from the RL of those on its FL.
	if _, err := t.exec(`INSERT INTO list_removals (owner, list, item, email, serial)
		SELECT e.owner, e.list, e.contact, d.email, a.serial FROM list_entries e
		JOIN accounts a ON a.number = e.owner JOIN accounts d ON d.number = e.contact
		WHERE e.contact = ? AND e.owner <> ?`+upsertRemoval, number, number); err != nil {
		return err
	}
	if _, err := t.exec(`INSERT INTO list_removals (owner, list, item, email, serial)
		SELECT e.contact, 'RL', e.owner, d.email, a.serial FROM list_entries e
		JOIN accounts a ON a.number = e.contact JOIN accounts d ON d.number = e.owner
		WHERE e.owner = ? AND e.list = 'FL' AND e.contact <> ?`+upsertRemoval, number, number); err != nil {
		return err
	}
	for _, owner := range affected {
		if err := c.trimRemovals(t, owner); err != nil {
			return err
		}
	}
	return nil
}

func scanNumber(rows scanner) (uint32, error) {
	var n uint32
	err := rows.Scan(&n)
	return n, err
}

// trimRemovals lets go of an account's oldest removals beyond the limit,
// whole serials at a time, and moves changes_since past them: a client
// whose copy is older than what was let go must fetch everything again.
func (c *core) trimRemovals(t tx, owner uint32) error {
	var cut uint32
	err := t.scan(`SELECT serial FROM list_removals WHERE owner = ? ORDER BY serial DESC LIMIT 1 OFFSET ?`,
		[]any{owner, c.removalLimit()}, &cut)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := t.exec(`DELETE FROM list_removals WHERE owner = ? AND serial <= ?`, owner, cut); err != nil {
		return err
	}
	_, err = t.exec(`UPDATE accounts SET changes_since = ? WHERE number = ? AND changes_since < ?`, cut, owner, cut)
	return err
}

// ListChanges reads the roster with the removals after serial since; see
// hub.Store.
func (c *core) ListChanges(ctx context.Context, owner, since uint32) (*hub.Roster, []hub.Removal, error) {
	var (
		r  *hub.Roster
		rs []hub.Removal
	)
	err := c.db.read(ctx, func(t tx) error {
		var err error
		if r, err = readRoster(t, owner); err != nil {
			return err
		}
		var from uint32
		if err := t.scan(`SELECT changes_since FROM accounts WHERE number = ?`, []any{owner}, &from); err != nil {
			return err
		}
		if since < from || since > r.Settings.Serial {
			return hub.ErrChangesForgotten
		}
		rs, err = all(t, scanRemoval, `SELECT list, item, email, serial FROM list_removals
			WHERE owner = ? AND serial > ? ORDER BY serial, list, item`, owner, since)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return r, rs, nil
}

func scanRemoval(rows scanner) (hub.Removal, error) {
	var (
		x    hub.Removal
		list string
		item int64
	)
	if err := rows.Scan(&list, &item, &x.Email, &x.Serial); err != nil {
		return x, err
	}
	if list == groupRemoval {
		x.Group = int(item)
	} else {
		x.List, x.Contact = hub.List(list), uint32(item)
	}
	return x, nil
}
