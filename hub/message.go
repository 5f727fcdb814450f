package hub

import (
	"context"
	"errors"
	"time"

	"github.com/crosstalk-im/crosstalk/metrics"
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
	// Runs, when set, are Text in pieces of differing formatting (see
	// RichMessage); Format then holds what they have in common.
	Runs []Run `json:"runs,omitempty"`
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

// QueuedMessage is a message for the mailbox, from one account to
// another.
type QueuedMessage struct {
	To, From uint32
	Message  Message
}

// OfflineMessage is a message kept for an account that was offline.
type OfflineMessage struct {
	ID   int64
	From Account
	Message
	// HeldBy names the session that claimed it, as it was read; "" when
	// none has.
	HeldBy string
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

// ErrTooLong: the message is larger than MaxMessageBytes.
var ErrTooLong = errors.New("message too long")

// SendMessage delivers msg from one account to another, to every session
// of the recipient except those of skipProtocol (the sender's frontend
// passes its own protocol when it delivered the message itself). It says
// Delivered only once a session of the recipient took the message into its
// connection, and Queued only once it is committed to the mailbox.
func (h *Hub) SendMessage(ctx context.Context, from Account, to uint32, msg Message, skipProtocol string) (Delivery, error) {
	if len(msg.Text) > MaxMessageBytes {
		return 0, ErrTooLong
	}
	if b := batchOf(ctx); b != nil {
		b.last = nil // Answer is about this message
	}
	now := time.Now()
	if msg.Sent.IsZero() {
		msg.Sent = now.UTC()
	}
	r, err := h.relationAt(ctx, to, from.Number, now)
	if err != nil {
		return 0, err
	}
	if !r.Allows() {
		metrics.MessageOutcomes.WithLabelValues("blocked").Inc()
		return Blocked, nil
	}
	rec, _ := h.directory.record(to)
	if st, _ := rec.effective(); st != StatusOffline {
		ev := Event{Kind: EventMessage, From: from, Message: &msg, SkipProtocol: skipProtocol}
		if h.deliverLive(ctx, to, ev, rec.nodes(skipProtocol)) {
			outcomeDelivered.Inc()
			return Delivered, nil
		}
		// Online, but no session took it: it waits in the mailbox.
	}
	if _, err := h.cfg.Store.QueueOffline(ctx, to, from.Number, msg, h.cfg.Mailbox); errors.Is(err, ErrListFull) {
		metrics.MessageOutcomes.WithLabelValues("mailbox_full").Inc()
		return MailboxFull, nil
	} else if err != nil {
		return 0, err
	}
	metrics.MessageOutcomes.WithLabelValues("stored").Inc()
	// A login attaches its session, sets its presence and then reads its
	// mailbox. One that came between the presence check above and the
	// queueing may have read the mailbox before the message was in it:
	// sessions online now are told to look again.
	h.nudgeMailbox(ctx, to)
	return Queued, nil
}

// Mirror gives the recipient's sessions, except those of skipProtocol, a
// message that reached them in a conversation of that protocol, without
// the checks SendMessage makes: they already accepted the conversation.
// It costs nothing when the recipient has no session of another protocol.
func (h *Hub) Mirror(from Account, to uint32, msg Message, skipProtocol string) {
	if !h.HasSessionBesides(to, skipProtocol) {
		return
	}
	if msg.Sent.IsZero() {
		msg.Sent = time.Now().UTC()
	}
	h.publish(to, Event{Kind: EventMessage, From: from, Message: &msg, SkipProtocol: skipProtocol})
}

// HasSessionBesides reports whether the account has a session of a
// protocol other than protocol, on any node, as this node last heard: a
// cheap check for work that only helps such sessions (Mirror).
func (h *Hub) HasSessionBesides(number uint32, protocol string) bool {
	return h.directory.hasSessionBesides(number, protocol)
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
	r, err := h.relation(ctx, to, from.Number)
	if err != nil || !r.Allows() {
		return err
	}
	h.publish(to, Event{Kind: EventTyping, From: from, Typing: length, SkipProtocol: skipProtocol})
	return nil
}

// OfflineMessages claims for this session what was kept for the account
// while it was away and that no other live session holds. Each message
// stays in the mailbox until DeleteOffline; when the session ends first,
// the claim goes back to the mailbox for the account's other sessions or
// next login.
func (s *Session) OfflineMessages(ctx context.Context) ([]OfflineMessage, error) {
	s.mailbox.Lock()
	defer s.mailbox.Unlock()
	s.mu.Lock()
	number, detached := s.account.Number, s.detached
	s.mu.Unlock()
	if detached {
		return nil, ErrDetached
	}
	rec, _, err := s.hub.loadPresence(ctx, number)
	if err != nil {
		return nil, err
	}
	live := []string{s.id}
	for _, sp := range rec.Sessions {
		live = append(live, sp.ID)
	}
	msgs, err := s.hub.cfg.Store.OfflineMessages(ctx, number, s.id, live)
	s.claimed = s.claimed || len(msgs) > 0
	return msgs, err
}

// DeleteOffline forgets offline messages the client has received.
func (s *Session) DeleteOffline(ctx context.Context, ids ...int64) error {
	return s.hub.cfg.Store.DeleteOffline(ctx, s.Account().Number, ids...)
}

// Sessions returns the protocols an account is logged in through right now
// (on any node), with each one's status.
func (h *Hub) Sessions(ctx context.Context, number uint32) (map[string]Status, error) {
	rec, _ := h.directory.record(number)
	out := make(map[string]Status, len(rec.Sessions))
	for _, sp := range rec.Sessions {
		if sp.Status.availability() > out[sp.Protocol].availability() {
			out[sp.Protocol] = sp.Status
		}
	}
	return out, nil
}

// HasSession reports whether the account's session id, of protocol, is
// attached, on whichever node. A session the replica does not show yet is
// looked up in the bucket itself: a client that logged in on one node may
// present its token to another at once.
func (h *Hub) HasSession(ctx context.Context, number uint32, id, protocol string) (bool, error) {
	rec, _ := h.directory.record(number)
	if found, ok := rec.session(id); ok {
		return found.Protocol == protocol, nil
	}
	rec, _, err := h.loadPresence(ctx, number)
	if err != nil {
		return false, err
	}
	found, ok := rec.session(id)
	return ok && found.Protocol == protocol, nil
}

// CanReach reports whether from may start a conversation with to: to is
// visibly online, allows from, and is not blocked by from (ErrUnreachable
// otherwise).
func (h *Hub) CanReach(ctx context.Context, from Account, to uint32) error {
	mine, err := h.relation(ctx, from.Number, to)
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

// SharedOffline reads the account's mailbox, or the named messages of
// it, as a service that lets all of an account's sessions of one kind
// see the same messages (MSN's offline-IM service, which every endpoint
// of the account reads): what no live session holds, and what live
// sessions hold that shares says are of that kind. What the account's
// other sessions hold they are delivering, and is left out. A session of
// another node that claimed before it first set its presence is taken
// for gone until it has.
func (h *Hub) SharedOffline(ctx context.Context, number uint32, shares func(protocol, details string) bool, ids ...int64) ([]OfflineMessage, error) {
	// The mailbox is read before the sessions: one that ended since gave
	// its claims back.
	msgs, err := h.cfg.Store.ReadOffline(ctx, number, ids...)
	if err != nil || len(msgs) == 0 {
		return msgs, err
	}
	rec, _, err := h.loadPresence(ctx, number)
	if err != nil {
		return nil, err
	}
	h.mu.RLock()
	for s := range h.users.of(number) {
		if _, known := rec.session(s.id); !known {
			s.mu.Lock()
			rec.Sessions = append(rec.Sessions, sessionPresence{ID: s.id, Protocol: s.protocol, Details: s.details})
			s.mu.Unlock()
		}
	}
	h.mu.RUnlock()
	out := msgs[:0]
	for _, m := range msgs {
		holder, live := rec.session(m.HeldBy)
		if m.HeldBy == "" || !live || shares(holder.Protocol, holder.Details) {
			out = append(out, m)
		}
	}
	return out, nil
}
