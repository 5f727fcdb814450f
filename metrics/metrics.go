// Package metrics holds the Prometheus collectors every frontend reports to,
// labelled by protocol so one dashboard covers them all.
package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// Registry is what the HTTP service exposes on /metrics.
var Registry = prometheus.NewRegistry()

var (
	// Connections counts open client connections by protocol and role
	// (for MSNP: ns or sb).
	Connections = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "crosstalk_connections",
		Help: "Open client connections.",
	}, []string{"protocol", "role"})

	// Commands counts commands received, by protocol and command name;
	// unknown names are counted as "unknown".
	Commands = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crosstalk_commands_total",
		Help: "Commands received from clients.",
	}, []string{"protocol", "command"})

	// Errors counts protocol errors sent to clients, by code.
	Errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crosstalk_protocol_errors_total",
		Help: "Protocol error replies sent to clients.",
	}, []string{"protocol", "code"})

	// Logins counts login attempts by result: ok, or the failure's reason
	// (bad_password, unknown_account, locked, bad_request).
	Logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crosstalk_logins_total",
		Help: "Login attempts.",
	}, []string{"protocol", "result"})

	// LoginLocks counts locks put on an address or an account after
	// repeated failed logins (see internal/loginguard), by the protocol of
	// the failure that locked and by scope (address or account).
	LoginLocks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crosstalk_login_locks_total",
		Help: "Addresses or accounts locked after repeated failed logins.",
	}, []string{"protocol", "scope"})

	// Messages counts instant messages relayed, by the sender's protocol.
	Messages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crosstalk_messages_total",
		Help: "Instant messages relayed.",
	}, []string{"protocol"})

	// Events counts hub events on this node by kind and stage: published
	// on the bus, unheard (published to an account with no session online,
	// as this node last heard), delivered to a session that took it.
	Events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crosstalk_events_total",
		Help: "Hub events published and delivered to sessions.",
	}, []string{"kind", "stage"})

	// EventsRefused counts events that did not reach a session, by kind
	// (unknown when the bus dropped them unread) and cause: queue_full (the
	// node's event queue was full), session_refused (the connection could
	// not take it), no_session (the account left this node meanwhile).
	EventsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crosstalk_events_refused_total",
		Help: "Hub events that reached no session, by cause.",
	}, []string{"kind", "cause"})

	// OutputOverflows counts connections closed because their client
	// stopped reading and the output queue overflowed.
	OutputOverflows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crosstalk_output_overflows_total",
		Help: "Connections closed because the client stopped reading.",
	}, []string{"protocol"})

	// MessageOutcomes counts what the hub told senders of instant messages
	// (delivered, stored, mailbox_full, blocked) and what became of
	// delivered messages a connection could not write after all (returned
	// to the mailbox, or lost when even that failed), or whose client
	// refused them (refused: a SIP client's error answer).
	MessageOutcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crosstalk_message_outcomes_total",
		Help: "Instant messages by what the sender was told or what became of them later.",
	}, []string{"outcome"})

	// AcceptErrors counts failed accepts, which the listener retries, by
	// listener and cause (descriptors, aborted, memory, timeout, other).
	AcceptErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crosstalk_accept_errors_total",
		Help: "Failed accepts on a listener (each retried after a pause).",
	}, []string{"listener", "cause"})

	// Refused counts connections turned away by admission control, by
	// listener and the cap they met (per_addr, prelogin_per_addr, total,
	// prelogin).
	Refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crosstalk_connections_refused_total",
		Help: "Connections refused for being over a cap.",
	}, []string{"listener", "reason"})
)

// MessageRelaySeconds is the server's own share of a message's delivery
// latency: from reading the message's last byte off the sender's
// connection to writing it to the receiver's socket, by the protocol that
// relayed it. Buckets grow by half from 10 µs to 2.9 s, fine enough to
// read a p99 of a few milliseconds from.
var MessageRelaySeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "crosstalk_message_relay_seconds",
	Help:    "Time from reading a message's last byte to writing it to the receiver's socket.",
	Buckets: relayBuckets,
}, []string{"protocol"})

var relayBuckets = prometheus.ExponentialBuckets(10e-6, 1.5, 32)

// WakeupSeconds is how long connections that became readable waited for a
// worker to read them (see internal/offstack): the part of a message's
// time in the server before MessageRelaySeconds starts, which grows when
// the server is short of processor time.
var WakeupSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
	Name:    "crosstalk_wakeup_seconds",
	Help:    "Time from the poller finding a connection readable to a worker reading it.",
	Buckets: relayBuckets,
})

// Nodes found dead, and their sessions taken out of presence, by the node
// that reaped them.
var (
	NodesReaped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "crosstalk_nodes_reaped_total",
		Help: "Nodes that stopped renewing their liveness record and were marked dead by this node.",
	})
	SessionsReaped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "crosstalk_sessions_reaped_total",
		Help: "Sessions of dead nodes this node took out of presence.",
	})
)

// Counters are one protocol's counters in a vector labelled by protocol
// and one more label (Commands), each looked up by its labels once and
// kept: a lookup by labels hashes them all under the vector's lock, for
// every command. The labels must come from a bounded set.
type Counters struct {
	vec      *prometheus.CounterVec
	protocol string
	kept     sync.Map // label → prometheus.Counter
}

// NewCounters keeps protocol's counters of vec.
func NewCounters(vec *prometheus.CounterVec, protocol string) *Counters {
	return &Counters{vec: vec, protocol: protocol}
}

// Of is the counter of label.
func (c *Counters) Of(label string) prometheus.Counter {
	counter, ok := c.kept.Load(label)
	if !ok {
		counter, _ = c.kept.LoadOrStore(label, c.vec.WithLabelValues(c.protocol, label))
	}
	return counter.(prometheus.Counter)
}

func init() {
	Registry.MustRegister(Connections, Commands, Errors, Logins, LoginLocks, Messages, Events, EventsRefused, MessageOutcomes, OutputOverflows, MessageRelaySeconds, WakeupSeconds,
		AcceptErrors, Refused, NodesReaped, SessionsReaped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// Value reads a counter or gauge of this process, or how many
// observations a histogram holds, for tests and for the load test's report.
func Value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return m.Gauge.GetValue()
}
