package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/imip/wire"
	"github.com/crosstalk-im/crosstalk/internal/bufpool"
	"github.com/crosstalk-im/crosstalk/internal/connlog"
	"github.com/crosstalk-im/crosstalk/internal/mailbox"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"github.com/crosstalk-im/crosstalk/internal/outbox"
	"github.com/crosstalk-im/crosstalk/internal/ratelimit"
	"github.com/crosstalk-im/crosstalk/internal/readbatch"
	"github.com/crosstalk-im/crosstalk/internal/service"
	"github.com/crosstalk-im/crosstalk/metrics"
)

// conn is one IMIP client connection.
type conn struct {
	srv *Server
	nc  net.Conn
	// logAs is what the logger says about the connection.
	logAs connlog.Conn
	rd    *wire.Reader
	out   *outbox.Outbox
	rate  ratelimit.Bucket
	// loginBy is when a client that has not logged in is dropped, in Unix
	// nanoseconds: the connection stays in a smaller size class.
	loginBy int64

	// Owned by the reader (see Next).
	batch     readbatch.Batch // the blocks the client sent at once
	salt      uint32          // the login's, sent as its decimal digits
	helloSent bool
	statSeen  bool // the client sent its first STAT

	wmu sync.Mutex // orders ID allocation with queueing

	mu       sync.Mutex
	number   uint32 // the account's, set before it is attached
	presence presenceMode
	session  *hub.Session
	held     []hub.Event // presence events that came during the snapshot
	bg       service.Workers
	rereader mailbox.Rereader
}

// RemoteAddr is the client's address, shown with its hub session.
func (c *conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// presenceMode says what becomes of a contact's presence change.
type presenceMode uint8

const (
	presenceDrop presenceMode = iota // before the first STAT: the snapshot will cover it
	presenceHold                     // the snapshot is being taken: send it after
	presenceLive                     // send it
)

// errClose ends the read loop after the handler queued its last block.
var errClose = errors.New("close connection")

// handle runs a connection. Its goroutine waits for the client for as long
// as the connection lasts, and does nothing else: setting up, reading and
// handling each block run off its stack (see offstack), so that an idle
// connection keeps the small stack its goroutine started with.
func (s *Server) handle(nc net.Conn) {
	var c *conn
	offstack.Setup(nc, func() { c = s.open(nc) })
	if c != nil {
		offstack.Serve(c.rd, c.nc, c.out, c)
	}
}

// open sets a connection up, or closes it and returns nil when the server
// is shutting down.
func (s *Server) open(nc net.Conn) *conn {
	var salt [4]byte
	_, _ = rand.Read(salt[:])
	c := &conn{
		srv:     s,
		nc:      nc,
		rd:      wire.NewReader(nc),
		out:     outbox.New(nc, s.cfg.MaxPendingBytes, s.cfg.WriteTimeout),
		rate:    ratelimit.New(s.cfg.BlocksPerSecond, s.cfg.BlockBurst),
		salt:    binary.BigEndian.Uint32(salt[:]),
		loginBy: time.Now().Add(s.cfg.LoginTimeout).UnixNano(),
	}
	c.logAs = connlog.Conn{ID: connlog.NewID(), Remote: nc.RemoteAddr()}
	c.rd.MaxBlock = s.cfg.MaxBlockBytes
	if !s.tracker.Track(c) {
		_ = nc.Close()
		return nil
	}
	metrics.Connections.WithLabelValues(protocolName, "client").Inc()
	return c
}

// End tells the client why the loop ended where it can, ends the
// session, then the connection.
func (c *conn) End(err error) {
	c.batch.End(c.out) // a batch that a read error cut short
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	case errors.As(err, new(*wire.TruncatedError)):
		c.log().Info("connection ended inside a block", "err", err) // no one left to tell
	case isTimeout(err):
		c.log().Info("dropping silent connection", "err", err)
		c.disconnect("timeout")
	case isFraming(err):
		// The stream cannot be trusted any more: say so, and hang up.
		c.log().Info("dropping connection", "err", err)
		metrics.Errors.WithLabelValues(protocolName, strconv.Itoa(int(wire.CodeNoStatus))).Inc()
		c.closeWith(wire.NewBlock(wire.TypeACK, strconv.Itoa(int(wire.CodeNoStatus))))
	default:
		c.log().Info("dropping connection", "err", err)
	}
	endCtx, endCancel := context.WithTimeout(context.Background(), c.srv.cfg.WriteTimeout)
	c.end(endCtx)
	endCancel()
	c.out.Finish(c.log(), protocolName)
	metrics.Connections.WithLabelValues(protocolName, "client").Dec()
	c.srv.tracker.Untrack(c)
}

