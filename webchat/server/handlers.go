package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/webchat/wire"
)

// dispatch runs one client request: one handler per type.
func (c *conn) dispatch(ctx context.Context, msg wire.ClientMessage, id string) error {
	metrics.Commands.WithLabelValues(protocolName, msg.RequestType()).Inc()
	switch m := msg.(type) {
	case *wire.Login:
		return c.handleLogin(ctx, m, id)
	case *wire.Logout:
		c.bye("logged out")
		return errClose
	}
	if c.sess() == nil {
		c.fail(id, wire.CodeNotLoggedIn, "log in first")
		return nil
	}
	switch m := msg.(type) {
	case *wire.Ping:
		c.ack(id, "")
	case *wire.SetPresence:
		return c.handlePresence(ctx, m, id)
	case *wire.Send:
		return c.handleSend(ctx, m, id)
	case *wire.Typing:
		return c.handleTyping(ctx, m)
	case *wire.ListOp:
		return c.handleList(ctx, m, id)
	case *wire.FileOffer:
		return c.handleFileOffer(ctx, m, id)
	}
	return nil
}

// handleLogin checks e-mail and password, or a chat token, and
// starts the session: welcome, the contact list, then stored messages.
func (c *conn) handleLogin(ctx context.Context, m *wire.Login, id string) error {
	if c.sess() != nil {
		c.fail(id, wire.CodeAlreadyIn, "already logged in")
		return nil
	}
	acct, err := c.authenticate(ctx, m)
	if err != nil {
		return err
	}
	if acct.Number == 0 { // refused; the error is queued
		return errClose
	}
	h := c.srv.cfg.Hub
	welcome := wire.Welcome{Type: wire.TypeWelcome, ID: id, Account: accountOf(acct), MaxFrame: c.srv.cfg.MaxFrameBytes}
	if c.srv.cfg.Files != nil {
		welcome.MaxFileBytes = c.srv.cfg.Files.MaxFileBytes()
	}
	// Queued before the session is attached: nothing the hub delivers can
	// come before it.
	if err := c.send(welcome); err != nil {
		return err
	}
	c.mu.Lock()
	c.number = acct.Number
	c.mu.Unlock()
	session, err := h.Attach(ctx, acct, protocolName, c)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.session = session
	c.mu.Unlock()
	c.account.Store(acct.Number)
	c.log().Info("logged in")
	status := hub.Status(m.Status)
	if status == "" {
		status = hub.StatusOnline
	}
	if err := session.SetPresence(ctx, status, ""); err != nil {
		return err
	}
	if err := c.snapshot(ctx, session); err != nil {
		return err
	}
	return c.deliverOffline(ctx)
}

// authenticate returns the account a login names, or the zero account
// after queueing its refusal. Password logins go through the login guard
// as every protocol's do; token logins too, counted by address. A
// disabled account is refused either way, after the credentials.
func (c *conn) authenticate(ctx context.Context, m *wire.Login) (hub.Account, error) {
	store := c.srv.cfg.Hub.Store()
	guard := c.srv.cfg.Guard
	if m.Token != "" {
		var number uint32
		ok := false
		if c.srv.cfg.Tokens != nil {
			number, ok = c.srv.cfg.Tokens.TokenOwner(ctx, m.Token)
		}
		// An unknown token names no account: its guesses count against
		// the address alone (each token is an "account" of its own).
		key := loginguard.Name("web token " + randomID(8))
		if ok {
			key = loginguard.Account(number)
		}
		attempt := guard.Begin(protocolName, c.remote, key)
		switch {
		case !attempt.Allowed():
			return c.refuse(ctx, m.ID, attempt, loginguard.Locked, "token")
		case !ok:
			return c.refuse(ctx, m.ID, attempt, loginguard.UnknownAccount, "token")
		}
		acct, err := store.Account(ctx, number)
		if errors.Is(err, hub.ErrNotFound) { // deleted since
			return c.refuse(ctx, m.ID, attempt, loginguard.UnknownAccount, "token")
		}
		if err != nil {
			return hub.Account{}, err
		}
		if acct.Disabled { // disabled since the token was handed out
			return c.refuse(ctx, m.ID, attempt, loginguard.Disabled, "token")
		}
		attempt.Succeed()
		return acct, nil
	}
	acct, err := store.AccountByEmail(ctx, m.Email)
	if err != nil && !errors.Is(err, hub.ErrNotFound) {
		return hub.Account{}, err
	}
	key := loginguard.Name(m.Email)
	if err == nil {
		key = loginguard.Account(acct.Number)
	}
	attempt := guard.Begin(protocolName, c.remote, key)
	switch {
	case !attempt.Allowed():
		return c.refuse(ctx, m.ID, attempt, loginguard.Locked, m.Email)
	case err != nil:
		return c.refuse(ctx, m.ID, attempt, loginguard.UnknownAccount, m.Email)
	}
	password, err := store.Password(ctx, acct.Number)
	if err != nil {
		return hub.Account{}, err
	}
	if subtle.ConstantTimeCompare([]byte(password), []byte(m.Password)) != 1 {
		return c.refuse(ctx, m.ID, attempt, loginguard.BadPassword, m.Email)
	}
	if acct.Disabled {
		return c.refuse(ctx, m.ID, attempt, loginguard.Disabled, m.Email)
	}
	attempt.Succeed()
	return acct, nil
}

