package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crosstalk-im/crosstalk/internal/ratelimit"
	"github.com/crosstalk-im/crosstalk/metrics"
)

// Config wires a hub to its store and bus.
type Config struct {
	Store  Store
	Conn   *nats.Conn
	JS     jetstream.JetStream
	Logger *slog.Logger
	// MaxListEntries caps each of an account's FL, AL and BL.
	MaxListEntries int
	// Node names this process in presence records.
	Node string
	// Mailbox bounds each account's offline messages: in all, and from any
	// one sender.
	Mailbox MailboxLimits
	// EventQueue bounds the events waiting for this node's dispatcher; past
	// it the bus refuses events (counted, and messages fall back to the
	// mailbox).
	EventQueue int
	// DeliveryTimeout bounds how long a sender waits for the nodes holding
	// the recipient's sessions to say whether they took a message, before
	// it goes to the mailbox instead.
	DeliveryTimeout time.Duration
}

// DefaultMaxListEntries is the cap on one contact list; the MSN service of
// the MSNP7 era allowed a few hundred contacts.
const DefaultMaxListEntries = 600

// Hub is the protocol-neutral core shared by every frontend of one node.
type Hub struct {
	cfg      Config
	log      *slog.Logger
	presence jetstream.KeyValue
	inbox    chan *nats.Msg
	resyncs  chan resync
	done     chan struct{}
	receipts receipts
	// directory follows the presence bucket for cheap lookups.
	directory directory
	// background counts work that outlives the call that started it
	// (returning messages to the mailbox, recounting dropped events).
	background sync.WaitGroup

	samplersMu sync.Mutex
	samplers   map[string]*ratelimit.Sampler

	mu    sync.Mutex
	users map[uint32]*localUser

	presenceLocks [64]sync.Mutex
}

// localUser is one account's sessions on this node and the bus
// subscription that feeds them.
type localUser struct {
	sub      *nats.Subscription
	sessions []*Session
	dropped  int  // of sub's dropped events, how many were counted
	checking bool // a recount of dropped events is under way
}

// Defaults for Config.
const (
	DefaultEventQueue      = 8192
	DefaultDeliveryTimeout = 5 * time.Second
)

// New creates the hub's presence bucket and starts its dispatcher.
func New(ctx context.Context, cfg Config) (*Hub, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxListEntries <= 0 {
		cfg.MaxListEntries = DefaultMaxListEntries
	}
	if cfg.Node == "" {
		cfg.Node = randomID(4)
	}
	if cfg.Mailbox == (MailboxLimits{}) {
		cfg.Mailbox = DefaultMailbox
	}
	if cfg.EventQueue <= 0 {
		cfg.EventQueue = DefaultEventQueue
	}
	if cfg.DeliveryTimeout <= 0 {
		cfg.DeliveryTimeout = DefaultDeliveryTimeout
	}
	kv, err := presenceBucket(ctx, cfg.JS)
	if err != nil {
		return nil, fmt.Errorf("presence bucket: %w", err)
	}
	h := &Hub{
		cfg:      cfg,
		log:      cfg.Logger,
		presence: kv,
		inbox:    make(chan *nats.Msg, cfg.EventQueue),
		resyncs:  make(chan resync, 64),
		done:     make(chan struct{}),
		users:    make(map[uint32]*localUser),
		samplers: make(map[string]*ratelimit.Sampler),
	}
	if err := h.startReceipts(); err != nil {
		return nil, err
	}
	if err := h.directory.start(ctx, kv); err != nil {
		_ = h.receipts.sub.Unsubscribe()
		return nil, fmt.Errorf("presence watch: %w", err)
	}
	cfg.Conn.SetErrorHandler(h.busError)
	go h.dispatch()
	return h, nil
}

const presenceBucketName = "crosstalk_presence"

// presenceBucket opens the presence bucket for compare-and-set updates.
// KV buckets answer reads with "direct gets", which may come from before
// the latest write and make every compare-and-set retry fail the same way
// under load; reads through the stream leader see every acknowledged write.
func presenceBucket(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      presenceBucketName,
		Description: "who is online, per account and session",
		Storage:     jetstream.MemoryStorage,
		History:     1,
	}); err != nil {
		return nil, err
	}
	stream, err := js.Stream(ctx, "KV_"+presenceBucketName)
	if err != nil {
		return nil, err
	}
	sc := stream.CachedInfo().Config
	if sc.AllowDirect {
		sc.AllowDirect = false
		if _, err := js.UpdateStream(ctx, sc); err != nil {
			return nil, err
		}
	}
	return js.KeyValue(ctx, presenceBucketName)
}

// Close stops the dispatcher. Frontends detach their sessions first.
func (h *Hub) Close() {
	h.background.Wait()
	h.mu.Lock()
	for n, u := range h.users {
		h.unsubscribeLocked(n, u)
	}
	h.mu.Unlock()
	_ = h.receipts.sub.Unsubscribe()
	h.directory.stop()
	close(h.inbox)
	<-h.done
}

