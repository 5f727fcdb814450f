// Package server is Crosstalk's MSN Messenger service for MSNP2–MSNP18
// clients (MSN Messenger 1.0 to Windows Live Messenger 2009): the dispatch
// and notification server on one port, the switchboard on another, and
// the HTTPS services of Passport and the address book (ABCH) on the HTTP
// service. Each connection is one goroutine reading commands;
// replies and hub events leave through an outbox (see internal/outbox).
//
// Choices where the old service is not documented, made for what real
// clients need:
//   - The dispatch server is the notification server (DS == NS) unless
//     Config.NotificationAddr names another address, in which case USR … I
//     is answered with XFR NS and the connection closes.
//   - CHL/QRY is off by default (clients do not need it); when on, a wrong
//     or missing answer gets 540 and a disconnect.
//   - FND (member directory) always finds nobody: FND trid 0 0.
//   - MSNP10+ lists always go out whole (SYN with fixed timestamps), as
//     Escargot does; contact and group GUIDs are derived from account
//     numbers and group ids, so nothing new is stored.
//   - What MSNP8+ clients say about themselves beyond status and text
//     (dialect, capabilities, display-picture object, personal message and
//     media) travels with their presence as the hub session's details.
//   - A login held back after many failures (Config.Guard) gets 911, as a
//     wrong password does: clients know no other answer.
//   - MSNP13+ address books always go out whole: a delta request gets the
//     FullSyncRequired fault. The initial ADL is only acknowledged (the
//     server has the lists); later ADLs and RMLs change them.
//   - MSNP16+ endpoints are named by machine GUID; each login of another
//     GUID is a session of its own (hub.AttachInstance), one of the same
//     GUID takes over. What each endpoint says about itself travels in its
//     session's details, so endpoints on other nodes are shown too.
//   - Offline messages arrive as chats at the first CHG up to MSNP12;
//     MSNP13+ clients get the Mail-Data notification listing them and
//     fetch them from the offline-IM services (OfflineMessageHandler),
//     which read the same mailbox.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/internal/service"
	"github.com/crosstalk-im/crosstalk/internal/setting"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/msnp/oim"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
	"github.com/crosstalk-im/crosstalk/msnp/storage"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// Config is the service's settings. Every limit is a named field with a safe
// default (see Defaults).
type Config struct {
	Hub    *hub.Hub
	Logger *slog.Logger
	// Trace logs every line in and out at level LevelTrace.
	Trace bool

	// SwitchboardAddr is the host:port handed to clients in XFR SB and RNG.
	// Without a host (":1864") each client is given the address it reached
	// the notification server at.
	SwitchboardAddr string
	// NotificationAddr, when set, turns the notification listener into a
	// dispatch server that refers logins there with XFR NS.
	NotificationAddr string
	// Guard slows password guessing; the servers of one process share one.
	// Default: a guard of this server's own, with loginguard's defaults.
	Guard *loginguard.Guard
	// Challenge sends CHL after login and requires a correct QRY.
	Challenge bool
	// MaxDialect is the highest MSNP version offered (2–18).
	MaxDialect int
	// Passport signs and verifies the tickets of MSNP8+ logins (Passport
	// 1.4, served by PassportHandler). Nodes that share clients share its
	// Key; without one, New makes a random key of this server's own.
	Passport passport.Tickets

	Limits wire.Limits
	// MaxMessageBytes caps a switchboard MSG payload; the MSNP7-era service
	// dropped clients that sent more than 1664 bytes.
	MaxMessageBytes int
	// MaxPersonalStatus caps the bytes of an MSNP11+ personal message and
	// current media together (UUX); clients allowed 129 characters, and
	// other protocols show the message as their status text.
	MaxPersonalStatus int
	// CommandsPerSecond and CommandBurst bound a client's command rate;
	// commands beyond it get error 713, and a client that keeps flooding is
	// disconnected.
	CommandsPerSecond float64
	CommandBurst      int
	// P2PChunksPerSecond and P2PChunkBurst bound the P2P messages
	// (application/x-msnmsgrp2p) a switchboard client sends, apart from
	// its other commands: MSN 6+ clients move files and display pictures
	// through the switchboard in chunks of at most 1202 bytes. Beyond the
	// rate the server reads them more slowly rather than refusing them;
	// it sends the chunks of files from other protocols at the same rate.
	P2PChunksPerSecond float64
	P2PChunkBurst      int
	// HandshakeTimeout bounds the time from connect to a finished login.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that sends nothing for that long.
	IdleTimeout time.Duration
	// SwitchboardIdleTimeout does the same for switchboard connections.
	SwitchboardIdleTimeout time.Duration
	// CookieLifetime bounds how long an XFR or RNG cookie may wait to be used.
	CookieLifetime time.Duration
	// ChallengeTimeout is how long a client has to answer CHL.
	ChallengeTimeout time.Duration
	// MaxPendingBytes bounds output queued for a client that does not read.
	MaxPendingBytes int
	WriteTimeout    time.Duration

	// Files, when set, receives files MSN clients send to contacts online
	// through another protocol (not GG): the server takes the MSNFTP
	// receiver's part and the drive hands the file on (an offer over SIP,
	// a download link elsewhere; a refusal after that is told to the
	// sender in a message from the recipient). Contacts online only
	// through GG are offered a drive ticket instead, which the server
	// fills once they allow it. Without it such invitations are declined with
	// REJECT_NOT_INSTALLED.
	Files drive.FileBridge
	// FileAnswerTimeout is how long a file offered to a contact online only
	// through GG waits for their answer on the drive before the sender gets
	// CANCEL TIMEOUT (default 2 minutes).
	FileAnswerTimeout time.Duration
	// FileLegTimeout bounds the wait for a client to connect to a port the
	// server opened for one file transfer, and the relay's wait for one
	// side once the other is there (default 30 seconds, as long as the
	// original client tried to connect).
	FileLegTimeout time.Duration

	// FTPListener, when set, is where the MSNFTP relay takes connections
	// (served by ServeFTP): a file between two MSN clients passes through
	// the server when neither can take a connection, and every file does
	// when RelayAlways is set (see relay.go). FTPPublicAddr is the relay's
	// host:port as clients are told it; empty (or without a host) means the
	// address the receiver reached the switchboard at, with the listener's
	// port.
	FTPListener   net.Listener
	FTPPublicAddr string
	RelayAlways   bool

	// MaxMailData is how many offline messages the Mail-Data of an
	// MSNP13+ notification lists before it says too-large and the client
	// asks the offline-IM service (default oim.DefaultMaxMailData).
	MaxMailData int
	// LockKeyLifetime is how long a lock-key challenge of the offline-IM
	// storing service stays current (default oim.DefaultLockKeyLifetime).
	LockKeyLifetime time.Duration
	// MaxProfilePicture bounds the display picture the storage service
	// keeps for an account (default storage.DefaultMaxPicture).
	MaxProfilePicture int
}

