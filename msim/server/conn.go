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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// conn is one MySpaceIM client connection.
type conn struct {
	srv *Server
	nc  net.Conn
	// logAs is what log says about the connection.
	logAs connlog.Conn
	rd    *wire.Reader
	out   *outbox.Outbox
	rate  ratelimit.Bucket
	nonce *[wire.NonceSize]byte // until the login ends
	// loginBy is when a client that has not logged in is dropped.
	loginBy time.Time

	// Owned by the reader (see Next).
	batch   readbatch.Batch // the messages the client sent at once
	sesskey uint32

	// ending is set once the connection's last words are queued: the
	// reader handles no more requests.
	ending atomic.Bool

	gate    eventgate.Gate
	mu      sync.Mutex
	session *hub.Session
	// mailboxOpen: the client has its contact list and offline messages,
	// so later mailbox reads may write to it; mailboxAsked: the hub asked
	// for one before.
	mailboxOpen, mailboxAsked bool
	// listSent is the reader's own, beside the flags above to keep the
	// connection small.
	listSent bool
	rereader mailbox.Rereader
}

// log is the connection's logger. It is made for each use, not kept: an
// idle connection keeps only what its lines say about it (logAs).
func (c *conn) log() *slog.Logger { return c.logAs.Logger(c.srv.log) }

// RemoteAddr is the client's address, shown with its hub session.
func (c *conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// errClose ends the read loop after the handler queued its last message.
var errClose = errors.New("close connection")

// handle runs a connection. Its goroutine waits for the client for as long
// as the connection lasts, and does nothing else: setting up, reading and
// handling each message run off its stack (see offstack), so that an idle
// connection keeps the small stack its goroutine started with.
func (s *Server) handle(nc net.Conn) {
	var c *conn
	offstack.Setup(nc, func() { c = s.open(nc) })
	if c != nil {
		offstack.Serve(c.rd, c.nc, c.out, c)
	}
}

// open sets a connection up and sends the login challenge, or closes it
// and returns nil when the server is shutting down.
func (s *Server) open(nc net.Conn) *conn {
	c := &conn{
		srv:     s,
		nc:      nc,
		logAs:   connlog.Conn{ID: connlog.NewID(), Remote: nc.RemoteAddr()},
		rd:      wire.NewReader(nc),
		rate:    ratelimit.New(s.cfg.MessagesPerSecond, s.cfg.MessageBurst),
		nonce:   (*[wire.NonceSize]byte)(wire.NewNonce()),
		loginBy: time.Now().Add(s.cfg.LoginTimeout),
	}
	c.out = outbox.New(nc, s.cfg.MaxPendingBytes, s.cfg.WriteTimeout)
	c.rd.MaxMessage = s.cfg.MaxMessageBytes
	if !s.tracker.Track(c) {
		_ = nc.Close()
		return nil
	}
	metrics.Connections.WithLabelValues(protocolName, "client").Inc()
	c.send(wire.Message{wire.Int(wire.TypeLoginChallenge, wire.LCChallenge), wire.Base64("nc", c.nonce[:]), wire.Int("id", 1)})
	return c
}

// End ends the session, then the connection; err is why the loop ended.
func (c *conn) End(err error) {
	c.batch.End(c.out) // a batch that a read error cut short
	if err != nil && !c.ending.Load() && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.log().Info("dropping connection", "err", err)
	}
	c.rereader.Stop()
	endCtx, endCancel := context.WithTimeout(context.Background(), c.srv.cfg.WriteTimeout)
	if sess := c.sess(); sess != nil {
		c.gate.Discard(c.undelivered)
		sess.Detach(endCtx)
	}
	endCancel()
	c.out.Finish(c.log(), protocolName)
	metrics.Connections.WithLabelValues(protocolName, "client").Dec()
	c.srv.tracker.Untrack(c)
}

// Goodbye tells the client the server is going down and closes.
func (c *conn) Goodbye() {
	c.fatal(wire.ErrCodeParse, "The server is shutting down.")
}

