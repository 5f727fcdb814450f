// Package client is an IMUnified (IMIP/1.0) client library for bots and
// for the server's tests. It speaks the protocol the way Wimmer's captures
// show the Yahoo! Messenger IMIP client doing it: block IDs counted from
// 1001 with ID as the first header, the blank line always sent, the same
// headers in the same order (see package wire for the framing and the
// choices made where the sources are silent).
//
// # Requests and replies
//
// Dial connects, sends HELO and waits for the server's HELO, whose
// settings and salt are kept (Hello). It then starts a single reader
// goroutine, which reads everything the server sends. Login, SetStatus,
// the List calls, Ping, SendMessageAcked and Disconnect wait for the block
// that references theirs (Reference: <our ID>): ACK 600 is success, any
// other code an *AckError. PostMessage sends what SendMessageAcked does
// without waiting, so that several can be in flight; its Delivery awaits
// the ACK. SendMessage does not wait either: like the Yahoo!
// client it asks for "ACK-Type: errors-only", so a failure arrives later
// as a MessageFailed event. Waits end when the context is done; an answer
// arriving later is dropped. Methods may be called from several
// goroutines.
//
// # Events
//
// What the server sends on its own is delivered as Event values on the
// channel returned by Events. The channel is buffered (Options.EventBuffer,
// 1024 by default) and the reader never blocks on it: if it is full when an
// event arrives, the connection is dropped with ErrEventOverflow. The last
// event is Disconnected, after which the channel is closed.
//
// The reader answers a server PING with ACK 600 (the Odigo server never
// sent one, but it costs nothing). After a successful login the client
// sends PING every Keep-Alive seconds as the server's HELO asks
// (Options.KeepAlive overrides it); their ACKs are consumed silently.
//
// # Lifetime
//
// Close ends the connection and waits for the reader goroutine, so no
// goroutine outlives it. Call Close even after the server has disconnected;
// it is safe to call more than once.
package client

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/imip/wire"
	"github.com/crosstalk-im/crosstalk/internal/clientconn"
	"github.com/crosstalk-im/crosstalk/internal/outcome"
)

// defaultWriteTimeout bounds a write when the context has no deadline, and
// the blocks the client writes on its own (keep-alive PINGs, PING answers).
const defaultWriteTimeout = 30 * time.Second

// sentMemory is how many SendMessage IDs are remembered to name the
// recipient in MessageFailed.
const sentMemory = 256

// Options configure Dial. The zero value is usable.
type Options struct {
	// Logger receives every block sent and received at Debug level.
	// Default: discard.
	Logger *slog.Logger
	// Dialer connects to the server; set its LocalAddr to choose the
	// source address. Default: a zero net.Dialer.
	Dialer *net.Dialer
	// MaxBlock bounds the blocks the reader accepts. Default
	// wire.DefaultMaxBlock.
	MaxBlock int
	// EventBuffer is the capacity of the Events channel. Default 1024.
	EventBuffer int
	// ClientName goes into the Client header of LOGN. Default
	// wire.ClientYahoo.
	ClientName string
	// KeepAlive is the interval of keep-alive PINGs after login: 0 takes
	// the server's Keep-Alive header, a negative value sends none.
	KeepAlive time.Duration
	// FirstID is the ID of our HELO, counted up from there. Default 1001.
	FirstID uint32
}

func (o Options) withDefaults() Options {
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBlock <= 0 {
		o.MaxBlock = wire.DefaultMaxBlock
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = 1024
	}
	if o.ClientName == "" {
		o.ClientName = wire.ClientYahoo
	}
	if o.FirstID == 0 {
		o.FirstID = wire.FirstClientID
	}
	return o
}

// ServerHello is the server's HELO.
type ServerHello struct {
	Protocol           string
	AuthType           string
	Capabilities       []string
	KeepAlive          time.Duration // 0 when the server asked for none
	Registration       string
	Service            string
	ServiceDisplayName string
	Salt               string // the body, as sent
	Block              *wire.Block
}

// state is where the session is.
type state int

const (
	stateReady  state = iota // HELO exchanged, Login not called
	stateLogin               // LOGN sent
	stateOnline              // LOGN confirmed
	stateDisc                // DISC sent, or login failed
)

// Client is one IMIP connection.
type Client struct {
	opts  Options
	conn  *clientconn.Conn[Event]
	rd    *wire.Reader
	log   *slog.Logger
	hello ServerHello

	nextID uint32 // under the connection's write lock (clientconn.Conn.Send)

	mu        sync.Mutex
	state     state
	user      string
	buddies   []wire.Contact
	waiters   map[uint32]*Delivery
	pings     map[uint32]bool   // keep-alive PINGs whose ACK is swallowed
	sent      map[uint32]string // SendMessage ID → recipient
	sentOrder []uint32
	adding    map[string]bool // users added with ListAdd, not yet seen online
	keepAlive *time.Timer
	reason    string // Disconnected.Reason
}

