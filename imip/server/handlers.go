package server

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/imip/wire"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/internal/mailbox"
	"github.com/crosstalk-im/crosstalk/internal/outbox"
)

// dispatch runs one client block: one handler per block type.
func (c *conn) dispatch(ctx context.Context, b *wire.Block) error {
	typ := strings.ToUpper(b.Type)
	switch typ {
	case wire.TypeACK:
		return nil // answers are not answered
	case wire.TypeHELO:
		return c.handleHello(b)
	case wire.TypeLOGN:
		return c.handleLogin(ctx, b)
	case wire.TypeDISC:
		c.closeWith(ackBlock(b, wire.CodeOK))
		return errClose
	}
	if c.sess() == nil {
		c.ack(b, wire.CodeNotLoggedIn)
		return nil
	}
	switch typ {
	case wire.TypePING:
		c.ack(b, wire.CodeOK)
	case wire.TypeSTAT:
		return c.handleStat(ctx, b)
	case wire.TypeMESG:
		return c.handleMessage(ctx, b)
	case wire.TypeLIST:
		return c.handleList(ctx, b)
	default:
		c.log().Debug("unknown block", "block", b.String())
		c.ack(b, wire.CodeNoStatus)
	}
	return nil
}

// handleHello answers the client's HELO with the service's settings and
// the salt. A repeated one gets the same answer.
func (c *conn) handleHello(b *wire.Block) error {
	if c.sess() != nil {
		c.ack(b, wire.CodeBadStatus)
		return nil
	}
	cfg := &c.srv.cfg
	h := wire.NewBlock(wire.TypeHELO).
		Add(wire.HeaderAuthType, wire.AuthIMIPMD5).
		Add(wire.HeaderCapabilities, wire.CapServerLists).
		Add(wire.HeaderKeepAlive, strconv.Itoa(int(cfg.KeepAlive/time.Second))).
		Add(wire.HeaderProtocol, wire.Protocol10).
		Add(wire.HeaderRegistration, oneLine(cfg.RegistrationURL)).
		Add(wire.HeaderService, oneLine(cfg.Service)).
		Add(wire.HeaderServiceDisplayName, oneLine(cfg.ServiceDisplayName))
	h.Body = strconv.AppendUint(nil, uint64(c.salt), 10)
	c.helloSent = true
	return c.send(h)
}

// oneLine keeps a configured header value from breaking the framing.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// parseUser reads a user id: an account number in canonical decimal.
func parseUser(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	// Base 10 reads digits alone: a number written otherwise has a
	// leading zero (a string made to compare with was an allocation per
	// message).
	if err != nil || n == 0 || s[0] == '0' {
		return 0, false
	}
	return uint32(n), true
}

func (c *conn) handleLogin(ctx context.Context, b *wire.Block) error {
	if c.sess() != nil {
		c.ack(b, wire.CodeBadStatus)
		return nil
	}
	user := b.Arg(0)
	switch {
	case !c.helloSent:
		return c.badLogin(ctx, b, wire.CodeNoStatus, "LOGN before HELO", user)
	case user == "":
		return c.badLogin(ctx, b, wire.CodeNoStatus, "no user", user)
	}
	if at, ok := b.Lookup(wire.HeaderAuthType); ok && !strings.EqualFold(strings.TrimSpace(at), wire.AuthIMIPMD5) {
		return c.badLogin(ctx, b, wire.CodeBadStatus, "Auth-Type "+at, user)
	}
	h := c.srv.cfg.Hub
	number, ok := parseUser(user)
	guardKey := loginguard.Name(user)
	var acct hub.Account
	err := hub.ErrNotFound
	if ok {
		guardKey = loginguard.Account(number)
		acct, err = h.Store().Account(ctx, number)
		if err != nil && !errors.Is(err, hub.ErrNotFound) {
			return err
		}
	}
	attempt := c.srv.cfg.Guard.Begin(protocolName, c.nc.RemoteAddr(), guardKey)
	switch {
	case err != nil && !attempt.Allowed():
		return c.refuse(ctx, b, attempt, wire.CodeUnknownUser, loginguard.Locked, user)
	case err != nil:
		return c.refuse(ctx, b, attempt, wire.CodeUnknownUser, loginguard.UnknownAccount, user)
	case !attempt.Allowed():
		return c.refuse(ctx, b, attempt, wire.CodeBadPassword, loginguard.Locked, user)
	}
	password, err := h.Store().Password(ctx, number)
	if err != nil {
		return err
	}
	if !wire.CheckLoginHash(strconv.FormatUint(uint64(c.salt), 10), password, strings.TrimSpace(string(b.Body))) {
		return c.refuse(ctx, b, attempt, wire.CodeBadPassword, loginguard.BadPassword, user)
	}
	if acct.Disabled {
		return c.refuse(ctx, b, attempt, wire.CodeBadPassword, loginguard.Disabled, user)
	}
	attempt.Succeed()
	// The echo is queued before the session is attached, so that nothing
	// the hub delivers can come before it.
	roster, err := h.Store().Roster(ctx, number)
	if err != nil {
		return err
	}
	echo := reply(b, wire.TypeLOGN, user)
	if fl := roster.Of(hub.Forward); len(fl) > 0 {
		var sb strings.Builder
		for i, e := range fl {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(address(e.Contact))
		}
		echo.Add(wire.HeaderBuddy, sb.String())
	}
	if err := c.send(echo); err != nil {
		return err
	}
	c.mu.Lock()
	c.number = number
	c.mu.Unlock()
	session, err := h.Attach(ctx, acct, protocolName, c)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.session = session
	c.mu.Unlock()
	c.logAs.Account.Store(number)
	c.log().Info("logged in", "client", b.Get(wire.HeaderClient))

	// There for messages, hidden from contacts until the first STAT.
	if err := session.SetPresence(ctx, hub.StatusInvisible, ""); err != nil {
		return err
	}
	return c.deliverOffline(ctx)
}

