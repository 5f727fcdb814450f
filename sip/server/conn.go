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
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/bufpool"
	"github.com/crosstalk-im/crosstalk/internal/mailbox"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"github.com/crosstalk-im/crosstalk/internal/outbox"
	"github.com/crosstalk-im/crosstalk/internal/ratelimit"
	"github.com/crosstalk-im/crosstalk/internal/readbatch"
	"github.com/crosstalk-im/crosstalk/internal/service"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/sip/ntlm"
	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// conn is one client connection: its registration, security association,
// subscriptions and IM dialogs.
type conn struct {
	srv *Server
	nc  net.Conn
	id  uint32 // names the connection in the log
	// signedIn is the account number once signed in, for the log.
	signedIn atomic.Uint32
	rd       *wire.Reader
	out      *outbox.Outbox
	rate     ratelimit.Bucket
	batch    readbatch.Batch // the messages the client sent at once
	tag      string          // our tag on this connection's registration and subscriptions
	// loginBy is when a client that has not signed in is dropped, in Unix
	// nanoseconds.
	loginBy int64

	// Owned by the reader goroutine.
	handshake *handshake // an NTLM exchange under way

	wmu sync.Mutex // orders signing (snum) with queueing
	// order keeps the messages we bring the client in the order they
	// came, from their CSeq numbers to the queue (see establish).
	order sync.Mutex

	sa atomic.Pointer[association] // the signed-in security association

	mu      sync.Mutex
	self    string // the client's address of record (sip:…)
	contact string // the URI the client is reached at
	session *hub.Session
	until   int64 // end of the registration, in Unix nanoseconds
	own     ownState
	dialogs map[string]*dialog // IM sessions by Call-ID
	byPeer  map[uint32]*dialog // the newest IM session with each contact
	// The subscriptions are few (roaming contacts and self, one or a few
	// for presence): a slice costs less than a map.
	subs []*subscription
	// Made with their first entry, as an idle session often has none.
	watching map[uint32]watch                  // contacts whose presence the client asked for
	pending  map[wire.Transaction]*transaction // our requests waiting for answers
	// expiry drops the client when a request in pending goes unanswered
	// (see expireTransactions); there while any waits.
	expiry   *time.Timer
	held     []hub.Event
	seq      uint32 // numbers our out-of-dialog requests
	presence presenceMode
	ended    bool // no more requests of ours may start
	// badSignatures is owned by the reader goroutine; here it fills what
	// the fields before it leave of a word.
	badSignatures uint8
	bg            service.Workers
	rereader      mailbox.Rereader
	files         map[uint32]*transfer // file invitations by cookie
	handed        []handedFile         // the last files handed to the drive
	// filesCtx bounds the file transfers, which end with the connection;
	// made with the first (see filesContextLocked), as most sessions
	// have none.
	filesCtx  context.Context
	stopFiles context.CancelFunc
}

// filesContextLocked is the context of the connection's file transfers;
// c.mu is held.
func (c *conn) filesContextLocked() context.Context {
	if c.filesCtx == nil {
		c.filesCtx, c.stopFiles = context.WithCancel(context.Background())
		if c.ended {
			c.stopFiles()
		}
	}
	return c.filesCtx
}

func (c *conn) filesContext() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.filesContextLocked()
}

// local is our address, for Via: the connection keeps it, not a copy.
func (c *conn) local() string { return c.nc.LocalAddr().String() }

// appendLocal appends local() to dst, without allocating for TCP: every
// request of ours names it in its Via.
func (c *conn) appendLocal(dst []byte) []byte {
	a, ok := c.nc.LocalAddr().(*net.TCPAddr)
	if !ok {
		return append(dst, c.local()...)
	}
	ap := a.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).AppendTo(dst)
}

