package server

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/internal/service"
	"github.com/crosstalk-im/crosstalk/internal/setting"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// protocolName is how the hub and the metrics know this frontend.
const protocolName = "sip"

// commandsCounted and messagesCounted are the protocol's counters of
// commands (by name) and of messages, looked up once.
var (
	commandsCounted = metrics.NewCounters(metrics.Commands, protocolName)
	messagesCounted = metrics.Messages.WithLabelValues(protocolName)
)

// Defaults of Config.
const (
	DefaultRealm              = "SIP Communications Service" // what OCS says
	DefaultTargetName         = "crosstalk"                  // when the host has no name
	DefaultKeepAlive          = 300 * time.Second
	DefaultRegisterExpires    = 7200 * time.Second
	DefaultLoginTimeout       = 60 * time.Second
	DefaultTransactionTimeout = 30 * time.Second
	DefaultMaxDialogs         = 64
	DefaultMessagesPerSecond  = 20
	DefaultMessageBurst       = 100
	DefaultMaxPendingBytes    = 1 << 20
	DefaultWriteTimeout       = 30 * time.Second
	DefaultFileAnswerTimeout  = 2 * time.Minute
	DefaultFileLegTimeout     = 30 * time.Second
	DefaultMaxFileTransfers   = 8
)

// Expiry of subscriptions, as OCS gives them: pidgin-sipe renews two
// minutes before.
const (
	roamingExpires  = 8 * time.Hour
	presenceExpires = time.Hour
)

// Config is the service's settings; every limit has a safe default.
type Config struct {
	Hub    *hub.Hub
	Logger *slog.Logger
	// Trace logs every message in and out at level LevelTrace, without
	// authentication data and with bodies only by size.
	Trace bool
	// Guard slows password guessing; the servers of one process share one.
	Guard *loginguard.Guard

	// Realm and TargetName go into the NTLM offer and every signature.
	// TargetName defaults to the host name.
	Realm, TargetName string

	// KeepAlive is the ms-keep-alive timeout the client is told: it sends
	// a keep-alive when it has been silent that long.
	KeepAlive time.Duration
	// RegisterExpires is the lifetime of a registration; clients renew it
	// 30 seconds before.
	RegisterExpires time.Duration
	// IdleTimeout closes a signed-in connection silent for that long
	// (default 3×KeepAlive); LoginTimeout one that has not signed in that
	// long after connecting.
	IdleTimeout, LoginTimeout time.Duration
	// TransactionTimeout is how long the client may take to answer a
	// request of ours (an INVITE or MESSAGE bringing it a message); a
	// client that does not answer is taken for gone.
	TransactionTimeout time.Duration
	// MaxDialogs bounds a connection's IM sessions.
	MaxDialogs int
	// Limits bound one message from the client.
	Limits wire.Limits
	// MessagesPerSecond and MessageBurst bound a client's request rate; a
	// faster client is slowed down.
	MessagesPerSecond float64
	MessageBurst      int
	// MaxPendingBytes bounds what may wait for a client that does not
	// read; WriteTimeout bounds one write.
	MaxPendingBytes int
	WriteTimeout    time.Duration

	// Files, when set, carries files between SIP clients and contacts of
	// every protocol (see files.go); without it file invitations are
	// cancelled with REJECT_NOT_INSTALLED.
	Files drive.FileBridge
	// FileAnswerTimeout is how long a file offer waits for its answer:
	// the client's to a file brought to it, a GG contact's on the drive to
	// the client's file.
	FileAnswerTimeout time.Duration
	// FileLegTimeout bounds the wait for a client to connect to a port
	// opened for one transfer, and each step of a transfer.
	FileLegTimeout time.Duration
	// MaxFileTransfers bounds the file invitations, both ways, one
	// connection has under way.
	MaxFileTransfers int
	// FileHost is the address clients reach this node's file ports at
	// (behind NAT or port forwarding, the public one), named in the
	// IP-Address of the server's file invitations; the ports then listen
	// on every address, as forwarded connections need not arrive where
	// the SIP connection did. Empty: the address each client reached the
	// server at, where the ports then listen.
	FileHost string
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
	if c.TargetName == "" {
		c.TargetName, _ = os.Hostname()
		if c.TargetName == "" {
			c.TargetName = DefaultTargetName
		}
	}
	setting.Default(&c.Realm, DefaultRealm)
	setting.Default(&c.KeepAlive, DefaultKeepAlive)
	c.KeepAlive = max(c.KeepAlive.Truncate(time.Second), time.Second)
	setting.Default(&c.RegisterExpires, DefaultRegisterExpires)
	// The client renews 30 s before expiry: less would renew at once.
	c.RegisterExpires = max(c.RegisterExpires.Truncate(time.Second), time.Minute)
	setting.Default(&c.IdleTimeout, 3*c.KeepAlive)
	setting.Default(&c.LoginTimeout, DefaultLoginTimeout)
	setting.Default(&c.TransactionTimeout, DefaultTransactionTimeout)
	setting.Default(&c.MaxDialogs, DefaultMaxDialogs)
	if c.MessagesPerSecond <= 0 {
		c.MessagesPerSecond = DefaultMessagesPerSecond
	}
	setting.Default(&c.MessageBurst, DefaultMessageBurst)
	setting.Default(&c.MaxPendingBytes, DefaultMaxPendingBytes)
	setting.Default(&c.WriteTimeout, DefaultWriteTimeout)
	setting.Default(&c.FileAnswerTimeout, DefaultFileAnswerTimeout)
	setting.Default(&c.FileLegTimeout, DefaultFileLegTimeout)
	setting.Default(&c.MaxFileTransfers, DefaultMaxFileTransfers)
}

// setDefault replaces a zero (or negative) setting.
// Server runs the SIP service.
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

// Serve accepts SIP connections on l (TCP, or TLS when l is a TLS
// listener).
func (s *Server) Serve(l net.Listener) error {
	return s.tracker.Serve(l, s.handle)
}

// Busy tells a client the service has no room for it: SIP clients speak
// first, so it waits for the first request and answers it 503.
func (s *Server) Busy(nc net.Conn) {
	rd := wire.NewReader(nc, s.cfg.Limits)
	for {
		m, err := rd.ReadMessage()
		if err != nil {
			return
		}
		if m == nil || !m.IsRequest() {
			continue
		}
		res := wire.Response(m, 503, "")
		res.Add("Retry-After", "60")
		if enc, err := res.Encode(); err == nil {
			_, _ = nc.Write(enc)
		}
		return
	}
}

// Shutdown stops accepting, tells every signed-in client it is
// deregistered, and waits for the connections to end or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.tracker.Shutdown(ctx)
}

// address is how SIP names an account: sip:<its e-mail>.
func (s *Server) address(a hub.Account) string {
	return "sip:" + s.user(a)
}

// user is the address without its scheme, as contact lists write it.
func (s *Server) user(a hub.Account) string {
	return strings.ToLower(a.Email)
}

// resolve finds the account a sip: URI names (see address).
func (s *Server) resolve(ctx context.Context, uri string) (hub.Account, error) {
	user := strings.ToLower(wire.URIUser(uri))
	if local, host, ok := strings.Cut(user, "@"); !ok || local == "" || host == "" {
		return hub.Account{}, hub.ErrNotFound
	}
	return s.cfg.Hub.Store().AccountByEmail(ctx, user)
}
