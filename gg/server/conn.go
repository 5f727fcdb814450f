package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/bufpool"
	"github.com/crosstalk-im/crosstalk/internal/connlog"
	"github.com/crosstalk-im/crosstalk/internal/eventgate"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/internal/mailbox"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"github.com/crosstalk-im/crosstalk/internal/outbox"
	"github.com/crosstalk-im/crosstalk/internal/ratelimit"
	"github.com/crosstalk-im/crosstalk/internal/readbatch"
	"github.com/crosstalk-im/crosstalk/internal/service"
	"github.com/crosstalk-im/crosstalk/metrics"
)

// conn is one GG client connection.
type conn struct {
	srv *Server
	nc  net.Conn
	// logAs is what log says about the connection.
	logAs connlog.Conn
	rd    *wire.Reader
	out   *outbox.Outbox
	rate  ratelimit.Bucket
	// loginBy is when a client that has not logged in is dropped, in Unix
	// nanoseconds.
	loginBy int64

	// Owned by the reader (see Next).
	batch    readbatch.Batch // the packets the client sent at once
	seed     uint32
	listDone bool
	// leaving is under mu, kept here where it takes no room of its own:
	// no more stored messages are written.
	leaving bool
	notify  []wire.Contact // notify list chunks still arriving
	// leavingBy is set once the client said it is leaving: until it hangs
	// up, or then, only its receipts are read.
	leavingBy time.Time

	gate     eventgate.Gate
	mu       sync.Mutex
	session  *hub.Session
	number   uint32          // the session's account
	seq      uint32          // last server-side message and event sequence number
	watching map[uint32]bool // the client's notify list: whose status it wants; nil while empty
	// offline maps the sequence numbers of stored messages written to the
	// client to their mailbox ids, until the client acknowledges them;
	// backlog holds the claimed ones waiting for room in that window.
	// Both are nil while empty: an idle session keeps no tables.
	offline  map[uint32]int64
	backlog  []hub.OfflineMessage
	rereader mailbox.Rereader
}

// log is the connection's logger. It is made for each use, not kept: an
// idle connection keeps only what its lines say about it (logAs).
func (c *conn) log() *slog.Logger { return c.logAs.Logger(c.srv.log) }

// RemoteAddr is the client's address, shown with its hub session.
func (c *conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// leaveDrain bounds how long a client that said it is leaving may take to
// send its last receipts and hang up (libgadu hangs up at once), while
// its session still counts as online.
const leaveDrain = 2 * time.Second

// offlineWindow bounds the stored messages written to a client and not yet
// acknowledged by it. A crash or a dropped connection can deliver these
// again (the mailbox still holds them); nothing else is repeated.
const offlineWindow = 32

// lenient decodes what clients send: a client build that leaves out a
// field we do not use is still understood. What we send always carries
// every required field, since libgadu drops a session over a missing one.
var lenient = proto.UnmarshalOptions{AllowPartial: true, DiscardUnknown: true}

// errClose ends the read loop after the handler queued its last packet.
var errClose = errors.New("close connection")

// handle runs a connection. Its goroutine waits for the client for as long
// as the connection lasts, and does nothing else: setting up, reading and
// handling each packet run off its stack (see offstack), so that an idle
// connection keeps the small stack its goroutine started with.
func (s *Server) handle(nc net.Conn) {
	var c *conn
	offstack.Setup(nc, func() { c = s.open(nc) })
	if c != nil {
		offstack.Serve(c.rd, c.nc, c.out, c)
	}
}

// open sets a connection up and greets the client, or closes it and
// returns nil when the server is shutting down.
func (s *Server) open(nc net.Conn) *conn {
	// The connection's name in the log is not its seed: the seed and a
	// login hash are enough to try passwords offline.
	var seed [4]byte
	_, _ = rand.Read(seed[:])
	c := &conn{
		srv:     s,
		nc:      nc,
		logAs:   connlog.Conn{ID: connlog.NewID(), Remote: nc.RemoteAddr()},
		rd:      wire.NewReader(nc),
		out:     outbox.New(nc, s.cfg.MaxPendingBytes, s.cfg.WriteTimeout),
		rate:    ratelimit.New(s.cfg.PacketsPerSecond, s.cfg.PacketBurst),
		seed:    binary.LittleEndian.Uint32(seed[:]),
		loginBy: time.Now().Add(s.cfg.LoginTimeout).UnixNano(),
	}
	c.rd.MaxBody = s.cfg.MaxPacketBytes
	if !s.tracker.Track(c) {
		_ = nc.Close()
		return nil
	}
	metrics.Connections.WithLabelValues(protocolName, "client").Inc()
	c.send(wire.TypeWelcome, wire.AppendWelcome(nil, wire.Welcome{Seed: c.seed}))
	return c
}

// End ends the session, then the connection; err is why the loop ended.
func (c *conn) End(err error) {
	c.batch.End(c.out) // a batch that a read error cut short
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.log().Info("dropping connection", "err", err)
	}
	c.rereader.Stop()
	endCtx, endCancel := context.WithTimeout(context.Background(), c.srv.cfg.WriteTimeout)
	c.end(endCtx)
	endCancel()
	c.out.Finish(c.log(), protocolName)
	metrics.Connections.WithLabelValues(protocolName, "client").Dec()
	c.srv.tracker.Untrack(c)
}

