// Package client is an Office Communicator (OCS 2007 R2) SIP client
// library for bots and for the server's tests. It signs in the way
// pidgin-sipe 1.25 does — three REGISTERs with connectionless NTLMv2, then
// every message signed ([MS-SIPAE]) — subscribes to its contact list, its
// own data and its contacts' presence, publishes its state, exchanges
// instant messages in IM sessions (INVITE, MESSAGE, BYE) and sends and
// receives files (files.go: text/x-msmsgsinvite invitations in the IM
// session, then MSNFTP or, by default, its encrypted variant
// MSN_SECURE_FTP).
//
// A single reader goroutine reads what the server sends: answers to our
// requests wake the call that waits for them, the rest become Events on a
// bounded channel (a full channel drops the connection with
// ErrEventOverflow). The answers to messages that came together leave in
// one write, before the events they brought. SendMessage waits for its
// message's answer; PostMessages sends several without waiting, as
// pidgin-sipe does. Server messages must carry a good signature once
// signed in; a bad one drops the connection (ErrBadSignature), and an
// unsigned request is ignored, as pidgin-sipe does. After sign-in the
// client sends keep-alives and renews its registration as the server's
// answer asks. Close ends the connection and waits for the reader.
package client

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/clientconn"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/sip/ntlm"
	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// Options configure Dial. The zero value is usable.
type Options struct {
	// Logger receives every message in and out at Debug level, without
	// authentication data or bodies.
	Logger *slog.Logger
	// Dialer connects; TLS, when set, makes the connection SIP over TLS.
	Dialer *net.Dialer
	TLS    *tls.Config
	// Limits bound the server's messages.
	Limits wire.Limits
	// EventBuffer is the capacity of the Events channel (default 1024).
	EventBuffer int
	// UserAgent names the client (default pidgin-sipe's).
	UserAgent string
	// Login and Domain are the NTLM user and domain; Login defaults to
	// the address without "sip:", Domain to empty (as pidgin-sipe sends
	// an address without "DOMAIN\").
	Login, Domain string
	// RequestTimeout bounds the wait for an answer when the context has
	// no deadline (default 60 s, pidgin-sipe's).
	RequestTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{}
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = 1024
	}
	if o.UserAgent == "" {
		o.UserAgent = "UCCAPI/3.5.6907.0 OC/3.5.6907.0 (crosstalk sip client)"
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 60 * time.Second
	}
	return o
}

// Client is one SIP connection.
type Client struct {
	opts    Options
	conn    *clientconn.Conn[Event]
	rd      *wire.Reader
	log     *slog.Logger
	local   string // our address, for Via and Contact
	tag     string // our From tag outside IM sessions
	epid    string
	contact string // our Contact, made of local and epid

	mu   sync.Mutex
	self string // sip:…
	auth *auth  // set once signed in
	// pendingAuth becomes auth when the answer to the REGISTER with key
	// pendingKey proves it.
	pendingAuth *auth
	pendingKey  wire.Transaction
	seq         uint32 // CSeq outside dialogs
	regCall     string // the Call-ID of the registration
	waiters     map[wire.Transaction]chan *wire.Message
	dialogs     map[string]*dialog // IM sessions by peerKey
	byCall      map[string]*dialog
	contacts    map[string]bool                   // URIs on the contact list, lower case
	answers     map[uint32]chan invite.Invitation // file invitations we wait on, by cookie
	// keepAlive and renew are the timers of keep-alives and renewals.
	keepAlive, renew *time.Timer
}

// auth is the signed-in security association.
type auth struct {
	keys                      *ntlm.Session
	opaque, realm, targetName string
	cnum                      uint32 // under the connection's write lock (clientconn.Conn.Send)
}

// dialog is an IM session with one contact.
type dialog struct {
	callID, peer, localTag, remoteTag, target string
	cseq                                      uint32
	// from and to are our requests' From and To, made by the first
	// (under Client.mu): every message in the session names them.
	from, to string
}

// Dial connects to a SIP server (host:port).
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	opts = opts.withDefaults()
	nc, err := opts.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if opts.TLS != nil {
		tc := tls.Client(nc, opts.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	return New(nc, opts), nil
}

// New runs the client over an established connection and starts its
// reader.
func New(nc net.Conn, opts Options) *Client {
	opts = opts.withDefaults()
	c := &Client{
		opts:     opts,
		conn:     clientconn.New[Event](nc, opts.EventBuffer, ErrClosed, opts.RequestTimeout),
		rd:       wire.NewReader(nc, opts.Limits),
		log:      opts.Logger.With("conn", "sip", "addr", nc.RemoteAddr().String()),
		local:    nc.LocalAddr().String(),
		tag:      wire.RandomHex(5),
		epid:     wire.RandomHex(5),
		waiters:  make(map[wire.Transaction]chan *wire.Message),
		dialogs:  make(map[string]*dialog),
		byCall:   make(map[string]*dialog),
		contacts: make(map[string]bool),
		answers:  make(map[uint32]chan invite.Invitation),
	}
	c.contact = "<sip:" + c.local + ";transport=tcp;ms-opaque=" + c.epid + ">"
	go c.readLoop()
	return c
}

// Events returns the channel of events; it is closed after Disconnected.
func (c *Client) Events() <-chan Event { return c.conn.Events() }

// Err returns why the connection ended, or nil while it is up.
func (c *Client) Err() error { return c.conn.Err() }

// Self is the address the client signed in as ("" before).
func (c *Client) Self() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.self
}

