package server

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/outbox"
	"github.com/crosstalk-im/crosstalk/internal/ratelimit"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/p2p"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// member is a switchboard participant: an MSN client connected to the
// switchboard, or a contact online through another protocol whose side of
// the conversation travels over the hub.
type member interface {
	account() hub.Account
	// relay hands this member a MSG payload another member sent.
	relay(ctx context.Context, from hub.Account, payload []byte) hub.Delivery
	// notify sends a roster change line (BYE) to MSN clients; JOI goes
	// through announceJoin, which writes each dialect its own form.
	notify(line []byte)
}

// switchboard is one chat session and its participants, in joining order.
type switchboard struct {
	id string

	mu      sync.Mutex
	members []member
	// bridge is set while the session is a private chat between one MSN
	// client and one contact of another protocol: messages from that
	// contact to that client come here rather than into a new session.
	bridge *bridgeKey
	// pending holds messages for an MSN client that was rung into the
	// session and has not answered yet.
	pending []pendingMessage
	// standIns are the server's P2P sides for MSN clients without MSNSLP,
	// by account (see standIn).
	standIns map[uint32]*remote
}

type pendingMessage struct {
	from hub.Account
	msg  hub.Message
	// payload, when set, is a MSG payload sent as is instead of msg (a
	// file invitation); it is not requeued.
	payload []byte
}

func (sb *switchboard) snapshot(except member) []member {
	return sb.appendMembers(nil, except)
}

// appendMembers appends the members but except to out.
func (sb *switchboard) appendMembers(out []member, except member) []member {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	out = slices.Grow(out, len(sb.members))
	for _, m := range sb.members {
		if m != except {
			out = append(out, m)
		}
	}
	return out
}

// sbConn is one participant's switchboard connection.
type sbConn struct {
	*conn
	acct    hub.Account
	dialect int          // of the client's notification connection (SB has no VER)
	sb      *switchboard // set once joined; read only by the reader goroutine
	// endpoint is the machine GUID an MSNP16+ client joined with
	// (USR/ANS email;{guid}), "" before.
	endpoint string
	p2pRate  ratelimit.Bucket
	// readAt is when the command being handled was read, from which a
	// message relayed to the other members is timed.
	readAt time.Time
	// encodedName is the account's display name as MSG lines carry it,
	// encoded once (at USR or ANS) rather than for every message relayed.
	encodedName string
	// msg is the MSG being handled, parsed once by Next (zero when its
	// header block does not end): its content type for Next's rate limit
	// and handleMSG, the whole for members of other protocols.
	msg parsedMessage
	// others holds the members a message goes to while it is relayed,
	// kept for the next one: a slice made for each cost an allocation.
	others []member
	// batch holds the outboxes of the members this client's messages went
	// to while its next command already waited, whole, in the read buffer
	// (a client that sends several at once), those of other protocols'
	// sessions on this node included (see hub.Batch): they and this
	// client's own replies leave when the buffer is drained, one write per
	// connection instead of one per message, the members' first, so that
	// no ACK goes out before its message (see holdFor and endBatch).
	batch hub.Batch
	// batchCtx is batchParent carrying batch for the hub (hub.WithBatch),
	// made once rather than for every message to another protocol.
	batchCtx, batchParent context.Context
}

// holdFor keeps what is written to the members of to for the end of the
// batch, when another command of the client's waits whole in the read
// buffer: MSN clients' connections here, and through the returned
// context the connections that the hub delivers to members of other
// protocols.
func (c *sbConn) holdFor(ctx context.Context, to []member) context.Context {
	if !c.rd.CommandBuffered() {
		return ctx
	}
	viaHub := false
	for _, m := range to {
		switch o := m.(type) {
		case *sbConn:
			c.batch.Hold(o.out)
		case *remote:
			viaHub = true
		}
	}
	if !viaHub {
		return ctx
	}
	if c.batchParent != ctx {
		c.batchCtx, c.batchParent = hub.WithBatch(ctx, &c.batch), ctx
	}
	return c.batchCtx
}

// endBatch releases the members' outboxes held for the batch, unless the
// next command waits whole in the read buffer; it reports whether the
// batch goes on, when the client's own replies wait too.
func (c *sbConn) endBatch(goOn bool) bool {
	if c.batch.Len() == 0 {
		return false
	}
	if goOn && c.rd.CommandBuffered() {
		return true
	}
	c.batch.Release()
	return false
}

