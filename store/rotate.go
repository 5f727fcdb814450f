package store

import (
	"context"
)

// DefaultRotateBatch is how many accounts RotatePasswords re-encrypts in
// one transaction when not told.
const DefaultRotateBatch = 500

// Rotation counts what RotatePasswords did.
type Rotation struct {
	Resealed int // passwords sealed again with the current key
	Current  int // passwords that were sealed with it already
}

// RotatePasswords seals every password with the current key, batch
// accounts per transaction, in the order of their numbers. Nodes may go on
// serving meanwhile, as long as each knows the current key (as current or
// previous) and every key a password was sealed with; a password changed
// meanwhile is sealed with the changing node's current key. It stops at the
// first password none of the keys opens, keeping the batches before it.
func (c *core) RotatePasswords(ctx context.Context, batch int) (Rotation, error) {
	if batch <= 0 {
		batch = DefaultRotateBatch
	}
	type sealed struct {
		number uint32
		enc    []byte
	}
	var total Rotation
	for after := uint32(0); ; {
		var (
			done Rotation
			last uint32
			seen int
		)
		err := c.db.write(ctx, func(t tx) error {
			done, seen = Rotation{}, 0
			rows, err := all(t, func(row scanner) (sealed, error) {
				var s sealed
				err := row.Scan(&s.number, &s.enc)
				return s, err
			}, `SELECT number, password_enc FROM accounts WHERE number > ? ORDER BY number LIMIT ?`, after, batch)
			if err != nil {
				return err
			}
			for _, r := range rows {
				seen, last = seen+1, r.number
				if c.keys.sealedWithCurrent(r.enc) {
					done.Current++
					continue
				}
				password, err := c.keys.unseal(r.number, r.enc)
				if err != nil {
					return err
				}
				if _, err := t.exec(`UPDATE accounts SET password_enc = ? WHERE number = ?`,
					c.keys.seal(r.number, password), r.number); err != nil {
					return err
				}
				done.Resealed++
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total.Resealed += done.Resealed
		total.Current += done.Current
		if seen < batch {
			return total, nil
		}
		after = last
	}
}