// log is the connection's logger; its lines name the account once logged
// in. It is made for each use, not kept: an idle connection keeps only
// what its lines say about it (logAs).
func (c *conn) log() *slog.Logger { return c.logAs.Logger(c.srv.log) }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isFraming reports a client block that breaks the framing.
func isFraming(err error) bool {
	var tl *wire.TooLargeError
	return errors.Is(err, wire.ErrMalformed) || errors.As(err, &tl)
}

// Arm gives the client until loginBy to log in, then the idle timeout for
// each block.
func (c *conn) Arm() time.Time {
	return service.ReadDeadline(c.nc, c.sess() != nil, time.Unix(0, c.loginBy), c.srv.cfg.IdleTimeout)
}

// FrameBuffered reports whether the next block waits whole in the read
// buffer (offstack.FrameBufferer): the blocks of a batch then leave the
// read deadline where it is, two runtime timer changes fewer a wake-up.
func (c *conn) FrameBuffered() bool { return c.rd.BlockBuffered() }

var _ offstack.FrameBufferer = (*conn)(nil)

// Next reads and handles one block until the client leaves or breaks the
// protocol, or a handler ends the session (a nil result); done says the
// loop is over.
func (c *conn) Next() (done bool, err error) {
	b, err := c.rd.ReadBlock()
	if err != nil {
		return true, err
	}
	if c.srv.cfg.Trace {
		c.log().Log(context.Background(), LevelTrace, "<<", "block", b.String())
	}
	commandsCounted.Of(commandName(b.Type)).Inc()
	// IMIP has no "slow down" reply: a fast sender is slowed to its
	// allowance, and TCP pushes back on it.
	if wait := c.rate.Reserve(time.Now()); wait > 0 {
		c.batch.End(c.out) // what the batch holds does not wait too
		time.Sleep(wait)
	}
	// The replies to one command, or to the blocks the client sent at
	// once, leave in one write (see readbatch).
	c.out.Hold()
	more := c.rd.BlockBuffered()
	err = c.dispatch(c.batch.Context(service.CommandContext, more), b)
	if err != nil || !more {
		c.batch.End(c.out)
	}
	if err != nil {
		if errors.Is(err, errClose) {
			return true, nil
		}
		return true, fmt.Errorf("%s: %w", b.Type, err)
	}
	return false, nil
}

// commandName is the metrics label of a block type.
func commandName(typ string) string {
	switch t := strings.ToUpper(typ); t {
	case wire.TypeHELO, wire.TypeLOGN, wire.TypeSTAT, wire.TypeACK, wire.TypeLIST,
		wire.TypeMESG, wire.TypePING, wire.TypeDISC:
		return t
	}
	return "unknown"
}

func (c *conn) sess() *hub.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// end waits for the background work of the session and leaves the hub.
func (c *conn) end(ctx context.Context) {
	c.bg.Stop()
	c.rereader.Stop()
	if s := c.sess(); s != nil {
		s.Detach(ctx)
	}
}

// encode gives b the next server ID, sorts its headers by name as the
// Odigo server did, and appends its encoding to dst (nil when it cannot
// be encoded). The caller holds wmu, so IDs rise in the order blocks are
// queued.
func (c *conn) encode(dst []byte, b *wire.Block) ([]byte, error) {
	b.Headers = append(b.Headers, wire.Header{Name: wire.HeaderID, Value: strconv.FormatUint(uint64(c.srv.nextID()), 10)})
	slices.SortStableFunc(b.Headers, func(x, y wire.Header) int { return strings.Compare(x.Name, y.Name) })
	enc, err := b.Append(dst)
	if err != nil {
		// Every value sent is built here from checked data; this is a bug.
		c.log().Error("encode block", "block", b.String(), "err", err)
		return nil, err
	}
	if c.srv.cfg.Trace {
		c.log().Log(context.Background(), LevelTrace, ">>", "block", b.String())
	}
	return enc, nil
}