// Arm gives the client until loginBy to log in, then the idle timeout for
// each packet, and one that said it is leaving until leavingBy.
func (c *conn) Arm() time.Time {
	deadline := service.ReadDeadline(c.nc, c.sess() != nil, time.Unix(0, c.loginBy), c.srv.cfg.IdleTimeout)
	if !c.leavingBy.IsZero() {
		deadline = c.leavingBy
	}
	return deadline
}

// FrameBuffered reports whether the next packet waits whole in the read
// buffer (offstack.FrameBufferer): the packets of a batch then leave the
// read deadline where it is, two runtime timer changes fewer a wake-up.
func (c *conn) FrameBuffered() bool { return c.rd.PacketBuffered() }

var _ offstack.FrameBufferer = (*conn)(nil)

// Next reads and handles one packet until the client leaves or breaks the
// protocol, or a handler ends the session (a nil result); done says the
// loop is over.
func (c *conn) Next() (done bool, err error) {
	body := bodies.Get()
	p, err := c.rd.ReadPacketInto(*body)
	defer func() {
		*body = p.Body
		bodies.Put(body)
	}()
	if err != nil && !c.leavingBy.IsZero() {
		return true, nil // gone, or out of time to send its last receipts
	}
	if err != nil {
		return true, err
	}
	if c.srv.cfg.Trace {
		c.trace(context.Background(), "<<", p.Type, p.Body)
	}
	commandsCounted.Of(packetLabel(p.Type)).Inc()
	// GG has no "slow down" reply, and a dropped packet would leave the
	// client waiting for its ack: a fast sender is slowed to its
	// allowance instead, and TCP pushes back on it. The client's own
	// receipts are never slowed: a stored message leaves the mailbox
	// on its receipt, and one still waiting when the session ends is
	// delivered again.
	if p.Type != wire.TypeAck110 {
		if wait := c.rate.Reserve(time.Now()); wait > 0 {
			c.batch.End(c.out) // what the batch holds does not wait too
			time.Sleep(wait)
		}
	}
	// The replies to one command, or to the packets the client sent at
	// once, leave in one write (see readbatch).
	c.out.Hold()
	more := c.rd.PacketBuffered()
	err = c.dispatch(c.batch.Context(service.CommandContext, more), p)
	if err != nil || !more {
		c.batch.End(c.out)
	}
	if err != nil {
		if errors.Is(err, errClose) {
			return true, nil
		}
		return true, fmt.Errorf("%s: %w", wire.TypeName(p.Type), err)
	}
	return false, nil
}

// bodies keep the buffers packets are read into: a packet's handler is
// done with its body when it returns, and keeps what it needs as values
// or strings of its own.
var bodies = bufpool.Pool{Max: 64 << 10}

// Goodbye tells the client the server is going away and closes.
func (c *conn) Goodbye() { c.closeWith(wire.TypeDisconnecting, nil) }

// Close drops the connection.
func (c *conn) Close() { c.out.Close() }