// refuse answers a failed login and hangs up. A login held back after
// many failures gets the code a wrong password (or an unknown user) would,
// with a text saying why.
func (c *conn) refuse(ctx context.Context, b *wire.Block, attempt loginguard.Attempt, code wire.Code, reason loginguard.Reason, user string) error {
	attempt.Fail(ctx, c.log(), reason, "user", user)
	ack := ackBlock(b, code)
	if reason == loginguard.Locked {
		ack.Body = []byte("too many failed logins, try again later")
	}
	c.closeWith(ack)
	return errClose
}

// badLogin answers a LOGN that is malformed or out of order and hangs up.
func (c *conn) badLogin(ctx context.Context, b *wire.Block, code wire.Code, problem, user string) error {
	c.srv.cfg.Guard.Report(ctx, c.log(), protocolName, loginguard.BadRequest, "user", user, "problem", problem)
	return c.fail(b, code)
}

// deliverOffline claims what was kept while the account was away and
// sends it; each message leaves the mailbox once written to the socket
// (IMIP clients do not acknowledge messages).
func (c *conn) deliverOffline(ctx context.Context) error {
	s := c.sess()
	waiting, err := s.OfflineMessages(ctx)
	if err != nil {
		return err
	}
	me := s.Account().Number
	return mailbox.WriteUnacknowledged(ctx, s, c.out, waiting, func(m hub.OfflineMessage, receipt outbox.Receipt) bool {
		return c.sendMessage(m.From, me, &m.Message, receipt) == nil
	})
}

func (c *conn) handleStat(ctx context.Context, b *wire.Block) error {
	if b.Arg(0) == "" {
		c.ack(b, wire.CodeNoStatus)
		return nil
	}
	code, ok := wire.ParseStatus(b.Arg(0))
	if !ok {
		c.ack(b, wire.CodeBadStatus)
		return nil
	}
	st := StatusFromIMIP(code)
	text := clientText(b.Body, MaxTextBytes)
	if st == hub.StatusInvisible {
		text = ""
	}
	s := c.sess()
	if c.statSeen {
		if err := s.SetPresence(ctx, st, text); err != nil {
			return err
		}
		c.ack(b, wire.CodeOK)
		return nil
	}
	// The first STAT brings the snapshot: the presence of every contact
	// the account may see online, then the list requests still
	// unanswered. Presence changes that come meanwhile are held and sent
	// after it, so the last word on each contact is the newest.
	c.mu.Lock()
	c.presence = presenceHold
	c.mu.Unlock()
	roster, online, err := s.SignIn(ctx, st, text, nil)
	if err != nil {
		c.mu.Lock()
		c.presence, c.held = presenceDrop, nil // the next first STAT's snapshot covers them
		c.mu.Unlock()
		return err
	}
	c.ack(b, wire.CodeOK)
	c.statSeen = true
	c.snapshot(roster, online)
	return nil
}

