// Package metrics holds the Prometheus collectors every frontend reports to,
// labelled by protocol so one dashboard covers them all.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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

	// Logins counts login attempts by result (ok, bad_password, ...).
	Logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crosstalk_logins_total",
		Help: "Login attempts.",
	}, []string{"protocol", "result"})

	// Messages counts instant messages relayed, by the sender's protocol.
	Messages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crosstalk_messages_total",
		Help: "Instant messages relayed.",
	}, []string{"protocol"})
)

func init() {
	Registry.MustRegister(Connections, Commands, Errors, Logins, Messages,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}
