// Package server is Crosstalk's web chat service: a sixth front end on the
// hub, spoken by the browser page of package webchat and by bots over one
// WebSocket per session (the messages are package wire's; PROTOCOL.md
// describes them). The account's e-mail address or a chat token minted
// from a web session (package web's ChatToken) logs in; contacts, presence, messages, typing, contact requests and
// files reach every other protocol through the hub and the drive.
//
// # Choices
//
//   - The WebSocket is accepted only from a page of the service's own
//     host (or Config.OriginPatterns): a request whose Origin names another
//     site is refused with 403 before the upgrade, so that another site's
//     page cannot talk to the service with its visitor's cookies
//     (cross-site WebSocket hijacking). Clients that send no Origin (bots)
//     are not browsers and may connect.
//   - The first message must be "login", within Config.LoginTimeout:
//     e-mail and password, checked against the store and throttled by the
//     login guard shared with every protocol, or an opaque token that
//     Config.Tokens maps to an account (the node gives package web's
//     single-use chat tokens, minted per page load from a web session,
//     so the session cookie never reaches a page). A disabled account is
//     refused either way. A failed login is answered with an error
//     (login_failed, or login_locked when the guard holds it back) and
//     the connection is closed.
//   - A new web chat login of the same account takes over: the older
//     connection gets "bye" and is closed. Sessions of other protocols stay.
//   - After "welcome" come the contact list with every contact's presence
//     (from any protocol), then the messages that waited in the mailbox,
//     marked offline, each deleted from the mailbox once written to the
//     socket. Presence changes arriving while the list is read are sent
//     after it.
//   - "send" is answered with "ack" and result "delivered" only once a
//     session of the recipient took the message, "stored" once it is in
//     their mailbox; otherwise "error" (refused, mailbox_full,
//     unknown_contact). A message this connection took and could not
//     write goes back to the mailbox.
//   - Files: "file_offer" makes a drive ticket and is answered with
//     "file_upload" naming a URL on this service to PUT the bytes to — at
//     once when the recipient is online through a protocol the drive
//     bridges (MSN, MySpaceIM, IMIP, web chat), after the recipient allowed
//     the ticket when they are online through GG ("file_status" declined or
//     cancelled otherwise). The URL is signed (Config.UploadKey), so any
//     node sharing the drive takes the upload, and the PUT is answered with
//     the offer's "file_status". A ticket whose file did not come within
//     Config.FileAnswerTimeout is withdrawn. A bridged file its MSN or SIP
//     recipient refuses only later, or that could not be handed to them,
//     is a "file_status" declined with its ticket and no id. Files for
//     this account arrive as "file" with a download link of the drive.
//   - Limits: one message is at most Config.MaxFrameBytes (a larger one
//     closes the connection with status 1009); a client sending faster
//     than Config.FramesPerSecond is slowed to its allowance; one that
//     stops reading is dropped once Config.MaxPendingBytes wait for it; a
//     logged-in connection silent for Config.IdleTimeout is closed (the
//     page pings). Binary messages close the connection with status 1003.
//     Malformed messages are answered with an error and the session
//     goes on.
//   - An idle session costs little more than its socket: the upgrade
//     leaves net/http's connection buffers and goroutine behind, and the
//     session's own buffers are pooled and held only while bytes pass
//     (slim.go). The WebSocket framing stays coder/websocket's.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"github.com/crosstalk-im/crosstalk/internal/service"
	"github.com/crosstalk-im/crosstalk/internal/setting"
	"github.com/crosstalk-im/crosstalk/webchat/wire"
)

// protocolName is how the hub, the drive and the metrics know this
// frontend.
const protocolName = drive.ProtocolWebchat

// TokenOwner maps an opaque chat token to the account it signs in; the
// node gives package web's (*Server).ChatTokenOwner.
type TokenOwner interface {
	TokenOwner(ctx context.Context, token string) (number uint32, ok bool)
}

// TokenFunc lets a function serve as a TokenOwner.
type TokenFunc func(ctx context.Context, token string) (uint32, bool)

func (f TokenFunc) TokenOwner(ctx context.Context, token string) (uint32, bool) { return f(ctx, token) }

// Files is the drive, as the web chat uses it; (*drive.Server) implements it.
type Files interface {
	// Offer, AwaitAnswer, Fill and Withdraw send a file to a recipient
	// online through GG: a ticket they answer, filled once allowed.
	Offer(ctx context.Context, sender, recipient uint32, name string, size int64) (drive.Ticket, error)
	AwaitAnswer(ctx context.Context, id string) (drive.Ack, error)
	Fill(ctx context.Context, id string, r io.Reader) error
	Withdraw(ctx context.Context, id string) error
	// Reserve, Fill and Bridge send a file to a recipient online through
	// another protocol the drive bridges to (Bridges).
	Reserve(ctx context.Context, sender, recipient uint32, name string, size int64) (drive.Ticket, error)
	Bridge(ctx context.Context, t drive.Ticket) bool
	Bridges(sessions map[string]hub.Status) bool
	Ticket(ctx context.Context, id string) (drive.Ticket, error)
	// Link names the download address of a file for this account.
	Link(ctx context.Context, id string, recipient uint32) (drive.Ticket, string, error)
	MaxFileBytes() int64
}