// Close drops the connection.
func (c *conn) Close() {
	c.ending.Store(true)
	c.out.Close()
}

// Arm gives the client until loginBy to log in, then the idle timeout for
// each message.
func (c *conn) Arm() time.Time {
	return service.ReadDeadline(c.nc, c.sess() != nil, c.loginBy, c.srv.cfg.IdleTimeout)
}

// FrameBuffered reports whether the next message waits whole in the read
// buffer (offstack.FrameBufferer): the messages of a batch then leave the
// read deadline where it is, two runtime timer changes fewer a wake-up.
func (c *conn) FrameBuffered() bool { return c.rd.MessageBuffered() }

var _ offstack.FrameBufferer = (*conn)(nil)

// Next reads and handles one message until the client leaves or breaks
// the protocol, or the session ends (a nil result); done says the loop is
// over, as it is once the session is ending.
func (c *conn) Next() (done bool, err error) {
	if c.ending.Load() {
		return true, nil
	}
	m, err := c.rd.ReadMessage()
	if c.ending.Load() {
		return true, nil
	}
	if err != nil {
		if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrInvalid) {
			c.fatal(wire.ErrCodeParse, "Unable to parse the request.")
		}
		return true, err
	}
	c.trace("<<", m)
	commandsCounted.Of(commandLabel(m.Type())).Inc()
	// MySpaceIM has no "slow down" reply: a fast client is slowed.
	if wait := c.rate.Reserve(time.Now()); wait > 0 {
		c.batch.End(c.out) // what the batch holds does not wait too
		time.Sleep(wait)
	}
	// The replies to one command, or to the messages the client sent at
	// once, leave in one write (see readbatch).
	c.out.Hold()
	more := c.rd.MessageBuffered()
	err = c.dispatch(c.batch.Context(service.CommandContext, more), m)
	if err != nil || !more {
		c.batch.End(c.out)
	}
	if err != nil {
		if errors.Is(err, errClose) {
			return true, nil
		}
		return true, fmt.Errorf("%s: %w", m.Type(), err)
	}
	return c.ending.Load(), nil
}

// knownTypes keeps the command metric's label set bounded.
var knownTypes = map[string]bool{
	wire.TypeLogin2: true, wire.TypePersist: true, wire.TypeBM: true, wire.TypeStatus: true,
	wire.TypeLogout: true, "addbuddy": true, "delbuddy": true, "blocklist": true, "setinfo": true, "ka": true,
}

func commandLabel(t string) string {
	if knownTypes[t] {
		return t
	}
	return "unknown"
}

func (c *conn) sess() *hub.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

func (c *conn) send(m wire.Message) bool { return c.sendTracked(m, nil) }

// sendTracked queues m and reports whether the outbox took it; receipt,
// if any, learns whether it was written (see outbox.WriteTracked).
func (c *conn) sendTracked(m wire.Message, receipt outbox.Receipt) bool {
	c.trace(">>", m)
	buf := encoded.Get()
	defer encoded.Put(buf)
	*buf = wire.Append(*buf, m)
	return c.out.WriteTracked(*buf, receipt) == nil
}

// encoded keeps the buffers that messages are encoded in for the outbox,
// which keeps no reference to what it is given: one grown from nothing
// for every message was several allocations.
var encoded = bufpool.Pool{Max: 4 << 10}

// trace logs a message in or out when tracing is on, with its secrets
// shown by size only (see wire.Message.LogValue).
func (c *conn) trace(direction string, m wire.Message) {
	if c.srv.cfg.Trace {
		c.log().Log(context.Background(), LevelTrace, direction, "message", m)
	}
}

// fatal sends an error that ends the session, then closes once it is
// written; only the first one counts. Pidgin dispatches on lc, bm and rid
// before error, so an error carries none.
func (c *conn) fatal(code int, text string) {
	if c.ending.Swap(true) {
		return
	}
	m := errorMessage(code, text, true)
	c.trace(">>", m)
	c.out.CloseAfter(wire.Append(nil, m))
}