// Close ends the connection at once (see SignOut) and waits for the
// reader. It always returns nil.
func (c *Client) Close() error {
	c.conn.Close()
	return nil
}

// stopTimers stops keep-alives and renewals when the reader has ended;
// after refuses new ones once the connection is ending.
func (c *Client) stopTimers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range []*time.Timer{c.keepAlive, c.renew} {
		if t != nil {
			t.Stop()
		}
	}
}

func (c *Client) readLoop() {
	c.conn.Run(func() error {
		m, err := c.rd.ReadMessage()
		if err != nil {
			return err
		}
		if m != nil {
			if c.log.Enabled(context.Background(), slog.LevelDebug) {
				c.log.Debug("sip recv", "msg", m.LogString())
			}
			// An answer goes to the call waiting for it, which may
			// recycle it at once: m is not read after handle.
			request := m.IsRequest()
			// The answers to messages that came together leave in one
			// write, before the events they brought (see Hold).
			c.conn.Hold()
			if err := c.handle(m); err != nil {
				return err
			}
			if request {
				m.Recycle() // the handlers keep values from it, not it
			}
		}
		if c.rd.MessageBuffered() {
			return nil
		}
		return c.conn.Flush(ErrEventOverflow)
	}, func(cause error) Event {
		c.stopTimers()
		return Disconnected{Err: cause}
	})
}

func (c *Client) emit(ev Event) error {
	if !c.conn.Emit(ev) {
		return ErrEventOverflow
	}
	return nil
}

// closedErr wraps why the connection ended.
func (c *Client) closedErr() error { return c.conn.ClosedErr() }

// send signs m when signed in and writes it, framed in the connection's
// buffer with its signature: a buffer and a header value for every message
// were three allocations.
func (c *Client) send(m *wire.Message) error {
	return c.conn.SendAppend(context.Background(), func(dst []byte) ([]byte, error) { return c.appendSigned(dst, m) })
}

// appendSigned appends m to dst, signed once signed in. The caller holds
// the connection's write lock (clientconn.Conn.SendAppend), so signature
// numbers rise in the order of the wire.
func (c *Client) appendSigned(dst []byte, m *wire.Message) ([]byte, error) {
	c.mu.Lock()
	a := c.auth
	c.mu.Unlock()
	var enc []byte
	var err error
	if a != nil {
		var room [authorizationRoom]byte
		enc, err = m.AppendEncodeSet(dst, wire.HeaderAuthorization, c.appendAuthorization(room[:0], m, a))
	} else {
		enc, err = m.AppendEncode(dst)
	}
	if err != nil {
		return nil, err
	}
	if c.log.Enabled(context.Background(), slog.LevelDebug) {
		c.log.Debug("sip send", "msg", m.LogString())
	}
	return enc, nil
}

// appendAuthorization appends to v the Authorization of an MS-SIPAE
// signed message: every message we send after sign-in is signed.
func (c *Client) appendAuthorization(v []byte, m *wire.Message, a *auth) []byte {
	a.cnum++
	var digits [8 + 10]byte
	randAndNum := strconv.AppendUint(wire.AppendRandomHex(digits[:0], 4), uint64(a.cnum), 10)
	rand, num := string(randAndNum[:8]), string(randAndNum[8:])
	sa := wire.SignatureAuth{Protocol: "NTLM", Rand: rand, Num: num, Realm: a.realm, TargetName: a.targetName}
	var room [wire.SignatureRoom]byte
	buf := wire.AppendSignatureBuffer(room[:0], m, sa)
	v = append(append(v, `NTLM qop="auth", opaque="`...), a.opaque...)
	v = append(append(v, `", realm="`...), a.realm...)
	v = append(append(v, `", targetname="`...), a.targetName...)
	v = append(append(v, `", crand="`...), randAndNum[:8]...)
	v = append(append(v, `", cnum="`...), randAndNum[8:]...)
	return append(a.keys.AppendSignSIP(append(v, `", response="`...), buf), '"')
}

// authorizationRoom is room for an Authorization value with the realm and
// target name pidgin-sipe's servers use; a longer one grows on the heap.
const authorizationRoom = 256

// verify checks a server message's signature (Authentication-Info).
func (c *Client) verify(m *wire.Message, a *auth) bool {
	var f [5]string
	scheme := wire.AuthFields(m.Get(wire.HeaderAuthenticationInfo), []string{"rspauth", "srand", "snum", "realm", "targetname"}, f[:])
	var room [wire.SignatureRoom]byte
	buf := wire.AppendSignatureBuffer(room[:0], m, wire.SignatureAuth{Protocol: scheme, Rand: f[1], Num: f[2], Realm: f[3], TargetName: f[4]})
	return a.keys.VerifySIP(buf, f[0])
}

