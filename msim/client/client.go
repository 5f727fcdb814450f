// Package client is a MySpaceIM client library for bots and for the
// server's tests. It speaks the protocol the way pidgin 2.10.12's MySpaceIM
// plugin does (login2 response, sign-on sequence, persist request layouts,
// bm messages), so a server that satisfies it should satisfy pidgin too.
//
// # Login
//
// Dial connects and starts a single reader goroutine. Login waits for the
// server's greeting (\lc\1 with a 64-byte nonce), answers with login2 and
// waits for \lc\2. It then signs on as pidgin does: it asks for the own
// profile (4/5) and IM settings (1/4), sends the initial \status\, asks for
// the contact list (0/1) and, once the settings arrive, sends the
// \blocklist\ privacy flags; Login returns when the profile, settings and
// contact list are in. Options.NoSignOn stops after \lc\2 (call SignOn
// later).
//
// # Requests and replies
//
// Persist requests carry a request id (rid, counted per connection from 1)
// and the reader routes each reply to its caller by rid alone, as pidgin
// does. Waits end when the context is done; a reply arriving later is
// delivered as a PersistPush event, like data the server pushes on its own.
// Calls that have no known reply (bm, status, addbuddy, delbuddy,
// blocklist, and the 514/515 contact actions) return once written. Methods
// may be called from several goroutines.
//
// # Events
//
// What the server sends on its own is delivered as Event values on the
// channel returned by Events. The channel is buffered (Options.EventBuffer,
// 1024 by default) and the reader never blocks on it: if it is full when an
// event arrives, the connection is dropped with ErrEventOverflow. The last
// event is Disconnected, after which the channel is closed. Keep-alives
// (\ka\) are taken silently; they only count as activity for
// Options.IdleTimeout.
//
// Like pidgin, the reader classifies a message by the first of these keys
// it holds: lc, bm, rid, error, ka. Anything else arrives as Other.
//
// # Lifetime
//
// Close ends the connection (pidgin never says goodbye; it just closes)
// and waits for the reader goroutine, so no goroutine outlives it. Logout
// sends Digsby's \logout\ first. Call Close even after the server has
// disconnected; it is safe to call more than once.
package client

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/clientconn"
	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// DefaultMaxMessage bounds what the client reads from a server: a contact
// list is a single message.
const DefaultMaxMessage = 1 << 20

// defaultWriteTimeout bounds a write when the context has no deadline, and
// the writes the reader makes itself.
const defaultWriteTimeout = 30 * time.Second

// Options configure Dial. The zero value is usable.
type Options struct {
	// Logger receives every message sent and received at Debug level,
	// secrets shown by size only (wire.Message.LogValue).
	// Default: discard.
	Logger *slog.Logger
	// Dialer connects to the server; set its LocalAddr to choose the
	// source address. Default: a zero net.Dialer.
	Dialer *net.Dialer
	// MaxMessage bounds the messages the reader accepts. Default
	// DefaultMaxMessage.
	MaxMessage int
	// EventBuffer is the capacity of the Events channel. Default 1024.
	EventBuffer int
	// ClientVersion goes into login2 "clientver" and bm "cv". Default
	// wire.PidginClientVersion (697).
	ClientVersion int
	// InitialStatus is the \status\ code sent on sign-on; 0 means
	// wire.StatusOnline (use Invisible to sign on invisible).
	InitialStatus int
	// Invisible signs on with status 0 (wire.StatusInvisible).
	Invisible bool
	// StatusText is the headline ("statstring") sent on sign-on.
	StatusText string
	// MailCheck adds pidgin's new-mail request (7/18) to the sign-on; its
	// reply arrives as a NewItems event. Pidgin repeats it every minute;
	// this client does not (call NewItems).
	MailCheck bool
	// NoSignOn makes Login return right after \lc\2, without the sign-on
	// requests; call SignOn to do them.
	NoSignOn bool
	// LookupSenders makes the client behave like pidgin towards messages
	// from users it does not know (not on the contact list, not looked up
	// yet): it asks for their profile (4/3) and delivers the bm events only
	// after the reply. A server that never answers holds those events back
	// for good, which is what pidgin's users would see.
	LookupSenders bool
	// IdleTimeout, when positive, ends the connection with ErrIdleTimeout
	// after this long without anything from the server (keep-alives
	// count). Pidgin has no such timer; the default is off.
	IdleTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = DefaultMaxMessage
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = 1024
	}
	if o.ClientVersion <= 0 {
		o.ClientVersion = wire.PidginClientVersion
	}
	if o.InitialStatus == 0 {
		o.InitialStatus = wire.StatusOnline
	}
	if o.Invisible {
		o.InitialStatus = wire.StatusInvisible
	}
	return o
}

// state is where the session is.
type state int

const (
	stateGreeting state = iota // waiting for Login and the greeting
	stateLogin                 // login2 sent
	stateOnline                // \lc\2 received
)