// snapshot sends the presence of the contacts online, then what was held
// meanwhile, and the requests of those who added the account and whom it
// neither allowed nor blocked.
func (c *conn) snapshot(roster *hub.Roster, online []hub.Presence) {
	c.mu.Lock()
	for _, p := range online {
		_ = c.send(statBlock(p.Contact, p.Status, p.Text))
	}
	for _, ev := range c.held {
		_ = c.send(statBlock(ev.From, ev.Status, ev.Text))
	}
	c.held = nil
	c.presence = presenceLive
	c.mu.Unlock()
	for _, e := range roster.Of(hub.Reverse) {
		n := e.Contact.Number
		if !roster.On(hub.Allow, n) && !roster.On(hub.Block, n) {
			_ = c.send(requestBlock(e.Contact, DefaultRequestText))
		}
	}
}

func (c *conn) handleMessage(ctx context.Context, b *wire.Block) error {
	to, ok := b.Lookup(wire.HeaderTo)
	if !ok || strings.TrimSpace(to) == "" {
		c.ack(b, wire.CodeNoStatus)
		return nil
	}
	number, ok := parseUser(strings.TrimSpace(to))
	if !ok {
		c.ack(b, wire.CodeUnknownUser)
		return nil
	}
	if len(b.Body) == 0 {
		c.ack(b, wire.CodeNoStatus)
		return nil
	}
	text := clientText(b.Body, -1)
	if len(text) > hub.MaxMessageBytes {
		c.ack(b, wire.CodeBadStatus)
		return nil
	}
	// The hub stamps Sent with the clock reading it takes anyway.
	d, err := c.srv.cfg.Hub.SendMessage(ctx, c.sess().Account(), number, hub.Message{Text: text}, "")
	if errors.Is(err, hub.ErrNotFound) {
		c.ack(b, wire.CodeUnknownUser)
		return nil
	}
	if err != nil {
		return err
	}
	// A message held in the batch's connections is answered once they
	// wrote or dropped it.
	c.srv.cfg.Hub.Answer(ctx, d, func(d hub.Delivery) { c.answerMessage(b, d) })
	return nil
}

// answerMessage tells the client what became of its MESG b.
func (c *conn) answerMessage(b *wire.Block, d hub.Delivery) {
	code := wire.CodeOK
	switch d {
	case hub.Blocked:
		code = CodeRefused
	case hub.MailboxFull:
		code = CodeMailboxFull
	default:
		messagesCounted.Inc()
	}
	errorsOnly := strings.EqualFold(strings.TrimSpace(b.Get(wire.HeaderACKType)), wire.AckTypeErrorsOnly)
	if code != wire.CodeOK || !errorsOnly {
		c.ack(b, code)
	}
}

func (c *conn) handleList(ctx context.Context, b *wire.Block) error {
	op, user := strings.ToUpper(b.Arg(0)), b.Arg(1)
	if op == "" || user == "" {
		c.ack(b, wire.CodeNoStatus)
		return nil
	}
	if l, ok := b.Lookup(wire.HeaderList); ok && !strings.EqualFold(strings.TrimSpace(l), wire.ListBuddy) {
		c.ack(b, wire.CodeBadStatus)
		return nil
	}
	switch op {
	case wire.ListAdd, wire.ListAccept, wire.ListReject, wire.ListRemove:
	default:
		c.ack(b, wire.CodeBadStatus)
		return nil
	}
	s := c.sess()
	me := s.Account()
	number, ok := parseUser(user)
	if !ok {
		c.ack(b, wire.CodeUnknownUser)
		return nil
	}
	if number == me.Number {
		c.ack(b, wire.CodeBadStatus)
		return nil
	}
	store := c.srv.cfg.Hub.Store()
	contact, err := store.Account(ctx, number)
	if errors.Is(err, hub.ErrNotFound) {
		c.ack(b, wire.CodeUnknownUser)
		return nil
	}
	if err != nil {
		return err
	}
	rel, err := store.Relation(ctx, me.Number, number)
	if err != nil {
		return err
	}
	var code wire.Code
	var after func()
	switch op {
	case wire.ListAdd:
		code, after, err = c.listAdd(ctx, s, contact, rel, clientText(b.Body, MaxTextBytes))
	case wire.ListAccept:
		code, err = c.listPermit(ctx, s, number, rel.OnBlock, rel.OnAllow, hub.Block, hub.Allow)
	case wire.ListReject:
		code, err = c.listPermit(ctx, s, number, rel.OnAllow, rel.OnBlock, hub.Allow, hub.Block)
	case wire.ListRemove:
		code, err = c.listRemove(ctx, s, number)
		after = func() { _ = c.send(statBlock(contact, hub.StatusOffline, "")) }
	}
	if err != nil {
		return err
	}
	c.ack(b, code)
	if code == wire.CodeOK && after != nil {
		after()
	}
	return nil
}