func (c *conn) sess() *hub.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

func (c *conn) send(typ uint32, body []byte) bool {
	return c.sendTracked(typ, body, nil)
}

// sendTracked queues a packet and reports whether the outbox took it;
// receipt, if any, learns whether it was written (see outbox.WriteTracked).
func (c *conn) sendTracked(typ uint32, body []byte, receipt outbox.Receipt) bool {
	if c.srv.cfg.Trace {
		c.trace(context.Background(), ">>", typ, body)
	}
	return c.out.WriteTracked(wire.AppendPacket(nil, typ, body), receipt) == nil
}

func (c *conn) sendProto(typ uint32, m proto.Message) bool {
	return c.sendProtoTracked(typ, m, nil)
}

// sendProtoTracked encodes m behind the room for its packet header, so the
// packet is one allocation and no copy.
func (c *conn) sendProtoTracked(typ uint32, m proto.Message, receipt outbox.Receipt) bool {
	size := proto.Size(m)
	packet, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(make([]byte, wire.HeaderSize, wire.HeaderSize+size), m)
	if err != nil {
		// Every message is built here with all required fields; this is a bug.
		c.log().Error("encode packet", "packet", wire.TypeName(typ), "err", err)
		return false
	}
	return c.sendPacketTracked(typ, packet, receipt)
}

// sendPacketTracked queues a packet whose body follows the room left for
// its header.
func (c *conn) sendPacketTracked(typ uint32, packet []byte, receipt outbox.Receipt) bool {
	wire.PutHeader(packet, typ)
	if c.srv.cfg.Trace {
		c.trace(context.Background(), ">>", typ, packet[wire.HeaderSize:])
	}
	return c.out.WriteTracked(packet, receipt) == nil
}

func (c *conn) closeWith(typ uint32, body []byte) {
	c.out.CloseAfter(wire.AppendPacket(nil, typ, body))
}

// dispatch runs one packet. Before login only the login packet is
// understood; unknown packets after login are ignored, as GG servers did,
// so newer clients keep working.
func (c *conn) dispatch(ctx context.Context, p wire.Packet) error {
	if !c.leavingBy.IsZero() {
		if p.Type == wire.TypeAck110 {
			return c.handleAck(ctx, p.Body)
		}
		return nil
	}
	if c.sess() == nil {
		if p.Type != wire.TypeLogin105 {
			return fmt.Errorf("%w before login", wire.ErrMalformed)
		}
		return c.handleLogin(ctx, p.Body)
	}
	switch p.Type {
	case wire.TypePing:
		c.sendProto(wire.TypePong110, &ggpb.GG110Pong{ServerTime: proto.Uint32(uint32(time.Now().Unix()))})
	case wire.TypeNewStatus80:
		return c.handleNewStatus(ctx, p.Body)
	case wire.TypeNotify105First, wire.TypeNotify105Last, wire.TypeNotify105ListEmpty:
		return c.handleNotifyList(ctx, p)
	case wire.TypeAddNotify105, wire.TypeRemoveNotify105:
		return c.handleNotifyChange(ctx, p)
	case wire.TypeSendMsg110:
		return c.handleSendMessage(ctx, p.Body)
	case wire.TypeAck110:
		return c.handleAck(ctx, p.Body)
	case wire.TypeTypingNotify:
		return c.handleTyping(ctx, p.Body)
	case wire.TypeUserlist100Request:
		return c.handleUserlist(ctx, p.Body)
	default:
		c.log().Debug("ignoring packet", "packet", p.String())
	}
	return nil
}

