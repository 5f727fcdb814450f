// Package server is Crosstalk's IMUnified (IMIP/1.0) service, the protocol
// the Yahoo! Messenger IMIP client spoke to Odigo's server on TCP port
// 11319: HELO with a salt, the imip-md5 login with the contact list in the
// LOGN echo, presence with status texts, messages both ways (offline ones
// too), the LIST ADD / ACCEPT / REJECT / REMOVE authorization flow,
// keep-alive PINGs and DISC. Framing and vocabulary are package wire's;
// the account's Number is the IMIP user id.
//
// # Choices where the sources are silent
//
// Seed 004 (Wimmer's notes) and his captured sessions are followed where
// they say something; what follows is ours.
//
// Handshake and login:
//   - The server HELO carries Auth-Type imip-md5, Capabilities
//     server-lists, ID, Keep-Alive (Config.KeepAlive in seconds, 60 by
//     default), Protocol IMIP/1.0, Registration (Config.RegistrationURL),
//     Service ("crosstalk") and ServiceDisplayName ("Crosstalk"), with a
//     fresh random 32-bit decimal salt as its body. A repeated HELO before
//     login gets the same HELO (same salt) again; the Protocol header of
//     the client's HELO is not checked.
//   - User ids are account numbers in canonical decimal (no sign, no
//     leading zeros, not 0); anything else is an unknown user (811), as
//     Wimmer saw for a non-numeric id.
//   - LOGN: a wrong password is ACK 810, an unknown user ACK 811, a
//     missing user ACK 800, an Auth-Type other than imip-md5 ACK 801, a
//     LOGN before HELO (there is no salt yet) ACK 800. A login held back
//     after many failures (Config.Guard) gets the 810 or 811 a wrong
//     password would, with "too many failed logins, try again later" as
//     its body. Every failed login closes the connection after its ACK. Success is the LOGN echo with
//     Reference and, when the forward list is not empty, a Buddy header
//     listing it as `number "display name"`, separated by ", ".
//   - A new IMIP login of the same account takes over: the older
//     connection gets a server DISC whose body says why, then is closed.
//     Sessions of other protocols stay.
//
// Presence:
//   - Right after LOGN the session is attached to the hub as invisible:
//     messages reach it at once, but contacts do not see it online before
//     the client's first STAT says what it wants to be.
//   - Client STAT: ONLINE, AWAY, BUSY map to the hub's online, away,
//     busy; OFFLINE means invisible (Wimmer). Case is ignored. A STAT
//     without status is ACK 800, an unknown status ACK 801, anything else
//     ACK 600. The status text is the block's body (as Wimmer describes
//     it), up to MaxTextBytes; invisible drops it.
//   - Server STAT: one per contact as their status changes, with
//     From: `number "display name"` and the status text as body. Hub
//     statuses map online→ONLINE; away, idle, brb, lunch→AWAY; busy,
//     phone→BUSY; offline, invisible→OFFLINE (without text).
//   - After the ACK to the client's first STAT, the server sends one STAT
//     per forward-list contact the account may see online; presence
//     changes before that are not sent (that snapshot covers them), those
//     arriving while it is taken are held and sent after it.
//
// Messages:
//   - Server MESG headers, sorted by name as Odigo sorted them:
//     Content-Type text/plain;charset=utf-8, From `number "display
//     name"`, ID, Time (yyyy-mm-ddThh:mm:ssZ, UTC, the time the sender
//     sent it), To (our number); the text is the body.
//   - Client MESG: To is required (800), must be a known user (811), the
//     body must not be empty (800) nor longer than hub.MaxMessageBytes
//     (801). From is ignored: the sender is the session's account. With
//     "ACK-Type: errors-only" (what the Yahoo! client sends) only failures
//     are answered; without it, success is ACK 600 too. Failures of our
//     own: 802 when the recipient does not accept messages from the
//     sender (blocked, or their privacy setting), 803 when the recipient
//     is offline and their offline mailbox is full.
//   - Offline messages are sent right after the LOGN echo with their
//     original Time, and deleted from the store once the connection has
//     written them to the socket (IMIP clients do not acknowledge
//     messages); when the connection fails first they stay for the next
//     login.
//   - Text from clients (messages, status and request texts) that is not
//     valid UTF-8 is taken as Windows-1252, what a Yahoo! client of 2002
//     on Western Windows would send; we always send UTF-8.
//
// Lists and authorization:
//   - The "Buddy" list is the hub's forward list (group 0 for new
//     entries); a List header naming any other list is ACK 801. Blocks
//     naming oneself are ACK 801, unknown users ACK 811, a full list ACK
//     804 (ours).
//   - LIST ADD B from A puts B on A's forward list and answers ACK 600,
//     followed by B's STAT when A may see B online. B's sessions learn of
//     it through the hub: an IMIP session of B gets "LIST ADD" with From
//     `A "nick"`, List: Buddy and A's request text as body. The text
//     crosses only this node's IMIP service; when A added B through
//     another protocol or node, DefaultRequestText stands in. Adding a
//     contact already on the forward list changes nothing (no second
//     group) and answers ACK 600 with its STAT.
//   - The request is shown only while unanswered: someone on the account's
//     allow or block list is not asked again. Requests that arrived while
//     the account was offline (people with it on their forward list who
//     are on neither its allow nor its block list) are sent after the
//     presence snapshot that follows the first STAT, at every login until
//     answered — as MSN clients ask about such people.
//   - LIST ACCEPT A puts A on the account's allow list (off the block list
//     first, if there): A may see the account's presence even when its
//     privacy setting is "only people on my allow list", and the hub sends
//     A the account's presence if that changed what A sees.
//   - LIST REJECT A puts A on the block list (off the allow list first):
//     a refusal that holds whatever the account's privacy setting. Since
//     the hub has one block list for presence and messages, A then sees
//     the account offline and cannot message it either — the same as
//     MSN's "block" answer to the same question. A later LIST ACCEPT
//     undoes it. The requester is not told (Odigo's server did not seem
//     to tell either); what it sees is the account going OFFLINE.
//   - Consent is not a gate of its own: the account's privacy setting
//     (shared by all its protocols, "everyone not blocked" by default)
//     decides what A sees between LIST ADD and the answer, so by default A
//     sees B at once, which the client library reports as consent.
//   - LIST REMOVE B takes B off the forward list (ACK 600 also when B was
//     not on it) and is followed by "STAT OFFLINE" From B so the client
//     stops showing B.
//   - Someone removing the account from their list (the hub's reverse
//     list change) is not shown; IMIP has no block for it.
//
// Session:
//   - Every answer carries Reference: <the client's ID> when the client's
//     block had an ID. Server block IDs come from one counter per server,
//     so they rise on every connection. Headers are sorted by name and the
//     blank line is sent only before a body, as Odigo did.
//   - Before login, blocks other than HELO, LOGN and DISC are answered
//     with ACK 812 (ours, with a short text body, as are 802–804). Unknown
//     block types after login are ACK 800, HELO and LOGN after login ACK
//     801. ACK blocks from the client are never answered, so two peers
//     cannot answer each other's answers forever.
//   - PING is ACK 600; the server never PINGs. A connection without any
//     block for Config.IdleTimeout (3×Keep-Alive by default) after login,
//     or without a finished login after Config.LoginTimeout, gets a DISC
//     with a reason and is closed.
//   - DISC is answered with ACK 600, then the connection is closed.
//     Server DISC (takeover, shutdown, timeout) carries the reason as its
//     body.
//   - A block that breaks the framing (a lying length, one above
//     Config.MaxBlockBytes, a line that is not a type line or header,
//     garbage) is answered with ACK 800 without Reference, and the
//     connection is closed: after it the stream cannot be trusted. A
//     stream that ends inside a block is just closed; its sender has gone.
//   - A client sending faster than Config.BlocksPerSecond is slowed to
//     its allowance (IMIP has no "slow down" reply); one that stops
//     reading is dropped when Config.MaxPendingBytes are waiting for it.
//   - Typing notifications, conversation invitations and service
//     notifications from the hub are not shown: IMIP has no blocks for
//     them.
package server

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/imip/wire"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/internal/service"
	"github.com/crosstalk-im/crosstalk/internal/setting"
	"github.com/crosstalk-im/crosstalk/metrics"
)