// RemoteAddr is the client's address, shown with its hub session.
func (c *conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// presenceMode says what becomes of a contact's presence change.
type presenceMode uint8

const (
	presenceDrop presenceMode = iota // no presence subscription yet: its snapshot will cover it
	presenceHold                     // the snapshot is being taken: send it after
	presenceLive                     // send it
)

// association is what signing needs after sign-in: the NTLM keys, the
// opaque value naming the association, and our message counter.
type association struct {
	opaque string
	keys   *ntlm.Session
	snum   uint32
}

// errClose ends the read loop after the handler queued its last message.
var errClose = errors.New("close connection")

// handle runs a connection. Its goroutine waits for the client for as long
// as the connection lasts, and does nothing else: setting up, reading and
// handling each message (sign-in with its NTLM and database work among
// them) run off its stack (see offstack), so that an idle connection keeps
// the small stack its goroutine started with.
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
	c := &conn{
		srv:     s,
		nc:      nc,
		id:      randomID(),
		rd:      wire.NewReader(nc, s.cfg.Limits),
		out:     outbox.New(nc, s.cfg.MaxPendingBytes, s.cfg.WriteTimeout),
		rate:    ratelimit.New(s.cfg.MessagesPerSecond, s.cfg.MessageBurst),
		tag:     wire.RandomHex(5),
		loginBy: time.Now().Add(s.cfg.LoginTimeout).UnixNano(),
	}
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
	var tl *wire.TooLargeError
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	case isTimeout(err):
		c.log().Info("dropping silent connection", "err", err)
		c.deregister(4141, "connection timed out")
	case errors.Is(err, wire.ErrMalformed), errors.As(err, &tl):
		// The stream cannot be trusted any more: hang up.
		c.log().Info("dropping connection", "err", err)
		metrics.Errors.WithLabelValues(protocolName, "400").Inc()
		c.out.CloseAfter(nil)
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

// log is the connection's logger, with the account once signed in. It is
// made for each use, not kept: a session idle for hours logs nothing, and
// a kept logger would hold its formatted attributes all that time.
func (c *conn) log() *slog.Logger {
	l := c.srv.log.With("conn", fmt.Sprintf("%08x", c.id), "remote", c.nc.RemoteAddr().String())
	if n := c.signedIn.Load(); n != 0 {
		l = l.With("account", n)
	}
	return l
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Arm says when the next read gives up: at loginBy before sign-in; after
// it, once the client has been silent for IdleTimeout (its keep-alives
// move that on) or its registration ends unrenewed, whichever comes first.
func (c *conn) Arm() time.Time {
	c.mu.Lock()
	signedIn, until := c.session != nil, time.Unix(0, c.until)
	c.mu.Unlock()
	deadline := service.ReadDeadline(c.nc, signedIn, time.Unix(0, c.loginBy), c.srv.cfg.IdleTimeout)
	if signedIn && until.Before(deadline) {
		return until
	}
	return deadline
}

// FrameBuffered reports whether the next message waits whole in the read
// buffer (offstack.FrameBufferer): the messages of a batch then leave the
// read deadline where it is, two runtime timer changes fewer a wake-up.
func (c *conn) FrameBuffered() bool { return c.rd.MessageBuffered() }

var _ offstack.FrameBufferer = (*conn)(nil)

// Next reads and handles one message until the client leaves or breaks
// the protocol, or a handler ends the session (a nil result); done says
// the loop is over.
func (c *conn) Next() (done bool, err error) {
	m, err := c.rd.ReadMessage()
	if err != nil {
		return true, err
	}
	if m == nil {
		// A keep-alive: the deadline moves on, and the client gets the
		// pong of RFC 5626 (pidgin-sipe skips it).
		if c.sess() != nil {
			_ = c.out.Write([]byte("\r\n"))
		}
		return false, nil
	}
	ctx := service.CommandContext
	if c.srv.cfg.Trace {
		c.log().Log(ctx, LevelTrace, "<<", "sip", m.LogString())
	}
	// What handling a message queues (and events meanwhile) leaves in one
	// write; so does what handling the messages the client sent at once
	// queues, here and in the connections of those it wrote to (see
	// readbatch).
	more := c.rd.MessageBuffered()
	if !m.IsRequest() {
		c.out.Hold()
		c.handleResponse(m)
		if !more {
			c.batch.End(c.out)
		}
		return false, nil
	}
	commandsCounted.Of(commandName(m.Method)).Inc()
	if wait := c.rate.Reserve(time.Now()); wait > 0 {
		c.batch.End(c.out) // what the batch holds does not wait too
		time.Sleep(wait)
	} else if !strings.EqualFold(m.Method, wire.MethodMessage) {
		// The answers the batch holds back go before this request's, so
		// that a BYE's, say, does not overtake those of the messages
		// before it in the session it ends.
		c.batch.End(c.out)
	}
	c.out.Hold()
	err = c.dispatch(c.batch.Context(ctx, more), m)
	if err != nil || !more {
		c.batch.End(c.out)
	}
	if err != nil {
		if errors.Is(err, errClose) {
			return true, nil
		}
		return true, fmt.Errorf("%s: %w", m.Method, err)
	}
	return false, nil
}

// commandName is the metrics label of a method.
func commandName(method string) string {
	switch m := strings.ToUpper(method); m {
	case wire.MethodRegister, wire.MethodSubscribe, wire.MethodService, wire.MethodInvite, wire.MethodAck,
		wire.MethodMessage, wire.MethodInfo, wire.MethodBye, wire.MethodCancel, wire.MethodOptions, wire.MethodNotify:
		return m
	}
	return "unknown"
}

func (c *conn) sess() *hub.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// dispatch runs one client request: REGISTER first, then one handler per
// method, each signature checked.
func (c *conn) dispatch(ctx context.Context, m *wire.Message) error {
	if !validRequest(m) {
		c.respond(m, 400, "")
		return nil
	}
	method := strings.ToUpper(m.Method)
	if method == wire.MethodRegister {
		return c.handleRegister(ctx, m)
	}
	if c.sess() == nil {
		if method != wire.MethodAck {
			c.respond(m, 403, "")
		}
		return nil
	}
	if !c.verify(m) {
		return c.badSignature(m)
	}
	switch method {
	case wire.MethodAck:
		return nil
	case wire.MethodSubscribe:
		return c.handleSubscribe(ctx, m)
	case wire.MethodService:
		return c.handleService(ctx, m)
	case wire.MethodInvite:
		return c.handleInvite(ctx, m)
	case wire.MethodMessage:
		return c.handleMessage(ctx, m)
	case wire.MethodInfo:
		return c.handleInfo(ctx, m)
	case wire.MethodBye:
		return c.handleBye(m)
	case wire.MethodCancel, wire.MethodOptions:
		c.respond(m, 200, "")
	case wire.MethodNotify, wire.MethodBENotify:
		// pidgin-sipe does not notify us; accept and ignore.
		if method == wire.MethodNotify {
			c.respond(m, 200, "")
		}
	default:
		c.respond(m, 501, "")
	}
	return nil
}

// validRequest checks the headers every request must have ([RFC 3261]
// 8.1.1): without them there is nothing to answer to.
func validRequest(m *wire.Message) bool {
	_, method, err := m.CSeq()
	return err == nil && strings.EqualFold(method, m.Method) &&
		m.Get(wire.HeaderCallID) != "" && m.Get(wire.HeaderFrom) != "" && m.Get(wire.HeaderTo) != ""
}

// maxBadSignatures is how many badly signed requests a signed-in client
// may send before it is dropped: each gets a 401, which pidgin-sipe
// answers by signing and sending the request again.
const maxBadSignatures = 5

func (c *conn) badSignature(m *wire.Message) error {
	c.badSignatures++
	c.log().Info("bad signature", "method", m.Method, "count", c.badSignatures)
	if c.badSignatures >= maxBadSignatures {
		c.closeReplying(wire.Response(m, 403, c.tag))
		return errClose
	}
	if !strings.EqualFold(m.Method, wire.MethodAck) {
		c.respond(m, 401, "")
	}
	return nil
}

// respond sends a plain answer to req (tag: the connection's).
func (c *conn) respond(req *wire.Message, code int, diagnostics string) {
	res := wire.Response(req, code, c.tag)
	if diagnostics != "" {
		res.Add(wire.HeaderDiagnostics, diagnostic(diagnostics))
	}
	if code >= 300 {
		metrics.Errors.WithLabelValues(protocolName, strconv.Itoa(code)).Inc()
	}
	_ = c.send(res)
	res.Recycle() // encoded: nothing refers to it
}

// diagnostic is an ms-diagnostics value, whose reason pidgin-sipe shows.
func diagnostic(reason string) string {
	return `1000;reason="` + strings.ReplaceAll(reason, `"`, "'") + `";source="crosstalk"`
}

// verify checks the signature of a request or response from the signed-in
// client ([MS-SIPAE] 3.2.5.2 from the server's side).
func (c *conn) verify(m *wire.Message) bool {
	sa := c.sa.Load()
	if sa == nil {
		return false
	}
	var f [6]string
	scheme := wire.AuthFields(m.Get(wire.HeaderAuthorization),
		[]string{"opaque", "response", "crand", "cnum", "realm", "targetname"}, f[:])
	opaque, response := f[0], f[1]
	if !strings.EqualFold(scheme, "NTLM") || opaque != sa.opaque || response == "" {
		return false
	}
	var room [wire.SignatureRoom]byte
	buf := wire.AppendSignatureBuffer(room[:0], m, wire.SignatureAuth{Protocol: scheme, Rand: f[2], Num: f[3], Realm: f[4], TargetName: f[5]})
	return sa.keys.VerifySIP(buf, response)
}

// send signs m (once signed in) and queues it. An error means it will
// not reach the client. It does not take c.mu, so it may be called under
// it.
func (c *conn) send(m *wire.Message) error { return c.sendTracked(m, nil) }

func (c *conn) sendTracked(m *wire.Message, receipt outbox.Receipt) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	buf := encoded.Get()
	defer encoded.Put(buf)
	enc, err := c.encode(m, *buf)
	if err != nil {
		return err
	}
	*buf = enc
	return c.out.WriteTracked(enc, receipt)
}

// encoded keeps the buffers messages are encoded in, from one to the next:
// the outbox copies what it keeps. A contact list may take tens of KiB;
// its buffer is let go.
var encoded = bufpool.Pool{Max: 16 << 10}

// encode signs m with the association, if there is one, and appends its
// encoding to dst. The caller holds wmu, so message numbers rise in the
// order of the wire.
func (c *conn) encode(m *wire.Message, dst []byte) ([]byte, error) {
	if sa := c.sa.Load(); sa != nil {
		sa.snum++ // under wmu
		cfg := &c.srv.cfg
		// srand and snum in one string: every message to a signed-in
		// client is signed here.
		var randNum [8 + 10]byte
		wire.AppendRandomHex(randNum[:0], 4)
		randAndNum := string(strconv.AppendUint(randNum[:8], uint64(sa.snum), 10))
		a := wire.SignatureAuth{Protocol: "NTLM", Rand: randAndNum[:8], Num: randAndNum[8:],
			Realm: cfg.Realm, TargetName: cfg.TargetName}
		var room [wire.SignatureRoom]byte
		// The header is written straight into the encoding, from info on
		// the stack: a string for it was an allocation a message.
		var info [authInfoRoom]byte
		h := append(info[:0], `NTLM rspauth="`...)
		h = sa.keys.AppendSignSIP(h, wire.AppendSignatureBuffer(room[:0], m, a))
		h = append(append(h, `", srand="`...), a.Rand...)
		h = append(append(h, `", snum="`...), a.Num...)
		h = append(append(h, `", opaque="`...), sa.opaque...)
		h = append(append(h, `", qop="auth", targetname="`...), cfg.TargetName...)
		h = append(append(append(h, `", realm="`...), cfg.Realm...), '"')
		dst, err := m.AppendEncodeSet(dst, wire.HeaderAuthenticationInfo, h)
		return c.encoded(m, dst, err)
	}
	dst, err := m.AppendEncode(dst)
	return c.encoded(m, dst, err)
}

// encoded logs what encode made of m.
func (c *conn) encoded(m *wire.Message, enc []byte, err error) ([]byte, error) {
	if err != nil {
		// Every value sent is built here from checked data; this is a bug.
		c.log().Error("encode message", "msg", m.LogString(), "err", err)
		return nil, err
	}
	if c.srv.cfg.Trace {
		c.log().Log(context.Background(), LevelTrace, ">>", "sip", m.LogString())
	}
	return enc, nil
}

// closeReplying is closeWith for the reader's last answer: the answers
// its batch holds back (see readbatch) go first, to the messages that
// came before.
func (c *conn) closeReplying(m *wire.Message) {
	c.batch.End(c.out)
	c.closeWith(m)
}

// closeWith queues m as the last message and closes the connection after
// it.
func (c *conn) closeWith(m *wire.Message) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	enc, err := c.encode(m, nil)
	if err != nil {
		enc = nil
	}
	c.out.CloseAfter(enc)
}