func (c *conn) handleLogin(ctx context.Context, body []byte) error {
	var login ggpb.GG105Login
	err := lenient.Unmarshal(body, &login)
	var uin uint32
	if err == nil {
		uin, _, err = wire.ParseProtoUIN(login.GetUin())
	}
	if err != nil {
		// Hung up on without an answer, as before, but logged rationed.
		c.srv.cfg.Guard.Report(ctx, c.log(), protocolName, loginguard.BadRequest, "err", err)
		return errClose
	}
	h := c.srv.cfg.Hub
	acct, err := h.Store().Account(ctx, uin)
	if err != nil && !errors.Is(err, hub.ErrNotFound) {
		return err
	}
	attempt := c.srv.cfg.Guard.Begin(protocolName, c.nc.RemoteAddr(), loginguard.Account(uin))
	switch {
	case !attempt.Allowed():
		return c.refuse(ctx, attempt, loginguard.Locked, uin)
	case err != nil:
		return c.refuse(ctx, attempt, loginguard.UnknownAccount, uin)
	}
	password, err := h.Store().Password(ctx, uin)
	if err != nil {
		return err
	}
	if !passwordMatches(login.GetHash(), password, c.seed) {
		return c.refuse(ctx, attempt, loginguard.BadPassword, uin)
	}
	if acct.Disabled {
		return c.refuse(ctx, attempt, loginguard.Disabled, uin)
	}
	attempt.Succeed()
	session, err := h.Attach(ctx, acct, protocolName, c)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.session, c.number = session, uin
	c.mu.Unlock()
	c.logAs.Account.Store(uin)
	c.log().Info("logged in", "client", login.GetClient())

	// Online before the client hears it is in, so nothing sent to it from
	// then on is taken for an offline message.
	st, descr, ok := StatusFromGG(login.GetInitialStatus(), login.GetInitialDescr())
	if !ok {
		st = hub.StatusOnline // a client logging in is there, whatever it asked for
	}
	if err := session.SetPresence(ctx, st, descr); err != nil {
		return err
	}
	token := c.srv.issueToken(uin, session.ID())
	var hash [8]byte
	_, _ = rand.Read(hash[:])
	c.sendProto(wire.TypeLogin110OK, &ggpb.GG110LoginOK{
		Dummy1:     proto.Int32(1),
		Dummyhash:  proto.String(hex.EncodeToString(hash[:])),
		Uin:        proto.Uint32(uin),
		ServerTime: proto.Uint32(uint32(time.Now().Unix())),
	})
	c.sendProto(wire.TypeIMToken, &ggpb.GG110Imtoken{Imtoken: proto.String(token)})
	c.gate.Open(c.deliver, c.undelivered)
	return c.deliverOffline(ctx)
}

// passwordMatches checks the login hash. GG11 clients send the 20-byte
// SHA-1 hash; a 4-byte hash is the older GG32 one, which some clients still
// put in the same field.
func passwordMatches(hash []byte, password string, seed uint32) bool {
	want := wire.HashSHA1(password, seed)
	if len(hash) == 4 {
		want = binary.LittleEndian.AppendUint32(nil, wire.HashGG32(password, seed))
	}
	return subtle.ConstantTimeCompare(want, hash) == 1
}

// refuse answers a failed login with the packet libgadu reports at once,
// whatever the reason.
func (c *conn) refuse(ctx context.Context, attempt loginguard.Attempt, reason loginguard.Reason, uin uint32) error {
	attempt.Fail(ctx, c.log(), reason, "account", uin)
	c.closeWith(wire.TypeLogin80Failed, wire.LoginFailed80Body())
	return errClose
}

// end leaves the hub, which also ends the session's drive token.
func (c *conn) end(ctx context.Context) {
	if s := c.sess(); s != nil {
		c.gate.Discard(c.undelivered)
		s.Detach(ctx)
	}
}

// undelivered puts a message event the connection could not take back in
// the mailbox.
func (c *conn) undelivered(ev hub.Event) {
	c.sess().Undelivered(ev.From, *ev.Message)
}

func (c *conn) handleNewStatus(ctx context.Context, body []byte) error {
	ns, err := wire.ParseNewStatus(body)
	if err != nil {
		return err
	}
	if wire.StatusOffline(ns.Status) {
		// libgadu waits for this before it hangs up, and acknowledges what
		// reached it before: those receipts are still read, so that a
		// stored message the client has is not delivered again.
		c.mu.Lock()
		c.leaving = true
		c.mu.Unlock()
		c.out.CloseWriteAfter(wire.AppendPacket(nil, wire.TypeDisconnectAck, nil))
		c.leavingBy = time.Now().Add(leaveDrain)
		return nil
	}
	st, descr, ok := StatusFromGG(ns.Status, ns.Description)
	if !ok {
		return nil
	}
	return c.sess().SetPresence(ctx, st, descr)
}