// protocolName is how the hub and the metrics know this frontend.
const protocolName = "imip"

// commandsCounted and messagesCounted are the protocol's counters of
// commands (by name) and of messages, looked up once.
var (
	commandsCounted = metrics.NewCounters(metrics.Commands, protocolName)
	messagesCounted = metrics.Messages.WithLabelValues(protocolName)
)

// ACK codes of our own, beside those of package wire.
const (
	// CodeRefused: the recipient does not accept messages from the sender.
	CodeRefused wire.Code = 802
	// CodeMailboxFull: the recipient is offline and cannot take more
	// offline messages.
	CodeMailboxFull wire.Code = 803
	// CodeListFull: the list already holds the most entries allowed.
	CodeListFull wire.Code = 804
)

// DefaultRequestText is the body of a "LIST ADD" request when the
// requester's own text did not reach this server.
const DefaultRequestText = "Want to add you!"

// MaxTextBytes bounds status and request texts; longer ones are cut.
const MaxTextBytes = 512

// Defaults announced in the HELO.
const (
	DefaultService            = "crosstalk"
	DefaultServiceDisplayName = "Crosstalk"
	// DefaultRegistrationURL is where people learn how to get an account:
	// Crosstalk accounts are made by an operator (crosstalk user add).
	DefaultRegistrationURL = "https://github.com/crosstalk-im/crosstalk"
)

