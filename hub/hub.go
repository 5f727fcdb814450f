package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
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
	// Replicas is how many NATS servers keep each of the hub's buckets: 1
	// for one server, 3 for a cluster that must outlive one of them.
	Replicas int
	// NodeTimeout is how long a node may go without renewing its liveness
	// record before the others take its sessions out of presence.
	NodeTimeout time.Duration
	// DeliveryTimeout bounds how long a sender waits for the nodes holding
	// the recipient's sessions to say whether they took a message, before
	// it goes to the mailbox instead.
	DeliveryTimeout time.Duration
	// LocalBus says the bus is this process's own (the embedded NATS
	// server, which no other node reaches). The presence bucket is then
	// kept on disk, JetStream holding only its index in memory (about 50
	// bytes per account online instead of some 330 for a record kept in
	// memory: this node's directory has the records), and emptied when the
	// hub starts (and removed when it closes), as every session it names
	// ends with the process that wrote it.
	LocalBus bool
	// MaxQueuedReturnBytes bounds the messages that connections dropped
	// and that wait to go back to the mailbox
	// (DefaultMaxQueuedReturnBytes).
	MaxQueuedReturnBytes int
}

// DefaultMaxListEntries is the cap on one contact list; the MSN service of
// the MSNP7 era allowed a few hundred contacts.
const DefaultMaxListEntries = 600

// Hub is the protocol-neutral core shared by every frontend of one node.
type Hub struct {
	cfg      Config
	log      *slog.Logger
	presence jetstream.KeyValue
	// presenceLog is the bucket's stream, read for the one thing the
	// bucket's own reads hide: the revision of a delete marker.
	presenceLog jetstream.Stream
	// nodeSub brings events for this node's sessions from other nodes.
	nodeSub *nats.Subscription
	queue   chan envelope
	resyncs chan resync
	stop    chan struct{}
	done    chan struct{}
	// stripes order the handing over of events to this node's sessions,
	// each for the accounts whose numbers fall in it (see stripeOf).
	stripes  [dispatchStripes]dispatchStripe
	receipts receipts
	// directory replicates the presence bucket (see its doc).
	directory directory
	liveness  liveness
	relations relations
	// background counts work that outlives the call that started it
	// (returning messages to the mailbox, presence resyncs).
	background sync.WaitGroup
	returns    returnQueue

	samplersMu sync.Mutex
	samplers   map[string]*ratelimit.Sampler

	mu    sync.RWMutex
	users localSessions
	// resyncing holds the accounts whose refused events are followed by a
	// presence resync already scheduled.
	resyncing map[uint32]bool
	// nodeDropped is how many of nodeSub's dropped events were counted.
	nodeDropped int

	presenceLocks [64]sync.Mutex
}

// dispatchStripes is how many stripes the accounts of this node's
// sessions are spread over: senders to different accounts seldom share
// one, so that they hand their messages over themselves rather than
// through the dispatcher.
const dispatchStripes = 64

// dispatchStripe is what orders the events of the accounts in one stripe.
type dispatchStripe struct {
	// dispatching is held while events are handed to the stripe's
	// sessions: by the dispatcher for each event it takes, and by a sender
	// that hands its message over itself (see dispatchHere). An endpoint's
	// Deliver never runs twice at once.
	dispatching sync.Mutex
	// waiting counts the stripe's events and resyncs queued for the
	// dispatcher and not yet handed over; none may be overtaken.
	waiting atomic.Int64
	// targets is the reusable list of an event's sessions, under
	// dispatching.
	targets []*Session
}

// stripeOf is the stripe of the account number.
func (h *Hub) stripeOf(number uint32) *dispatchStripe {
	return &h.stripes[number%dispatchStripes]
}