// Store gives frontends read access to accounts.
func (h *Hub) Store() Store { return h.cfg.Store }

// MaxListEntries is the configured cap on one list.
func (h *Hub) MaxListEntries() int { return h.cfg.MaxListEntries }

func userSubject(number uint32) string {
	return "ct.user." + strconv.FormatUint(uint64(number), 10)
}

func (h *Hub) publish(to uint32, ev Event) {
	h.publishRequest(to, ev, "")
}

// publishRequest sends ev to every session of to; a non-empty reply asks
// each node that holds some to say how many took it.
func (h *Hub) publishRequest(to uint32, ev Event, reply string) {
	data, err := json.Marshal(ev)
	if err != nil {
		h.log.Error("encode event", "err", err)
		return
	}
	if err := h.cfg.Conn.PublishMsg(&nats.Msg{Subject: userSubject(to), Reply: reply, Data: data}); err != nil {
		h.log.Warn("publish event", "to", to, "kind", ev.Kind, "err", err)
		return
	}
	metrics.Events.WithLabelValues(string(ev.Kind), "published").Inc()
	if !h.directory.online(to) {
		// Nobody to hear it (a watcher who is offline): no node takes it.
		metrics.Events.WithLabelValues(string(ev.Kind), "unheard").Inc()
	}
}

// dispatch hands events from the bus to this node's sessions, and the
// snapshots of resyncs in between.
func (h *Hub) dispatch() {
	defer close(h.done)
	for {
		select {
		case msg, ok := <-h.inbox:
			if !ok {
				return
			}
			h.dispatchEvent(msg)
		case r := <-h.resyncs:
			for _, ev := range r.events {
				r.session.endpoint.Deliver(ev)
			}
		}
	}
}

func (h *Hub) dispatchEvent(msg *nats.Msg) {
	n, err := strconv.ParseUint(strings.TrimPrefix(msg.Subject, "ct.user."), 10, 32)
	if err != nil {
		return
	}
	var ev Event
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		h.log.Warn("bad event on bus", "subject", msg.Subject, "err", err)
		return
	}
	h.mu.Lock()
	var targets []*Session
	if u := h.users[uint32(n)]; u != nil {
		targets = append(targets, u.sessions...)
	}
	h.mu.Unlock()
	took := 0
	for _, s := range targets {
		if ev.Kind == EventKick && !s.kickedBy(ev) || s.protocol == ev.SkipProtocol {
			continue
		}
		if s.endpoint.Deliver(ev) {
			took++
			metrics.Events.WithLabelValues(string(ev.Kind), "delivered").Inc()
		} else {
			h.refused(ev.Kind, "session_refused", uint32(n))
		}
	}
	// A kick or a mailbox nudge that finds no session has nothing to do.
	if len(targets) == 0 && ev.Kind != EventKick && ev.Kind != EventMailbox {
		h.refused(ev.Kind, "no_session", uint32(n))
	}
	if msg.Reply != "" {
		_ = h.cfg.Conn.Publish(msg.Reply, strconv.AppendInt(nil, int64(took), 10))
	}
}

// Attach registers a logged-in connection. A newer login of the same
// protocol takes over: older sessions of that protocol, on any node, get an
// EventKick. Sessions of other protocols stay.
func (h *Hub) Attach(ctx context.Context, acct Account, protocol string, ep Endpoint) (*Session, error) {
	s := &Session{hub: h, id: randomID(8), protocol: protocol, endpoint: ep, account: acct, attached: time.Now().UnixNano()}
	h.mu.Lock()
	u := h.users[acct.Number]
	if u == nil {
		sub, err := h.cfg.Conn.ChanSubscribe(userSubject(acct.Number), h.inbox)
		if err != nil {
			h.mu.Unlock()
			return nil, fmt.Errorf("subscribe: %w", err)
		}
		u = &localUser{sub: sub}
		h.users[acct.Number] = u
	}
	u.sessions = append(u.sessions, s)
	h.mu.Unlock()
	h.publish(acct.Number, Event{Kind: EventKick, Protocol: protocol, Session: s.id, At: s.attached})
	return s, nil
}

func (h *Hub) forget(s *Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.users[s.account.Number]
	if u == nil {
		return
	}
	for i, other := range u.sessions {
		if other == s {
			u.sessions = append(u.sessions[:i], u.sessions[i+1:]...)
			break
		}
	}
	if len(u.sessions) == 0 {
		h.unsubscribeLocked(s.account.Number, u)
	}
}

// Presence returns an account's effective status (the most available of its
// sessions) as stored on the bus, without privacy applied.
func (h *Hub) Presence(ctx context.Context, number uint32) (Status, string, error) {
	rec, _, err := h.loadPresence(ctx, number)
	if err != nil {
		return StatusOffline, "", err
	}
	st, text := rec.effective()
	return st, text, nil
}