// handleNotifyList collects the notify list sent after login and answers
// with the statuses of the listed contacts who are online.
func (c *conn) handleNotifyList(ctx context.Context, p wire.Packet) error {
	if p.Type != wire.TypeNotify105ListEmpty {
		list, err := wire.ParseNotifyList(p.Body)
		if err != nil {
			return err
		}
		if len(c.notify)+len(list) > c.srv.cfg.Hub.MaxListEntries()*2 {
			return fmt.Errorf("%w: notify list too long", wire.ErrMalformed)
		}
		c.notify = append(c.notify, list...)
		if p.Type == wire.TypeNotify105First {
			return nil
		}
	}
	list := c.notify
	c.notify = nil
	var online []byte
	for _, e := range list {
		rec, visible, err := c.follow(ctx, e)
		if err != nil {
			return err
		}
		if visible {
			online = wire.AppendContactStatus(online, rec)
		}
	}
	c.listDone = true
	if len(online) > 0 {
		c.send(wire.TypeNotifyReply80, online)
	}
	return nil
}

// follow records a notify-list entry on the account's lists and returns
// the contact's status as this account may see it.
func (c *conn) follow(ctx context.Context, e wire.Contact) (wire.ContactStatus, bool, error) {
	s := c.sess()
	if e.UIN == s.Account().Number {
		return wire.ContactStatus{}, false, nil
	}
	l := hub.Forward
	if e.Type&wire.UserBlocked != 0 {
		l = hub.Block
	}
	group := 0
	if l != hub.Forward {
		group = -1
	}
	_, seen, err := s.AddContact(ctx, l, e.UIN, group)
	switch {
	case errors.Is(err, hub.ErrNotFound):
		return wire.ContactStatus{}, false, nil // not one of ours: nothing to show
	case errors.Is(err, hub.ErrAlreadyOnList):
		st, text, verr := c.srv.cfg.Hub.VisiblePresence(ctx, s.Account().Number, e.UIN)
		if verr != nil {
			return wire.ContactStatus{}, false, verr
		}
		seen = hub.Presence{Status: st, Text: text}
	case errors.Is(err, hub.ErrInOppositeList), errors.Is(err, hub.ErrListFull):
		c.log().Info("notify entry not taken", "contact", e.UIN, "err", err)
		return wire.ContactStatus{}, false, nil
	case err != nil:
		return wire.ContactStatus{}, false, err
	}
	if l == hub.Block {
		return wire.ContactStatus{}, false, nil
	}
	c.mu.Lock()
	if c.watching == nil {
		c.watching = make(map[uint32]bool)
	}
	c.watching[e.UIN] = true
	c.mu.Unlock()
	if seen.Status.Visible() == hub.StatusOffline {
		return wire.ContactStatus{}, false, nil
	}
	return contactStatus(e.UIN, seen.Status, seen.Text), true, nil
}

func (c *conn) handleNotifyChange(ctx context.Context, p wire.Packet) error {
	e, err := wire.ParseNotifyEntry(p.Body)
	if err != nil {
		return err
	}
	if p.Type == wire.TypeAddNotify105 {
		rec, visible, err := c.follow(ctx, e)
		if err == nil && visible {
			c.send(wire.TypeStatus80, wire.AppendContactStatus(nil, rec))
		}
		return err
	}
	c.mu.Lock()
	delete(c.watching, e.UIN)
	c.mu.Unlock()
	for _, l := range []hub.List{hub.Forward, hub.Block} {
		if e.Type&wire.UserBlocked == 0 && l == hub.Block {
			continue
		}
		_, err := c.sess().RemoveContact(ctx, l, e.UIN, -1)
		if err != nil && !errors.Is(err, hub.ErrNotOnList) && !errors.Is(err, hub.ErrNotFound) {
			return err
		}
	}
	return nil
}