// transaction is a request of ours waiting for the client's final answer.
type transaction struct {
	done func(res *wire.Message) // nil res: no answer in time, or the connection ended
	// dialog and message, when dialog is set, are a message of ours in an
	// IM session, which settleMessage settles instead of done: a closure
	// for each message, and the copy of it that it kept, were two
	// allocations.
	dialog  *dialog
	message outgoing
	// method is what was sent, for the log; due is when the client is
	// dropped without an answer, in Unix nanoseconds.
	method string
	due    int64
}

// transactions are transaction records to reuse. Whoever takes a record
// out of pending is its last holder, and gives it back once done with it
// (settle): a record for each message of ours was an allocation.
var transactions = sync.Pool{New: func() any { return new(transaction) }}

// settle ends t with the client's final answer, nil when none came, and
// gives t back; what it runs must not keep res, which is recycled after.
func (c *conn) settle(t *transaction, res *wire.Message) {
	if t.dialog != nil {
		c.settleMessage(t.dialog, t.message, res)
	} else {
		t.done(res)
	}
	*t = transaction{}
	transactions.Put(t)
}

// request sends a request of ours; done runs once with the final answer,
// or nil when none came within TransactionTimeout or the connection ended.
// done runs on the reader goroutine or a timer's, never under c.mu, and
// keeps no reference to the answer (values from it may be kept).
func (c *conn) request(m *wire.Message, done func(res *wire.Message)) error {
	t := transactions.Get().(*transaction)
	t.done = done
	return c.startTransaction(m, t)
}