func (c *sbConn) account() hub.Account { return c.acct }
func (c *sbConn) notify(line []byte)   { c.write(line) }

// relay writes a message from another member. Text the connection drops
// after taking it goes to the member's mailbox, so that the sender's ACK
// stays true; text it cannot take at all is a failure (NAK).
func (c *sbConn) relay(ctx context.Context, from hub.Account, payload []byte) hub.Delivery {
	return c.relayTimed(ctx, from, wire.EncodeName(from.DisplayName), payload, time.Time{})
}

// relayTo hands member o the message this client sent: to another MSN
// client's connection timed from when it was read (relayTimed), to a
// member of another protocol with the payload as parsed (msg).
func (c *sbConn) relayTo(ctx context.Context, o member, payload []byte, msg parsedMessage) hub.Delivery {
	switch to := o.(type) {
	case *sbConn:
		return to.relayTimed(ctx, c.acct, c.encodedName, payload, c.readAt)
	case *remote:
		return to.relayParsed(ctx, c.acct, payload, msg)
	}
	return o.relay(ctx, c.acct, payload)
}

// msnpRelaySeconds is the protocol's share of MessageRelaySeconds, looked
// up once rather than per message.
var msnpRelaySeconds = metrics.MessageRelaySeconds.WithLabelValues(protocolName)

// relayTimed is relay, with from's display name encoded for the MSG line
// (name), that, when readAt is set, observes in
// crosstalk_message_relay_seconds how long the message took from being
// read to being written to this member's socket: the server's own share
// of its delivery latency.
func (c *sbConn) relayTimed(ctx context.Context, from hub.Account, name string, payload []byte, readAt time.Time) hub.Delivery {
	r := relayReceipts.Get()
	r.Record = relayed{to: c, from: from, payload: payload, readAt: readAt}
	taken := c.writeFrame(r.Receipt, func(b []byte) []byte { return wire.AppendPayloadCommand(b, "MSG", payload, from.Email, name) })
	if !taken {
		// The outbox refused the write and never calls its receipt.
		r.Free()
		return hub.MailboxFull
	}
	return hub.Delivered
}

// relayed is what the receipt of a relayed message needs.
type relayed struct {
	to      *sbConn
	from    hub.Account
	payload []byte
	readAt  time.Time
}

// relayReceipts times a message written to the member's socket from when
// it was read, and puts the text of one dropped after it was taken in the
// member's mailbox, so that the sender's ACK stays true.
var relayReceipts = outbox.NewReceiptPool(func(r relayed, written bool) {
	if written {
		if !r.readAt.IsZero() {
			msnpRelaySeconds.Observe(time.Since(r.readAt).Seconds())
		}
		return
	}
	if p, ok := parsePayload(r.payload); ok && p.contentType == "text/plain" {
		r.to.srv.cfg.Hub.Undelivered(r.to.acct.Number, r.from, p.toHubMessage(), protocolName)
	}
})

func (c *sbConn) loggedIn() bool { return c.sb != nil }

func (c *sbConn) dispatch(ctx context.Context, cmd wire.Command) error {
	if cmd.Name == "OUT" {
		return errClose
	}
	if _, ok := cmd.TrID(); !ok {
		return errCode(errSyntax)
	}
	switch cmd.Name {
	case "USR":
		return c.handleUSR(ctx, cmd)
	case "ANS":
		return c.handleANS(ctx, cmd)
	case "CAL", "MSG":
		if c.sb == nil {
			return errCode(errNotLoggedIn)
		}
		if cmd.Name == "CAL" {
			return c.handleCAL(ctx, cmd)
		}
		return c.handleMSG(ctx, cmd)
	}
	return errCode(errSyntax)
}