func (c *conn) handleSendMessage(ctx context.Context, body []byte) error {
	m, err := wire.ParseSendMsg110(body)
	if err != nil {
		return err
	}
	if m.Conference {
		c.log().Debug("conference message ignored: conferences are not supported")
		return nil
	}
	to, _, err := wire.ParseProtoUIN(m.Recipient)
	if err != nil {
		return err
	}
	msg := fromPacket(m.Plain, m.XHTML)
	if len(msg.Text) > hub.MaxMessageBytes || !utf8.ValidString(msg.Text) {
		return fmt.Errorf("%w: message of %d bytes", wire.ErrMalformed, len(msg.Text))
	}
	s := c.sess()
	msg.Sent = time.Now().UTC()
	d, err := c.srv.cfg.Hub.SendMessage(ctx, s.Account(), to, msg, "")
	if errors.Is(err, hub.ErrNotFound) {
		c.sendMsgAck(wire.AckNotDelivered, to, m.Seq)
		return nil
	}
	if err != nil {
		return err
	}
	from, seq, sent := s.Account().Number, m.Seq, msg.Sent
	if !c.srv.cfg.Hub.AnswerWaits(ctx, d) {
		c.answerMessage(d, from, to, seq, sent)
		return nil
	}
	// A message held in the batch's connections is answered once they
	// wrote or dropped it.
	c.srv.cfg.Hub.Answer(ctx, d, func(d hub.Delivery) { c.answerMessage(d, from, to, seq, sent) })
	return nil
}

// sendMsgAck writes the older receipt, which can say "not taken"
// (libgadu reports its status to the application) or "queued".
func (c *conn) sendMsgAck(status, to, seq uint32) {
	c.send(wire.TypeSendMsgAck, wire.AppendSendMsgAck(nil, wire.SendMsgAck{Status: status, Recipient: to, Seq: seq}))
}

// answerMessage tells the client what became of its message seq to to.
func (c *conn) answerMessage(d hub.Delivery, from, to, seq uint32, sent time.Time) {
	switch d {
	case hub.Blocked:
		c.sendMsgAck(wire.AckBlocked, to, seq)
		return
	case hub.MailboxFull:
		c.sendMsgAck(wire.AckMailboxFull, to, seq)
		return
	case hub.Queued:
		// Taken, but only kept for later: the older receipt says so
		// first, and the GG11 one follows as for any message taken.
		c.sendMsgAck(wire.AckQueued, to, seq)
	}
	messagesCounted.Inc()
	buf := packets.Get()
	*buf = wire.AppendMessageAck110(append(*buf, make([]byte, wire.HeaderSize)...), wire.MessageAck110{
		MsgType: 1,
		Seq:     seq,
		Time:    uint32(sent.Unix()),
		MsgID:   c.srv.messageID(),
		ConvID:  conversationID(from, to),
	})
	c.sendPacketTracked(wire.TypeSendMsgAck110, *buf, nil)
	packets.Put(buf)
}

// conversationID names the pair's conversation the same way from both
// sides, as GG clients group messages by it.
func conversationID(a, b uint32) uint64 {
	return uint64(min(a, b))<<32 | uint64(max(a, b))
}