// startTransaction sends m, which t (its done, or its dialog and message),
// from transactions, waits for the answer to.
func (c *conn) startTransaction(m *wire.Message, t *transaction) error {
	key := m.Transaction()
	timeout := c.srv.cfg.TransactionTimeout
	t.method, t.due = m.Method, time.Now().Add(timeout).UnixNano()
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return net.ErrClosed
	}
	if c.pending == nil {
		c.pending = make(map[wire.Transaction]*transaction)
	}
	c.pending[key] = t
	// One timer for all our requests, not one each: every timeout is the
	// same, so one armed for an earlier request is due no later than
	// this one.
	if c.expiry == nil {
		c.expiry = time.AfterFunc(timeout, c.expireTransactions)
	}
	c.mu.Unlock()
	if err := c.send(m); err != nil {
		// Not settled: the caller learns of it from err.
		if t := c.takeTransaction(key); t != nil {
			*t = transaction{}
			transactions.Put(t)
		}
		return err
	}
	return nil
}

// expireTransactions drops the client when one of our requests went
// unanswered for TransactionTimeout, and arms the timer again for the
// next request due while any waits. A connection whose requests were all
// answered lets its timer go.
func (c *conn) expireTransactions() {
	now := time.Now().UnixNano()
	var expired []*transaction
	c.mu.Lock()
	var next int64
	for key, t := range c.pending {
		switch {
		case t.due <= now:
			expired = append(expired, t)
			delete(c.pending, key)
		case next == 0 || t.due < next:
			next = t.due
		}
	}
	if next != 0 {
		c.expiry.Reset(time.Duration(next - now))
	} else {
		c.expiry = nil
	}
	c.mu.Unlock()
	if len(expired) == 0 {
		return
	}
	c.log().Info("no answer to our request: dropping the client", "request", expired[0].method)
	c.out.Close()
	for _, t := range expired {
		c.settle(t, nil)
	}
}