// VisiblePresence is what viewer may see of number: offline when number is
// invisible, offline or does not allow viewer.
func (h *Hub) VisiblePresence(ctx context.Context, viewer, number uint32) (Status, string, error) {
	st, text, err := h.Presence(ctx, number)
	if err != nil || st.Visible() == StatusOffline {
		return StatusOffline, "", err
	}
	r, err := h.cfg.Store.Relation(ctx, number, viewer)
	if err != nil {
		return StatusOffline, "", err
	}
	if !r.Allows() {
		return StatusOffline, "", nil
	}
	return st.Visible(), text, nil
}

// presenceRecord is the bus's view of one account: a status per session.
type presenceRecord struct {
	Sessions map[string]sessionPresence `json:"sessions"`
}

type sessionPresence struct {
	Status   Status `json:"status"`
	Text     string `json:"text,omitempty"`
	Protocol string `json:"protocol"`
	Node     string `json:"node"`
}

func (r presenceRecord) effective() (Status, string) {
	best, text := StatusOffline, ""
	for _, sp := range r.Sessions {
		if sp.Status.availability() > best.availability() {
			best, text = sp.Status, sp.Text
		}
	}
	return best, text
}

func presenceKey(number uint32) string { return strconv.FormatUint(uint64(number), 10) }

func (h *Hub) loadPresence(ctx context.Context, number uint32) (presenceRecord, uint64, error) {
	e, err := h.presence.Get(ctx, presenceKey(number))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return presenceRecord{}, 0, nil
	}
	if err != nil {
		return presenceRecord{}, 0, err
	}
	var rec presenceRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return presenceRecord{}, 0, err
	}
	return rec, e.Revision(), nil
}

// updatePresence applies change to an account's record with
// compare-and-set, retrying when another session wrote in between, and
// returns the effective status before and after.
func (h *Hub) updatePresence(ctx context.Context, number uint32, change func(*presenceRecord)) (before, after Status, text string, err error) {
	// Writers on this node take turns, so compare-and-set only ever races
	// with other nodes; those races back off with jitter.
	lock := &h.presenceLocks[number%uint32(len(h.presenceLocks))]
	lock.Lock()
	defer lock.Unlock()
	key := presenceKey(number)
	for attempt := 0; attempt < 32; attempt++ {
		if attempt > 0 {
			if err := sleepJitter(ctx, attempt); err != nil {
				return "", "", "", err
			}
		}
		rec, rev, err := h.loadPresence(ctx, number)
		if err != nil {
			return "", "", "", err
		}
		before, _ = rec.effective()
		if rec.Sessions == nil {
			rec.Sessions = make(map[string]sessionPresence)
		}
		change(&rec)
		after, text = rec.effective()
		data, err := json.Marshal(rec)
		if err != nil {
			return "", "", "", err
		}
		switch {
		case len(rec.Sessions) == 0 && rev != 0:
			err = h.presence.Delete(ctx, key, jetstream.LastRevision(rev))
		case len(rec.Sessions) == 0:
			return before, after, text, nil
		case rev == 0:
			_, err = h.presence.Create(ctx, key, data)
		default:
			_, err = h.presence.Update(ctx, key, data, rev)
		}
		if err == nil {
			return before, after, text, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return "", "", "", err
		}
	}
	return "", "", "", errors.New("presence: too much contention")
}

// sleepJitter waits a random time that grows with the attempt, up to about
// 50 ms, so that racing writers stop colliding.
func sleepJitter(ctx context.Context, attempt int) error {
	limit := time.Duration(min(1<<attempt, 50)) * time.Millisecond
	t := time.NewTimer(time.Duration(mrand.Int64N(int64(limit))))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// announce tells everyone who has owner on their forward list, and whom
// owner allows, what they now see of owner.
func (h *Hub) announce(ctx context.Context, owner Account, st Status, text string) error {
	r, err := h.cfg.Store.Roster(ctx, owner.Number)
	if err != nil {
		return err
	}
	for _, e := range r.Of(Reverse) {
		if r.Allows(e.Contact.Number) {
			h.publish(e.Contact.Number, Event{Kind: EventPresence, From: owner, Status: st.Visible(), Text: text})
		}
	}
	return nil
}

// refreshWatchers sends presence to the reverse-list members whose
// permission to see owner changed between two versions of owner's roster.
func (h *Hub) refreshWatchers(ctx context.Context, owner Account, before, after *Roster) {
	st, text, err := h.Presence(ctx, owner.Number)
	if err != nil || st.Visible() == StatusOffline {
		return
	}
	for _, e := range after.Of(Reverse) {
		was, now := before.Allows(e.Contact.Number), after.Allows(e.Contact.Number)
		switch {
		case was && !now:
			h.publish(e.Contact.Number, Event{Kind: EventPresence, From: owner, Status: StatusOffline})
		case !was && now:
			h.publish(e.Contact.Number, Event{Kind: EventPresence, From: owner, Status: st.Visible(), Text: text})
		}
	}
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
