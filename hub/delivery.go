package hub

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

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

// The counters every message delivered moves, looked up once rather than
// for each message.
var (
	messagesPublished = metrics.Events.WithLabelValues(string(EventMessage), "published")
	messagesDelivered = metrics.Events.WithLabelValues(string(EventMessage), "delivered")
	outcomeDelivered  = metrics.MessageOutcomes.WithLabelValues("delivered")
)

// eventsCounted is the counter of events of kind at stage.
func eventsCounted(kind EventKind, stage string) prometheus.Counter {
	switch {
	case kind == EventMessage && stage == "published":
		return messagesPublished
	case kind == EventMessage && stage == "delivered":
		return messagesDelivered
	}
	return metrics.Events.WithLabelValues(string(kind), stage)
}

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

// deliverLive sends a message event to the recipient's sessions on nodes
// and waits until one of those nodes says a session took it (true), or
// every node said none did, or DeliveryTimeout passed (false).
func (h *Hub) deliverLive(ctx context.Context, to uint32, ev Event, nodes []string) bool {
	remote := slices.ContainsFunc(nodes, func(node string) bool { return node != h.cfg.Node })
	if !remote && h.hasLocal(to) {
		// Sessions on this node only: handed over on this goroutine when
		// the dispatcher is idle, the count needs no channel. Only here,
		// on the sender's goroutine, may the sender's batch hold the
		// connections (see Batch).
		here := ev
		if b := batchOf(ctx); b != nil && ev.Message != nil {
			here.Batch = b
			b.begin(h, to, ev.From.Number, ev.Message)
			defer b.end()
		}
		if took, ok := h.dispatchHere(envelope{to: to, ev: here}); ok {
			eventsCounted(ev.Kind, "published").Inc()
			return took > 0
		}
	}
	// Room for every answer, so that no node's answer ever waits.
	ch := make(chan int, len(nodes)+1)
	reply := ""
	if remote {
		r := &h.receipts
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
		reply = r.prefix + strconv.FormatUint(id, 10)
	}
	waiting := h.publishTo(to, ev, nodes, ch, reply)
	var timer *time.Timer
	for answered := 0; answered < waiting; answered++ {
		select {
		case took := <-ch: // this node's, when it dispatched the event here
			if took > 0 {
				return true
			}
			continue
		default:
		}
		if timer == nil {
			timer = time.NewTimer(h.cfg.DeliveryTimeout)
			defer timer.Stop()
		}
		select {
		case took := <-ch:
			if took > 0 {
				return true
			}
		case <-timer.C:
			h.warn("message delivery unanswered", "to", to, "nodes", waiting-answered)
			return false
		case <-ctx.Done():
			return false
		}
	}
	return false
}

// nudgeMailbox tells the account's sessions, if it has any, that its
// mailbox holds messages none of them has. It reads the bucket itself: a
// login that wrote its presence just now, on any node, must hear it.
func (h *Hub) nudgeMailbox(ctx context.Context, to uint32) {
	if rec, _, err := h.loadPresence(ctx, to); err == nil && len(rec.Sessions) > 0 {
		h.publishTo(to, Event{Kind: EventMailbox}, rec.nodes(""), nil, "")
	}
}

// Undelivered puts back in the mailbox a message this session took but
// whose bytes its connection then dropped (the client stopped reading, or
// the connection closed first), so that the sender's "delivered" stays
// true. It does not wait for the store.
func (s *Session) Undelivered(from Account, msg Message) {
	s.hub.Undelivered(s.Account().Number, from, msg, s.protocol)
}

// returnToMailbox puts a message that a connection took and then dropped
// back in the mailbox, and says so.
func (h *Hub) returnToMailbox(ctx context.Context, to, from uint32, msg Message, protocol string) error {
	msg.Offline = 0
	_, err := h.cfg.Store.QueueOffline(ctx, to, from, msg, h.cfg.Mailbox.returned())
	if h.countReturn(to, from, protocol, err) {
		h.nudgeMailbox(ctx, to)
	}
	return err
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

// busError learns from the bus that this node's subscription dropped
// events because the node could not take them as fast as they came.
func (h *Hub) busError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if sub != h.nodeSub || !errors.Is(err, nats.ErrSlowConsumer) {
		h.warn("bus error", "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.countNodeDropsLocked()
}

// countNodeDropsLocked adds the events the node's subscription dropped
// since the last count to the metric. Their accounts are unknown: the
// events were never read.
func (h *Hub) countNodeDropsLocked() {
	dropped, err := h.nodeSub.Dropped()
	if err != nil || dropped <= h.nodeDropped {
		return
	}
	delta := dropped - h.nodeDropped
	h.nodeDropped = dropped
	metrics.EventsRefused.WithLabelValues("unknown", "queue_full").Add(float64(delta))
	h.warn("events refused: the node could not read them as fast as they came", "dropped", delta)
}

// resyncAfter is how long a presence resync waits after a refused event,
// so that one resync follows a burst of them.
const resyncAfter = 250 * time.Millisecond

// scheduleResync gives the account's sessions on this node their contacts'
// presence afresh after resyncAfter, unless that is already planned.
func (h *Hub) scheduleResync(number uint32) {
	h.mu.Lock()
	if h.resyncing[number] || !h.users.has(number) {
		h.mu.Unlock()
		return
	}
	h.resyncing[number] = true
	h.background.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.background.Done()
		time.Sleep(resyncAfter)
		h.mu.Lock()
		delete(h.resyncing, number)
		h.mu.Unlock()
		h.resyncPresence(number)
	}()
}

// resync is a snapshot of what a session's contacts look like now, handed
// over by the dispatcher in order with the events around it.
type resync struct {
	number  uint32 // the session's account
	session *Session
	events  []Event
}

// resyncPresence sends each of the account's sessions on this node its
// contacts' presence as it is now, after events were lost on the way.
func (h *Hub) resyncPresence(number uint32) {
	h.mu.Lock()
	sessions := h.users.appendOf(nil, number)
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
	st := h.stripeOf(number)
	for _, s := range sessions {
		st.waiting.Add(1)
		select {
		case h.resyncs <- resync{number: number, session: s, events: events}:
		case <-ctx.Done():
			st.waiting.Add(-1)
			return
		}
	}
}