// Client is one MySpaceIM connection.
type Client struct {
	opts Options
	conn *clientconn.Conn[Event]
	rd   *wire.Reader
	log  *slog.Logger

	greeting    chan []byte        // the nonce; written once by the reader
	loginDone   chan loginResult   // written once by the reader
	gotGreeting bool               // reader goroutine only
	held        map[uint32][]Event // reader goroutine only: bm events waiting for a 4/3 reply
	heldCount   int                // reader goroutine only

	mu         sync.Mutex
	state      state
	loginTried bool
	sess       Session
	rid        int
	waiters    map[int]*waiter
	known      map[uint32]bool // uids whose profile or contact record pidgin would have
}

type loginResult struct {
	sess Session
	err  error
}

// waiter receives the reply to one persist request: on ch for a caller,
// or through fn, run by the reader goroutine.
type waiter struct {
	ch chan wire.Persist
	fn func(wire.Persist) error
}

// Dial connects to a MySpaceIM server (host:port, normally port 1863) and
// starts reading; the greeting is kept for Login.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	opts = opts.withDefaults()
	nc, err := opts.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := newClient(nc, opts)
	go c.readLoop()
	return c, nil
}

func newClient(nc net.Conn, opts Options) *Client {
	opts = opts.withDefaults()
	rd := wire.NewReader(nc)
	rd.MaxMessage = opts.MaxMessage
	return &Client{
		opts:      opts,
		conn:      clientconn.New[Event](nc, opts.EventBuffer, ErrClosed, defaultWriteTimeout),
		rd:        rd,
		log:       opts.Logger.With("conn", "msim", "addr", nc.RemoteAddr().String()),
		greeting:  make(chan []byte, 1),
		loginDone: make(chan loginResult, 1),
		held:      make(map[uint32][]Event),
		waiters:   make(map[int]*waiter),
		known:     make(map[uint32]bool),
	}
}

// Events returns the channel of asynchronous events. It is closed after the
// final Disconnected event.
func (c *Client) Events() <-chan Event { return c.conn.Events() }

// Err returns why the connection ended, or nil while it is up.
func (c *Client) Err() error { return c.conn.Err() }

// Close ends the connection at once, as pidgin does on sign-off, and waits
// for the reader goroutine. It always returns nil.
func (c *Client) Close() error {
	c.conn.Close()
	return nil
}

// Logout sends \logout\ (as Digsby does) and closes the connection. The
// connection is closed even when the write fails.
func (c *Client) Logout(ctx context.Context) error {
	err := c.requireOnline()
	if err == nil {
		err = c.send(ctx, wire.Message{wire.Flag(wire.TypeLogout), wire.Uint("sesskey", c.SessionKey())})
	}
	c.Close()
	return err
}

func (c *Client) readLoop() {
	nc := c.conn.NetConn()
	c.conn.Run(func() error {
		if c.opts.IdleTimeout > 0 {
			nc.SetReadDeadline(time.Now().Add(c.opts.IdleTimeout))
		}
		m, err := c.rd.ReadMessage()
		if c.opts.IdleTimeout > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			return ErrIdleTimeout
		}
		if err != nil {
			return err
		}
		if c.log.Enabled(context.Background(), slog.LevelDebug) { // m as an argument costs an allocation even when unlogged
			c.log.Debug("msim recv", "msg", m)
		}
		return c.handle(m)
	}, func(cause error) Event { return Disconnected{Err: cause} })
}

// emit queues an event; a full buffer ends the connection.
func (c *Client) emit(ev Event) error {
	if !c.conn.Emit(ev) {
		return ErrEventOverflow
	}
	return nil
}

// send writes one message. A message that cannot be encoded is refused
// before anything is written; a failed or timed-out write may have left
// half a message on the wire, so it ends the connection.
func (c *Client) send(ctx context.Context, m wire.Message) error {
	b, err := wire.Encode(m)
	if err != nil {
		return err
	}
	if c.log.Enabled(ctx, slog.LevelDebug) {
		c.log.Debug("msim send", "msg", m)
	}
	return c.conn.Write(ctx, b)
}

// waitFor waits for a value on ch. When the connection ends, a value that
// was already delivered still wins.
func waitFor[T any](ctx context.Context, c *Client, ch <-chan T) (T, error) {
	return clientconn.Await(ctx, c.conn, ch)
}

// requireOnline fails unless \lc\2 has arrived and the connection is up.
func (c *Client) requireOnline() error {
	if c.conn.Err() != nil {
		return c.conn.ClosedErr()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOnline {
		return ErrState
	}
	return nil
}

// UserID returns the logged-in user id, 0 before \lc\2.
func (c *Client) UserID() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess.UserID
}

// SessionKey returns the session key of \lc\2, 0 before.
func (c *Client) SessionKey() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess.SessionKey
}
