// Package client is a Gadu-Gadu 11 client library for bots and for the
// server's tests. It speaks the protocol the way libgadu 1.12 does
// (GG_LOGIN105 with the SHA-1 hash, GG_SEND_MSG110, GG_ACK110 receipts…), so
// a server that satisfies it should satisfy libgadu and Pidgin too.
//
// # Requests and replies
//
// Dial connects and starts a single reader goroutine, which reads
// everything the server sends. Login, SendMessage, Ping, SetStatus (going
// offline) and the userlist calls wait for their answers, which the reader
// routes to them: message acks by sequence number, pongs and userlist
// replies in order. Waits end when the context is done; an answer arriving
// later is dropped. Post sends a message without waiting, so that several
// can be in flight; its Delivery awaits the ack. Methods may be called
// from several goroutines.
//
// # Events
//
// What the server sends on its own is delivered as Event values on the
// channel returned by Events. The channel is buffered (Options.EventBuffer,
// 1024 by default) and the reader never blocks on it: if it is full when an
// event arrives, the connection is dropped with ErrEventOverflow. The last
// event is Disconnected, after which the channel is closed.
//
// Like libgadu, the reader acknowledges every received message
// (GG_RECV_MSG110, GG_RECV_OWN_MSG110) and MPA notification (GG_EVENT110)
// with GG_ACK110 before delivering the event, and GG_TRANSFER_INFO too;
// Options.NoAutoAck leaves that to Client.Ack. Also like libgadu, packets
// that do not belong to the session's state are not interpreted (they
// arrive as Other): nothing before the login is confirmed, and only
// GG_DISCONNECT_ACK after an offline status.
//
// # Lifetime
//
// Close ends the connection and waits for the reader goroutine, so no
// goroutine outlives it. Call Close even after the server has disconnected;
// it is safe to call more than once.
package client

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/internal/bufpool"
	"github.com/crosstalk-im/crosstalk/internal/clientconn"
	"google.golang.org/protobuf/proto"
)

// DefaultClientName is the GG105Login client string libgadu 1.12 sends.
const DefaultClientName = "GG-Phoenix/11.3.45.10771 (BUILD;WINNT_x86-msvc;rv:11.0,pl;release;standard) (OS;Windows;Windows NT 6.1)"

// DefaultFeatures is the GG105Login supported_features libgadu 1.12 sends.
const DefaultFeatures = "avatar,StatusComments,ggaccount,edisc,music_shared,bot,fanpage,pubdir,botCaps,gifts,Gift"

// defaultMaxUserlist bounds an inflated contact list, as libgadu does.
const defaultMaxUserlist = 10 << 20

// DefaultPingInterval is how often a logged-in client pings the server
// when Options.PingInterval is zero: about as often as Pidgin's GG plugin,
// well inside the few minutes of silence after which servers hang up.
const DefaultPingInterval = time.Minute

// defaultWriteTimeout bounds a write when the context has no deadline, and
// the acks the reader writes itself.
const defaultWriteTimeout = 30 * time.Second

// Options configure Dial. The zero value is usable.
type Options struct {
	// Logger receives every packet sent and received at Debug level.
	// Default: discard.
	Logger *slog.Logger
	// Dialer connects to the server; set its LocalAddr to choose the
	// source address. Default: a zero net.Dialer.
	Dialer *net.Dialer
	// MaxBody bounds the bodies the reader accepts. Default
	// wire.DefaultMaxBody.
	MaxBody int
	// MaxUserlist bounds an inflated GG_USERLIST100_REPLY list. Default
	// 10 MiB.
	MaxUserlist int
	// EventBuffer is the capacity of the Events channel. Default 1024.
	EventBuffer int
	// ClientName and Features go into GG105Login. Defaults
	// DefaultClientName and DefaultFeatures.
	ClientName string
	Features   string
	// NoAutoAck stops the reader from acknowledging messages, MPA
	// notifications and transfer info; call Ack yourself (or don't, to
	// test what a server does with unacknowledged messages).
	NoAutoAck bool
	// PingInterval is how often the client sends GG_PING once logged in,
	// so that the server, which drops silent connections, keeps it.
	// Default DefaultPingInterval; negative: never.
	PingInterval time.Duration
}

func (o Options) withDefaults() Options {
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBody <= 0 {
		o.MaxBody = wire.DefaultMaxBody
	}
	if o.MaxUserlist <= 0 {
		o.MaxUserlist = defaultMaxUserlist
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = 1024
	}
	if o.ClientName == "" {
		o.ClientName = DefaultClientName
	}
	if o.Features == "" {
		o.Features = DefaultFeatures
	}
	if o.PingInterval == 0 {
		o.PingInterval = DefaultPingInterval
	}
	return o
}

// state is where the session is; it decides which packets mean anything.
type state int

const (
	stateWelcome       state = iota // waiting for GG_WELCOME and Login
	stateLogin                      // GG_LOGIN105 sent
	stateConnected                  // login confirmed
	stateDisconnecting              // offline status sent, waiting for GG_DISCONNECT_ACK
)

