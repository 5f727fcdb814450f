package server

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/outbox"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// protocolName is how the hub knows this frontend's sessions.
const protocolName = "msnp"

// commandsCounted and messagesCounted are the protocol's counters of
// commands (by name) and of messages, looked up once.
var (
	commandsCounted = metrics.NewCounters(metrics.Commands, protocolName)
	messagesCounted = metrics.Messages.WithLabelValues(protocolName)
)

// bridgeKey names the private chat between an MSN client and a contact of
// another protocol.
type bridgeKey struct{ client, contact uint32 }

// remote is a switchboard member who is online through another protocol:
// what MSN clients say to them goes over the hub as text and typing.
type remote struct {
	srv  *Server
	acct hub.Account
	sb   *switchboard // the session it is a member of

	// oldClient, when set, is the MSN client without MSNSLP this member
	// stands in for toward the P2P of the other client (see standIn).
	oldClient *sbConn

	mu     sync.Mutex
	offers map[uint32]*fileOffer // file offers by invitation cookie
	p2p    map[*sbConn]*slpPeer  // P2P toward each MSN client, by connection

	// lastFormat is the X-MMS-IM-Format the last message to this member
	// carried, parsed: a client sends the same one with every message.
	lastFormat atomic.Pointer[parsedFormat]
}

// parsedFormat is an X-MMS-IM-Format header and what parseIMFormat made
// of it, which the hub's messages share and never change.
type parsedFormat struct {
	header string
	format *hub.Format
}

// format is parseIMFormat of header, parsed once for a run of messages
// that carry the same one (7 % of a message's CPU from MSN to GG), and
// made a string only then.
func (r *remote) format(header []byte) *hub.Format {
	if last := r.lastFormat.Load(); last != nil && last.header == string(header) {
		return last.format
	}
	h := string(header)
	f := parseIMFormat(h)
	r.lastFormat.Store(&parsedFormat{header: h, format: f})
	return f
}

func (r *remote) account() hub.Account { return r.acct }
func (r *remote) notify([]byte)        {}

func (r *remote) relay(ctx context.Context, from hub.Account, payload []byte) hub.Delivery {
	p, _ := parsePayload(payload)
	return r.relayParsed(ctx, from, payload, p)
}

// relayParsed is relay of a payload parsed already (p, zero when its
// header block does not end).
func (r *remote) relayParsed(ctx context.Context, from hub.Account, payload []byte, p parsedMessage) hub.Delivery {
	if !p.Complete {
		return hub.Delivered
	}
	h := r.srv.cfg.Hub
	switch p.contentType {
	case "text/plain":
		msg := hub.Message{Text: string(p.Body), Format: r.format(p.HeaderBytes(imFormatHeader))}
		d, err := h.SendMessage(ctx, from, r.acct.Number, msg, "")
		if err != nil {
			r.srv.log.Warn("relay to another protocol", "to", r.acct.Number, "err", err)
			return hub.Blocked
		}
		return d
	case invite.ContentType:
		r.invitation(ctx, from, payload)
		return hub.Delivered
	case "text/x-msmsgscontrol":
		if err := h.SendTyping(ctx, from, r.acct.Number, 1, ""); err != nil {
			r.srv.log.Warn("typing to another protocol", "to", r.acct.Number, "err", err)
		}
	}
	// Other content (ink, nudges) has no equivalent there.
	return hub.Delivered
}

// addRemote joins a contact of another protocol to a session on a CAL.
func (s *Server) addRemote(sb *switchboard, caller, callee hub.Account) {
	r := &remote{srv: s, acct: callee, sb: sb}
	sb.mu.Lock()
	sb.members = append(sb.members, r)
	private := len(sb.members) == 2
	sb.mu.Unlock()
	if private {
		s.setBridge(sb, bridgeKey{caller.Number, callee.Number})
	} else {
		s.clearBridge(sb)
	}
	s.announceJoin(sb.snapshot(nil), r)
}

func (s *Server) setBridge(sb *switchboard, key bridgeKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.bridges[key]; taken {
		return
	}
	s.bridges[key] = sb
	sb.mu.Lock()
	sb.bridge = &key
	sb.mu.Unlock()
}