// refuse answers a failed login; the connection closes after it. A login
// held back after many failures says so (login_locked): the web has no
// old client to mislead.
func (c *conn) refuse(ctx context.Context, id string, attempt loginguard.Attempt, reason loginguard.Reason, user string) (hub.Account, error) {
	attempt.Fail(ctx, c.log(), reason, "user", user)
	code, text := wire.CodeLoginFailed, "wrong e-mail address, password or token"
	if reason == loginguard.Locked {
		code, text = wire.CodeLoginLocked, "too many failed logins, try again later"
	}
	c.fail(id, code, text)
	c.out.CloseAfter(nil)
	return hub.Account{}, nil
}

// snapshot sends the contact list with what the account may see of each
// contact, then the presence changes that came meanwhile, then the
// requests still unanswered.
func (c *conn) snapshot(ctx context.Context, s *hub.Session) error {
	entries, roster, err := c.contacts(ctx, s)
	c.mu.Lock()
	if err == nil {
		_ = c.send(wire.Contacts{Type: wire.TypeContacts, Contacts: entries})
	}
	for _, ev := range c.held {
		_ = c.send(presenceMessage(ev.From, ev.Status, ev.Text))
	}
	c.held = nil
	c.presence = presenceLive
	c.mu.Unlock()
	if err != nil {
		return err
	}
	for _, e := range roster.Of(hub.Reverse) {
		n := e.Contact.Number
		if !roster.On(hub.Allow, n) && !roster.On(hub.Block, n) {
			_ = c.send(wire.Request{Type: wire.TypeRequest, From: accountOf(e.Contact)})
		}
	}
	return nil
}

// contacts lists everyone on any of the account's lists, forward-list
// contacts with their presence.
func (c *conn) contacts(ctx context.Context, s *hub.Session) ([]wire.ContactEntry, *hub.Roster, error) {
	roster, err := s.Roster(ctx)
	if err != nil {
		return nil, nil, err
	}
	me := s.Account().Number
	index := make(map[uint32]int)
	entries := []wire.ContactEntry{}
	for _, e := range roster.Entries {
		i, ok := index[e.Contact.Number]
		if !ok {
			i = len(entries)
			index[e.Contact.Number] = i
			entries = append(entries, wire.ContactEntry{Account: accountOf(e.Contact), Status: wire.StatusOffline, Lists: []string{}})
		}
		entries[i].Lists = append(entries[i].Lists, string(e.List))
		if e.List == hub.Forward {
			st, text, err := c.srv.cfg.Hub.VisiblePresence(ctx, me, e.Contact.Number)
			if err != nil {
				return nil, nil, err
			}
			p := presenceMessage(e.Contact, st, text)
			entries[i].Status, entries[i].Text = p.Status, p.Text
		}
	}
	return entries, roster, nil
}

func (c *conn) handlePresence(ctx context.Context, m *wire.SetPresence, id string) error {
	text := m.Text
	if m.Status == wire.StatusInvisible {
		text = ""
	}
	if err := c.sess().SetPresence(ctx, hub.Status(m.Status), text); err != nil {
		return err
	}
	c.ack(id, "")
	return nil
}

// lookup finds the account a request names; the zero account when there
// is none (the error is then answered).
func (c *conn) lookup(ctx context.Context, id string, who wire.Contact) (hub.Account, error) {
	store := c.srv.cfg.Hub.Store()
	var (
		acct hub.Account
		err  error
	)
	switch {
	case who.Number != 0:
		acct, err = store.Account(ctx, who.Number)
	case who.Email != "":
		acct, err = store.AccountByEmail(ctx, who.Email)
	default:
		acct, err = store.AccountByNick(ctx, who.Nick)
	}
	if errors.Is(err, hub.ErrNotFound) || err == nil && acct.Number == c.sess().Account().Number {
		c.fail(id, wire.CodeUnknownContact, "no such contact")
		return hub.Account{}, nil
	}
	return acct, err
}