func errorMessage(code int, text string, fatal bool) wire.Message {
	m := wire.Message{wire.Flag(wire.TypeError), wire.Int("err", int64(code)), wire.Str("errmsg", text)}
	if fatal {
		m = append(m, wire.Flag("fatal"))
	}
	return m
}

func (c *conn) dispatch(ctx context.Context, m wire.Message) error {
	if c.sess() == nil {
		if m.Type() != wire.TypeLogin2 {
			c.fatal(wire.ErrCodeNotLoggedIn, "Not logged in.")
			return errClose
		}
		return c.handleLogin(ctx, m)
	}
	if key, ok := m.Uint32("sesskey"); ok && key != c.sesskey {
		c.send(errorMessage(wire.ErrCodeBadSessionKey, "Invalid session key.", false))
		return nil
	}
	switch m.Type() {
	case wire.TypePersist:
		return c.handlePersist(ctx, m)
	case wire.TypeBM:
		return c.handleBM(ctx, m)
	case wire.TypeStatus:
		return c.handleStatus(ctx, m)
	case "addbuddy":
		return c.changeContact(ctx, m.Get("newprofileid"), hub.Forward, true)
	case "delbuddy":
		return c.changeContact(ctx, m.Get("delprofileid"), hub.Forward, false)
	case "blocklist":
		return c.handleBlockList(ctx, m.Get("idlist"))
	case wire.TypeLogout:
		return errClose
	default:
		c.log().Debug("ignoring message", "type", m.Type())
	}
	return nil
}

func (c *conn) handleLogin(ctx context.Context, m wire.Message) error {
	email := m.Get("username")
	store := c.srv.cfg.Hub.Store()
	acct, err := store.AccountByEmail(ctx, email)
	guardKey := loginguard.Account(acct.Number)
	switch {
	case errors.Is(err, hub.ErrNotFound):
		guardKey = loginguard.Name(email)
	case err != nil:
		return err
	}
	attempt := c.srv.cfg.Guard.Begin(protocolName, c.nc.RemoteAddr(), guardKey)
	switch {
	case !attempt.Allowed():
		return c.refuse(ctx, attempt, loginguard.Locked, email)
	case err != nil:
		return c.refuse(ctx, attempt, loginguard.UnknownAccount, email)
	}
	password, err := store.Password(ctx, acct.Number)
	if err != nil {
		return err
	}
	if !wire.VerifyLogin2(c.nonce[:], m.Raw("response"), acct.Email, password) {
		return c.refuse(ctx, attempt, loginguard.BadPassword, email)
	}
	if acct.Disabled {
		return c.refuse(ctx, attempt, loginguard.Disabled, email)
	}
	attempt.Succeed()
	session, err := c.srv.cfg.Hub.Attach(ctx, acct, protocolName, c)
	if err != nil {
		return err
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	c.sesskey = binary.LittleEndian.Uint32(key[:])>>1 | 1 // below 2³¹, as Pidgin parses it signed
	c.mu.Lock()
	c.session = session
	c.mu.Unlock()
	c.nonce = nil // its work is done; the session keeps no more than it needs
	c.logAs.Account.Store(acct.Number)
	c.log().Info("logged in", "client", m.Get("clientver"))
	// Online before the client hears it is in, so nothing sent to it from
	// then on is taken for an offline message.
	if err := session.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		return err
	}
	c.send(wire.Message{
		wire.Int(wire.TypeLoginChallenge, wire.LCSuccess),
		wire.Uint("sesskey", c.sesskey),
		wire.Uint("proof", acct.Number),
		wire.Uint("userid", acct.Number),
		wire.Uint("profileid", acct.Number),
		wire.Str("uniquenick", uniqueNick(acct)),
		wire.Int("id", 1),
	})
	c.gate.Open(c.deliver, c.undelivered)
	return nil
}

// undelivered puts a message event the connection could not take back in
// the mailbox.
func (c *conn) undelivered(ev hub.Event) {
	c.sess().Undelivered(ev.From, *ev.Message)
}