// request sends m and waits for its final answer.
func (c *Client) request(ctx context.Context, m *wire.Message) (*wire.Message, error) {
	k, ch := c.await(m)
	if err := c.send(m); err != nil {
		c.forgetAnswer(k, ch)
		return nil, err
	}
	return c.answer(ctx, k, ch)
}

// answerChans are the channels requests wait on for their answers. The
// reader takes a channel out of waiters as it sends the answer on it,
// and sends on none it did not take: a channel its waiter received on,
// or took out of waiters itself, is sent on no more, and is the next
// request's. One the reader took and its waiter gave up on is left to
// the collector. A channel for each request was two allocations.
var answerChans = sync.Pool{New: func() any { return make(chan *wire.Message, 1) }}

// await readies the wait for the final answer to m, before m is sent.
func (c *Client) await(m *wire.Message) (wire.Transaction, chan *wire.Message) {
	k := m.Transaction()
	ch := answerChans.Get().(chan *wire.Message)
	c.mu.Lock()
	c.waiters[k] = ch
	c.mu.Unlock()
	return k, ch
}

// forgetAnswer stops waiting on ch for the answer to k; ch is reused
// unless the reader took it to send on.
func (c *Client) forgetAnswer(k wire.Transaction, ch chan *wire.Message) {
	c.mu.Lock()
	mine := c.waiters[k] == ch
	if mine {
		delete(c.waiters, k)
	}
	c.mu.Unlock()
	if mine {
		answerChans.Put(ch)
	}
}

// answer waits on ch for the final answer to the request k names, for
// RequestTimeout when ctx has no deadline.
func (c *Client) answer(ctx context.Context, k wire.Transaction, ch chan *wire.Message) (*wire.Message, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.RequestTimeout)
		defer cancel()
	}
	select {
	case res := <-ch:
		answerChans.Put(ch)
		return res, nil
	case <-ctx.Done():
		c.forgetAnswer(k, ch)
		return nil, ctx.Err()
	case <-c.conn.Done():
		c.forgetAnswer(k, ch)
		return nil, c.closedErr()
	}
}

// requestOK is request where only 2xx is success.
func (c *Client) requestOK(ctx context.Context, m *wire.Message) (*wire.Message, error) {
	res, err := c.request(ctx, m)
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 300 {
		return res, statusError(m.Method, res)
	}
	return res, nil
}

func statusError(method string, res *wire.Message) *StatusError {
	return &StatusError{Method: method, Code: res.StatusCode, Reason: res.Reason, Diagnostics: res.Get(wire.HeaderDiagnostics)}
}

// newRequest starts a request outside dialogs, from and to our address
// unless to is given.
func (c *Client) newRequest(method, uri, to string) *wire.Message {
	c.mu.Lock()
	c.seq++
	seq, self := c.seq, c.self
	c.mu.Unlock()
	if to == "" {
		to = "<" + self + ">"
	}
	return c.base(method, uri, "<"+self+">;tag="+c.tag+";epid="+c.epid, to, wire.RandomHex(10), seq)
}

func (c *Client) base(method, uri, from, to, callID string, seq uint32) *wire.Message {
	// Via and CSeq in one string: every request has both.
	var b [128]byte
	viaAndCSeq := wire.AppendRandomHex(append(append(append(b[:0], "SIP/2.0/tcp "...), c.local...), ";branch=z9hG4bK"...), 8)
	viaEnd := len(viaAndCSeq)
	both := string(append(append(strconv.AppendUint(viaAndCSeq, uint64(seq), 10), ' '), method...))
	return wire.NewRequest(method, uri).
		Add(wire.HeaderVia, both[:viaEnd]).
		Add(wire.HeaderFrom, from).
		Add(wire.HeaderTo, to).
		Add(wire.HeaderMaxForwards, "70").
		Add(wire.HeaderCSeq, both[viaEnd:]).
		Add(wire.HeaderUserAgent, c.opts.UserAgent).
		Add(wire.HeaderCallID, callID)
}

// respond answers a server request.
func (c *Client) respond(req *wire.Message, code int, tag string, body []byte, contentType string) error {
	res := wire.Response(req, code, tag)
	if contentType != "" {
		res.Add(wire.HeaderContact, c.contact).Add(wire.HeaderContentType, contentType)
		res.Body = body
	}
	err := c.send(res)
	res.Recycle() // encoded: nothing refers to it
	return err
}

// after runs f after d in timer slot t (replacing what it held) unless
// the connection ends first.
func (c *Client) after(t **time.Timer, d time.Duration, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn.Err() != nil {
		return
	}
	if *t != nil {
		(*t).Stop()
	}
	*t = time.AfterFunc(d, f)
}