// listCode maps the hub's list errors to ACK codes; other errors end the
// connection.
func listCode(err error) (wire.Code, error) {
	switch {
	case err == nil, errors.Is(err, hub.ErrAlreadyOnList), errors.Is(err, hub.ErrNotOnList):
		return wire.CodeOK, nil
	case errors.Is(err, hub.ErrNotFound):
		return wire.CodeUnknownUser, nil
	case errors.Is(err, hub.ErrListFull):
		return CodeListFull, nil
	case errors.Is(err, hub.ErrInOppositeList):
		return wire.CodeBadStatus, nil // a concurrent change elsewhere
	}
	return 0, err
}

// listAdd puts number on the forward list; after the ACK the client gets
// the contact's presence when it may see it.
func (c *conn) listAdd(ctx context.Context, s *hub.Session, contact hub.Account, rel hub.Relation, text string) (wire.Code, func(), error) {
	me, number := s.Account().Number, contact.Number
	seen := hub.Presence{Contact: contact}
	if rel.OnForward {
		var err error
		seen.Status, seen.Text, err = c.srv.cfg.Hub.VisiblePresence(ctx, me, number)
		if err != nil {
			return 0, nil, err
		}
	} else {
		c.srv.rememberRequest(me, number, text)
		var err error
		_, seen, err = s.AddContact(ctx, hub.Forward, number, 0)
		if err != nil {
			c.srv.forgetRequest(me, number)
			code, err := listCode(err)
			return code, nil, err
		}
	}
	if seen.Status.Visible() == hub.StatusOffline {
		return wire.CodeOK, nil, nil
	}
	return wire.CodeOK, func() { _ = c.send(statBlock(seen.Contact, seen.Status, seen.Text)) }, nil
}

// listPermit moves number from one privacy list to the other: off from
// (when on it), onto to (unless already there). ACCEPT goes to the allow
// list, REJECT to the block list.
func (c *conn) listPermit(ctx context.Context, s *hub.Session, number uint32, onFrom, onTo bool, from, to hub.List) (wire.Code, error) {
	if onTo {
		return wire.CodeOK, nil
	}
	if onFrom {
		if _, err := s.RemoveContact(ctx, from, number, -1); err != nil {
			if code, err := listCode(err); code != wire.CodeOK || err != nil {
				return code, err
			}
		}
	}
	_, _, err := s.AddContact(ctx, to, number, -1)
	return listCode(err)
}

func (c *conn) listRemove(ctx context.Context, s *hub.Session, number uint32) (wire.Code, error) {
	_, err := s.RemoveContact(ctx, hub.Forward, number, -1)
	return listCode(err)
}

// StatusFromIMIP maps a client's STAT; OFFLINE from a client is
// invisible.
func StatusFromIMIP(s wire.Status) hub.Status {
	switch s {
	case wire.StatusAway:
		return hub.StatusAway
	case wire.StatusBusy:
		return hub.StatusBusy
	case wire.StatusOffline:
		return hub.StatusInvisible
	}
	return hub.StatusOnline
}

// statusToIMIP maps a status as a contact may see it.
func statusToIMIP(s hub.Status) wire.Status {
	switch s {
	case hub.StatusOnline:
		return wire.StatusOnline
	case hub.StatusAway, hub.StatusIdle, hub.StatusBeRightBack, hub.StatusOutToLunch:
		return wire.StatusAway
	case hub.StatusBusy, hub.StatusOnThePhone:
		return wire.StatusBusy
	}
	return wire.StatusOffline
}

// clientText decodes text from a client: UTF-8 when it is valid,
// Windows-1252 otherwise. max > 0 cuts it to that many bytes without
// splitting a character.
func clientText(b []byte, max int) string {
	var s string
	if utf8.Valid(b) {
		s = string(b)
	} else {
		s = decode1252(b)
	}
	if max > 0 {
		s = truncate(s, max)
	}
	return s
}

// cp1252 holds the characters of Windows-1252 at 0x80–0x9F; the rest of
// the code page is Latin-1. Unassigned bytes keep their C1 value.
var cp1252 = [32]rune{
	'€', 0x81, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0x8D, 'Ž', 0x8F,
	0x90, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0x9D, 'ž', 'Ÿ',
}

func decode1252(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/2)
	for _, c := range b {
		switch {
		case c < 0x80:
			sb.WriteByte(c)
		case c < 0xA0:
			sb.WriteRune(cp1252[c-0x80])
		default:
			sb.WriteRune(rune(c))
		}
	}
	return sb.String()
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
	return s
}