// refuse answers a failed login with error 260, also for unknown e-mail
// addresses, so that accounts cannot be found out by trying; a login held
// back after many failures is told to try later.
func (c *conn) refuse(ctx context.Context, attempt loginguard.Attempt, reason loginguard.Reason, email string) error {
	attempt.Fail(ctx, c.log(), reason, "email", email)
	text := "The password provided is incorrect."
	if reason == loginguard.Locked {
		text = "Too many failed logins. Try again later."
	}
	c.fatal(wire.ErrCodeBadPassword, text)
	return errClose
}

// uniqueNick is the account's MySpace screen name: its nick, or else the
// e-mail address's local part made safe, never all digits.
func uniqueNick(a hub.Account) string {
	if a.Nick != "" {
		return a.Nick
	}
	local, _, _ := strings.Cut(a.Email, "@")
	var b strings.Builder
	for _, r := range local {
		if r < 0x80 && (r == '.' || r == '_' || r == '-' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			b.WriteRune(r)
		}
	}
	name := b.String()
	if _, err := strconv.ParseUint(name, 10, 64); err == nil || name == "" {
		name = "user" + name
	}
	return name
}

func (c *conn) handleStatus(ctx context.Context, m wire.Message) error {
	code, _ := strconv.Atoi(m.Raw(wire.TypeStatus))
	st := hub.StatusOnline
	switch code {
	case wire.StatusOffline:
		st = hub.StatusInvisible
	case wire.StatusIdle:
		st = hub.StatusIdle
	case wire.StatusAway:
		st = hub.StatusAway
	}
	return c.sess().SetPresence(ctx, st, truncate(m.Get("statstring"), 255))
}

// lookupUID resolves a user id sent by the client.
func (c *conn) lookupUID(ctx context.Context, s string) (hub.Account, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil || n == 0 {
		return hub.Account{}, hub.ErrNotFound
	}
	return c.srv.cfg.Hub.Store().Account(ctx, uint32(n))
}

