package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
)

// QueueOffline keeps msg for recipient to and returns its id;
// hub.ErrListFull when max are already waiting.
func (s *SQLite) QueueOffline(ctx context.Context, to, from uint32, msg hub.Message, max int) (int64, error) {
	body, err := json.Marshal(hub.Message{Text: msg.Text, Format: msg.Format})
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.write(ctx, func(t txn) error {
		if err := mustExist(t, to); err != nil {
			return err
		}
		if err := mustExist(t, from); err != nil {
			return err
		}
		var waiting int
		if err := t.scan(`SELECT COUNT(*) FROM offline_messages WHERE recipient = ?`, []any{to}, &waiting); err != nil {
			return err
		}
		if max > 0 && waiting >= max {
			return hub.ErrListFull
		}
		return t.scan(`INSERT INTO offline_messages (recipient, sender, sent_at, body) VALUES (?, ?, ?, ?) RETURNING id`,
			[]any{to, from, msg.Sent.UnixNano(), string(body)}, &id)
	})
	return id, err
}

// OfflineMessages returns the waiting messages, oldest first, and marks
// them claimed.
func (s *SQLite) OfflineMessages(ctx context.Context, to uint32) ([]hub.OfflineMessage, error) {
	var out []hub.OfflineMessage
	err := s.write(ctx, func(t txn) error {
		if _, err := t.exec(`UPDATE offline_messages SET claimed = TRUE WHERE recipient = ? AND NOT claimed`, to); err != nil {
			return err
		}
		var err error
		out, err = all(t, scanOffline, `SELECT m.id, m.sent_at, m.body, `+accountCols+`
			FROM offline_messages m JOIN accounts a ON a.number = m.sender
			WHERE m.recipient = ? ORDER BY m.id`, to)
		return err
	})
	return out, err
}

func scanOffline(rows *sql.Rows) (hub.OfflineMessage, error) {
	var (
		m    hub.OfflineMessage
		sent int64
		body string
	)
	if err := rows.Scan(&m.ID, &sent, &body, &m.From.Number, &m.From.Email, new(sql.NullString), &m.From.DisplayName, new(int64)); err != nil {
		return m, err
	}
	if err := json.Unmarshal([]byte(body), &m.Message); err != nil {
		return m, fmt.Errorf("offline message %d: %w", m.ID, err)
	}
	m.Sent = time.Unix(0, sent).UTC()
	m.Message.Offline = m.ID
	return m, nil
}

// DeleteOffline removes delivered messages of one recipient.
func (s *SQLite) DeleteOffline(ctx context.Context, to uint32, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{to}
	for _, id := range ids {
		args = append(args, id)
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	return s.write(ctx, func(t txn) error {
		_, err := t.exec(`DELETE FROM offline_messages WHERE recipient = ? AND id IN (`+marks+`)`, args...)
		return err
	})
}

// TakeOffline removes one waiting message no login has read yet and
// reports whether it did.
func (s *SQLite) TakeOffline(ctx context.Context, to uint32, id int64) (bool, error) {
	var taken bool
	err := s.write(ctx, func(t txn) error {
		n, err := t.exec(`DELETE FROM offline_messages WHERE recipient = ? AND id = ? AND NOT claimed`, to, id)
		taken = n == 1
		return err
	})
	return taken, err
}

// maxContactFile bounds a stored contact-list file.
const maxContactFile = 1 << 20

// SaveContactFile replaces the owner's file of that format and bumps its
// version.
func (s *SQLite) SaveContactFile(ctx context.Context, owner uint32, format string, data []byte) (uint32, error) {
	if len(data) > maxContactFile {
		return 0, invalid("contact file larger than %d bytes", maxContactFile)
	}
	var version uint32
	err := s.write(ctx, func(t txn) error {
		if err := mustExist(t, owner); err != nil {
			return err
		}
		err := t.scan(`SELECT version FROM contact_files WHERE owner = ? AND format = ?`, []any{owner, format}, &version)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		version++
		_, err = t.exec(`INSERT INTO contact_files (owner, format, version, data) VALUES (?, ?, ?, ?)
			ON CONFLICT (owner, format) DO UPDATE SET version = excluded.version, data = excluded.data`,
			owner, format, version, data)
		return err
	})
	return version, err
}

// ContactFile reads the owner's file back; no file is empty data, version 0.
func (s *SQLite) ContactFile(ctx context.Context, owner uint32, format string) ([]byte, uint32, error) {
	var (
		data    []byte
		version uint32
	)
	err := s.read(ctx, func(t txn) error {
		err := t.scan(`SELECT data, version FROM contact_files WHERE owner = ? AND format = ?`, []any{owner, format}, &data, &version)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	return data, version, err
}