// Config is the service's settings; every limit has a safe default.
type Config struct {
	Hub    *hub.Hub
	Logger *slog.Logger
	// Trace logs every message in and out at level LevelTrace, by type,
	// request id and size only: they hold passwords, tokens and private
	// messages.
	Trace bool
	// Guard slows password guessing; the servers of one process share one.
	Guard *loginguard.Guard
	// Tokens signs in with chat tokens; nil: token logins fail.
	Tokens TokenOwner
	// Files is the drive; nil: no file transfer.
	Files Files
	// UploadKey signs upload URLs; nodes that share it and the drive take
	// each other's uploads. Default: a random key of this server's own.
	UploadKey []byte
	// OriginPatterns are the hosts, besides the request's own, whose pages
	// may open the WebSocket (path.Match patterns, as "chat.example.net").
	OriginPatterns []string

	// MaxFrameBytes bounds one client message (default
	// wire.DefaultMaxFrame, 128 KiB).
	MaxFrameBytes int
	// FramesPerSecond and FrameBurst bound a client's message rate; a
	// faster client is slowed down. Defaults 20 and 100.
	FramesPerSecond float64
	FrameBurst      int
	// MaxPendingBytes bounds what may wait for a client that does not
	// read (default 1 MiB); WriteTimeout bounds one write (30 s).
	MaxPendingBytes int
	WriteTimeout    time.Duration
	// LoginTimeout bounds the time from the upgrade to a finished login
	// (30 s); IdleTimeout closes a logged-in connection that sent nothing
	// for that long (3 minutes: the page pings every minute).
	LoginTimeout time.Duration
	IdleTimeout  time.Duration
	// FileAnswerTimeout bounds the wait for a GG recipient's answer to a
	// file and, after it, for the upload to begin (2 minutes).
	FileAnswerTimeout time.Duration
}

// LevelTrace is below Debug: the message dump of one connection.
const LevelTrace = slog.Level(-8)

// Defaults of Config.
const (
	DefaultFramesPerSecond   = 20
	DefaultFrameBurst        = 100
	DefaultMaxPendingBytes   = 1 << 20
	DefaultWriteTimeout      = 30 * time.Second
	DefaultLoginTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 3 * time.Minute
	DefaultFileAnswerTimeout = 2 * time.Minute
)

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Guard == nil {
		c.Guard = loginguard.New(loginguard.Config{})
	}
	setting.Default(&c.MaxFrameBytes, wire.DefaultMaxFrame)
	if c.FramesPerSecond <= 0 {
		c.FramesPerSecond = DefaultFramesPerSecond
	}
	setting.Default(&c.FrameBurst, DefaultFrameBurst)
	setting.Default(&c.MaxPendingBytes, DefaultMaxPendingBytes)
	setting.Default(&c.WriteTimeout, DefaultWriteTimeout)
	setting.Default(&c.LoginTimeout, DefaultLoginTimeout)
	setting.Default(&c.IdleTimeout, DefaultIdleTimeout)
	setting.Default(&c.FileAnswerTimeout, DefaultFileAnswerTimeout)
}

// Server runs the web chat service.
type Server struct {
	cfg       Config
	log       *slog.Logger
	tracker   service.Tracker
	uploadKey []byte
}

// New makes a server; its handlers serve once mounted on an HTTP service.
func New(cfg Config) *Server {
	cfg.defaults()
	s := &Server{cfg: cfg, log: cfg.Logger, uploadKey: cfg.UploadKey}
	if len(s.uploadKey) == 0 {
		s.uploadKey = make([]byte, 32)
		_, _ = rand.Read(s.uploadKey)
	}
	return s
}

// Paths of the handlers below Handler's mount point.
const (
	PathSocket = "/ws"
	PathUpload = "/upload/"
)

// Handler serves the WebSocket at PathSocket and file uploads below
// PathUpload, under whatever prefix the caller strips (the node mounts it
// at /chat).
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == PathSocket:
			s.serveSocket(w, r)
		case strings.HasPrefix(p, PathUpload):
			s.serveUpload(w, r, strings.TrimPrefix(p, PathUpload))
		default:
			http.NotFound(w, r)
		}
	})
}

// serveSocket upgrades the request onto small buffers (see slim.go) and
// hands the session to offstack, off the handler's goroutine, so that
// net/http lets go of the request and its connection's buffers.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	h := &slimHijacker{ResponseWriter: w}
	ws, err := websocket.Accept(h, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.OriginPatterns})
	if err != nil {
		// Accept answered (403 for a foreign Origin, 426 for a plain GET).
		s.log.Debug("websocket refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	ws.SetReadLimit(int64(s.cfg.MaxFrameBytes))
	c := s.open(ws, h.in, h.out, r.RemoteAddr)
	if c == nil {
		return
	}
	// Serve returns at once where it holds no goroutine for the session;
	// elsewhere (TLS) it reads on this one.
	go offstack.Serve(h.in, h.sock, socketDeadlines{sock: h.sock, out: c.out}, c)
}

// Shutdown says "bye" to every client and waits for their connections to
// end or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.tracker.Shutdown(ctx)
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
