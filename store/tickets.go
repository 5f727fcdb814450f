package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
)

// Limits on stored ticket fields.
const (
	maxTicketIDBytes   = 64
	maxTicketNameBytes = 1024
)

const ticketCols = `id, sender, recipient, file_name, file_size, ack_status, send_status,
	progress, sha256, created_at, expires_at`

func checkTicket(tk drive.Ticket) error {
	switch {
	case tk.ID == "" || len(tk.ID) > maxTicketIDBytes:
		return invalid("ticket id of %d bytes", len(tk.ID))
	case tk.FileName == "" || len(tk.FileName) > maxTicketNameBytes:
		return invalid("ticket file name of %d bytes", len(tk.FileName))
	case tk.FileSize < 0 || tk.Progress < 0 || tk.Progress > tk.FileSize:
		return invalid("ticket size %d, progress %d", tk.FileSize, tk.Progress)
	case !tk.Ack.Valid():
		return invalid("ticket ack status %q", tk.Ack)
	case !tk.Status.Valid():
		return invalid("ticket send status %q", tk.Status)
	}
	return nil
}

// CreateTicket stores a new drive ticket, checking the sender's quota in the
// same transaction.
func (c *core) CreateTicket(ctx context.Context, tk drive.Ticket, quota int64) error {
	if tk.Ack == "" {
		tk.Ack = drive.AckUnknown
	}
	if tk.Status == "" {
		tk.Status = drive.StatusInProgress
	}
	if err := checkTicket(tk); err != nil {
		return err
	}
	return c.db.write(ctx, func(t tx) error {
		if err := mustExist(t, tk.Sender); err != nil {
			return err
		}
		if err := mustExist(t, tk.Recipient); err != nil {
			return err
		}
		if taken, err := exists(t, `SELECT 1 FROM drive_tickets WHERE id = ?`, tk.ID); err != nil {
			return err
		} else if taken {
			return invalid("ticket id %q taken", tk.ID)
		}
		if quota > 0 {
			var used int64
			if err := t.scan(`SELECT CAST(COALESCE(SUM(file_size), 0) AS BIGINT) FROM drive_tickets
				WHERE sender = ? AND ack_status <> 'rejected'`, []any{tk.Sender}, &used); err != nil {
				return err
			}
			if used+tk.FileSize > quota {
				return drive.ErrQuota
			}
		}
		_, err := t.exec(`INSERT INTO drive_tickets (`+ticketCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			tk.ID, tk.Sender, tk.Recipient, tk.FileName, tk.FileSize, string(tk.Ack), string(tk.Status),
			tk.Progress, tk.SHA256, tk.Created.UnixNano(), tk.Expires.UnixNano())
		return err
	})
}

// Ticket reads one drive ticket.
func (c *core) Ticket(ctx context.Context, id string) (drive.Ticket, error) {
	var tk drive.Ticket
	err := c.db.read(ctx, func(t tx) error {
		var err error
		tk, err = getTicket(t, id)
		return err
	})
	return tk, err
}

func getTicket(t tx, id string) (drive.Ticket, error) {
	var (
		tk               drive.Ticket
		ack, status      string
		created, expires int64
	)
	err := t.scan(`SELECT `+ticketCols+` FROM drive_tickets WHERE id = ?`, []any{id},
		&tk.ID, &tk.Sender, &tk.Recipient, &tk.FileName, &tk.FileSize, &ack, &status,
		&tk.Progress, &tk.SHA256, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return tk, drive.ErrNoTicket
	}
	tk.Ack, tk.Status = drive.Ack(ack), drive.Status(status)
	tk.Created, tk.Expires = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
	return tk, err
}

func scanTicket(rows scanner) (drive.Ticket, error) {
	var (
		tk               drive.Ticket
		ack, status      string
		created, expires int64
	)
	err := rows.Scan(&tk.ID, &tk.Sender, &tk.Recipient, &tk.FileName, &tk.FileSize, &ack, &status,
		&tk.Progress, &tk.SHA256, &created, &expires)
	tk.Ack, tk.Status = drive.Ack(ack), drive.Status(status)
	tk.Created, tk.Expires = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
	return tk, err
}

// UpdateTicket changes a ticket's ack, status, progress and digest through
// change, atomically.
func (c *core) UpdateTicket(ctx context.Context, id string, change func(*drive.Ticket) error) (drive.Ticket, error) {
	var out drive.Ticket
	err := c.db.write(ctx, func(t tx) error {
		tk, err := getTicket(t, id)
		if err != nil {
			return err
		}
		next := tk
		if err := change(&next); err != nil {
			return err
		}
		// Only the mutable fields are taken from change.
		tk.Ack, tk.Status, tk.Progress, tk.SHA256 = next.Ack, next.Status, next.Progress, next.SHA256
		if err := checkTicket(tk); err != nil {
			return err
		}
		if _, err := t.exec(`UPDATE drive_tickets SET ack_status = ?, send_status = ?, progress = ?, sha256 = ?
			WHERE id = ?`, string(tk.Ack), string(tk.Status), tk.Progress, tk.SHA256, id); err != nil {
			return err
		}
		out = tk
		return nil
	})
	return out, err
}

// DeleteTicket removes a ticket if it exists.
func (c *core) DeleteTicket(ctx context.Context, id string) error {
	return c.db.write(ctx, func(t tx) error {
		_, err := t.exec(`DELETE FROM drive_tickets WHERE id = ?`, id)
		return err
	})
}

// ExpiredTickets lists up to limit tickets that expired at or before now.
func (c *core) ExpiredTickets(ctx context.Context, now time.Time, limit int) ([]drive.Ticket, error) {
	if limit <= 0 {
		limit = 1000
	}
	var out []drive.Ticket
	err := c.db.read(ctx, func(t tx) error {
		var err error
		out, err = all(t, scanTicket, `SELECT `+ticketCols+` FROM drive_tickets
			WHERE expires_at <= ? ORDER BY expires_at, id LIMIT ?`, now.UnixNano(), limit)
		return err
	})
	return out, err
}

// Tickets lists up to limit live tickets, newest first.
func (c *core) Tickets(ctx context.Context, limit int) ([]drive.Ticket, error) {
	var out []drive.Ticket
	err := c.db.read(ctx, func(t tx) error {
		var err error
		out, err = all(t, scanTicket, `SELECT `+ticketCols+` FROM drive_tickets
			WHERE expires_at > ? ORDER BY created_at DESC, id LIMIT ?`, time.Now().UnixNano(), limit)
		return err
	})
	return out, err
}