// LevelTrace is below Debug: the wire dump of one connection.
const LevelTrace = slog.Level(-8)

// Defaults fills unset fields.
func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Guard == nil {
		c.Guard = loginguard.New(loginguard.Config{})
	}
	if c.MaxDialect < 2 || c.MaxDialect > maxDialect {
		c.MaxDialect = maxDialect
	}
	if len(c.Passport.Key) == 0 {
		c.Passport.Key = make([]byte, 32)
		rand.Read(c.Passport.Key)
	}
	if c.Limits.MaxLine == 0 {
		c.Limits = wire.DefaultLimits
	}
	setting.Default(&c.MaxMessageBytes, 1664)
	setting.Default(&c.MaxPersonalStatus, 1024)
	if c.CommandsPerSecond <= 0 {
		c.CommandsPerSecond = 20
	}
	setting.Default(&c.CommandBurst, 60)
	if c.P2PChunksPerSecond <= 0 {
		c.P2PChunksPerSecond = 500
	}
	setting.Default(&c.P2PChunkBurst, 200)
	setting.Default(&c.HandshakeTimeout, 60*time.Second)
	setting.Default(&c.IdleTimeout, 30*time.Minute)
	setting.Default(&c.SwitchboardIdleTimeout, 15*time.Minute)
	setting.Default(&c.CookieLifetime, 2*time.Minute)
	setting.Default(&c.ChallengeTimeout, 90*time.Second)
	setting.Default(&c.MaxPendingBytes, 1<<20)
	setting.Default(&c.WriteTimeout, 30*time.Second)
	setting.Default(&c.FileAnswerTimeout, 2*time.Minute)
	setting.Default(&c.FileLegTimeout, fileDialTimeout)
	setting.Default(&c.MaxMailData, oim.DefaultMaxMailData)
	setting.Default(&c.LockKeyLifetime, oim.DefaultLockKeyLifetime)
	setting.Default(&c.MaxProfilePicture, storage.DefaultMaxPicture)
}

// Server runs the MSNP service. Create it with New and start listeners
// with ServeNotification and ServeSwitchboard.
type Server struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	shutdown  bool
	wg        sync.WaitGroup

	cookies      cookieJar
	switchboards map[string]*switchboard
	bridges      map[bridgeKey]*switchboard
	outgoing     map[uint32]*outgoingFile // files offered to MSN clients, by cookie
	passport     *passport.Service

	relay       relayTable
	relayCtx    context.Context // ends relayed transfers at Shutdown
	relayCancel context.CancelFunc
}

