package client

import (
	"context"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// bmAddedBy is the undocumented bm type 4 (see AddedBy).
const bmAddedBy = 4

// handle interprets one message in the reader goroutine, classified like
// pidgin does by the first of lc, bm, rid, error, ka it holds. An error
// ends the connection with that cause.
func (c *Client) handle(m wire.Message) error {
	switch {
	case m.Has(wire.TypeLoginChallenge):
		return c.handleLC(m)
	case m.Has(wire.TypeBM):
		return c.handleBM(m)
	case m.Has("rid"):
		return c.handleReply(m)
	case m.Has(wire.TypeError):
		return c.handleError(m)
	case m.Has(wire.TypeKeepAlive):
		return nil // liveness only
	}
	return c.emit(Other{Message: m})
}

// handleBM turns a buddy message into an event.
func (c *Client) handleBM(m wire.Message) error {
	typ, _ := m.Int(wire.TypeBM)
	from, ok := m.Uint32("f")
	if aid, _ := m.Int("aid"); !ok || aid != 0 { // no sender, or group chat: pidgin ignores it
		return c.emit(Other{Message: m})
	}
	msg := m.Get("msg")
	var ev Event
	switch typ {
	case wire.BMIM:
		ev = c.imEvent(m, from, typ, msg)
	case wire.BMStatus:
		p := wire.ParsePresence(msg)
		ev = Status{UserID: from, Status: p.Status, Text: p.Headline, Location: p.Location}
	case wire.BMAction:
		if n, ok := wire.ParseZap(msg); ok {
			ev = Zap{From: from, Zap: n}
			break
		}
		switch {
		case msg == wire.ActionTyping:
			ev = Typing{From: from, Typing: true}
		case msg == wire.ActionStopTyping:
			ev = Typing{From: from}
		case strings.HasPrefix(msg, "!!!"): // !!!GroupCount=, !!!Offline=, !!!ExitChat, unknown zaps
			return c.emit(Other{Message: m})
		default: // web clients sent IMs as 121
			ev = c.imEvent(m, from, typ, msg)
		}
	case bmAddedBy:
		ev = AddedBy{UserID: from}
	default:
		return c.emit(Other{Message: m})
	}
	return c.deliverFrom(from, ev)
}

func (c *Client) imEvent(m wire.Message, from uint32, typ int, markup string) Message {
	ev := Message{From: from, Markup: markup, Text: wire.MarkupToText(markup), Type: typ}
	if date, ok := m.Int("date"); ok && date > 0 {
		ev.Date = time.Unix(int64(date), 0)
	}
	return ev
}

// deliverFrom emits a bm event, or with Options.LookupSenders holds it
// until the sender's profile (4/3) is in, as pidgin does.
func (c *Client) deliverFrom(from uint32, ev Event) error {
	if !c.opts.LookupSenders {
		return c.emit(ev)
	}
	c.mu.Lock()
	known := c.known[from] || c.state != stateOnline
	c.mu.Unlock()
	if known {
		return c.emit(ev)
	}
	if c.heldCount >= c.opts.EventBuffer {
		return ErrEventOverflow
	}
	q, asked := c.held[from]
	c.held[from] = append(q, ev)
	c.heldCount++
	if asked {
		return nil
	}
	rid := c.register(&waiter{fn: func(wire.Persist) error { return c.release(from) }})
	return c.send(context.Background(), c.persistMsg(wire.CmdGet, wire.DSProfile, wire.Dict{{Key: "UserID", Value: uidString(from)}}, rid))
}

// release delivers the events held for uid once its lookup is answered
// (whatever the answer: pidgin goes on either way).
func (c *Client) release(uid uint32) error {
	c.mu.Lock()
	c.known[uid] = true
	c.mu.Unlock()
	evs := c.held[uid]
	delete(c.held, uid)
	c.heldCount -= len(evs)
	for _, ev := range evs {
		if err := c.emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// handleReply routes a persistr to the request with its rid, or makes it a
// PersistPush. Pidgin keeps a profile for every reply naming a UserName
// and puts the records of a contact-list reply on its buddy list; those
// users count as known senders from then on.
func (c *Client) handleReply(m wire.Message) error {
	if m.Type() != wire.TypePersistReply {
		return c.emit(Other{Message: m})
	}
	p, err := wire.ParsePersist(m)
	if err != nil {
		return &ProtocolError{Message: m, Err: err}
	}
	c.mu.Lock()
	if uid, ok := p.Body.Uint32("UserID"); ok && uid != 0 && p.Body.Has("UserName") {
		c.known[uid] = true
	}
	if p.DataSet == wire.DSContactList && p.Cmd&wire.CmdError == 0 {
		for _, ct := range parseContacts(p.Body) {
			c.known[ct.ContactID] = true
		}
	}
	w := c.waiters[p.RID]
	delete(c.waiters, p.RID)
	c.mu.Unlock()
	switch {
	case w == nil:
		return c.emit(PersistPush{Reply: p})
	case w.fn != nil:
		return w.fn(p)
	}
	w.ch <- p
	return nil
}