// envelope is one event on its way to the sessions of one account on this
// node.
type envelope struct {
	to uint32
	ev Event
	// watermark is the presence revision the sender had seen; the replica
	// catches up with it before the event is delivered, so that what the
	// event's reader then looks up is at least as new as the event.
	watermark uint64
	took      chan<- int // a sender on this node waiting for the count
	reply     string     // the subject a sender on another node waits on
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
	if cfg.NodeTimeout <= 0 {
		cfg.NodeTimeout = DefaultNodeTimeout
	}
	if cfg.MaxQueuedReturnBytes <= 0 {
		cfg.MaxQueuedReturnBytes = DefaultMaxQueuedReturnBytes
	}
	var (
		kv     jetstream.KeyValue
		stream jetstream.Stream
	)
	err := whileBusBusy(ctx, func() (err error) {
		kv, stream, err = presenceBucket(ctx, cfg.JS, cfg.Replicas, cfg.LocalBus)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("presence bucket: %w", err)
	}
	h := &Hub{
		cfg:         cfg,
		log:         cfg.Logger,
		presence:    kv,
		presenceLog: stream,
		queue:       make(chan envelope, cfg.EventQueue),
		resyncs:     make(chan resync, 64),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		users:       newLocalSessions(),
		resyncing:   make(map[uint32]bool),
		samplers:    make(map[string]*ratelimit.Sampler),
	}
	h.returns.giveUp, h.returns.cancel = context.WithCancel(context.Background())
	if err := h.startReceipts(); err != nil {
		return nil, err
	}
	if err := h.directory.start(ctx, kv); err != nil {
		_ = h.receipts.sub.Unsubscribe()
		return nil, fmt.Errorf("presence watch: %w", err)
	}
	if err := h.startRelations(); err != nil {
		_ = h.receipts.sub.Unsubscribe()
		h.directory.stop()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	if h.nodeSub, err = cfg.Conn.Subscribe(nodeSubject(cfg.Node), h.fromBus); err != nil {
		h.relations.unsubscribe()
		_ = h.receipts.sub.Unsubscribe()
		h.directory.stop()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	if err := h.startLiveness(ctx); err != nil {
		_ = h.nodeSub.Unsubscribe()
		h.relations.unsubscribe()
		_ = h.receipts.sub.Unsubscribe()
		h.directory.stop()
		return nil, fmt.Errorf("node liveness: %w", err)
	}
	cfg.Conn.SetErrorHandler(h.busError)
	go h.dispatch()
	return h, nil
}

const presenceBucketName = "crosstalk_presence"

// presenceBucket opens the presence bucket for compare-and-set updates,
// in memory, or on disk and empty on a local bus (see Config.LocalBus).
// KV buckets answer reads with "direct gets", which may come from before
// the latest write and make every compare-and-set retry fail the same way
// under load; reads through the stream leader see every acknowledged write.
func presenceBucket(ctx context.Context, js jetstream.JetStream, replicas int, local bool) (jetstream.KeyValue, jetstream.Stream, error) {
	storage := jetstream.MemoryStorage
	if local {
		storage = jetstream.FileStorage
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      presenceBucketName,
		Description: "who is online, per account and session",
		Storage:     storage,
		History:     1,
		Replicas:    replicas,
	}); err != nil {
		return nil, nil, err
	}
	stream, err := js.Stream(ctx, "KV_"+presenceBucketName)
	if err != nil {
		return nil, nil, err
	}
	if local {
		// A bucket left by a process that was killed is emptied, not
		// deleted and made again: NATS removes an account's emptied
		// streams directory in the background after its last stream is
		// deleted, and a stream created meanwhile fails to make its own.
		if err := stream.Purge(ctx); err != nil {
			return nil, nil, err
		}
	}
	sc := stream.CachedInfo().Config
	if sc.AllowDirect {
		sc.AllowDirect = false
		if stream, err = js.UpdateStream(ctx, sc); err != nil {
			return nil, nil, err
		}
	}
	kv, err := js.KeyValue(ctx, presenceBucketName)
	return kv, stream, err
}

// Close stops the dispatcher. Frontends detach their sessions first.
func (h *Hub) Close() {
	h.stopLiveness()
	_ = h.nodeSub.Unsubscribe()
	h.closeReturns()
	h.mu.Lock()
	h.countNodeDropsLocked()
	h.mu.Unlock()
	_ = h.receipts.sub.Unsubscribe()
	h.relations.unsubscribe()
	h.directory.stop()
	close(h.stop)
	<-h.done
	if h.cfg.LocalBus {
		// What it holds is over; gone, it is no bucket on disk that a
		// version keeping it in memory could not open.
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.DeliveryTimeout)
		if err := h.cfg.JS.DeleteKeyValue(ctx, presenceBucketName); err != nil {
			h.warn("remove the presence bucket", "err", err)
		}
		cancel()
	}
}

// Node is this node's name on the bus.
func (h *Hub) Node() string { return h.cfg.Node }

// Store gives frontends read access to accounts.
func (h *Hub) Store() Store { return h.cfg.Store }

// MaxListEntries is the configured cap on one list.
func (h *Hub) MaxListEntries() int { return h.cfg.MaxListEntries }

// nodeSubject is where a node hears events for its sessions: one
// subscription per node, whatever its number of accounts.
func nodeSubject(node string) string { return "ct.node." + node }

// publish sends ev to every session of to, on whichever node.
func (h *Hub) publish(to uint32, ev Event) {
	h.publishTo(to, ev, h.directory.nodes(to, ev.SkipProtocol), nil, "")
}

// publishTo sends ev to the sessions of to on this node, if it has any,
// and to the listed nodes besides this one. A sender waiting for the
// number of sessions that took a message gets each node's count on took
// (this node's) or reply (the others'); publishTo returns how many counts
// will come.
func (h *Hub) publishTo(to uint32, ev Event, nodes []string, took chan<- int, reply string) (answers int) {
	if h.hasLocal(to) {
		answers++
		e := envelope{to: to, ev: ev, took: took}
		if took == nil {
			h.enqueue(e)
		} else if _, ok := h.dispatchHere(e); !ok {
			h.enqueue(e)
		}
	}
	var data []byte
	for _, node := range nodes {
		if node == h.cfg.Node {
			continue
		}
		if data == nil {
			data = encodeEnvelope(to, h.directory.watermark(), &ev)
		}
		if err := h.cfg.Conn.PublishMsg(&nats.Msg{Subject: nodeSubject(node), Reply: reply, Data: data}); err != nil {
			h.warn("publish event", "to", to, "kind", ev.Kind, "err", err)
			continue
		}
		answers++
	}
	eventsCounted(ev.Kind, "published").Inc()
	if answers == 0 {
		// Nobody to hear it (a watcher who is offline).
		metrics.Events.WithLabelValues(string(ev.Kind), "unheard").Inc()
	}
	return answers
}

// hasLocal reports whether the account has a session on this node.
func (h *Hub) hasLocal(number uint32) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.users.has(number)
}