// send queues b. An error means it will not reach the client.
func (c *conn) send(b *wire.Block) error { return c.sendTracked(b, nil) }

// sendTracked queues b; receipt, if any, learns whether it was written
// (see outbox.WriteTracked).
func (c *conn) sendTracked(b *wire.Block, receipt outbox.Receipt) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	buf := encoded.Get()
	defer encoded.Put(buf)
	var err error
	if *buf, err = c.encode(*buf, b); err != nil {
		return err
	}
	return c.out.WriteTracked(*buf, receipt)
}

// sendMessage queues a message for the account (to) as sendTracked
// queues messageBlock's block, byte for byte, but encodes it straight
// from its parts: building, sorting and validating the block, and
// copying its values and body, were three allocations and 15 % of the
// server's CPU for every message from MSN to IMIP.
func (c *conn) sendMessage(from hub.Account, to uint32, msg *hub.Message, receipt outbox.Receipt) error {
	if c.srv.cfg.Trace {
		return c.sendTracked(messageBlock(from, to, *msg), receipt) // logs the block
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	buf := encoded.Get()
	defer encoded.Put(buf)
	*buf = appendMessage(*buf, c.srv.nextID(), from, to, msg)
	return c.out.WriteTracked(*buf, receipt)
}

// appendMessage appends the encoding of messageBlock's block with the ID
// id: its headers in the order encode sorts them to, none of whose values
// can hold a CR or LF (AppendNick replaces control characters), so it
// always validates.
func appendMessage(dst []byte, id uint32, from hub.Account, to uint32, msg *hub.Message) []byte {
	var room [160]byte
	h := append(room[:0], wire.HeaderContentType+": "+wire.ContentTypeText+"\r\n"+wire.HeaderFrom+": "...)
	h = wire.AppendNick(strconv.AppendUint(h, uint64(from.Number), 10), from.DisplayName)
	h = append(h, "\r\n"+wire.HeaderID+": "...)
	h = strconv.AppendUint(h, uint64(id), 10)
	h = append(h, "\r\n"+wire.HeaderTime+": "...)
	h = appendSentTime(h, msg.Sent)
	h = append(h, "\r\n"+wire.HeaderTo+": "...)
	h = append(strconv.AppendUint(h, uint64(to), 10), '\r', '\n')
	length := len(h)
	if msg.Text != "" {
		length += len("\r\n") + len(msg.Text)
	}
	dst = append(dst, wire.TypeMESG+"\r\n"...)
	dst = append(strconv.AppendInt(dst, int64(length), 10), '\r', '\n')
	dst = append(dst, h...)
	if msg.Text != "" {
		dst = append(append(dst, '\r', '\n'), msg.Text...)
	}
	return dst
}

// sentSecond is a second as a Time header gives it (wire.AppendTime),
// which depends on nothing finer.
type sentSecond struct {
	unix int64
	text []byte
}

// lastSentSecond is the second the last message delivered was sent in:
// the many messages of one second share its text, formatted once.
var lastSentSecond atomic.Pointer[sentSecond]

// appendSentTime is wire.AppendTime, formatting t only when it is in
// another second than the last message's.
func appendSentTime(dst []byte, t time.Time) []byte {
	unix := t.Unix()
	last := lastSentSecond.Load()
	if last == nil || last.unix != unix {
		last = &sentSecond{unix: unix, text: wire.AppendTime(nil, t)}
		lastSentSecond.Store(last)
	}
	return append(dst, last.text...)
}

// encoded keeps the buffers that blocks are encoded in for the outbox,
// which keeps no reference to what it is given.
var encoded = bufpool.Pool{Max: 4 << 10}

// closeWith queues b as the last block and closes the connection after it.
func (c *conn) closeWith(b *wire.Block) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	buf := encoded.Get()
	defer encoded.Put(buf)
	*buf, _ = c.encode(*buf, b) // nil when b cannot be encoded
	c.out.CloseAfter(*buf)
}

