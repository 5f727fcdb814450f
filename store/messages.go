package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
)

// The statements of a message to an offline recipient and of a login's
// look at its mailbox.
const (
	countMailboxShares = `SELECT COUNT(*), COUNT(CASE WHEN sender = ? THEN 1 END) FROM offline_messages WHERE recipient = ?`
	insertOffline      = `INSERT INTO offline_messages (recipient, sender, sent_at, body) VALUES (?, ?, ?, ?) RETURNING id`
	releaseClaims      = `UPDATE offline_messages SET claimed_by = NULL WHERE recipient = ? AND claimed_by = ?`
	countOffline       = `SELECT COUNT(*) FROM offline_messages WHERE recipient = ?`
	selectAnyMessage   = `SELECT 1 FROM offline_messages WHERE recipient = ? LIMIT 1`
	// selectUnheldMessage uses IS DISTINCT FROM, which is true of an unclaimed
	// (NULL) message.
	selectUnheldMessage = `SELECT 1 FROM offline_messages WHERE recipient = ? AND claimed_by IS DISTINCT FROM ? LIMIT 1`
	selectHeldClaim     = `SELECT 1 FROM offline_messages WHERE recipient = ? AND claimed_by = ? LIMIT 1`
)

// QueueOffline keeps msg for recipient to and returns its id;
// hub.ErrListFull when the mailbox or the sender's share of it is full.
func (c *core) QueueOffline(ctx context.Context, to, from uint32, msg hub.Message, limits hub.MailboxLimits) (int64, error) {
	body, err := offlineBody(msg)
	if err != nil {
		return 0, err
	}
	var id int64
	err = c.db.write(ctx, func(t tx) error {
		id, err = queueOffline(t, to, from, msg.Sent, body, limits)
		return err
	})
	return id, err
}