// fromBus takes an event another node sent to this node's sessions.
func (h *Hub) fromBus(msg *nats.Msg) {
	to, watermark, ev, err := decodeEnvelope(msg.Data)
	if err != nil {
		h.warn("bad event on bus", "err", err)
		return
	}
	h.enqueue(envelope{to: to, ev: ev, watermark: watermark, reply: msg.Reply})
}

// enqueue hands an event to the dispatcher without waiting: when the
// node's event queue is full the event is refused, counted, its sender
// told no session took it, and the account's sessions here are given their
// contacts' presence afresh once the burst is over.
func (h *Hub) enqueue(e envelope) {
	st := h.stripeOf(e.to)
	st.waiting.Add(1)
	select {
	case h.queue <- e:
	default:
		st.waiting.Add(-1)
		h.refused(e.ev.Kind, "queue_full", e.to)
		h.answer(e, 0)
		h.scheduleResync(e.to)
	}
}

// answer tells the sender of e, if one waits, how many sessions took it.
func (h *Hub) answer(e envelope, took int) {
	if e.took != nil {
		e.took <- took
	}
	if e.reply != "" {
		_ = h.cfg.Conn.Publish(e.reply, strconv.AppendInt(nil, int64(took), 10))
	}
}

// dispatch hands events to this node's sessions, and the snapshots of
// resyncs in between.
func (h *Hub) dispatch() {
	defer close(h.done)
	for {
		select {
		case e := <-h.queue:
			st := h.stripeOf(e.to)
			st.dispatching.Lock()
			h.dispatchEvent(st, e)
			st.waiting.Add(-1)
			st.dispatching.Unlock()
		case r := <-h.resyncs:
			st := h.stripeOf(r.number)
			st.dispatching.Lock()
			for _, ev := range r.events {
				r.session.endpoint.Deliver(ev)
			}
			st.waiting.Add(-1)
			st.dispatching.Unlock()
		case <-h.stop:
			return
		}
	}
}

