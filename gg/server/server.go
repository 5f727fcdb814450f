// Package server is Crosstalk's Gadu-Gadu service for GG11 clients
// (libgadu 1.12, protocol 0x40, and Pidgin's gg plugin): login with the
// SHA-1 hash, the IMToken for the GG drive, presence with descriptions,
// protocol-11 messages with acks, typing, offline messages, contact-list
// export and MPA notifications.
//
// Choices where the original service is not documented:
//   - Login failures are GG_LOGIN80_FAILED, which libgadu reports at once
//     as a bad password (other failure packets make it wait for a timeout);
//     so are logins held back after many failures (Config.Guard).
//   - The notify list a client sends is added to the account's forward list
//     (blocked entries to its block list) and never removes anything: the
//     account's lists are shared with its other protocols. GG_REMOVE_NOTIFY
//     removes.
//   - GG_NOTIFY_REPLY80 lists only contacts that are online.
//   - Offline messages are deleted when the client acknowledges them.
//   - The per-contact "friend" bit and the friends-only status mask are
//     not enforced; the account's privacy settings decide who sees it.
package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/internal/service"
	"github.com/crosstalk-im/crosstalk/internal/setting"
	"github.com/crosstalk-im/crosstalk/metrics"
)

// protocolName is how the hub knows this frontend's sessions.
const protocolName = "gg"

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
	// Trace logs every packet in and out at level LevelTrace.
	Trace bool

	// MaxPacketBytes bounds one packet body. Messages stay under about
	// 20 kB; compressed contact-list exports need a little more.
	MaxPacketBytes int
	// PacketsPerSecond and PacketBurst bound a client's packet rate;
	// a client that keeps exceeding it is disconnected.
	PacketsPerSecond float64
	PacketBurst      int
	// LoginTimeout bounds the time from connect to a finished login.
	LoginTimeout time.Duration
	// IdleTimeout closes a connection silent for that long; clients ping
	// about once a minute.
	IdleTimeout     time.Duration
	MaxPendingBytes int
	WriteTimeout    time.Duration
	// Guard slows password guessing; the servers of one process share one.
	// Default: a guard of this server's own, with loginguard's defaults.
	Guard *loginguard.Guard
	// TokenKey signs the IMTokens sessions get for the GG drive. Nodes that
	// share it accept each other's tokens; empty: a random key of this
	// process.
	TokenKey []byte
}

// LevelTrace is below Debug: the packet dump of one connection.
const LevelTrace = slog.Level(-8)

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Guard == nil {
		c.Guard = loginguard.New(loginguard.Config{})
	}
	setting.Default(&c.MaxPacketBytes, wire.DefaultMaxBody)
	if c.PacketsPerSecond <= 0 {
		c.PacketsPerSecond = 20
	}
	setting.Default(&c.PacketBurst, 100)
	setting.Default(&c.LoginTimeout, 30*time.Second)
	setting.Default(&c.IdleTimeout, 5*time.Minute)
	setting.Default(&c.MaxPendingBytes, 1<<20)
	setting.Default(&c.WriteTimeout, 30*time.Second)
	if len(c.TokenKey) == 0 {
		c.TokenKey = make([]byte, 32)
		rand.Read(c.TokenKey)
	}
}

// Server runs the GG service.
type Server struct {
	cfg     Config
	log     *slog.Logger
	tracker service.Tracker
	// messageIDs is the last message id given out: counted up from a
	// random start, so that ids differ between servers and restarts
	// without a random read for every message.
	messageIDs atomic.Uint64
}

// New makes a server; nothing listens until Serve runs.
func New(cfg Config) *Server {
	cfg.defaults()
	s := &Server{cfg: cfg, log: cfg.Logger}
	var start [8]byte
	_, _ = rand.Read(start[:])
	s.messageIDs.Store(binary.LittleEndian.Uint64(start[:]))
	return s
}

// messageID is a new message id, below 2⁶³ as ids have always been, so
// that one read as signed is not negative.
func (s *Server) messageID() uint64 {
	return s.messageIDs.Add(1) &^ (1 << 63)
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = service.ErrClosed

// Serve accepts GG connections on l.
func (s *Server) Serve(l net.Listener) error {
	return s.tracker.Serve(l, s.handle)
}

// Shutdown stops accepting, tells every client the server is going away
// (GG_DISCONNECTING), and waits for their connections to end or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.tracker.Shutdown(ctx)
}

// An IMToken names a GG session and is signed with Config.TokenKey:
// "<uin>.<hub session id>.<signature>". It holds no state of its own, so
// the drive of any node with the same key checks it, and it dies with the
// session it names.

// TokenOwner returns the account whose GG session, still attached on any
// node, was given token in GG_IMTOKEN; the GG drive accepts it for signing
// in.
func (s *Server) TokenOwner(ctx context.Context, token string) (uint32, bool) {
	uinText, rest, ok1 := strings.Cut(token, ".")
	session, sig, ok2 := strings.Cut(rest, ".")
	uin, err := strconv.ParseUint(uinText, 10, 32)
	if !ok1 || !ok2 || err != nil || session == "" {
		return 0, false
	}
	want := s.tokenSignature(uint32(uin), session)
	if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
		return 0, false
	}
	alive, err := s.cfg.Hub.HasSession(ctx, uint32(uin), session, protocolName)
	if err != nil {
		s.log.Warn("IMToken check", "account", uin, "err", err)
	}
	return uint32(uin), alive && err == nil
}

func (s *Server) issueToken(uin uint32, session string) string {
	return strconv.FormatUint(uint64(uin), 10) + "." + session + "." + s.tokenSignature(uin, session)
}

func (s *Server) tokenSignature(uin uint32, session string) string {
	mac := hmac.New(sha256.New, s.cfg.TokenKey)
	fmt.Fprintf(mac, "imtoken|%d|%s", uin, session)
	return hex.EncodeToString(mac.Sum(nil)[:20])
}