// New makes a server; nothing listens until a Serve method runs.
func New(cfg Config) *Server {
	cfg.defaults()
	relayCtx, relayCancel := context.WithCancel(context.Background())
	s := &Server{
		relay:        relayTable{invites: make(map[uint32]relayInvite), tickets: make(map[uint32]relayTicket)},
		relayCtx:     relayCtx,
		relayCancel:  relayCancel,
		cfg:          cfg,
		log:          cfg.Logger,
		listeners:    make(map[net.Listener]struct{}),
		conns:        make(map[*conn]struct{}),
		cookies:      cookieJar{entries: make(map[string]cookie)},
		switchboards: make(map[string]*switchboard),
		bridges:      make(map[bridgeKey]*switchboard),
		outgoing:     make(map[uint32]*outgoingFile),
	}
	s.passport = s.newPassportService()
	return s
}

// ErrServerClosed is returned by the Serve methods after Shutdown.
var ErrServerClosed = errors.New("msnp: server closed")

// ServeNotification accepts dispatch/notification connections on l.
func (s *Server) ServeNotification(l net.Listener) error {
	return s.serve(l, roleNotification)
}

// ServeSwitchboard accepts switchboard connections on l.
func (s *Server) ServeSwitchboard(l net.Listener) error {
	return s.serve(l, roleSwitchboard)
}

// ServeConn runs one already accepted notification connection; a listener
// shared with another protocol hands MSNP clients over this way.
func (s *Server) ServeConn(nc net.Conn) {
	s.handle(nc, roleNotification)
}

func (s *Server) serve(l net.Listener, role role) error {
	if !s.addListener(l) {
		return ErrServerClosed
	}
	err := service.Serve(l, func(nc net.Conn) { s.handle(nc, role) })
	if s.closed() {
		return ErrServerClosed
	}
	return err
}

// addListener registers l for Shutdown to close; false once shutting down.
func (s *Server) addListener(l net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Server) closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

// Busy answers a client the service has no room for, on either role's
// port: its first command gets 600, server busy.
func (s *Server) Busy(nc net.Conn) {
	cmd, err := wire.NewReader(nc, s.cfg.Limits).ReadCommand()
	if err != nil {
		return
	}
	trid, ok := cmd.TrID()
	if !ok {
		trid = "0"
	}
	metrics.Errors.WithLabelValues("msnp", strconv.Itoa(errServerBusy)).Inc()
	_, _ = nc.Write(wire.AppendCommand(nil, strconv.Itoa(errServerBusy), trid))
}

// Shutdown stops accepting, tells every connected client OUT SSD, and waits
// until their connections have ended or ctx expires.
func (s *Server) Shutdown(ctx context.Context) error {
	s.relayCancel()
	s.mu.Lock()
	s.shutdown = true
	for l := range s.listeners {
		_ = l.Close()
	}
	for c := range s.conns {
		if c.role == roleNotification {
			c.closeWith("OUT", "SSD")
		} else {
			c.out.CloseAfter(nil)
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.out.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// cookie is a one-time ticket into a switchboard: from XFR SB (a new
// session) or from RNG (an existing one). An RNG reaches every MSNP16+
// endpoint of the callee, and each may answer once.
type cookie struct {
	account  uint32
	session  string // empty for XFR SB
	caller   uint32 // who rang, for RNG cookies
	expires  time.Time
	answered []string // endpoints that answered with it
}

type cookieJar struct {
	mu      sync.Mutex
	entries map[string]cookie
}

func (j *cookieJar) issue(c cookie) string {
	value := fmt.Sprintf("%d.%s", time.Now().Unix(), randomDigits(10))
	j.mu.Lock()
	defer j.mu.Unlock()
	// Sweep on issue: no timers, and the map stays as small as the number
	// of cookies handed out in one lifetime.
	now := time.Now()
	for k, e := range j.entries {
		if now.After(e.expires) {
			delete(j.entries, k)
		}
	}
	j.entries[value] = c
	return value
}

// take returns and forgets a cookie that has not expired.
func (j *cookieJar) take(value string) (cookie, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	c, ok := j.entries[value]
	if !ok {
		return cookie{}, false
	}
	delete(j.entries, value)
	return c, time.Now().Before(c.expires)
}

// takeFor takes a cookie for an MSNP16+ endpoint: an RNG cookie stays
// for the callee's other endpoints until it expires, each answering once.
func (j *cookieJar) takeFor(value, endpoint string) (cookie, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	c, ok := j.entries[value]
	if !ok || slices.Contains(c.answered, endpoint) {
		return cookie{}, false
	}
	if c.session == "" {
		delete(j.entries, value)
	} else {
		c.answered = append(c.answered, endpoint)
		j.entries[value] = c
	}
	return c, time.Now().Before(c.expires)
}

// randomDigits returns n unpredictable decimal digits, the first not 0,
// from one read of the system's randomness for up to 25 or so digits.
func randomDigits(n int) string {
	b := make([]byte, 0, n)
	var random [32]byte
	for len(b) < n {
		rand.Read(random[:])
		for _, r := range random {
			// Below 250, every digit is as likely as the others.
			if r < 250 && len(b) < n {
				b = append(b, '0'+r%10)
			}
		}
	}
	if b[0] == '0' {
		b[0] = '1'
	}
	return string(b)
}