// Config is the service's settings; every limit has a safe default.
type Config struct {
	Hub    *hub.Hub
	Logger *slog.Logger
	// Trace logs every block in and out at level LevelTrace (bodies only
	// by size: they hold login hashes and private messages).
	Trace bool

	// Guard slows password guessing; the servers of one process share one.
	// Default: a guard of this server's own, with loginguard's defaults.
	Guard *loginguard.Guard

	// Service, ServiceDisplayName and RegistrationURL go into the HELO.
	Service            string
	ServiceDisplayName string
	RegistrationURL    string
	// KeepAlive is the PING interval the HELO asks clients for, in whole
	// seconds (at least one). Default 60 s, Odigo's.
	KeepAlive time.Duration
	// IdleTimeout closes a logged-in connection that sent no block for
	// that long. Default 3×KeepAlive.
	IdleTimeout time.Duration
	// LoginTimeout bounds the time from connect to a finished login.
	LoginTimeout time.Duration

	// MaxBlockBytes bounds the counted bytes of one client block. Messages
	// stay under hub.MaxMessageBytes, so the default, wire.DefaultMaxBlock
	// (64 KiB), leaves ample room.
	MaxBlockBytes int
	// BlocksPerSecond and BlockBurst bound a client's block rate; a faster
	// client is slowed down.
	BlocksPerSecond float64
	BlockBurst      int
	// MaxPendingBytes bounds what may wait for a client that does not
	// read; WriteTimeout bounds one write.
	MaxPendingBytes int
	WriteTimeout    time.Duration
}

// LevelTrace is below Debug: the block dump of one connection.
const LevelTrace = slog.Level(-8)

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Guard == nil {
		c.Guard = loginguard.New(loginguard.Config{})
	}
	setting.Default(&c.Service, DefaultService)
	setting.Default(&c.ServiceDisplayName, DefaultServiceDisplayName)
	setting.Default(&c.RegistrationURL, DefaultRegistrationURL)
	setting.Default(&c.KeepAlive, wire.DefaultKeepAlive)
	c.KeepAlive = max(c.KeepAlive.Truncate(time.Second), time.Second)
	setting.Default(&c.IdleTimeout, 3*c.KeepAlive)
	setting.Default(&c.LoginTimeout, 30*time.Second)
	setting.Default(&c.MaxBlockBytes, wire.DefaultMaxBlock)
	if c.BlocksPerSecond <= 0 {
		c.BlocksPerSecond = 20
	}
	setting.Default(&c.BlockBurst, 100)
	setting.Default(&c.MaxPendingBytes, 1<<20)
	setting.Default(&c.WriteTimeout, 30*time.Second)
}

// setDefault replaces a zero (or negative) setting.
// Server runs the IMIP service.
type Server struct {
	cfg     Config
	log     *slog.Logger
	ids     atomic.Uint32 // server block IDs
	tracker service.Tracker

	reqMu    sync.Mutex
	requests map[requestKey]requestText
}

// New makes a server; nothing listens until Serve runs.
func New(cfg Config) *Server {
	cfg.defaults()
	return &Server{cfg: cfg, log: cfg.Logger, requests: make(map[requestKey]requestText)}
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = service.ErrClosed

// Serve accepts IMIP connections on l.
func (s *Server) Serve(l net.Listener) error {
	return s.tracker.Serve(l, s.handle)
}

// Busy tells a client the service has no room for it: a DISC giving the
// reason, as at shutdown (IMIP has no "busy" code).
func (s *Server) Busy(nc net.Conn) {
	b := wire.NewBlock(wire.TypeDISC).Add(wire.HeaderID, strconv.FormatUint(uint64(s.nextID()), 10))
	b.Body = []byte("server busy")
	if enc, err := b.Encode(); err == nil {
		_, _ = nc.Write(enc)
	}
}

// Shutdown stops accepting, sends every client a DISC saying the server
// is going away, and waits for their connections to end or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.tracker.Shutdown(ctx)
}

// nextID numbers the server's blocks.
func (s *Server) nextID() uint32 { return s.ids.Add(1) }

// The request text of a LIST ADD waits here for the hub to tell the
// added account's IMIP session; the hub's event does not carry it.
type requestKey struct{ from, to uint32 }

type requestText struct {
	text string
	at   time.Time
}

// requestTTL is how long a request text waits for its event; the event
// normally arrives within milliseconds.
const requestTTL = time.Minute

// maxRequests bounds the texts waiting; past it, expired ones are swept.
const maxRequests = 4096

func (s *Server) rememberRequest(from, to uint32, text string) {
	if text == "" {
		return
	}
	now := time.Now()
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	if len(s.requests) >= maxRequests {
		for k, r := range s.requests {
			if now.Sub(r.at) > requestTTL {
				delete(s.requests, k)
			}
		}
		if len(s.requests) >= maxRequests {
			return // the default text will do
		}
	}
	s.requests[requestKey{from, to}] = requestText{text: text, at: now}
}

// takeRequest returns (and forgets) the text from sent to to, or
// DefaultRequestText.
func (s *Server) takeRequest(from, to uint32) string {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	k := requestKey{from, to}
	r, ok := s.requests[k]
	delete(s.requests, k)
	if !ok || time.Since(r.at) > requestTTL {
		return DefaultRequestText
	}
	return r.text
}

// forgetRequest drops a text whose LIST ADD did not change the list.
func (s *Server) forgetRequest(from, to uint32) {
	s.reqMu.Lock()
	delete(s.requests, requestKey{from, to})
	s.reqMu.Unlock()
}