// dispatchHere hands a message event to this node's sessions on the
// sender's goroutine, when nothing is queued for the dispatcher that it
// would overtake and no one is dispatching to its stripe: the sender
// learns at once whether a session took it, without two switches between
// goroutines and a wait per message. It reports whether it did (ok) and
// how many sessions took the event; if not, the event goes through the
// queue. It never waits for the lock, so a Deliver that sends a message of
// its own queues it rather than deadlocking.
func (h *Hub) dispatchHere(e envelope) (took int, ok bool) {
	st := h.stripeOf(e.to)
	if !st.dispatching.TryLock() {
		return 0, false
	}
	defer st.dispatching.Unlock()
	if st.waiting.Load() != 0 {
		return 0, false
	}
	return h.dispatchEvent(st, e), true
}

// dispatchEvent hands e to this node's sessions, under the dispatching
// lock of st, e's stripe; it answers its sender and returns how many
// sessions took it.
func (h *Hub) dispatchEvent(st *dispatchStripe, e envelope) int {
	if e.watermark > 0 && !h.directory.waitFor(e.watermark) {
		h.warn("presence replica behind the bus", "revision", e.watermark)
	}
	ev := e.ev
	h.mu.RLock()
	targets := h.users.appendOf(st.targets[:0], e.to)
	h.mu.RUnlock()
	took := 0
	name, renamed := ev.renamedTo()
	for _, s := range targets {
		if renamed {
			s.takeName(name)
			took++
			continue
		}
		if ev.Kind == EventKick && !s.kickedBy(ev) || ev.Kind == EventListsChanged && s.id == ev.Session ||
			s.protocol == ev.SkipProtocol || !ev.Notification.For(s.protocol) {
			continue
		}
		if s.endpoint.Deliver(ev) {
			took++
			eventsCounted(ev.Kind, "delivered").Inc()
		} else {
			h.refused(ev.Kind, "session_refused", e.to)
		}
	}
	// A kick, a mailbox nudge, a list change or a new name that finds no
	// session has nothing to do.
	if len(targets) == 0 && ev.Kind != EventKick && ev.Kind != EventMailbox && ev.Kind != EventListsChanged && !renamed {
		h.refused(ev.Kind, "no_session", e.to)
	}
	clear(targets)
	st.targets = targets[:0]
	h.answer(e, took)
	return took
}

// Attach registers a logged-in connection. A newer login of the same
// protocol takes over: older sessions of that protocol, on any node, get an
// EventKick. Sessions of other protocols stay. A disabled account is
// refused (ErrDisabled).
func (h *Hub) Attach(ctx context.Context, acct Account, protocol string, ep Endpoint) (*Session, error) {
	return h.AttachInstance(ctx, acct, protocol, "", ep)
}

// AttachInstance is Attach for a protocol whose clients may be signed in
// from several places at once (MSNP16+ points of presence): a new login
// takes over only from older sessions of the same instance (or of none),
// and one without an instance from every session of the protocol.
func (h *Hub) AttachInstance(ctx context.Context, acct Account, protocol, instance string, ep Endpoint) (*Session, error) {
	if acct.Disabled {
		return nil, ErrDisabled
	}
	s := &Session{hub: h, id: randomID(8), protocol: protocol, instance: instance, endpoint: ep, account: acct, attached: time.Now().UnixNano()}
	h.mu.Lock()
	h.users.add(s)
	h.mu.Unlock()
	rec, _ := h.directory.record(acct.Number)
	s.kickOthers(rec)
	return s, nil
}

// kickOthers sends a kick to the nodes holding older sessions of the same
// protocol: this node's, and those in rec.
func (s *Session) kickOthers(rec presenceRecord) {
	var nodes []string
	for _, sp := range rec.Sessions {
		if sp.Protocol == s.protocol && sp.ID != s.id && !slices.Contains(nodes, sp.Node) {
			nodes = append(nodes, sp.Node)
		}
	}
	s.hub.mu.RLock()
	local := false
	for other := range s.hub.users.of(s.account.Number) {
		local = local || other != s && other.protocol == s.protocol
	}
	s.hub.mu.RUnlock()
	if local || len(nodes) > 0 {
		s.hub.publishTo(s.account.Number, Event{Kind: EventKick, Protocol: s.protocol, Session: s.id, At: s.attached, Instance: s.instance}, nodes, nil, "")
	}
}

func (h *Hub) forget(s *Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users.remove(s)
}