// clearBridge makes a session no longer the private chat of its pair, once
// a third participant joins.
func (s *Server) clearBridge(sb *switchboard) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.bridge != nil && s.bridges[*sb.bridge] == sb {
		delete(s.bridges, *sb.bridge)
	}
	sb.bridge = nil
}

// deliverToClient brings a message from another protocol (or the offline
// queue) to an MSN client. MSN clients only chat in switchboards, so it
// goes into the pair's private session, which is opened and rung when
// there is none yet; what arrives before the client answers waits there.
// It reports whether the message was taken: written to the switchboard,
// waiting for the client to answer the ring, or the ring written.
func (s *Server) deliverToClient(n *nsConn, from hub.Account, msg hub.Message) bool {
	return s.deliverPendingToClient(n, pendingMessage{from: from, msg: msg}, nil)
}

// deliverPendingToClient is deliverToClient for any pending message; a
// message written to the switchboard at once holds its connection in
// batch, when there is one (see hub.Batch).
func (s *Server) deliverPendingToClient(n *nsConn, p pendingMessage, batch *hub.Batch) bool {
	from := p.from
	me := n.sess().Account()
	key := bridgeKey{me.Number, from.Number}
	s.mu.Lock()
	sb := s.bridges[key]
	if sb == nil {
		// A copy of key: taking key's own address moved it to the heap
		// for every message, not only for a new session.
		bridge := key
		sb = &switchboard{id: s.freeSessionIDLocked(), bridge: &bridge}
		sb.members = []member{&remote{srv: s, acct: from, sb: sb}}
		s.switchboards[sb.id] = sb
		s.bridges[key] = sb
	}
	sb.mu.Lock()
	client := sb.client(me.Number)
	fresh := client == nil && len(sb.pending) == 0 && len(sb.members) == 1
	if client == nil {
		sb.pending = append(sb.pending, p)
	}
	sb.mu.Unlock()
	s.mu.Unlock()

	if client != nil {
		batch.Hold(client.out)
		s.deliverPending(context.Background(), client, []pendingMessage{p}, batch)
		return true
	}
	if !fresh {
		return true // already ringing
	}
	value := s.cookies.issue(cookie{
		account: me.Number, session: sb.id, caller: from.Number,
		expires: time.Now().Add(s.cfg.CookieLifetime),
	})
	// Unanswered, the ring expires and what waits goes back to the mailbox.
	time.AfterFunc(s.cfg.CookieLifetime, func() { s.expireBridge(sb, me.Number) })
	rng := []string{sb.id, n.switchboardAddr(s.cfg.SwitchboardAddr), "CKI", value, from.Email, wire.EncodeName(from.DisplayName)}
	return n.send("RNG", append(rng, authDomain(n.dialect, "messenger.hotmail.com")...)...)
}

// withdrawPending takes back an invitation (the payloads of one)
// deliverPendingToClient queued
// for the MSN client on n: still waiting for the client to answer the
// ring, it is dropped; already delivered, the client gets cancel instead.
func (s *Server) withdrawPending(n *nsConn, from hub.Account, invitation [][]byte, cancel []byte) {
	me := n.sess().Account()
	s.mu.Lock()
	sb := s.bridges[bridgeKey{me.Number, from.Number}]
	s.mu.Unlock()
	if sb == nil {
		return
	}
	sb.mu.Lock()
	client := sb.client(me.Number)
	if client == nil {
		sb.pending = slices.DeleteFunc(sb.pending, func(p pendingMessage) bool {
			return slices.ContainsFunc(invitation, func(b []byte) bool { return bytes.Equal(p.payload, b) })
		})
	}
	sb.mu.Unlock()
	if client != nil {
		s.deliverPending(context.Background(), client, []pendingMessage{{from: from, payload: cancel}}, nil)
	}
}

// client returns the session's MSN connection of an account; sb.mu held.
func (sb *switchboard) client(number uint32) *sbConn {
	for _, m := range sb.members {
		if c, ok := m.(*sbConn); ok && c.acct.Number == number {
			return c
		}
	}
	return nil
}

