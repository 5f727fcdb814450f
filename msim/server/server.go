// Package server is Crosstalk's MySpaceIM service, for Pidgin's MySpaceIM
// plugin and clients like it: the login2 challenge, persist requests
// answered by rid, the contact list, user lookups, presence (bm 100),
// instant messages with MySpace markup (bm 1), typing and zaps (bm 121),
// block lists and offline messages.
//
// Choices where the original service is not documented:
//   - The unique nick is the account's nick, or else one made from its
//     e-mail address; it never reads as a number, which would make Pidgin
//     ask for a screen name and stall.
//   - Actions (addbuddy, delbuddy, blocklist, persist 514/515) get no reply,
//     as none is known; gets for data sets we do not keep get an empty
//     reply so that no client waits forever.
//   - Zaps to users of other protocols arrive there as a line of text;
//     MySpace users get the zap itself.
//   - Offline messages are delivered after the contact-list reply, with
//     their date, and then removed.
//   - Formatting travels per run of text; smileys typed elsewhere reach
//     MySpace users as emoticons, and emoticons leave as smileys.
//   - Profiles carry the status text as Headline and no picture.
//   - Shutting down sends a fatal error whose text says so. After a fatal
//     error the server ends its side of the stream and reads what the
//     client still sends until it hangs up (at most WriteTimeout), so
//     that the error is not lost to a reset.
//   - A login held back after many failures (Config.Guard) gets error 260,
//     as a wrong password does, with a text saying to try later.
package server

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/internal/service"
	"github.com/crosstalk-im/crosstalk/internal/setting"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// protocolName is how the hub knows this frontend's sessions.
const protocolName = "msim"

// commandsCounted and messagesCounted are the protocol's counters of
// commands (by name) and of messages, looked up once.
var (
	commandsCounted = metrics.NewCounters(metrics.Commands, protocolName)
	messagesCounted = metrics.Messages.WithLabelValues(protocolName)
)

// Config is the service's settings; every limit has a safe default.
type Config struct {
	Hub    *hub.Hub
	Logger *slog.Logger
	// Trace logs every message in and out at level LevelTrace.
	Trace bool

	// Guard slows password guessing; the servers of one process share one.
	// Default: a guard of this server's own, with loginguard's defaults.
	Guard *loginguard.Guard

	// MaxMessageBytes bounds one message, \final\ included.
	MaxMessageBytes int
	// MessagesPerSecond and MessageBurst bound a client's request rate; a
	// faster client is slowed down.
	MessagesPerSecond float64
	MessageBurst      int
	// LoginTimeout bounds the time from connect to a finished login.
	LoginTimeout time.Duration
	// IdleTimeout closes a silent connection. MySpaceIM clients send no
	// keep-alives, so it is long.
	IdleTimeout     time.Duration
	MaxPendingBytes int
	// WriteTimeout bounds one write, and the time a client has to hang up
	// after a fatal error.
	WriteTimeout time.Duration
}

// LevelTrace is below Debug: the message dump of one connection.
const LevelTrace = slog.Level(-8)

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Guard == nil {
		c.Guard = loginguard.New(loginguard.Config{})
	}
	setting.Default(&c.MaxMessageBytes, wire.DefaultMaxMessage)
	if c.MessagesPerSecond <= 0 {
		c.MessagesPerSecond = 20
	}
	setting.Default(&c.MessageBurst, 100)
	setting.Default(&c.LoginTimeout, 60*time.Second)
	setting.Default(&c.IdleTimeout, 2*time.Hour)
	setting.Default(&c.MaxPendingBytes, 1<<20)
	setting.Default(&c.WriteTimeout, 30*time.Second)
}

// Server runs the MySpaceIM service.
type Server struct {
	cfg     Config
	log     *slog.Logger
	tracker service.Tracker
}

// New makes a server; nothing listens until Serve runs.
func New(cfg Config) *Server {
	cfg.defaults()
	return &Server{cfg: cfg, log: cfg.Logger}
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = service.ErrClosed

// Serve accepts MySpaceIM connections on l.
func (s *Server) Serve(l net.Listener) error {
	return s.tracker.Serve(l, s.ServeConn)
}

// ServeConn runs one accepted connection; a listener shared with MSNP hands
// over the clients that did not speak first.
func (s *Server) ServeConn(nc net.Conn) {
	s.handle(nc)
}

// Busy tells a client the service has no room for it, in the fatal error
// that ends a session.
func (s *Server) Busy(nc net.Conn) {
	_, _ = nc.Write(wire.Append(nil, errorMessage(wire.ErrCodeParse, "The server is busy. Try again later.", true)))
}

// Shutdown stops accepting, tells every client the server is going down and
// waits for their connections to end or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.tracker.Shutdown(ctx)
}