// Client is one GG11 connection.
type Client struct {
	opts Options
	conn *clientconn.Conn[Event]
	rd   *wire.Reader
	log  *slog.Logger
	// pinger is the keep-alive goroutine, started at login.
	pinger sync.WaitGroup

	welcome    chan uint32 // the seed; written once by the reader
	loginDone  chan error  // the login result; written once by the reader
	tokenReady chan struct{}
	gotWelcome bool // reader goroutine only
	gotToken   bool // reader goroutine only

	mu         sync.Mutex
	state      state
	loginTried bool
	uin        uint32
	token      string
	timeDiff   time.Duration // server clock minus ours
	seq        uint32        // last GG_SEND_MSG110 seq
	sends      map[uint32]*Delivery
	pings      []chan time.Time
	userlists  []chan UserlistReply
	reason     string // packet that ended the session
	// acks are the automatic acks not written yet, and held the events
	// that wait for them (flushAcks): the reader goroutine's alone.
	acks []byte
	held []Event
}

// Dial connects to a GG server (host:port, normally port 8074) and starts
// reading; the server's GG_WELCOME is kept for Login.
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
	rd.MaxBody = opts.MaxBody
	return &Client{
		opts:       opts,
		conn:       clientconn.New[Event](nc, opts.EventBuffer, ErrClosed, defaultWriteTimeout),
		rd:         rd,
		log:        opts.Logger.With("conn", "gg", "addr", nc.RemoteAddr().String()),
		welcome:    make(chan uint32, 1),
		loginDone:  make(chan error, 1),
		tokenReady: make(chan struct{}),
		sends:      make(map[uint32]*Delivery),
	}
}

// Events returns the channel of asynchronous events. It is closed after the
// final Disconnected event.
func (c *Client) Events() <-chan Event { return c.conn.Events() }

// Err returns why the connection ended, or nil while it is up.
func (c *Client) Err() error { return c.conn.Err() }

// Close ends the connection at once and waits for the reader and
// keep-alive goroutines. It always returns nil.
func (c *Client) Close() error {
	c.conn.Close()
	c.pinger.Wait()
	return nil
}

// keepAlive pings the server every interval until the connection ends. A
// ping that goes unanswered for an interval is given up; the next one is
// sent all the same.
func (c *Client) keepAlive(every time.Duration) {
	defer c.pinger.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.conn.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		if _, err := c.Ping(ctx); err != nil {
			c.log.Debug("gg: keep-alive ping", "err", err)
		}
		cancel()
	}
}

func (c *Client) readLoop() {
	c.conn.Run(func() error {
		body := bodies.Get()
		p, err := c.rd.ReadPacketInto(*body)
		defer func() {
			*body = p.Body
			bodies.Put(body)
		}()
		if err != nil {
			return err
		}
		if c.log.Enabled(context.Background(), slog.LevelDebug) {
			c.log.Debug("gg recv", "packet", p)
		}
		if err := c.handle(p); err != nil {
			return err
		}
		return c.flushAcks()
	}, func(cause error) Event {
		c.mu.Lock()
		defer c.mu.Unlock()
		return Disconnected{Reason: c.reason, Err: cause}
	})
}

// bodies keep the buffers packets are read into: a packet's handler is
// done with its body when it returns, and its events carry copies of
// what they keep (emitOther, Message.Data).
var bodies = bufpool.Pool{Max: 64 << 10}

// emitOther queues p as an Other event, with a body of its own.
func (c *Client) emitOther(p wire.Packet) error {
	return c.emit(Other{Packet: wire.Packet{Type: p.Type, Body: bytes.Clone(p.Body)}})
}

// emit queues an event; a full buffer ends the connection.
func (c *Client) emit(ev Event) error {
	if len(c.acks) > 0 { // after acks not written yet (flushAcks)
		c.held = append(c.held, ev)
		return nil
	}
	if !c.conn.Emit(ev) {
		return ErrEventOverflow
	}
	return nil
}

// send writes one packet.
func (c *Client) send(ctx context.Context, typ uint32, body []byte) error {
	c.debugSend(ctx, typ, body)
	return c.conn.Write(ctx, wire.AppendPacket(nil, typ, body))
}

// debugSend logs a packet sent, when the logger wants it: the arguments
// of a line no one reads were allocations for every message.
func (c *Client) debugSend(ctx context.Context, typ uint32, body []byte) {
	if c.log.Enabled(ctx, slog.LevelDebug) {
		c.log.Debug("gg send", "packet", wire.Packet{Type: typ, Body: body})
	}
}

// sendProto marshals m, which fails if a required field is missing, and
// writes it as one packet.
func (c *Client) sendProto(ctx context.Context, typ uint32, m proto.Message) error {
	body, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	return c.send(ctx, typ, body)
}

// waitFor waits for a value on ch. When the connection ends, a value that
// was already delivered still wins.
func waitFor[T any](ctx context.Context, c *Client, ch <-chan T) (T, error) {
	return clientconn.Await(ctx, c.conn, ch)
}

// requireState fails unless the session is in st (and still up).
func (c *Client) requireState(st state) error {
	if c.conn.Err() != nil {
		return c.conn.ClosedErr()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != st {
		return ErrState
	}
	return nil
}

// serverNow is the server's clock as last synchronised.
func (c *Client) serverNow() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.timeDiff)
}

// syncTime records the server's clock (from login OK and pongs).
func (c *Client) syncTime(server time.Time) {
	c.mu.Lock()
	c.timeDiff = time.Until(server)
	c.mu.Unlock()
}

// removeWaiter drops ch from a FIFO of waiters after its caller gave up.
func removeWaiter[T any](list []chan T, ch chan T) []chan T {
	for i, w := range list {
		if w == ch {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}