// disconnect ends the session with a server DISC giving the reason.
func (c *conn) disconnect(reason string) {
	b := wire.NewBlock(wire.TypeDISC)
	b.Body = []byte(reason)
	c.closeWith(b)
}

// reply makes an answer to req: Reference is req's ID when it had one.
func reply(req *wire.Block, typ string, args ...string) *wire.Block {
	b := wire.NewBlock(typ, args...)
	if id, ok := req.ID(); ok {
		b.Add(wire.HeaderReference, strconv.FormatUint(uint64(id), 10))
	}
	return b
}

// ackBlock is "ACK <code>" answering req. Our own codes carry a short
// text, since no client can know them.
func ackBlock(req *wire.Block, code wire.Code) *wire.Block {
	b := reply(req, wire.TypeACK, strconv.Itoa(int(code)))
	switch code {
	case CodeRefused:
		b.Body = []byte("the recipient does not accept your messages")
	case CodeMailboxFull:
		b.Body = []byte("the recipient's offline mailbox is full")
	case CodeListFull:
		b.Body = []byte("the list is full")
	case wire.CodeNotLoggedIn:
		b.Body = []byte("log in first")
	}
	if code != wire.CodeOK {
		metrics.Errors.WithLabelValues(protocolName, strconv.Itoa(int(code))).Inc()
	}
	return b
}

func (c *conn) ack(req *wire.Block, code wire.Code) {
	if code == wire.CodeOK && !c.srv.cfg.Trace {
		c.ackOK(req)
		return
	}
	_ = c.send(ackBlock(req, code))
}

// ackOK queues "ACK 600" answering req, the bytes send(ackBlock(req,
// wire.CodeOK)) queues, encoded straight from the IDs: every message a
// client sends is answered so, and the block was an allocation and 8 %
// of the server's CPU for a message from IMIP to MSN.
func (c *conn) ackOK(req *wire.Block) {
	ref, hasRef := req.ID()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	buf := encoded.Get()
	defer encoded.Put(buf)
	*buf = appendAckOK(*buf, c.srv.nextID(), ref, hasRef)
	_ = c.out.Write(*buf)
}

// appendAckOK appends the encoding of ackBlock's "ACK 600" with the ID
// id, and Reference ref when hasRef: its headers in the order encode
// sorts them to.
func appendAckOK(dst []byte, id, ref uint32, hasRef bool) []byte {
	var room [48]byte
	h := append(room[:0], wire.HeaderID+": "...)
	h = append(strconv.AppendUint(h, uint64(id), 10), '\r', '\n')
	if hasRef {
		h = append(h, wire.HeaderReference+": "...)
		h = append(strconv.AppendUint(h, uint64(ref), 10), '\r', '\n')
	}
	dst = append(dst, wire.TypeACK+" "...)
	dst = append(strconv.AppendInt(dst, int64(wire.CodeOK), 10), '\r', '\n')
	dst = append(strconv.AppendInt(dst, int64(len(h)), 10), '\r', '\n')
	return append(dst, h...)
}

// fail answers req with an error ACK and closes the connection after it.
func (c *conn) fail(req *wire.Block, code wire.Code) error {
	c.closeWith(ackBlock(req, code))
	return errClose
}

// address renders an account as From and Buddy name it.
func address(a hub.Account) string {
	return wire.FormatAddress(strconv.FormatUint(uint64(a.Number), 10), a.DisplayName)
}

// statBlock is a contact's presence.
func statBlock(from hub.Account, st hub.Status, text string) *wire.Block {
	code := statusToIMIP(st)
	b := wire.NewBlock(wire.TypeSTAT, string(code)).Add(wire.HeaderFrom, address(from))
	if code != wire.StatusOffline {
		b.Body = []byte(text)
	}
	return b
}

