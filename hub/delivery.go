package hub

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/crosstalk-im/crosstalk/internal/ratelimit"
	"github.com/crosstalk-im/crosstalk/metrics"
)

// MailboxLimits bound one account's offline messages.
type MailboxLimits struct {
	// Total is how many messages may wait for the account.
	Total int
	// PerSender is how many of them may come from one sender, so that no
	// one can fill another's mailbox alone.
	PerSender int
}

// DefaultMailbox keeps 500 messages for an account, at most 100 from any
// one sender.
var DefaultMailbox = MailboxLimits{Total: 500, PerSender: 100}

// returned is what a message that was already accepted may still use when
// its connection fails to write it: no share, and twice the total, so that
// what a sender was told stays true without letting the mailbox grow
// without end.
func (l MailboxLimits) returned() MailboxLimits { return MailboxLimits{Total: 2 * l.Total} }

// warnEvery spaces out the log lines of one kind of delivery trouble.
const warnEvery = 10 * time.Second

// receipts routes the nodes' answers to message deliveries to the senders
// waiting for them.
type receipts struct {
	sub    *nats.Subscription
	prefix string

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan int
}

func (h *Hub) startReceipts() error {
	r := &h.receipts
	r.prefix = "ct.took." + randomID(8) + "."
	r.waiting = make(map[uint64]chan int)
	sub, err := h.cfg.Conn.Subscribe(r.prefix+"*", func(m *nats.Msg) {
		id, err1 := strconv.ParseUint(strings.TrimPrefix(m.Subject, r.prefix), 10, 64)
		took, err2 := strconv.Atoi(string(m.Data))
		if err1 != nil || err2 != nil {
			return
		}
		r.mu.Lock()
		ch := r.waiting[id]
		r.mu.Unlock()
		select {
		case ch <- took:
		default: // the sender stopped waiting, or a node answered twice
		}
	})
	if err != nil {
		return err
	}
	r.sub = sub
	return nil
}

// deliverLive publishes a message event to the recipient's sessions and
// waits until one of the nodes that hold them says a session took it
// (true), or every node said none did, or DeliveryTimeout passed (false).
func (h *Hub) deliverLive(ctx context.Context, to uint32, ev Event, nodes int) bool {
	r := &h.receipts
	ch := make(chan int, nodes)
	r.mu.Lock()
	r.next++
	id := r.next
	r.waiting[id] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiting, id)
		r.mu.Unlock()
	}()
	h.publishRequest(to, ev, r.prefix+strconv.FormatUint(id, 10))
	timer := time.NewTimer(h.cfg.DeliveryTimeout)
	defer timer.Stop()
	for answered := 0; answered < nodes; answered++ {
		select {
		case took := <-ch:
			if took > 0 {
				return true
			}
		case <-timer.C:
			h.warn("message delivery unanswered", "to", to, "nodes", nodes-answered)
			return false
		case <-ctx.Done():
			return false
		}
	}
	return false
}

// nodes counts the nodes holding sessions that would get an event not
// meant for skipProtocol.
func (r presenceRecord) nodes(skipProtocol string) int {
	var seen []string
	for _, sp := range r.Sessions {
		if sp.Protocol != skipProtocol && !contains(seen, sp.Node) {
			seen = append(seen, sp.Node)
		}
	}
	return len(seen)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// nudgeMailbox tells the account's sessions, if it has any, that its
// mailbox holds messages none of them has.
func (h *Hub) nudgeMailbox(ctx context.Context, to uint32) {
	if st, _, err := h.Presence(ctx, to); err == nil && st != StatusOffline {
		h.publish(to, Event{Kind: EventMailbox})
	}
}

// Undelivered puts back in the mailbox a message this session took but
// whose bytes its connection then dropped (the client stopped reading, or
// the connection closed first), so that the sender's "delivered" stays
// true. It does not wait for the store.
func (s *Session) Undelivered(from Account, msg Message) {
	s.hub.Undelivered(s.Account().Number, from, msg, s.protocol)
}

// Undelivered is Session.Undelivered for a frontend's connection that is
// not a hub session (an MSN switchboard), named by its protocol.
func (h *Hub) Undelivered(to uint32, from Account, msg Message, protocol string) {
	h.background.Add(1)
	go func() {
		defer h.background.Done()
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.DeliveryTimeout)
		defer cancel()
		msg.Offline = 0
		if _, err := h.cfg.Store.QueueOffline(ctx, to, from.Number, msg, h.cfg.Mailbox.returned()); err != nil {
			metrics.MessageOutcomes.WithLabelValues("lost").Inc()
			h.log.Error("message lost: its connection dropped it and the mailbox refused it",
				"account", to, "from", from.Number, "protocol", protocol, "err", err)
			return
		}
		metrics.MessageOutcomes.WithLabelValues("returned").Inc()
		h.warn("message returned to the mailbox: its connection dropped it", "account", to, "protocol", protocol)
		h.nudgeMailbox(ctx, to)
	}()
}