// admit checks a cookie presented in USR or ANS and resolves the account.
func (c *sbConn) admit(ctx context.Context, email, value, session string) (hub.Account, error) {
	if c.sb != nil {
		return hub.Account{}, errCode(errAlreadyLoggedIn)
	}
	email, guid, named := strings.Cut(email, ";")
	var ck cookie
	var ok bool
	if named {
		ck, ok = c.srv.cookies.takeFor(value, strings.ToUpper(guid))
	} else {
		ck, ok = c.srv.cookies.take(value)
	}
	if !ok || ck.session != session {
		return hub.Account{}, fatalCode(errAuthFailed)
	}
	acct, err := c.srv.cfg.Hub.Store().Account(ctx, ck.account)
	if err != nil || !strings.EqualFold(acct.Email, email) {
		return hub.Account{}, fatalCode(errAuthFailed)
	}
	c.acct = acct
	c.encodedName = wire.EncodeName(acct.DisplayName)
	c.dialect = c.srv.extrasOf(acct.Number).dialect
	if named {
		// The dialect of that endpoint's notification connection.
		x, ok := c.srv.endpointExtras(acct.Number, guid)
		if !ok {
			return hub.Account{}, fatalCode(errAuthFailed)
		}
		c.endpoint, c.dialect = guid, x.dialect
	}
	c.logAs.Account.Store(acct.Number)
	return acct, nil
}

// handleUSR opens a new switchboard session with an XFR SB cookie.
func (c *sbConn) handleUSR(ctx context.Context, cmd wire.Command) error {
	if len(cmd.Args) != 3 {
		return errCode(errInvalidParameter)
	}
	acct, err := c.admit(ctx, cmd.Args[1], cmd.Args[2], "")
	if err != nil {
		return err
	}
	sb := c.srv.newSwitchboard()
	sb.members = []member{c}
	c.sb = sb
	c.send("USR", cmd.Args[0], "OK", c.selfName(), wire.EncodeName(acct.DisplayName))
	return nil
}

// handleANS joins a session the client was rung into, and hands over what
// was said before it answered.
func (c *sbConn) handleANS(ctx context.Context, cmd wire.Command) error {
	if len(cmd.Args) != 4 {
		return errCode(errInvalidParameter)
	}
	trid, sid := cmd.Args[0], cmd.Args[3]
	if _, err := c.admit(ctx, cmd.Args[1], cmd.Args[2], sid); err != nil {
		return err
	}
	sb := c.srv.switchboard(sid)
	if sb == nil {
		return fatalCode(errAuthFailed)
	}
	sb.mu.Lock()
	if len(sb.members) == 0 {
		sb.mu.Unlock()
		return fatalCode(errAuthFailed)
	}
	others := append([]member(nil), sb.members...)
	sb.members = append(sb.members, c)
	pending := sb.pending
	sb.pending = nil
	sb.mu.Unlock()
	c.sb = sb
	// MSNP16+ list each endpoint of a participant, then the participant.
	var roster [][]string
	for _, o := range others {
		for _, name := range c.srv.participantNames(c.dialect, o) {
			a := o.account()
			args := []string{name, wire.EncodeName(a.DisplayName)}
			if switchboardCaps(c.dialect) {
				args = append(args, capsFor(c.dialect, c.srv.capsOf(a.Number)))
			}
			roster = append(roster, args)
		}
	}
	total := strconv.Itoa(len(roster))
	for i, args := range roster {
		c.send("IRO", append([]string{trid, strconv.Itoa(i + 1), total}, args...)...)
	}
	c.send("ANS", trid, "OK")
	c.srv.announceJoin(others, c)
	if len(others) > 1 {
		c.srv.clearBridge(sb)
	}
	c.srv.deliverPending(ctx, c, pending, nil)
	return nil
}

func (c *sbConn) handleCAL(ctx context.Context, cmd wire.Command) error {
	email := cmd.Arg(1)
	if !validPassport(email) {
		return errCode(errInvalidUsername)
	}
	h := c.srv.cfg.Hub
	callee, err := h.Store().AccountByEmail(ctx, email)
	if errors.Is(err, hub.ErrNotFound) {
		return errCode(errInvalidUser) // as ADD answers for an address nobody has
	}
	if err != nil {
		return err
	}
	if callee.Number == c.acct.Number && endpoints(c.dialect) {
		// MSNP16+ clients call themselves first, for their other
		// endpoints, and MSNPSharp calls nobody else until that CAL
		// rings. The other endpoints are not rung (yet).
		c.send("CAL", cmd.Args[0], "RINGING", c.sb.id)
		return nil
	}
	for _, m := range c.sb.snapshot(nil) {
		if m.account().Number == callee.Number {
			return errCode(errAlreadyThere)
		}
	}
	if err := h.CanReach(ctx, c.acct, callee.Number); errors.Is(err, hub.ErrUnreachable) {
		return errCode(errNotOnline)
	} else if err != nil {
		return err
	}
	sessions, err := h.Sessions(ctx, callee.Number)
	if err != nil {
		return err
	}
	if _, onMSN := sessions[protocolName]; !onMSN {
		// Online through another protocol only: the callee joins at once,
		// and their side of the chat travels over the hub.
		c.send("CAL", cmd.Args[0], "RINGING", c.sb.id)
		c.srv.addRemote(c.sb, c.acct, callee)
		return nil
	}
	value := c.srv.cookies.issue(cookie{
		account: callee.Number,
		session: c.sb.id,
		caller:  c.acct.Number,
		expires: time.Now().Add(c.srv.cfg.CookieLifetime),
	})
	err = h.Invite(ctx, c.acct, callee.Number, hub.Invite{
		Protocol:     protocolName,
		Conversation: c.sb.id,
		Addr:         c.srv.cfg.SwitchboardAddr,
		Cookie:       value,
	})
	if errors.Is(err, hub.ErrUnreachable) {
		c.srv.cookies.take(value)
		return errCode(errNotOnline)
	}
	if err != nil {
		return err
	}
	c.send("CAL", cmd.Args[0], "RINGING", c.sb.id)
	return nil
}