// messageBlock is an incoming message for the session's account, as
// trace logging shows it: sendMessage writes the same bytes without it.
func messageBlock(from hub.Account, to uint32, msg hub.Message) *wire.Block {
	b := wire.NewBlock(wire.TypeMESG).
		Add(wire.HeaderContentType, wire.ContentTypeText).
		Add(wire.HeaderFrom, address(from)).
		Add(wire.HeaderTime, wire.FormatTime(msg.Sent)).
		Add(wire.HeaderTo, strconv.FormatUint(uint64(to), 10))
	b.Body = []byte(msg.Text)
	return b
}

// requestBlock asks the account to let from add it.
func requestBlock(from hub.Account, text string) *wire.Block {
	b := wire.NewBlock(wire.TypeLIST, wire.ListAdd).
		Add(wire.HeaderFrom, address(from)).
		Add(wire.HeaderList, wire.ListBuddy)
	b.Body = []byte(text)
	return b
}

// Deliver turns hub events into blocks. It runs on the hub's dispatch
// goroutine and only queues output (a list request's store lookup runs
// on a goroutine of its own).
func (c *conn) Deliver(ev hub.Event) bool {
	switch ev.Kind {
	case hub.EventKick:
		c.disconnect(ev.Reason.String())
	case hub.EventPresence:
		c.mu.Lock()
		defer c.mu.Unlock()
		if ev.From.Number == c.number {
			return true
		}
		switch c.presence {
		case presenceHold:
			if len(c.held) >= 4*c.srv.cfg.Hub.MaxListEntries() {
				return false
			}
			c.held = append(c.held, ev)
		case presenceLive:
			return c.send(statBlock(ev.From, ev.Status, ev.Text)) == nil
		}
	case hub.EventMessage:
		c.mu.Lock()
		me := c.number
		c.mu.Unlock()
		if msg := ev.Message; msg != nil { // the hub's, shared and never changed
			r := messageReceipts.Get()
			r.Record = messageWrite{c: c, to: me, from: ev.From, msg: msg}
			if c.sendMessage(ev.From, me, msg, ev.Batch.Track(c.out, r.Receipt)) != nil {
				r.Free() // refused: the outbox never calls its receipt
				return false
			}
			return true
		}
	case hub.EventMailbox:
		// Before the session is set, the login's own read is still to come.
		if c.sess() != nil {
			c.rereader.Reread(c.srv.cfg.WriteTimeout, c.log(), c.deliverOffline)
		}
	case hub.EventReverseAdded:
		c.request(ev.From)
	}
	return true
}

// messageWrite is what the receipt of a message written to the client
// needs.
type messageWrite struct {
	c    *conn
	to   uint32
	from hub.Account
	msg  *hub.Message // the hub's, shared and never changed
}

// messageReceipts put a message the connection dropped after taking it
// back in the mailbox, so that its sender's "delivered" stays true.
var messageReceipts = outbox.NewReceiptPool(func(w messageWrite, written bool) {
	if !written {
		w.c.srv.cfg.Hub.Undelivered(w.to, w.from, *w.msg, protocolName)
	}
})

// request shows "LIST ADD" from someone who added the account, unless
// the account answered them before (they are on its allow or block list).
// That takes a store lookup, which Deliver may not wait for.
func (c *conn) request(from hub.Account) {
	c.mu.Lock()
	me := c.number
	c.mu.Unlock()
	c.bg.Go(func() {
		text := c.srv.takeRequest(from.Number, me)
		ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.WriteTimeout)
		defer cancel()
		rel, err := c.srv.cfg.Hub.Store().Relation(ctx, me, from.Number)
		if err != nil {
			c.log().Warn("list request", "from", from.Number, "err", err)
			return
		}
		if !rel.OnAllow && !rel.OnBlock {
			_ = c.send(requestBlock(from, text))
		}
	})
}

// Goodbye sends a DISC saying the server is going away, then closes.
func (c *conn) Goodbye() { c.disconnect("server shutting down") }

// Close drops the connection.
func (c *conn) Close() { c.out.Close() }