func (c *conn) takeTransaction(key wire.Transaction) *transaction {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.pending[key]
	delete(c.pending, key)
	return t
}

// handleResponse settles one of our transactions with the client's
// answer; provisional answers and answers that are not signed are
// ignored.
// The settling keeps no reference to m, which is recycled.
func (c *conn) handleResponse(m *wire.Message) {
	defer m.Recycle()
	if m.StatusCode < 200 {
		return
	}
	if !c.verify(m) {
		c.log().Info("ignoring a response without a good signature", "response", m.FirstLine())
		return
	}
	if t := c.takeTransaction(m.Transaction()); t != nil {
		c.settle(t, m)
	}
}

// nextSeq numbers a request of ours outside any dialog.
func (c *conn) nextSeq() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	return c.seq
}

// newRequest starts a request of ours to the client.
func (c *conn) newRequest(method, target, from, to, callID string, cseq uint32) *wire.Message {
	m := wire.NewRequest(method, target)
	// Via and CSeq in one string: every request of ours has both. Room
	// for an IPv6 address with a zone, a branch, and the longest method.
	var b [128]byte
	viaAndCSeq := wire.AppendRandomHex(append(c.appendLocal(append(b[:0], "SIP/2.0/TCP "...)), ";branch=z9hG4bK"...), 8)
	viaEnd := len(viaAndCSeq)
	viaAndCSeq = append(append(strconv.AppendUint(viaAndCSeq, uint64(cseq), 10), ' '), method...)
	both := string(viaAndCSeq)
	return m.Add(wire.HeaderVia, both[:viaEnd]).
		Add(wire.HeaderMaxForwards, "70").
		Add(wire.HeaderFrom, from).
		Add(wire.HeaderTo, to).
		Add(wire.HeaderCallID, callID).
		Add(wire.HeaderCSeq, both[viaEnd:])
}