// announceJoin tells the MSN clients among to that joined came, with its
// capabilities for MSNP12+ clients, and for MSNP16+ its endpoint first.
func (s *Server) announceJoin(to []member, joined member) {
	a := joined.account()
	for _, m := range to {
		c, ok := m.(*sbConn)
		if !ok {
			continue
		}
		for _, name := range s.participantNames(c.dialect, joined) {
			args := []string{name, wire.EncodeName(a.DisplayName)}
			if switchboardCaps(c.dialect) {
				args = append(args, capsFor(c.dialect, s.capsOf(a.Number)))
			}
			c.send("JOI", args...)
		}
	}
}

// participantNames is how a switchboard member is named to a client of
// dialect d: by e-mail, and to MSNP16+ clients also as email;{guid} first
// when it joined from an endpoint.
func (s *Server) participantNames(d int, m member) []string {
	email := m.account().Email
	if c, ok := m.(*sbConn); ok && c.endpoint != "" && endpoints(d) {
		return []string{email + ";" + c.endpoint, email}
	}
	return []string{email}
}

// selfName is how the client is named back to itself in USR OK.
func (c *sbConn) selfName() string {
	if c.endpoint != "" {
		return c.acct.Email + ";" + c.endpoint
	}
	return c.acct.Email
}

// endpointExtras finds what the account's endpoint guid says about itself.
func (s *Server) endpointExtras(number uint32, guid string) (msnExtras, bool) {
	for _, d := range s.cfg.Hub.AllDetails(number, protocolName) {
		if x := decodeExtras(d); x.guid != "" && strings.EqualFold(x.guid, guid) {
			return x, true
		}
	}
	return msnExtras{}, false
}

// handleMSG relays a message byte for byte to the other MSN participants,
// and as text or typing to those of other protocols, and acknowledges it as
// the client asked: U never, N only on failure, A always.
func (c *sbConn) handleMSG(ctx context.Context, cmd wire.Command) error {
	if len(cmd.Args) != 3 {
		return errCode(errInvalidParameter)
	}
	if len(cmd.Payload) > c.srv.cfg.MaxMessageBytes {
		c.log().Info("message too large", "bytes", len(cmd.Payload))
		return errClose
	}
	trid, mode := cmd.Args[0], cmd.Args[1]
	switch mode {
	case "U", "N", "A", "D":
	default:
		return errCode(errInvalidParameter)
	}
	// The content type, read once (by Next): text, the most of messages,
	// skips what only P2P and invitations need.
	p2pMessage := c.msg.contentType == p2p.ContentType
	invitation := c.msg.contentType == invite.ContentType
	if invitation && c.answersStandIn(ctx, cmd.Payload) {
		if mode == "A" || mode == "D" {
			c.send("ACK", trid)
		}
		return nil
	}
	c.others = c.sb.appendMembers(c.others[:0], c)
	defer clear(c.others) // keeps no member that leaves
	others := c.others
	if p2pMessage {
		others = p2pRecipients(others, cmd.Payload)
		if st := c.standIn(others, cmd.Payload); st != nil {
			others = []member{st}
		}
	}
	failed := len(others) == 0
	ctx = c.holdFor(ctx, others)
	payload, rewritten := c.relaying(others, cmd.Payload)
	msg := c.msg
	if rewritten {
		msg, _ = parsePayload(payload)
	}
	for _, o := range others {
		if r, ok := o.(*remote); ok && msg.contentType == p2p.ContentType {
			// The server is the P2P peer, and answers this connection.
			r.p2pMessage(ctx, c, payload)
			continue
		}
		if d := c.relayTo(ctx, o, payload, msg); d == hub.Blocked || d == hub.MailboxFull {
			failed = true
		}
	}
	c.srv.mirror(c.acct, others, cmd.Payload)
	if len(others) > 0 {
		messagesCounted.Inc()
	}
	switch {
	case failed && mode != "U":
		c.send("NAK", trid)
	case !failed && (mode == "A" || mode == "D"):
		c.send("ACK", trid)
	}
	return nil
}