// Dial connects to an IMIP server (host:port, normally port 11319) and
// exchanges HELO blocks; see New.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	opts = opts.withDefaults()
	nc, err := opts.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return New(ctx, nc, opts)
}

// New runs the client over an established connection: it sends HELO
// (ID, Protocol: IMIP/1.0), waits for the server's HELO and starts the
// reader. The first block from the server must be a HELO with a salt.
// On error nc is closed.
func New(ctx context.Context, nc net.Conn, opts Options) (*Client, error) {
	opts = opts.withDefaults()
	rd := wire.NewReader(nc)
	rd.MaxBlock = opts.MaxBlock
	c := &Client{
		opts:    opts,
		conn:    clientconn.New[Event](nc, opts.EventBuffer, ErrClosed, defaultWriteTimeout),
		rd:      rd,
		log:     opts.Logger.With("conn", "imip", "addr", nc.RemoteAddr().String()),
		nextID:  opts.FirstID,
		waiters: make(map[uint32]*Delivery),
		pings:   make(map[uint32]bool),
		sent:    make(map[uint32]string),
		adding:  make(map[string]bool),
	}
	if err := c.handshake(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	go c.readLoop()
	return c, nil
}

// handshake sends our HELO and reads the server's, before the reader runs.
func (c *Client) handshake(ctx context.Context) error {
	nc := c.conn.NetConn()
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	hello := wire.NewBlock(wire.TypeHELO).Add(wire.HeaderProtocol, wire.Protocol10)
	if _, err := c.send(ctx, hello, nil); err != nil {
		return ctxErr(ctx, err)
	}
	b, err := c.rd.ReadBlock()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if isFraming(err) {
			return &ProtocolError{Err: err}
		}
		return err
	}
	c.log.Debug("imip recv", "block", b)
	if !stop() {
		return ctx.Err() // the deadline may have been set to now
	}
	nc.SetReadDeadline(time.Time{})
	h, err := parseHello(b)
	if err != nil {
		return err
	}
	c.hello = h
	return nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// parseHello reads the server's settings. Keep-Alive is in seconds: a
// missing or unreadable one counts as Odigo's 60, 0 as none.
func parseHello(b *wire.Block) (ServerHello, error) {
	if b.Type != wire.TypeHELO {
		return ServerHello{}, protocolErrorf(b, "want HELO first")
	}
	if len(b.Body) == 0 {
		return ServerHello{}, protocolErrorf(b, "HELO without salt")
	}
	h := ServerHello{
		Protocol:           b.Get(wire.HeaderProtocol),
		AuthType:           b.Get(wire.HeaderAuthType),
		Registration:       b.Get(wire.HeaderRegistration),
		Service:            b.Get(wire.HeaderService),
		ServiceDisplayName: b.Get(wire.HeaderServiceDisplayName),
		Salt:               string(b.Body),
		KeepAlive:          wire.DefaultKeepAlive,
		Block:              b,
	}
	if v, ok := b.Lookup(wire.HeaderKeepAlive); ok {
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 31); err == nil {
			h.KeepAlive = time.Duration(n) * time.Second
		}
	}
	h.Capabilities = strings.FieldsFunc(b.Get(wire.HeaderCapabilities), func(r rune) bool { return r == ',' || r == ' ' })
	return h, nil
}

// Hello returns the server's HELO as received by Dial.
func (c *Client) Hello() ServerHello { return c.hello }

// User returns the number Login was called with ("" before).
func (c *Client) User() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user
}

// Events returns the channel of asynchronous events. It is closed after the
// final Disconnected event.
func (c *Client) Events() <-chan Event { return c.conn.Events() }

// Err returns why the connection ended, or nil while it is up.
func (c *Client) Err() error { return c.conn.Err() }

// Close ends the connection at once (without DISC; see Disconnect) and
// waits for the reader goroutine. It always returns nil.
func (c *Client) Close() error {
	c.conn.Close()
	return nil
}

func (c *Client) readLoop() {
	c.conn.Run(func() error {
		b, err := c.rd.ReadBlock()
		if isFraming(err) {
			return &ProtocolError{Err: err}
		}
		if err != nil {
			return err
		}
		c.log.Debug("imip recv", "block", b)
		return c.handle(b)
	}, func(cause error) Event {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.keepAlive != nil {
			c.keepAlive.Stop()
		}
		return Disconnected{Reason: c.reason, Err: cause}
	})
}

func isFraming(err error) bool {
	if err == nil {
		return false // before the targets below, which escape: two allocations every block
	}
	var tl *wire.TooLargeError
	var te *wire.TruncatedError
	return errors.Is(err, wire.ErrMalformed) || errors.As(err, &tl) || errors.As(err, &te)
}

// emit queues an event; a full buffer ends the connection.
func (c *Client) emit(ev Event) error {
	if !c.conn.Emit(ev) {
		return ErrEventOverflow
	}
	return nil
}