// handleAck takes the client's receipts: for offline messages, they may
// now leave the queue.
func (c *conn) handleAck(ctx context.Context, body []byte) error {
	a, err := wire.ParseAck110(body)
	if err != nil {
		return err
	}
	if a.Type != wire.AckTypeMsg {
		return nil
	}
	c.mu.Lock()
	id, ok := c.offline[a.Seq]
	delete(c.offline, a.Seq)
	if len(c.offline) == 0 {
		c.offline = nil // a map keeps the room it grew to
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	if err := c.sess().DeleteOffline(ctx, id); err != nil {
		return err
	}
	c.pumpOffline()
	return nil
}

func (c *conn) handleTyping(ctx context.Context, body []byte) error {
	t, err := wire.ParseTyping(body)
	if err != nil {
		return err
	}
	return c.srv.cfg.Hub.SendTyping(ctx, c.sess().Account(), t.UIN, int(t.Length), "")
}

// userlistFormat keys a client's exported contact list in the store.
func userlistFormat(format uint8) string { return fmt.Sprintf("gg-userlist100-%d", format) }

// maxUserlist bounds an inflated contact-list export.
const maxUserlist = 1 << 20

func (c *conn) handleUserlist(ctx context.Context, body []byte) error {
	req, err := wire.ParseUserlist100(body)
	if err != nil {
		return err
	}
	store, me := c.srv.cfg.Hub.Store(), c.sess().Account().Number
	key := userlistFormat(req.Format)
	stored, version, err := store.ContactFile(ctx, me, key)
	if err != nil {
		return err
	}
	reply := wire.Userlist100{Version: version, Format: req.Format}
	switch req.Type {
	case wire.UserlistPut:
		if _, err := wire.InflateUserlist(req.Data, maxUserlist); err != nil {
			return err
		}
		if req.Version != version {
			reply.Type = wire.UserlistReplyReject
			break
		}
		if reply.Version, err = store.SaveContactFile(ctx, me, key, req.Data); err != nil {
			return err
		}
		reply.Type = wire.UserlistReplyAck
	case wire.UserlistGet:
		if req.Version == version && version != 0 {
			reply.Type = wire.UserlistReplyUpToDate
			break
		}
		reply.Type = wire.UserlistReplyList
		reply.Data = stored
		if len(stored) == 0 {
			reply.Data = wire.DeflateUserlist(nil)
		}
	default:
		return fmt.Errorf("%w: userlist request type %d", wire.ErrMalformed, req.Type)
	}
	c.send(wire.TypeUserlist100Reply, wire.AppendUserlist100(nil, reply))
	return nil
}

// deliverOffline claims what waits in the mailbox and hands it over,
// offlineWindow messages at a time; each leaves the mailbox when the
// client acknowledges it.
func (c *conn) deliverOffline(ctx context.Context) error {
	waiting, err := c.sess().OfflineMessages(ctx)
	if err != nil || len(waiting) == 0 {
		return err
	}
	c.mu.Lock()
	c.backlog = append(c.backlog, waiting...)
	c.mu.Unlock()
	c.pumpOffline()
	return nil
}

// pumpOffline writes backlog messages while the window and the output
// queue have room; with none awaiting a receipt, it writes one anyway, so
// that a receipt comes to pump again.
func (c *conn) pumpOffline() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.leaving && len(c.backlog) > 0 && (len(c.offline) == 0 || len(c.offline) < offlineWindow && !c.out.Crowded()) {
		m := c.backlog[0]
		c.backlog = c.backlog[1:]
		if len(c.backlog) == 0 {
			c.backlog = nil // let the messages' bodies go
		}
		c.seq++
		if c.offline == nil {
			c.offline = make(map[uint32]int64)
		}
		c.offline[c.seq] = m.ID
		// A stored message the connection drops stays claimed by this
		// session, and goes back to the mailbox when it ends.
		buf := packets.Get()
		*buf = c.recvMessagePacket(*buf, c.seq, m.From, m.Message)
		c.sendPacketTracked(wire.TypeRecvMsg110, *buf, nil)
		packets.Put(buf)
	}
}

func (c *conn) nextSeq() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	return c.seq
}

// deliverMessage writes a live message, held in the sender's batch when
// there is one (see hub.Batch); one the connection drops after taking it
// goes back to the mailbox.
func (c *conn) deliverMessage(batch *hub.Batch, from hub.Account, msg hub.Message) bool {
	buf := packets.Get()
	defer packets.Put(buf)
	*buf = c.recvMessagePacket(*buf, c.nextSeq(), from, msg)
	r := liveReceipts.Get()
	r.Record = liveMessage{session: c.sess(), from: from, msg: msg}
	if !c.sendPacketTracked(wire.TypeRecvMsg110, *buf, batch.Track(c.out, r.Receipt)) {
		r.Free() // a refused write calls no receipt: the hub knows
		return false
	}
	return true
}

// liveMessage is what the receipt of a live message needs. Its session
// is taken before the write: the receipt may run under c.mu.
type liveMessage struct {
	session *hub.Session
	from    hub.Account
	msg     hub.Message
}

// liveReceipts put a live message the connection dropped after taking it
// back in the mailbox; a closure for each message was an allocation.
var liveReceipts = outbox.NewReceiptPool(func(m liveMessage, written bool) {
	if !written {
		m.session.Undelivered(m.from, m.msg)
	}
})