// p2pRecipients narrows the members a P2P message goes to by its
// P2P-Dest: the members of that account, and of those only the endpoint
// it names when one of them is that endpoint (MSNP16+, where several
// endpoints of one account may share a session). Other payloads, and P2P
// addressed to nobody in the session, go to all of others.
func p2pRecipients(others []member, payload []byte) []member {
	email, endpoint, ok := p2p.Destination(payload)
	if !ok || email == "" {
		return others
	}
	var account, exact []member
	for _, m := range others {
		if !strings.EqualFold(m.account().Email, email) {
			continue
		}
		account = append(account, m)
		if c, isClient := m.(*sbConn); isClient && endpoint != "" && strings.EqualFold(c.endpoint, endpoint) {
			exact = append(exact, m)
		}
	}
	switch {
	case len(exact) > 0:
		return exact
	case len(account) > 0:
		return account
	}
	return others
}

// mirror gives the MSN participants' sessions of other protocols the text
// they just got here, so an account logged in through several protocols
// sees its conversations in each.
func (s *Server) mirror(from hub.Account, to []member, payload []byte) {
	var msg *hub.Message
	for _, m := range to {
		if _, ok := m.(*sbConn); !ok || !s.cfg.Hub.HasSessionBesides(m.account().Number, protocolName) {
			continue
		}
		if msg == nil {
			p, ok := parsePayload(payload)
			if !ok || p.contentType != "text/plain" {
				return
			}
			hm := p.toHubMessage()
			msg = &hm
		}
		s.cfg.Hub.Mirror(from, m.account().Number, *msg, protocolName)
	}
}

// end leaves the session: the others see BYE, and when no MSN client is
// left the session ends.
func (c *sbConn) end(context.Context) {
	c.endBatch(false)
	sb := c.sb
	if sb == nil {
		return
	}
	sb.mu.Lock()
	for i, m := range sb.members {
		if m == c {
			sb.members = append(sb.members[:i], sb.members[i+1:]...)
			break
		}
	}
	others := append([]member(nil), sb.members...)
	peers := make([]*remote, 0, len(sb.standIns))
	for _, st := range sb.standIns {
		peers = append(peers, st)
	}
	sb.mu.Unlock()
	for _, o := range others {
		if r, ok := o.(*remote); ok {
			peers = append(peers, r)
		}
	}
	for _, r := range peers {
		r.forgetPeer(c)
	}
	// MSNP16+ see the endpoint leave, and everyone the participant once
	// its last endpoint has.
	stays := false
	for _, o := range others {
		stays = stays || o.account().Number == c.acct.Number
	}
	bye := wire.AppendCommand(nil, "BYE", c.acct.Email)
	clients := 0
	for _, o := range others {
		oc, ok := o.(*sbConn)
		if ok {
			clients++
			if names := c.srv.participantNames(oc.dialect, c); len(names) > 1 {
				oc.send("BYE", names[0])
			}
		}
		if !stays {
			o.notify(bye)
		}
	}
	if clients == 0 {
		c.srv.dropSwitchboard(sb)
	}
}

func (s *Server) newSwitchboard() *switchboard {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb := &switchboard{id: s.freeSessionIDLocked()}
	s.switchboards[sb.id] = sb
	return sb
}

func (s *Server) switchboard(id string) *switchboard {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.switchboards[id]
}

func (s *Server) dropSwitchboard(sb *switchboard) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.switchboards, sb.id)
	sb.mu.Lock()
	if sb.bridge != nil && s.bridges[*sb.bridge] == sb {
		delete(s.bridges, *sb.bridge)
	}
	sb.mu.Unlock()
}
