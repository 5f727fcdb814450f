package hub

import (
	"context"
	"errors"
	"time"
)

// Message is an instant message in the form every frontend understands:
// plain UTF-8 text, with optional formatting for the whole message that a
// protocol may render (MSN's X-MMS-IM-Format, GG's HTML, MySpace markup)
// or drop.
type Message struct {
	Text   string    `json:"text"`
	Format *Format   `json:"format,omitempty"`
	Sent   time.Time `json:"sent"`
	// Offline is the store's id when the message comes from the offline
	// queue; the frontend deletes it once its client has it.
	Offline int64 `json:"offline,omitempty"`
}

// Format is whole-message formatting.
type Format struct {
	Font      string `json:"font,omitempty"`
	Color     string `json:"color,omitempty"` // RRGGBB
	Bold      bool   `json:"bold,omitempty"`
	Italic    bool   `json:"italic,omitempty"`
	Underline bool   `json:"underline,omitempty"`
	Strike    bool   `json:"strike,omitempty"`
}

// OfflineMessage is a message kept for an account that was offline.
type OfflineMessage struct {
	ID   int64
	From Account
	Message
}

// Delivery says what became of a message.
type Delivery int

const (
	Delivered   Delivery = iota // handed to the recipient's sessions
	Queued                      // recipient offline: kept for their next login
	Blocked                     // the recipient does not accept the sender
	MailboxFull                 // offline, and their offline queue is full
)

// MaxMessageBytes bounds the text of one message; GG's own limit is about
// 20 kB, and no protocol here carries more in one message.
const MaxMessageBytes = 20000

// MaxOfflineMessages bounds one account's offline queue.
const MaxOfflineMessages = 500

// ErrTooLong: the message is larger than MaxMessageBytes.
var ErrTooLong = errors.New("message too long")

// SendMessage delivers msg from one account to another, to every session
// of the recipient except those of skipProtocol (the sender's frontend
// passes its own protocol when it delivered the message itself). An
// offline recipient gets it at their next login.
func (h *Hub) SendMessage(ctx context.Context, from Account, to uint32, msg Message, skipProtocol string) (Delivery, error) {
	if len(msg.Text) > MaxMessageBytes {
		return 0, ErrTooLong
	}
	if msg.Sent.IsZero() {
		msg.Sent = time.Now().UTC()
	}
	r, err := h.cfg.Store.Relation(ctx, to, from.Number)
	if err != nil {
		return 0, err
	}
	if !r.Allows() {
		return Blocked, nil
	}
	st, _, err := h.Presence(ctx, to)
	if err != nil {
		return 0, err
	}
	if st != StatusOffline {
		h.publish(to, Event{Kind: EventMessage, From: from, Message: &msg, SkipProtocol: skipProtocol})
		return Delivered, nil
	}
	id, err := h.cfg.Store.QueueOffline(ctx, to, from.Number, msg, MaxOfflineMessages)
	if errors.Is(err, ErrListFull) {
		return MailboxFull, nil
	}
	if err != nil {
		return 0, err
	}
	// A login attaches its session, sets its presence and then reads its
	// mailbox. One that came between the presence check above and the
	// queueing may have read the mailbox before the message was in it; then
	// the message is still unclaimed, and goes to the new session live.
	if st, _, err := h.Presence(ctx, to); err != nil || st == StatusOffline {
		return Queued, err
	}
	taken, err := h.cfg.Store.TakeOffline(ctx, to, id)
	if err != nil || !taken {
		return Queued, err
	}
	h.publish(to, Event{Kind: EventMessage, From: from, Message: &msg, SkipProtocol: skipProtocol})
	return Delivered, nil
}

// Mirror gives the recipient's sessions, except those of skipProtocol, a
// message that reached them in a conversation of that protocol, without
// the checks SendMessage makes: they already accepted the conversation.
func (h *Hub) Mirror(ctx context.Context, from Account, to uint32, msg Message, skipProtocol string) {
	if msg.Sent.IsZero() {
		msg.Sent = time.Now().UTC()
	}
	h.publish(to, Event{Kind: EventMessage, From: from, Message: &msg, SkipProtocol: skipProtocol})
}

// SendTyping tells an online recipient that from is typing; length is the
// length of what they typed so far (GG), 0 when they stopped.
func (h *Hub) SendTyping(ctx context.Context, from Account, to uint32, length int, skipProtocol string) error {
	st, _, err := h.VisiblePresence(ctx, from.Number, to)
	if err != nil || st == StatusOffline {
		st, _, err = h.Presence(ctx, to) // invisible recipients still type with people
		if err != nil || st == StatusOffline {
			return err
		}
	}
	r, err := h.cfg.Store.Relation(ctx, to, from.Number)
	if err != nil || !r.Allows() {
		return err
	}
	h.publish(to, Event{Kind: EventTyping, From: from, Typing: length, SkipProtocol: skipProtocol})
	return nil
}

// OfflineMessages returns what was kept for the account while it was away.
func (s *Session) OfflineMessages(ctx context.Context) ([]OfflineMessage, error) {
	return s.hub.cfg.Store.OfflineMessages(ctx, s.Account().Number)
}

// Requeue keeps messages a frontend could not hand to its client, for the
// account's next login.
func (h *Hub) Requeue(ctx context.Context, to uint32, from Account, msg Message) error {
	msg.Offline = 0
	_, err := h.cfg.Store.QueueOffline(ctx, to, from.Number, msg, MaxOfflineMessages)
	return err
}

// DeleteOffline forgets offline messages the client has received.
func (s *Session) DeleteOffline(ctx context.Context, ids ...int64) error {
	return s.hub.cfg.Store.DeleteOffline(ctx, s.Account().Number, ids...)
}

// Sessions returns the protocols an account is logged in through right now
// (on any node), with each one's status.
func (h *Hub) Sessions(ctx context.Context, number uint32) (map[string]Status, error) {
	rec, _, err := h.loadPresence(ctx, number)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Status, len(rec.Sessions))
	for _, sp := range rec.Sessions {
		if sp.Status.availability() > out[sp.Protocol].availability() {
			out[sp.Protocol] = sp.Status
		}
	}
	return out, nil
}

// HasSession reports whether the account's session id, of protocol, is
// attached, on whichever node.
func (h *Hub) HasSession(ctx context.Context, number uint32, id, protocol string) (bool, error) {
	rec, _, err := h.loadPresence(ctx, number)
	if err != nil {
		return false, err
	}
	sp, ok := rec.Sessions[id]
	return ok && sp.Protocol == protocol, nil
}

// CanReach reports whether from may start a conversation with to: to is
// visibly online, allows from, and is not blocked by from (ErrUnreachable
// otherwise).
func (h *Hub) CanReach(ctx context.Context, from Account, to uint32) error {
	mine, err := h.cfg.Store.Relation(ctx, from.Number, to)
	if err != nil {
		return err
	}
	if mine.OnBlock {
		return ErrUnreachable
	}
	st, _, err := h.VisiblePresence(ctx, from.Number, to)
	if err != nil {
		return err
	}
	if st == StatusOffline {
		return ErrUnreachable
	}
	return nil
}