// changeContact adds (or removes) a contact on one of the account's lists;
// the things a user cannot mean (unknown ids, already there) are no errors.
func (c *conn) changeContact(ctx context.Context, uid string, l hub.List, add bool) error {
	acct, err := c.lookupUID(ctx, uid)
	if errors.Is(err, hub.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return c.applyContact(ctx, acct.Number, l, add, "")
}

func (c *conn) applyContact(ctx context.Context, contact uint32, l hub.List, add bool, group string) error {
	s := c.sess()
	gid := -1
	if l == hub.Forward {
		var err error
		if gid, err = c.groupID(ctx, group, add); err != nil {
			return err
		}
	}
	var err error
	if add {
		if l == hub.Block {
			_, _ = s.RemoveContact(ctx, hub.Allow, contact, -1)
		}
		var seen hub.Presence
		_, seen, err = s.AddContact(ctx, l, contact, gid)
		if l == hub.Forward && gid > 0 && (err == nil || errors.Is(err, hub.ErrAlreadyOnList)) {
			// A MySpace contact is in one group: naming one moves it there.
			_, _ = s.RemoveContact(ctx, hub.Forward, contact, 0)
		}
		if err == nil && seen.Status != hub.StatusOffline {
			// The new contact's presence, without waiting for its next change.
			c.gate.Deliver(hub.Event{Kind: hub.EventPresence, From: seen.Contact, Status: seen.Status, Text: seen.Text}, c.deliver)
		}
	} else {
		_, err = s.RemoveContact(ctx, l, contact, -1)
	}
	switch {
	case err == nil, errors.Is(err, hub.ErrAlreadyOnList), errors.Is(err, hub.ErrNotOnList),
		errors.Is(err, hub.ErrNotFound), errors.Is(err, hub.ErrInOppositeList), errors.Is(err, hub.ErrListFull):
		if err != nil {
			c.log().Debug("contact change not applied", "contact", contact, "list", l, "err", err)
		}
		return nil
	}
	return err
}

// groupID finds a forward-list group by name, creating it when asked; the
// empty name is the default group.
func (c *conn) groupID(ctx context.Context, name string, create bool) (int, error) {
	if name == "" {
		return 0, nil
	}
	r, err := c.sess().Roster(ctx)
	if err != nil {
		return 0, err
	}
	for _, g := range r.Groups {
		if g.Name == name {
			return g.ID, nil
		}
	}
	if !create {
		return 0, nil
	}
	g, _, err := c.sess().AddGroup(ctx, name)
	if err != nil {
		return 0, nil // too many groups or a bad name: the default group
	}
	return g.ID, nil
}

// handleBlockList applies an idlist: w0/w1 (everyone or only the list may
// see me), c0/c1, and a+ a- b+ b- followed by user ids.
func (c *conn) handleBlockList(ctx context.Context, idlist string) error {
	var list hub.List
	add := true
	for _, tok := range wire.SplitList(idlist) {
		switch tok {
		case "w0", "w1":
			p := hub.AllowUnlisted
			if tok == "w1" {
				p = hub.BlockUnlisted
			}
			if _, err := c.sess().SetPrivacy(ctx, p); err != nil && !errors.Is(err, hub.ErrUnchanged) {
				return err
			}
		case "c0", "c1":
		case "a+", "a-", "b+", "b-":
			list, add = hub.Allow, tok[1] == '+'
			if tok[0] == 'b' {
				list = hub.Block
			}
		default:
			if list == "" || tok == "*" {
				continue
			}
			if err := c.changeContact(ctx, tok, list, add); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *conn) handleBM(ctx context.Context, m wire.Message) error {
	err := c.sendBM(ctx, m)
	if errors.Is(err, hub.ErrNotFound) {
		return nil // to no one: MySpace said nothing either
	}
	return err
}

// sendBM hands a BM on to the hub, which finds out whether its recipient
// exists (hub.ErrNotFound) without a lookup per message here.
func (c *conn) sendBM(ctx context.Context, m wire.Message) error {
	kind, _ := strconv.Atoi(m.Raw(wire.TypeBM))
	uid, err := strconv.ParseUint(strings.TrimSpace(m.Get("t")), 10, 32)
	if err != nil || uid == 0 {
		return hub.ErrNotFound
	}
	to := uint32(uid)
	h, me := c.srv.cfg.Hub, c.sess().Account()
	msg := m.Get("msg")
	switch kind {
	case wire.BMIM:
		im := fromMarkup(msg)
		if len(im.Text) > hub.MaxMessageBytes {
			c.fatal(wire.ErrCodeParse, "Message too long.")
			return errClose
		}
		if _, err := h.SendMessage(ctx, me, to, im, ""); err != nil {
			return err
		}
		messagesCounted.Inc()
	case wire.BMAction:
		switch msg {
		case wire.ActionTyping:
			return h.SendTyping(ctx, me, to, 1, "")
		case wire.ActionStopTyping:
			return h.SendTyping(ctx, me, to, 0, "")
		}
		if n, ok := wire.ParseZap(msg); ok {
			_, err := h.SendMessage(ctx, me, to, hub.Message{Text: zapText(n)}, "")
			return err
		}
	}
	return nil
}

// zapPrefix marks a zap carried as text, so MySpace recipients get the zap
// back and everyone else a readable line.
const zapPrefix = "* zap: "

func zapText(n int) string { return zapPrefix + wire.ZapNames[n] + " *" }

func zapOf(text string) (int, bool) {
	name, ok := strings.CutPrefix(text, zapPrefix)
	if !ok {
		return 0, false
	}
	name = strings.TrimSuffix(name, " *")
	for i, z := range wire.ZapNames {
		if z == name {
			return i, true
		}
	}
	return 0, false
}

// Deliver turns hub events into messages, once the client has its login
// reply. It runs on the hub's dispatch goroutine and only queues output.
func (c *conn) Deliver(ev hub.Event) bool { return c.gate.Deliver(ev, c.deliver) }

func (c *conn) deliver(ev hub.Event) bool {
	switch ev.Kind {
	case hub.EventKick:
		// Error 6 for every kick: Pidgin does not sign in again after it.
		text := "You have been logged out because you logged in at another location."
		if ev.Reason != hub.KickNewerLogin {
			text = "You have been logged out: " + ev.Reason.String() + "."
		}
		c.fatal(wire.ErrCodeLoggedInElsewhere, text)
	case hub.EventPresence:
		return c.send(presenceMessage(ev.From.Number, ev.Status, ev.Text))
	case hub.EventMessage:
		if msg := ev.Message; msg != nil { // the hub's, shared and never changed
			s, from := c.sess(), ev.From
			return c.deliverMessage(from, *msg, ev.Batch.Track(c.out, func(written bool) {
				if !written {
					s.Undelivered(from, *msg)
				}
			}))
		}
	case hub.EventMailbox:
		c.rereadMailbox()
	case hub.EventTyping:
		action := wire.ActionStopTyping
		if ev.Typing > 0 {
			action = wire.ActionTyping
		}
		return c.send(wire.Message{wire.Int(wire.TypeBM, wire.BMAction), wire.Uint("f", ev.From.Number), wire.Str("msg", action)})
	}
	return true
}

func (c *conn) deliverMessage(from hub.Account, msg hub.Message, receipt outbox.Receipt) bool {
	m := append(make(wire.Message, 0, 4), wire.Int(wire.TypeBM, wire.BMIM), wire.Uint("f", from.Number)) // room for date and msg
	if n, ok := zapOf(msg.Text); ok {
		m[0] = wire.Int(wire.TypeBM, wire.BMAction)
		return c.sendTracked(append(m, wire.Str("msg", wire.ZapMsg(n))), receipt)
	}
	if msg.Offline != 0 || time.Since(msg.Sent) > 2*time.Second {
		m = append(m, wire.Int("date", msg.Sent.Unix()))
	}
	return c.sendTracked(append(m, wire.Str("msg", toMarkup(msg))), receipt)
}

// rereadMailbox reads the mailbox again when the hub says it holds
// messages no session has, once the client has had its first delivery.
func (c *conn) rereadMailbox() {
	c.mu.Lock()
	open := c.mailboxOpen
	c.mailboxAsked = !open
	c.mu.Unlock()
	if !open {
		return
	}
	c.rereader.Reread(c.srv.cfg.WriteTimeout, c.log(), c.deliverOffline)
}

// deliverOffline claims what waits in the mailbox and sends it; each
// message leaves the mailbox once written (MySpaceIM clients do not
// acknowledge messages).
func (c *conn) deliverOffline(ctx context.Context) error {
	s := c.sess()
	waiting, err := s.OfflineMessages(ctx)
	if err != nil {
		return err
	}
	return mailbox.WriteUnacknowledged(ctx, s, c.out, waiting, func(m hub.OfflineMessage, receipt outbox.Receipt) bool {
		return c.deliverMessage(m.From, m.Message, receipt)
	})
}

// presenceMessage is a bm 100 with the status code MySpace clients know:
// 0 offline (or hidden), 1 online, 2 idle, 5 away.
func presenceMessage(uid uint32, st hub.Status, text string) wire.Message {
	code := wire.StatusOnline
	switch st {
	case hub.StatusOffline, hub.StatusInvisible:
		code, text = wire.StatusOffline, ""
	case hub.StatusIdle:
		code = wire.StatusIdle
	case hub.StatusAway, hub.StatusBeRightBack, hub.StatusOutToLunch, hub.StatusBusy, hub.StatusOnThePhone:
		code = wire.StatusAway
	}
	p := wire.Presence{Status: code, Headline: text}
	return wire.Message{wire.Int(wire.TypeBM, wire.BMStatus), wire.Uint("f", uid), wire.Str("msg", p.Encode())}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