// send gives b the next ID as its first header and writes the block. reg,
// if not nil, is called with the ID (holding c.mu) before the write, so
// that the reader can match a reply that comes at once. A failed or
// timed-out write may have left half a block on the wire, so it ends the
// connection.
func (c *Client) send(ctx context.Context, b *wire.Block, reg func(id uint32)) (uint32, error) {
	var id uint32
	err := c.sendAll(ctx, []*wire.Block{b}, func(_ int, bid uint32) {
		id = bid
		if reg != nil {
			reg(bid)
		}
	})
	return id, err
}

// sendAll is send for several blocks, numbered in order and written at
// once; reg is called with each one's index and ID.
func (c *Client) sendAll(ctx context.Context, bs []*wire.Block, reg func(i int, id uint32)) error {
	return c.conn.Send(ctx, func() ([]byte, error) {
		size := 0
		for i, b := range bs {
			id := c.nextID + uint32(i)
			// In the room a message's block keeps for it (PostMessages).
			b.Headers = slices.Insert(b.Headers, 0, wire.Header{Name: wire.HeaderID, Value: strconv.FormatUint(uint64(id), 10)})
			b.Blank = true // as the Yahoo! client does
			size += b.EncodedSize()
		}
		out := make([]byte, 0, size)
		for _, b := range bs {
			var err error
			if out, err = b.Append(out); err != nil {
				return nil, err
			}
		}
		c.mu.Lock()
		for i := range bs {
			reg(i, c.nextID+uint32(i))
		}
		c.mu.Unlock()
		c.nextID += uint32(len(bs))
		for _, b := range bs {
			c.log.Debug("imip send", "block", b)
		}
		return out, nil
	})
}

// Delivery is a block sent whose answer is still to be awaited (see
// Post): the reader finds it in c.waiters by the block's ID.
type Delivery struct {
	c      *Client
	id     uint32
	req    *wire.Block
	answer outcome.Outcome[*wire.Block]
}

// ID is the block's ID, which its answer references.
func (d *Delivery) ID() uint32 { return d.id }

// Wait waits for the ACK answering the block: nil for ACK 600, an
// *AckError for another code. It may be called once; when ctx ends first,
// or the connection, the ACK is no longer awaited.
func (d *Delivery) Wait(ctx context.Context) error {
	reply, err := d.reply(ctx)
	if err != nil {
		return err
	}
	return d.c.ackResult(d.req, reply)
}

// reply waits for the block that references d's.
func (d *Delivery) reply(ctx context.Context) (*wire.Block, error) {
	reply, err := d.answer.Wait(ctx, d.c.conn.Done())
	if err != nil {
		d.c.mu.Lock()
		delete(d.c.waiters, d.id)
		d.c.mu.Unlock()
		if errors.Is(err, outcome.ErrEnded) {
			err = d.c.conn.ClosedErr()
		}
		return nil, err
	}
	return reply, nil
}

// post sends b and returns before the block that references it comes.
func (c *Client) post(ctx context.Context, b *wire.Block) (*Delivery, error) {
	ds, err := c.postAll(ctx, []*wire.Block{b})
	if err != nil {
		return nil, err
	}
	return ds[0], nil
}

// postAll is post for several blocks, written at once.
func (c *Client) postAll(ctx context.Context, bs []*wire.Block) ([]*Delivery, error) {
	ds := make([]*Delivery, len(bs))
	for i, b := range bs {
		ds[i] = &Delivery{c: c, req: b}
	}
	err := c.sendAll(ctx, bs, func(i int, id uint32) {
		ds[i].id = id
		c.waiters[id] = ds[i]
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// request sends b and waits for the block that references it.
func (c *Client) request(ctx context.Context, b *wire.Block) (*wire.Block, error) {
	d, err := c.post(ctx, b)
	if err != nil {
		return nil, err
	}
	return d.reply(ctx)
}

// requestAck sends b and turns the answering ACK into nil or an
// *AckError. An answer that is not an ACK breaks the protocol.
func (c *Client) requestAck(ctx context.Context, b *wire.Block) error {
	d, err := c.post(ctx, b)
	if err != nil {
		return err
	}
	return d.Wait(ctx)
}

func (c *Client) ackResult(req, reply *wire.Block) error {
	if reply.Type != wire.TypeACK {
		err := protocolErrorf(reply, "want ACK for %s", req.TypeLine())
		c.conn.Fail(err)
		return err
	}
	code, err := ackCode(reply)
	if err != nil {
		c.conn.Fail(err)
		return err
	}
	if code == wire.CodeOK {
		return nil
	}
	return &AckError{Code: code, Text: string(reply.Body), Request: req.TypeLine()}
}

func ackCode(b *wire.Block) (wire.Code, error) {
	n, err := strconv.ParseUint(b.Arg(0), 10, 16)
	if err != nil || b.Arg(0)[0] == '+' {
		return 0, protocolErrorf(b, "ACK code %q is not a number", b.Arg(0))
	}
	return wire.Code(n), nil
}

// requireState fails unless the session is in one of sts (and still up).
func (c *Client) requireState(sts ...state) error {
	if c.conn.Err() != nil {
		return c.conn.ClosedErr()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range sts {
		if c.state == st {
			return nil
		}
	}
	return ErrState
}