// QueueOfflineBatch keeps several messages in one transaction; see
// hub.Store.
func (c *core) QueueOfflineBatch(ctx context.Context, msgs []hub.QueuedMessage, limits hub.MailboxLimits) ([]error, error) {
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		body, err := offlineBody(m.Message)
		if err != nil {
			return nil, err
		}
		bodies[i] = body
	}
	refused := make([]error, len(msgs))
	err := c.db.write(ctx, func(t tx) error {
		// A PostgreSQL write may run again: each run starts afresh.
		clear(refused)
		for i, m := range msgs {
			_, err := queueOffline(t, m.To, m.From, m.Message.Sent, bodies[i], limits)
			if errors.Is(err, hub.ErrListFull) || errors.Is(err, hub.ErrNotFound) {
				refused[i] = err
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return refused, nil
}

// offlineBody is what the mailbox keeps of msg besides its parties and
// time.
func offlineBody(msg hub.Message) ([]byte, error) {
	return json.Marshal(hub.Message{Text: msg.Text, Format: msg.Format, Runs: msg.Runs})
}

// queueOffline keeps one message in t, within limits.
func queueOffline(t tx, to, from uint32, sent time.Time, body []byte, limits hub.MailboxLimits) (int64, error) {
	if err := mustExist(t, to); err != nil {
		return 0, err
	}
	if err := mustExist(t, from); err != nil {
		return 0, err
	}
	var waiting, fromSender int
	if err := t.scan(countMailboxShares, []any{from, to}, &waiting, &fromSender); err != nil {
		return 0, err
	}
	if limits.Total > 0 && waiting >= limits.Total || limits.PerSender > 0 && fromSender >= limits.PerSender {
		return 0, hub.ErrListFull
	}
	var id int64
	err := t.scan(insertOffline, []any{to, from, sent.UnixNano(), string(body)}, &id)
	return id, err
}

// OfflineMessages claims for session the waiting messages that no live
// session holds (live lists the account's sessions on every node) and
// returns them, oldest first. What session claimed before is not returned
// again: it has them already.
func (c *core) OfflineMessages(ctx context.Context, to uint32, session string, live []string) ([]hub.OfflineMessage, error) {
	// Most mailboxes hold nothing this session could claim, and seeing that
	// takes no write lock. Nothing a session has not claimed yet is
	// claimable when it is live itself, as what it claimed is not.
	var waiting bool
	var err error
	if slices.Contains(live, session) {
		waiting, err = c.exists(ctx, selectUnheldMessage, to, session)
	} else {
		waiting, err = c.exists(ctx, selectAnyMessage, to)
	}
	if err != nil || !waiting {
		return nil, err
	}
	var out []hub.OfflineMessage
	err = c.db.write(ctx, func(t tx) error {
		claimable := `recipient = ? AND (claimed_by IS NULL`
		args := []any{to}
		if len(live) > 0 {
			claimable += ` OR claimed_by NOT IN (` + marks(len(live)) + `)`
			for _, id := range live {
				args = append(args, id)
			}
		} else {
			claimable += ` OR TRUE`
		}
		claimable += `)`
		var err error
		out, err = all(t, scanOffline, `SELECT m.id, m.sent_at, m.body, m.claimed_by, `+accountCols+`
			FROM offline_messages m JOIN accounts a ON a.number = m.sender
			WHERE m.`+strings.ReplaceAll(claimable, "claimed_by", "m.claimed_by")+` ORDER BY m.id`, args...)
		if err != nil || len(out) == 0 {
			return err
		}
		for i := range out {
			out[i].HeldBy = session
		}
		_, err = t.exec(`UPDATE offline_messages SET claimed_by = ? WHERE `+claimable, append([]any{session}, args...)...)
		return err
	})
	return out, err
}

// ReleaseOffline gives up session's claims on messages its client never
// acknowledged and reports how many there were.
func (c *core) ReleaseOffline(ctx context.Context, to uint32, session string) (int64, error) {
	// Most sessions end holding no claims, which takes no write lock to
	// see: claims are only made by the session itself, before it ends.
	held, err := c.exists(ctx, selectHeldClaim, to, session)
	if err != nil || !held {
		return 0, err
	}
	var n int64
	err = c.db.write(ctx, func(t tx) error {
		var err error
		n, err = t.exec(releaseClaims, to, session)
		return err
	})
	return n, err
}

// ReadOffline reads messages of one recipient without claiming them.
func (c *core) ReadOffline(ctx context.Context, to uint32, ids ...int64) ([]hub.OfflineMessage, error) {
	query := `SELECT m.id, m.sent_at, m.body, m.claimed_by, ` + accountCols + `
		FROM offline_messages m JOIN accounts a ON a.number = m.sender WHERE m.recipient = ?`
	args := []any{to}
	if len(ids) > 0 {
		query += ` AND m.id IN (` + marks(len(ids)) + `)`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	var out []hub.OfflineMessage
	err := c.db.read(ctx, func(t tx) error {
		var err error
		out, err = all(t, scanOffline, query+` ORDER BY m.id`, args...)
		return err
	})
	return out, err
}

func scanOffline(rows scanner) (hub.OfflineMessage, error) {
	var (
		m      hub.OfflineMessage
		sent   int64
		body   string
		heldBy sql.NullString
	)
	if err := rows.Scan(&m.ID, &sent, &body, &heldBy, &m.From.Number, &m.From.Email, new(sql.NullString), &m.From.DisplayName, new(int64), new(bool)); err != nil {
		return m, err
	}
	if err := json.Unmarshal([]byte(body), &m.Message); err != nil {
		return m, fmt.Errorf("offline message %d: %w", m.ID, err)
	}
	m.Sent = time.Unix(0, sent).UTC()
	m.Message.Offline = m.ID
	m.HeldBy = heldBy.String
	return m, nil
}

// DeleteOffline removes delivered messages of one recipient.
func (c *core) DeleteOffline(ctx context.Context, to uint32, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{to}
	for _, id := range ids {
		args = append(args, id)
	}
	return c.db.write(ctx, func(t tx) error {
		_, err := t.exec(`DELETE FROM offline_messages WHERE recipient = ? AND id IN (`+marks(len(ids))+`)`, args...)
		return err
	})
}

// marks is n comma-separated placeholders.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// maxContactFile bounds a stored contact-list file.
const maxContactFile = 1 << 20

// SaveContactFile replaces the owner's file of that format and bumps its
// version.
func (c *core) SaveContactFile(ctx context.Context, owner uint32, format string, data []byte) (uint32, error) {
	if len(data) > maxContactFile {
		return 0, invalid("contact file larger than %d bytes", maxContactFile)
	}
	var version uint32
	err := c.db.write(ctx, func(t tx) error {
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
func (c *core) ContactFile(ctx context.Context, owner uint32, format string) ([]byte, uint32, error) {
	var (
		data    []byte
		version uint32
	)
	err := c.db.read(ctx, func(t tx) error {
		err := t.scan(`SELECT data, version FROM contact_files WHERE owner = ? AND format = ?`, []any{owner, format}, &data, &version)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	return data, version, err
}

// CountOffline says how many messages wait in an account's mailbox,
// claimed or not.
func (c *core) CountOffline(ctx context.Context, to uint32) (int, error) {
	var n int
	if err := c.db.row(ctx, countOffline, to).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return n, nil
}

// Profile reads the owner's roaming profile; none kept is the zero Profile.
func (c *core) Profile(ctx context.Context, owner uint32) (hub.Profile, error) {
	var (
		p       hub.Profile
		changed int64
	)
	err := c.db.read(ctx, func(t tx) error {
		if err := mustExist(t, owner); err != nil {
			return err
		}
		err := t.scan(`SELECT personal_message, picture_type, picture, picture_version, changed_at FROM profiles WHERE owner = ?`,
			[]any{owner}, &p.PersonalMessage, &p.PictureType, &p.Picture, &p.PictureVersion, &changed)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		p.Changed = time.Unix(changed, 0)
		return err
	})
	if len(p.Picture) == 0 {
		p.Picture = nil
	}
	return p, err
}

// Bounds of what a profile keeps. The services above bound the picture
// tighter by their own settings; these keep the store sane on their own.
const (
	maxPersonalMessage = 4 << 10
	maxPicture         = 8 << 20
	maxPictureType     = 100
)

// SetPersonalMessage keeps the profile's personal message.
func (c *core) SetPersonalMessage(ctx context.Context, owner uint32, text string) error {
	if len(text) > maxPersonalMessage {
		return invalid("personal message longer than %d bytes", maxPersonalMessage)
	}
	return c.db.write(ctx, func(t tx) error {
		if err := mustExist(t, owner); err != nil {
			return err
		}
		_, err := t.exec(`INSERT INTO profiles (owner, personal_message, changed_at) VALUES (?, ?, ?)
			ON CONFLICT (owner) DO UPDATE SET personal_message = excluded.personal_message, changed_at = excluded.changed_at`,
			owner, text, time.Now().Unix())
		return err
	})
}

// SetPicture keeps the profile's display picture and bumps its version;
// empty data removes the picture (the version still grows, so that no
// earlier URL finds a later picture).
func (c *core) SetPicture(ctx context.Context, owner uint32, mediaType string, data []byte) (uint32, error) {
	switch {
	case len(data) > maxPicture:
		return 0, invalid("picture larger than %d bytes", maxPicture)
	case len(mediaType) > maxPictureType:
		return 0, invalid("picture type longer than %d bytes", maxPictureType)
	}
	if len(data) == 0 {
		mediaType, data = "", []byte{}
	}
	var version uint32
	err := c.db.write(ctx, func(t tx) error {
		if err := mustExist(t, owner); err != nil {
			return err
		}
		err := t.scan(`SELECT picture_version FROM profiles WHERE owner = ?`, []any{owner}, &version)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		version++
		_, err = t.exec(`INSERT INTO profiles (owner, picture_type, picture, picture_version, changed_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (owner) DO UPDATE SET picture_type = excluded.picture_type, picture = excluded.picture,
				picture_version = excluded.picture_version, changed_at = excluded.changed_at`,
			owner, mediaType, data, version, time.Now().Unix())
		return err
	})
	return version, err
}