// Deliver turns hub events into requests to the client. It runs on the
// hub's dispatch goroutine and only queues output; store lookups run on a
// goroutine of their own.
func (c *conn) Deliver(ev hub.Event) bool {
	switch ev.Kind {
	case hub.EventKick:
		reason := "you signed in at another location"
		if ev.Reason != hub.KickNewerLogin {
			reason = ev.Reason.String()
		}
		// One code for every kick: the client is not to sign in again by
		// itself.
		c.deregister(4142, reason)
	case hub.EventPresence:
		return c.presenceChanged(ev)
	case hub.EventMessage:
		if ev.Message == nil {
			return true
		}
		ev.Batch.Hold(c.out)
		return c.deliverMessage(outgoing{from: ev.From, msg: *ev.Message})
	case hub.EventTyping:
		c.typing(ev.From, ev.Typing > 0)
	case hub.EventMailbox:
		if c.sess() != nil {
			c.rereader.Reread(c.srv.cfg.WriteTimeout, c.log(), c.deliverOffline)
		}
	case hub.EventReverseAdded:
		c.bg.Go(c.pushSubscribers)
	case hub.EventFile:
		if ev.Protocol == protocolName && ev.File != "" && c.sess() != nil {
			c.handOver(ev.From, ev.File)
		}
	case hub.EventNotify:
		if ev.Notification != nil {
			c.ticketChanged(ev.Notification)
		}
	}
	return true
}

// deregister tells the client it is signed out (a takeover, a timeout,
// shutdown) and closes the connection after it.
func (c *conn) deregister(code int, reason string) {
	c.mu.Lock()
	self, contact := c.self, c.contact
	c.mu.Unlock()
	if self == "" {
		c.out.CloseAfter(nil)
		return
	}
	m := c.newRequest(wire.MethodBENotify, contact, "<"+self+">;tag="+c.tag, "<"+self+">", wire.RandomHex(8), c.nextSeq()).
		Add(wire.HeaderEvent, "registration-notify").
		Add(wire.HeaderContentType, typeRegistration).
		Add(wire.HeaderDiagnostics, fmt.Sprintf(`%d;reason="%s";source="crosstalk"`, code, reason))
	m.Body = []byte("deregistered;event=rejected")
	c.closeWith(m)
}

// end waits for the background work of the session, settles what waits
// for the client, and leaves the hub.
func (c *conn) end(ctx context.Context) {
	c.mu.Lock()
	c.ended = true
	pending := c.pending
	c.pending = nil
	if c.expiry != nil {
		c.expiry.Stop()
	}
	stopFiles := c.stopFiles
	c.mu.Unlock()
	if stopFiles != nil {
		stopFiles()
	}
	// Whoever takes a transaction out of pending settles it.
	for _, t := range pending {
		c.settle(t, nil)
	}
	c.bg.Stop()
	c.rereader.Stop()
	c.dropDialogs()
	if s := c.sess(); s != nil {
		s.Detach(ctx)
	}
}

// Goodbye deregisters the client: the server is going away.
func (c *conn) Goodbye() { c.deregister(4143, "the server is shutting down") }

// Close drops the connection.
func (c *conn) Close() { c.out.Close() }

func randomID() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// authInfoRoom is room for an Authentication-Info value with a realm and
// target name of usual length; a longer one grows on the heap.
const authInfoRoom = 256