// Presence returns an account's effective status (the most available of its
// sessions), without privacy applied, as this node's replica has it (see
// directory: at least as new as anything this node has written or been
// told since).
func (h *Hub) Presence(ctx context.Context, number uint32) (Status, string, error) {
	rec, _ := h.directory.record(number)
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
	r, err := h.relation(ctx, number, viewer)
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
	Sessions []sessionPresence
}

type sessionPresence struct {
	ID       string
	Status   Status
	Text     string
	Protocol string
	Node     string
	Details  string // see Session.SetDetails
	Addr     string // the client's address, when its frontend has one
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

// Details returns what the account's most available session of protocol
// said about itself (Session.SetDetails), as this node's replica of the
// presence records has it; "" when there is none. Events reach a node only
// once its replica has the presence their sender had seen, so a frontend
// that reads this while delivering a presence event sees what came with
// that presence.
func (h *Hub) Details(number uint32, protocol string) string {
	rec, _ := h.directory.record(number)
	var best *sessionPresence
	for i, sp := range rec.Sessions {
		if sp.Protocol == protocol && (best == nil || sp.Status.availability() > best.Status.availability()) {
			best = &rec.Sessions[i]
		}
	}
	if best == nil {
		return ""
	}
	return best.Details
}

// AllDetails returns the details (Session.SetDetails) of each of an
// account's sessions of protocol, as this node's replica has them.
func (h *Hub) AllDetails(number uint32, protocol string) []string {
	rec, _ := h.directory.record(number)
	var out []string
	for _, sp := range rec.Sessions {
		if sp.Protocol == protocol {
			out = append(out, sp.Details)
		}
	}
	return out
}

// nodes lists the nodes holding sessions that would get an event not meant
// for skipProtocol.
func (r presenceRecord) nodes(skipProtocol string) []string {
	var nodes []string
	for _, sp := range r.Sessions {
		if sp.Protocol != skipProtocol && !slices.Contains(nodes, sp.Node) {
			nodes = append(nodes, sp.Node)
		}
	}
	return nodes
}

// session finds session id in r.
func (r presenceRecord) session(id string) (sessionPresence, bool) {
	for _, sp := range r.Sessions {
		if sp.ID == id {
			return sp, true
		}
	}
	return sessionPresence{}, false
}

// with returns a copy of r in which session id has sp (or none, when sp is
// nil); the replica's records are never changed in place.
func (r presenceRecord) with(id string, sp *sessionPresence) presenceRecord {
	out := presenceRecord{Sessions: make([]sessionPresence, 0, len(r.Sessions)+1)}
	for _, other := range r.Sessions {
		if other.ID != id {
			out.Sessions = append(out.Sessions, other)
		}
	}
	if sp != nil {
		out.Sessions = append(out.Sessions, *sp)
	}
	return out
}

func presenceKey(number uint32) string { return strconv.FormatUint(uint64(number), 10) }

func presenceSubject(number uint32) string {
	return "$KV." + presenceBucketName + "." + presenceKey(number)
}

// loadPresence reads an account's record from the bucket itself, past the
// replica, with the revision a compare-and-set of it must name.
func (h *Hub) loadPresence(ctx context.Context, number uint32) (presenceRecord, uint64, error) {
	m, err := h.presenceLog.GetLastMsgForSubject(ctx, presenceSubject(number))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return presenceRecord{}, 0, nil
	}
	if err != nil {
		return presenceRecord{}, 0, err
	}
	if op := m.Header.Get("KV-Operation"); op != "" {
		return presenceRecord{}, m.Sequence, nil // deleted or purged
	}
	rec, err := decodePresenceRecord(m.Data)
	return rec, m.Sequence, err
}