// refused counts an event that reached no session and says so in the log.
func (h *Hub) refused(kind EventKind, cause string, to uint32) {
	metrics.EventsRefused.WithLabelValues(string(kind), cause).Inc()
	h.warn("event refused", "kind", kind, "cause", cause, "account", to)
}

// warn logs delivery trouble at most once per warnEvery for each message,
// saying how many lines it held back.
func (h *Hub) warn(msg string, args ...any) {
	h.samplersMu.Lock()
	s := h.samplers[msg]
	if s == nil {
		s = &ratelimit.Sampler{Every: warnEvery}
		h.samplers[msg] = s
	}
	h.samplersMu.Unlock()
	if ok, held := s.Allow(time.Now()); ok {
		h.log.Warn(msg, append(args, "held_back", held)...)
	}
}

// busError learns from the bus that an account's subscription dropped
// events because the node's event queue was full.
func (h *Hub) busError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if sub == nil || !errors.Is(err, nats.ErrSlowConsumer) {
		h.warn("bus error", "err", err)
		return
	}
	n, perr := strconv.ParseUint(strings.TrimPrefix(sub.Subject, "ct.user."), 10, 32)
	if perr != nil {
		h.warn("bus subscription dropped events", "subject", sub.Subject)
		return
	}
	h.recountDrops(uint32(n))
}

// recountDropsEvery spaces the checks for more dropped events after the
// bus reported the first of a burst.
const recountDropsEvery = 250 * time.Millisecond

// recountDrops counts the events the bus dropped for an account, and
// gives its sessions a fresh view of their contacts' presence, until no
// more are dropped.
func (h *Hub) recountDrops(number uint32) {
	h.mu.Lock()
	u := h.users[number]
	if u == nil || u.checking {
		h.mu.Unlock()
		return
	}
	u.checking = true
	h.background.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.background.Done()
		for {
			h.mu.Lock()
			current := h.users[number]
			if current != u {
				h.mu.Unlock()
				return
			}
			delta := h.countDropsLocked(number, u)
			if delta == 0 {
				u.checking = false
				h.mu.Unlock()
				return
			}
			h.mu.Unlock()
			h.resyncPresence(number)
			time.Sleep(recountDropsEvery)
		}
	}()
}

// countDropsLocked adds the events u's subscription dropped since the last
// count to the metric and returns how many that was.
func (h *Hub) countDropsLocked(number uint32, u *localUser) int {
	dropped, err := u.sub.Dropped()
	if err != nil || dropped <= u.dropped {
		return 0
	}
	delta := dropped - u.dropped
	u.dropped = dropped
	metrics.EventsRefused.WithLabelValues("unknown", "queue_full").Add(float64(delta))
	h.warn("events refused: the node's event queue is full", "account", number, "dropped", delta)
	return delta
}

func (h *Hub) unsubscribeLocked(number uint32, u *localUser) {
	h.countDropsLocked(number, u)
	_ = u.sub.Unsubscribe()
	delete(h.users, number)
}

// resync is a snapshot of what a session's contacts look like now, handed
// over by the dispatcher in order with the events around it.
type resync struct {
	session *Session
	events  []Event
}

// resyncPresence sends each of the account's sessions on this node its
// contacts' presence as it is now, after events were lost on the way.
func (h *Hub) resyncPresence(number uint32) {
	h.mu.Lock()
	var sessions []*Session
	if u := h.users[number]; u != nil {
		sessions = append(sessions, u.sessions...)
	}
	h.mu.Unlock()
	if len(sessions) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.DeliveryTimeout)
	defer cancel()
	r, err := h.cfg.Store.Roster(ctx, number)
	if err != nil {
		h.warn("presence resync", "account", number, "err", err)
		return
	}
	var events []Event
	for _, e := range r.Of(Forward) {
		st, text, err := h.VisiblePresence(ctx, number, e.Contact.Number)
		if err != nil {
			h.warn("presence resync", "account", number, "err", err)
			return
		}
		events = append(events, Event{Kind: EventPresence, From: e.Contact, Status: st, Text: text})
	}
	for _, s := range sessions {
		select {
		case h.resyncs <- resync{session: s, events: events}:
		case <-ctx.Done():
			return
		}
	}
}