// packets keeps the buffers that messages' packets are built in, as the
// outbox keeps no reference to what it is given.
var packets = bufpool.Pool{Max: 4 << 10}

// recvMessagePacket appends to dst (empty) a GG_RECV_MSG110 packet of msg
// from from, the XHTML written straight into it.
func (c *conn) recvMessagePacket(dst []byte, seq uint32, from hub.Account, msg hub.Message) []byte {
	// Room for the fields, and for the text twice with its markup.
	packet := slices.Grow(dst, wire.HeaderSize+128+2*len(msg.Text))[:wire.HeaderSize]
	return wire.AppendRecvMsg110(packet, wire.RecvMsg110{
		Sender: from.Number,
		Seq:    seq,
		Time:   uint32(msg.Sent.Unix()),
		Plain:  msg.Text,
		MsgID:  c.srv.messageID(),
		ConvID: conversationID(from.Number, c.number),
	}, func(dst []byte) []byte { return appendXHTML(dst, msg) })
}

// Deliver turns hub events into packets, once the client has its login
// reply. It runs on the hub's dispatch goroutine and only queues output.
func (c *conn) Deliver(ev hub.Event) bool { return c.gate.Deliver(ev, c.deliver) }

func (c *conn) deliver(ev hub.Event) bool {
	switch ev.Kind {
	case hub.EventKick:
		c.closeWith(wire.TypeDisconnecting, nil)
	case hub.EventPresence:
		c.mu.Lock()
		watched := c.watching[ev.From.Number]
		c.mu.Unlock()
		if watched {
			return c.send(wire.TypeStatus80, wire.AppendContactStatus(nil, contactStatus(ev.From.Number, ev.Status, ev.Text)))
		}
	case hub.EventMessage:
		if ev.Message != nil {
			return c.deliverMessage(ev.Batch, ev.From, *ev.Message)
		}
	case hub.EventMailbox:
		c.rereader.Reread(c.srv.cfg.WriteTimeout, c.log(), c.deliverOffline)
	case hub.EventTyping:
		return c.send(wire.TypeTypingNotify, wire.AppendTyping(nil, wire.Typing{Length: uint16(min(ev.Typing, 0xffff)), UIN: ev.From.Number}))
	case hub.EventNotify:
		if n := ev.Notification; n != nil {
			return c.sendProto(wire.TypeEvent110, &ggpb.GG110Event{
				Type:    ggpb.GG110Event_JSON.Enum(),
				Seq:     proto.Uint32(c.nextSeq()),
				Data:    proto.String(n.Data),
				Subtype: proto.String(n.Kind),
			})
		}
	}
	return true
}

// StatusFromGG maps a GG status to the hub's; ok is false for "not
// available", which is not a status one sets while connected.
func StatusFromGG(code uint32, descr string) (hub.Status, string, bool) {
	var st hub.Status
	switch wire.StatusBase(code) {
	case wire.StatusAvail, wire.StatusFFC:
		st = hub.StatusOnline
	case wire.StatusBusy:
		st = hub.StatusAway // "zaraz wracam": back soon
	case wire.StatusDND:
		st = hub.StatusBusy
	case wire.StatusInvisible:
		st = hub.StatusInvisible
	default:
		return "", "", false
	}
	return st, truncate(descr, wire.MaxDescription), true
}

// contactStatus is a contact's status record as GG clients expect it.
func contactStatus(uin uint32, st hub.Status, text string) wire.ContactStatus {
	var code uint32
	switch st {
	case hub.StatusOnline:
		code = wire.StatusAvail
	case hub.StatusBusy, hub.StatusOnThePhone:
		code = wire.StatusDND
	case hub.StatusAway, hub.StatusIdle, hub.StatusBeRightBack, hub.StatusOutToLunch:
		code = wire.StatusBusy
	default:
		code = wire.StatusNotAvail
	}
	text = truncate(text, wire.MaxDescription)
	return wire.ContactStatus{
		UIN:         uin,
		Status:      wire.StatusWithDescr(code, text != ""),
		ImageSize:   255,
		Description: text,
	}
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return strings.TrimRight(s, "\x00")
}