// expireBridge ends a session whose MSN client never answered the ring.
// Its messages go back to the mailbox (those that came from it are still
// claimed there), so nothing is lost.
func (s *Server) expireBridge(sb *switchboard, client uint32) {
	s.mu.Lock()
	sb.mu.Lock()
	if sb.client(client) != nil {
		sb.mu.Unlock()
		s.mu.Unlock()
		return
	}
	delete(s.switchboards, sb.id)
	if sb.bridge != nil && s.bridges[*sb.bridge] == sb {
		delete(s.bridges, *sb.bridge)
	}
	pending := sb.pending
	sb.pending, sb.members = nil, nil
	sb.mu.Unlock()
	s.mu.Unlock()

	for _, p := range pending {
		if p.msg.Offline != 0 || p.payload != nil {
			continue
		}
		s.cfg.Hub.Undelivered(client, p.from, p.msg, protocolName)
	}
}

// deliverPending writes messages to a client that has joined. Offline
// ones leave the mailbox once written; a live one the connection drops
// goes back to the mailbox, and one delivered in a sender's batch waits in
// it (see hub.Batch).
func (s *Server) deliverPending(ctx context.Context, c *sbConn, pending []pendingMessage, batch *hub.Batch) {
	// Only messages from the mailbox are waited on; a live one costs no
	// more than its receipt.
	var fromMailbox *deliveredOffline
	if slices.ContainsFunc(pending, func(p pendingMessage) bool { return p.msg.Offline != 0 }) {
		fromMailbox = &deliveredOffline{}
	}
	for _, p := range pending {
		if p.payload != nil {
			c.relay(ctx, p.from, p.payload)
			continue
		}
		// Its parts go in one write, which the receipt follows.
		r := pendingReceipts.Get()
		r.Record = pendingWrite{to: c, from: p.from, msg: p.msg, fromMailbox: fromMailbox}
		receipt := batch.Track(c.out, r.Receipt)
		if !c.writeFrame(receipt, func(b []byte) []byte {
			return appendTextCommands(b, p.from, p.msg, s.cfg.MaxMessageBytes)
		}) {
			// The outbox refused the write and never calls its receipt:
			// the message goes back as one the connection dropped.
			receipt(false)
		}
	}
	if fromMailbox == nil {
		// Nothing to take out of the mailbox once written: no waiting for
		// the writes, which would hold the sender's goroutine (or the
		// hub's) while a client that reads slowly lets its output fill.
		return
	}
	c.out.Wait()
	if delivered := fromMailbox.taken(); len(delivered) > 0 {
		if err := s.cfg.Hub.Store().DeleteOffline(ctx, c.acct.Number, delivered...); err != nil {
			s.log.Error("forget delivered offline messages", "account", c.acct.Number, "err", err)
		}
	}
}

// pendingWrite is what the receipt of a pending message written to a
// client needs.
type pendingWrite struct {
	to          *sbConn
	from        hub.Account
	msg         hub.Message
	fromMailbox *deliveredOffline
}

// pendingReceipts note a message from the mailbox as written, for
// deliverPending to take out of it, and put a live one the connection
// dropped in the mailbox.
var pendingReceipts = outbox.NewReceiptPool(func(w pendingWrite, written bool) {
	switch {
	case written && w.msg.Offline != 0:
		w.fromMailbox.add(w.msg.Offline)
	case !written && w.msg.Offline == 0:
		w.to.srv.cfg.Hub.Undelivered(w.to.acct.Number, w.from, w.msg, protocolName)
	}
})

// deliveredOffline collects the mailbox ids of messages written, from
// the outbox's receipts.
type deliveredOffline struct {
	mu  sync.Mutex
	ids []int64
}

func (d *deliveredOffline) add(id int64) {
	d.mu.Lock()
	d.ids = append(d.ids, id)
	d.mu.Unlock()
}

func (d *deliveredOffline) taken() []int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ids
}

// typingToClient shows a contact of another protocol typing, in the
// pair's private session if the client has one open.
func (s *Server) typingToClient(me uint32, from hub.Account) {
	s.mu.Lock()
	sb := s.bridges[bridgeKey{me, from.Number}]
	s.mu.Unlock()
	if sb == nil {
		return
	}
	sb.mu.Lock()
	c := sb.client(me)
	sb.mu.Unlock()
	if c != nil {
		c.relay(context.Background(), from, typingPayload(from.Email))
	}
}

func (s *Server) freeSessionIDLocked() string {
	for {
		id := randomDigits(8)
		if _, taken := s.switchboards[id]; !taken {
			return id
		}
	}
}