// updatePresence sets (or, with sp nil, removes) one session's entry in
// its account's record with compare-and-set, retrying when another node
// wrote in between, and returns the record and the effective status
// before and after. It returns once this node's replica has the write.
func (h *Hub) updatePresence(ctx context.Context, number uint32, id string, sp *sessionPresence) (rec presenceRecord, before, after Status, text string, err error) {
	// Writers on this node take turns, so compare-and-set only ever races
	// with other nodes; those races back off with jitter and read the
	// bucket itself.
	lock := &h.presenceLocks[number%uint32(len(h.presenceLocks))]
	lock.Lock()
	defer lock.Unlock()
	rec, rev := h.directory.record(number)
	conflicts := 0
	busy := time.Time{} // when the bus first failed to answer, if it did
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := sleepJitter(ctx, attempt); err != nil {
				return rec, "", "", "", err
			}
			if rec, rev, err = h.loadPresence(ctx, number); err != nil {
				if !h.busBusy(ctx, err, &busy) {
					return rec, "", "", "", err
				}
				continue
			}
		}
		before, _ = rec.effective()
		next := rec.with(id, sp)
		after, text = next.effective()
		var written uint64
		switch {
		case len(next.Sessions) == 0 && len(rec.Sessions) == 0:
			return next, before, after, text, nil
		case len(next.Sessions) == 0:
			written, err = h.deletePresence(ctx, number, rev)
		default:
			written, err = h.presence.Update(ctx, presenceKey(number), appendPresenceRecord(nil, next), rev)
		}
		switch {
		case err == nil:
			if !h.directory.waitFor(written) {
				h.warn("presence replica behind the bus", "revision", written)
			}
			return next, before, after, text, nil
		case errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err):
			if conflicts++; conflicts >= 32 {
				return rec, "", "", "", errors.New("presence: too much contention")
			}
		case !h.busBusy(ctx, err, &busy):
			return rec, "", "", "", err
		}
	}
}

// whileBusBusy runs f until it succeeds, fails for another reason than
// the bus not answering yet (a cluster just started, still electing its
// leaders), or busRetryFor passes.
func whileBusBusy(ctx context.Context, f func() error) error {
	var since time.Time
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || !busNotAnswering(ctx, err) {
			return err
		}
		if since.IsZero() {
			since = time.Now()
		}
		if time.Since(since) >= busRetryFor {
			return err
		}
		if err := sleepJitter(ctx, attempt+4); err != nil {
			return err
		}
	}
}

// busNotAnswering reports whether err is the bus not answering for now:
// no stream leader or JetStream API responder yet, the cluster electing
// its meta leader, or a request that timed out while ctx still runs.
func busNotAnswering(ctx context.Context, err error) bool {
	timedOut := errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
	var apiErr *jetstream.APIError
	electing := errors.As(err, &apiErr) && apiErr.ErrorCode == jsClusterNotAvailable
	return timedOut || electing || errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders)
}

// jsClusterNotAvailable is the NATS server's error code for "JetStream
// system temporarily unavailable": a cluster without a meta leader, as
// for a few seconds after a server dies or while a loaded machine misses
// the cluster's heartbeats. nats.go has no constant for it.
const jsClusterNotAvailable jetstream.ErrorCode = 10008

// busRetryFor is how long presence writes keep trying while the bus does
// not answer: long enough for a NATS cluster to elect a new leader for a
// bucket whose server died (its elections take 4 to 9 seconds).
const busRetryFor = 20 * time.Second

// busBusy reports whether err is the bus not answering for now (no stream
// leader, a request timed out while ctx still runs) and the write has
// tried for less than busRetryFor since *since, which it sets at the
// first such error.
func (h *Hub) busBusy(ctx context.Context, err error, since *time.Time) bool {
	if !busNotAnswering(ctx, err) {
		return false
	}
	if since.IsZero() {
		*since = time.Now()
	}
	if time.Since(*since) >= busRetryFor {
		return false
	}
	h.warn("bus not answering presence writes; trying again", "err", err)
	return true
}

// deletePresence writes the bucket's delete marker for an account, as the
// bucket's own Delete does, but learns the marker's revision, which the
// replica must reach before this node reads on.
func (h *Hub) deletePresence(ctx context.Context, number uint32, rev uint64) (uint64, error) {
	m := &nats.Msg{Subject: presenceSubject(number), Header: nats.Header{"KV-Operation": []string{"DEL"}}}
	ack, err := h.cfg.JS.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(rev))
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// sleepJitter waits a random time that grows with the attempt, up to about
// 50 ms, so that racing writers stop colliding.
func sleepJitter(ctx context.Context, attempt int) error {
	limit := time.Duration(min(1<<min(attempt, 6), 50)) * time.Millisecond
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
	h.announceTo(r, owner, st, text)
	return nil
}

// announceTo is announce with owner's lists r.
func (h *Hub) announceTo(r *Roster, owner Account, st Status, text string) {
	for _, e := range r.Of(Reverse) {
		if r.Allows(e.Contact.Number) {
			h.publish(e.Contact.Number, Event{Kind: EventPresence, From: owner, Status: st.Visible(), Text: text})
		}
	}
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