func (c *conn) handleSend(ctx context.Context, m *wire.Send, id string) error {
	to, err := c.lookup(ctx, id, m.To)
	if err != nil || to.Number == 0 {
		return err
	}
	d, err := c.srv.cfg.Hub.SendMessage(ctx, c.sess().Account(), to.Number, hub.Message{Text: m.Text, Sent: time.Now().UTC()}, "")
	switch {
	case err != nil:
		return err
	case d == hub.Blocked:
		c.fail(id, wire.CodeRefused, "the recipient does not accept your messages")
	case d == hub.MailboxFull:
		c.fail(id, wire.CodeMailboxFull, "the recipient's mailbox is full")
	case d == hub.Queued:
		metrics.Messages.WithLabelValues(protocolName).Inc()
		c.ack(id, wire.ResultStored)
	default:
		metrics.Messages.WithLabelValues(protocolName).Inc()
		c.ack(id, wire.ResultDelivered)
	}
	return nil
}

func (c *conn) handleTyping(ctx context.Context, m *wire.Typing) error {
	to, err := c.lookup(ctx, "", m.To)
	if err != nil || to.Number == 0 {
		return err
	}
	length := 0
	if m.Typing {
		length = 1
	}
	return c.srv.cfg.Hub.SendTyping(ctx, c.sess().Account(), to.Number, length, "")
}

// handleList runs add (follow and ask), accept (allow), remove (unfollow),
// block and unblock; the answer is "ack" followed by the contact's entry
// as it now is.
func (c *conn) handleList(ctx context.Context, m *wire.ListOp, id string) error {
	contact, err := c.lookup(ctx, id, m.Contact)
	if err != nil || contact.Number == 0 {
		return err
	}
	s := c.sess()
	n := contact.Number
	switch m.Type {
	case wire.TypeAdd:
		_, _, err = s.AddContact(ctx, hub.Forward, n, 0)
	case wire.TypeAccept:
		err = c.moveList(ctx, s, n, hub.Block, hub.Allow)
	case wire.TypeBlock:
		err = c.moveList(ctx, s, n, hub.Allow, hub.Block)
	case wire.TypeUnblock:
		_, err = s.RemoveContact(ctx, hub.Block, n, -1)
	case wire.TypeRemove:
		_, err = s.RemoveContact(ctx, hub.Forward, n, -1)
	}
	switch {
	case err == nil, errors.Is(err, hub.ErrAlreadyOnList), errors.Is(err, hub.ErrNotOnList):
	case errors.Is(err, hub.ErrListFull):
		c.fail(id, wire.CodeListFull, "the list is full")
		return nil
	case errors.Is(err, hub.ErrNotFound):
		c.fail(id, wire.CodeUnknownContact, "no such contact")
		return nil
	default:
		return err
	}
	c.ack(id, "")
	return c.sendEntry(ctx, s, contact)
}

// moveList takes n off from (when there) and puts them on to.
func (c *conn) moveList(ctx context.Context, s *hub.Session, n uint32, from, to hub.List) error {
	if _, err := s.RemoveContact(ctx, from, n, -1); err != nil && !errors.Is(err, hub.ErrNotOnList) {
		return err
	}
	_, _, err := s.AddContact(ctx, to, n, -1)
	return err
}

// sendEntry sends one contact's entry after a list change.
func (c *conn) sendEntry(ctx context.Context, s *hub.Session, contact hub.Account) error {
	roster, err := s.Roster(ctx)
	if err != nil {
		return err
	}
	e := wire.ContactEntry{Account: accountOf(contact), Status: wire.StatusOffline, Lists: []string{}}
	for _, l := range []hub.List{hub.Forward, hub.Allow, hub.Block, hub.Reverse} {
		if roster.On(l, contact.Number) {
			e.Lists = append(e.Lists, string(l))
		}
	}
	if roster.On(hub.Forward, contact.Number) {
		st, text, err := c.srv.cfg.Hub.VisiblePresence(ctx, s.Account().Number, contact.Number)
		if err != nil {
			return err
		}
		p := presenceMessage(contact, st, text)
		e.Status, e.Text = p.Status, p.Text
	}
	return c.send(wire.ContactChanged{Type: wire.TypeContact, Contact: e})
}
