package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/service"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// dialog is an IM session between the client and one contact, whoever
// started it. We are the contact's side: From of what we send is the
// contact with our tag.
type dialog struct {
	callID    string
	peer      hub.Account
	peerURI   string // the contact as the client names it
	localTag  string
	remoteTag string
	target    string // where the client is reached in this dialog
	clientURI string // the client in this dialog
	cseq      uint32 // our last CSeq
	// from and to are our requests' From and To, kept once the client's
	// tag is known: every message in the dialog names them. Under c.mu.
	from, to string
	// ours: we sent the INVITE; established: the client accepted it.
	ours, established bool
	// waiting are the messages that came before the client accepted.
	waiting []outgoing
	used    time.Time
}

// outgoing is a message on its way to the client; offline is its mailbox
// id when it comes from there. A file transfer invitation has its body
// in invitation instead of msg, and failed, if set, runs when the client
// does not take it.
type outgoing struct {
	from       hub.Account
	msg        hub.Message
	offline    int64
	retried    bool
	invitation []byte
	failed     func()
}

// handleInvite answers the client's INVITE to a contact: the dialog
// starts when the contact can be reached, and the first message (in
// ms-text-format) goes at once.
func (c *conn) handleInvite(ctx context.Context, m *wire.Message) error {
	callID := m.Get(wire.HeaderCallID)
	c.mu.Lock()
	d := c.dialogs[callID]
	full := len(c.dialogs) >= c.srv.cfg.MaxDialogs
	c.mu.Unlock()
	if d != nil { // a re-INVITE: nothing changes
		return c.send(c.inviteAnswer(m, d, false))
	}
	peerURI := wire.AddressURI(m.Get(wire.HeaderTo))
	s := c.sess()
	me := s.Account()
	peer, err := c.srv.resolve(ctx, peerURI)
	switch {
	case errors.Is(err, hub.ErrNotFound):
		c.respond(m, 404, "no such user")
		return nil
	case err != nil:
		return err
	case peer.Number == me.Number:
		c.respond(m, 403, "")
		return nil
	case full:
		c.respond(m, 503, "too many conversations")
		return nil
	}
	h := c.srv.cfg.Hub
	// Offline, invisible and blocking contacts look the same: OCS has no
	// offline messages, and its clients expect 480.
	if err := h.CanReach(ctx, me, peer.Number); errors.Is(err, hub.ErrUnreachable) {
		c.respond(m, 480, "the contact is offline")
		return nil
	} else if err != nil {
		return err
	}
	// The session exists before the first message goes, so that an
	// answer the contact sends at once finds it; what comes before our
	// 200 waits for it.
	d = &dialog{
		callID: callID, peer: peer, peerURI: peerURI, localTag: wire.RandomHex(5),
		remoteTag: wire.Tag(m.Get(wire.HeaderFrom)), target: wire.AddressURI(m.Get(wire.HeaderContact)),
		clientURI: wire.AddressURI(m.Get(wire.HeaderFrom)), used: time.Now(),
	}
	c.mu.Lock()
	if d.target == "" {
		d.target = c.contact
	}
	c.addDialogLocked(d)
	c.mu.Unlock()
	delivered := false
	if text, ok := firstMessage(m.Get(wire.HeaderTextFormat)); ok {
		// Not in the reader's batch (the context Next handles with):
		// the 200 says the text was delivered, and establish sends what
		// waited for it at once.
		code, taken, err := c.sendToHub(service.CommandContext, me, peer, text)
		if err == nil && code == 0 {
			code = deliveryCode(taken)
		}
		if err != nil || code != 200 {
			c.mu.Lock()
			c.forgetLocked(d)
			waiting := d.waiting
			d.waiting = nil
			c.mu.Unlock()
			c.failWaiting(waiting)
			if err != nil {
				return err
			}
			c.respond(m, 480, "the contact is offline")
			return nil
		}
		delivered = true
	}
	if err := c.send(c.inviteAnswer(m, d, delivered)); err != nil {
		return err
	}
	c.establish(d, nil)
	return nil
}

// inviteAnswer is the 200 to an INVITE: Supported: ms-text-format says we
// took the text of its ms-text-format, so the client does not send it
// again.
func (c *conn) inviteAnswer(m *wire.Message, d *dialog, delivered bool) *wire.Message {
	res := wire.Response(m, 200, d.localTag).Add(wire.HeaderContact, "<"+d.peerURI+">")
	if delivered {
		res.Add(wire.HeaderSupported, "ms-text-format")
	}
	res.Add(wire.HeaderContentType, typeSDP)
	res.Body = c.sdp(d.peerURI)
	return res
}

// sdp describes a message session as OCS does ([MS-SIP] IM sessions).
func (c *conn) sdp(uri string) []byte {
	host, port, _ := net.SplitHostPort(c.local())
	return []byte("v=0\r\no=- 0 0 IN IP4 " + host + "\r\ns=session\r\nc=IN IP4 " + host + "\r\nt=0 0\r\n" +
		"m=message " + port + " sip " + uri + "\r\n" +
		"a=accept-types:text/plain text/html image/gif multipart/alternative application/im-iscomposing+xml application/ms-imdn+xml text/x-msmsgsinvite\r\n")
}

// firstMessage reads the text an INVITE carries in ms-text-format:
// "text/plain; charset=UTF-8;msgr=…;ms-body=<base64>".
func firstMessage(format string) (string, bool) {
	ct, _, _ := strings.Cut(format, ";")
	ct = strings.ToLower(strings.TrimSpace(ct))
	if ct != "text/plain" && ct != "text/html" {
		return "", false
	}
	i := strings.Index(format, "ms-body=")
	if i < 0 {
		return "", false
	}
	enc, _, _ := strings.Cut(format[i+len("ms-body="):], ";")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", false
	}
	text := string(raw)
	if ct == "text/html" {
		text = stripHTML(text)
	}
	return text, text != ""
}

var (
	tags       = regexp.MustCompile(`<[^>]*>`)
	lineBreaks = strings.NewReplacer("<br>", "\n", "<br/>", "\n", "<BR>", "\n")
)

// stripHTML turns an HTML message into its text.
func stripHTML(s string) string {
	s = lineBreaks.Replace(s)
	return html.UnescapeString(tags.ReplaceAllString(s, ""))
}

// sendToHub passes a message from the client to a contact. A code other
// than 0 is the SIP answer it has at once; else taken is what the hub
// said of the message (see deliveryCode), which hub.Answer holds back
// while the connections of ctx's batch hold the message.
func (c *conn) sendToHub(ctx context.Context, me, peer hub.Account, text string) (code int, taken hub.Delivery, err error) {
	if len(text) > hub.MaxMessageBytes {
		return 413, 0, nil
	}
	// The hub stamps Sent with the clock reading it takes anyway.
	taken, err = c.srv.cfg.Hub.SendMessage(ctx, me, peer.Number, hub.Message{Text: text}, "")
	switch {
	case errors.Is(err, hub.ErrNotFound):
		return 404, 0, nil
	case err != nil:
		return 0, 0, err
	}
	return 0, taken, nil
}

// deliveryCode is the SIP answer to a message the hub took as d.
func deliveryCode(d hub.Delivery) int {
	switch d {
	case hub.Blocked:
		return 403
	case hub.MailboxFull:
		return 503
	}
	messagesCounted.Inc()
	return 200
}

// answerMessage answers the client's MESSAGE with code.
func (c *conn) answerMessage(m *wire.Message, code int) {
	switch code {
	case 403:
		c.respond(m, code, "the contact does not accept your messages")
	case 503:
		c.respond(m, code, "the contact's offline mailbox is full")
	default:
		c.respond(m, code, "")
	}
}

// handleMessage takes a message the client sends in a dialog.
func (c *conn) handleMessage(ctx context.Context, m *wire.Message) error {
	d := c.dialog(m)
	if d == nil {
		c.respond(m, 481, "")
		return nil
	}
	ct := m.Get(wire.HeaderContentType)
	var text string
	switch {
	case wire.HasPrefixFold(ct, "text/plain"):
		text = string(m.Body)
	case wire.HasPrefixFold(ct, "text/html"):
		text = stripHTML(string(m.Body))
	case wire.HasPrefixFold(ct, "application/im-iscomposing+xml"):
		active := strings.Contains(string(m.Body), "active")
		c.respond(m, 200, "")
		return c.typingToHub(ctx, d, active)
	case wire.HasPrefixFold(ct, invite.ContentType):
		return c.handleInvitation(ctx, d, m)
	default:
		c.respond(m, 415, "")
		return nil
	}
	if text == "" {
		c.respond(m, 400, "")
		return nil
	}
	// A contact who went offline during the session: the client drops
	// the session on 480 and starts another, which says the contact is
	// offline.
	me := c.sess().Account()
	if err := c.srv.cfg.Hub.CanReach(ctx, me, d.peer.Number); errors.Is(err, hub.ErrUnreachable) {
		c.mu.Lock()
		c.forgetLocked(d)
		c.mu.Unlock()
		c.respond(m, 480, "the contact is offline")
		return nil
	} else if err != nil {
		return err
	}
	code, taken, err := c.sendToHub(ctx, me, d.peer, text)
	if err != nil {
		return err
	}
	if code != 0 {
		c.answerMessage(m, code)
		return nil
	}
	// A message held in the batch's connections is answered once they
	// wrote or dropped it.
	// The answer is the last to read m: neither the handlers nor Next
	// look at a MESSAGE after it was handed to the hub.
	c.srv.cfg.Hub.Answer(ctx, taken, func(taken hub.Delivery) {
		c.answerMessage(m, deliveryCode(taken))
		m.Recycle()
	})
	return nil
}

// dialog finds the IM session of an in-dialog request.
func (c *conn) dialog(m *wire.Message) *dialog {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.dialogs[m.Get(wire.HeaderCallID)]
	if d != nil {
		d.used = time.Now()
	}
	return d
}

// handleInfo takes the client's typing notices (KeyboardActivity).
func (c *conn) handleInfo(ctx context.Context, m *wire.Message) error {
	d := c.dialog(m)
	if d == nil {
		c.respond(m, 481, "")
		return nil
	}
	c.respond(m, 200, "")
	if !strings.Contains(string(m.Body), "KeyboardActivity") {
		return nil
	}
	return c.typingToHub(ctx, d, strings.Contains(string(m.Body), `"type"`))
}

func (c *conn) typingToHub(ctx context.Context, d *dialog, typing bool) error {
	n := 0
	if typing {
		n = 1
	}
	return c.srv.cfg.Hub.SendTyping(ctx, c.sess().Account(), d.peer.Number, n, "")
}

// handleBye ends an IM session.
func (c *conn) handleBye(m *wire.Message) error {
	c.mu.Lock()
	d := c.dialogs[m.Get(wire.HeaderCallID)]
	if d != nil {
		c.forgetLocked(d)
	}
	c.mu.Unlock()
	if d == nil {
		c.respond(m, 481, "")
		return nil
	}
	c.respond(m, 200, "")
	c.failWaiting(d.waiting)
	return nil
}

func (c *conn) forgetLocked(d *dialog) {
	delete(c.dialogs, d.callID)
	if c.byPeer[d.peer.Number] == d {
		delete(c.byPeer, d.peer.Number)
	}
}

// deliverMessage brings a message from a contact to the client: in the
// newest IM session with the contact, or in a new one we INVITE the
// client to. It reports whether the connection took the message; from
// then on it either reaches the client (its 200 to our MESSAGE) or, when
// the client went away first, goes back to the mailbox (offline: 0) or
// stays claimed by the session (offline: the message's mailbox id).
func (c *conn) deliverMessage(o outgoing) bool {
	c.mu.Lock()
	if c.ended || c.session == nil {
		c.mu.Unlock()
		return false
	}
	d := c.byPeer[o.from.Number]
	invite := false
	var bye *wire.Message
	if d == nil {
		if len(c.dialogs) >= c.srv.cfg.MaxDialogs {
			if bye = c.evictLocked(); bye == nil {
				c.mu.Unlock()
				return false
			}
		}
		d = &dialog{
			callID: wire.RandomHex(12), peer: o.from, peerURI: c.srv.address(o.from), localTag: wire.RandomHex(5),
			target: c.contact, clientURI: c.self, ours: true, used: time.Now(),
		}
		c.addDialogLocked(d)
		invite = true
	}
	d.used = time.Now()
	if !d.established {
		d.waiting = append(d.waiting, o)
		c.mu.Unlock()
		if bye != nil {
			_ = c.request(bye, func(*wire.Message) {})
		}
		if invite {
			c.invite(d)
		}
		return true
	}
	c.mu.Unlock()
	return c.sendIM(d, o) == nil
}

// evictLocked forgets the IM session idle longest to make room and
// returns the BYE that ends it for the client; nil when every session is
// still starting.
func (c *conn) evictLocked() *wire.Message {
	var oldest *dialog
	for _, d := range c.dialogs {
		if d.established && (oldest == nil || d.used.Before(oldest.used)) {
			oldest = d
		}
	}
	if oldest == nil {
		return nil
	}
	c.forgetLocked(oldest)
	oldest.cseq++
	return c.inDialog(oldest, wire.MethodBye, oldest.cseq)
}

// inDialog starts a request of ours in d.
func (c *conn) inDialog(d *dialog, method string, cseq uint32) *wire.Message {
	if d.from == "" {
		d.from = "<" + d.peerURI + ">;tag=" + d.localTag
	}
	to := d.to
	if to == "" {
		to = "<" + d.clientURI + ">"
		if d.remoteTag != "" {
			to += ";tag=" + d.remoteTag
			d.to = to // the tag does not change once known
		}
	}
	return c.newRequest(method, d.target, d.from, to, d.callID, cseq)
}

// invite asks the client into a new IM session with d.peer; the messages
// waiting in it go once the client accepts.
func (c *conn) invite(d *dialog) {
	c.mu.Lock()
	d.cseq++
	m := c.inDialog(d, wire.MethodInvite, d.cseq).
		Add(wire.HeaderContact, "<"+d.peerURI+">").
		Add(wire.HeaderContentType, typeSDP)
	c.mu.Unlock()
	m.Body = c.sdp(d.peerURI)
	err := c.request(m, func(res *wire.Message) {
		c.mu.Lock()
		if res == nil || res.StatusCode >= 300 {
			c.forgetLocked(d)
			waiting := d.waiting
			d.waiting = nil
			c.mu.Unlock()
			if res != nil {
				c.log().Info("client refused an IM session", "code", res.StatusCode)
				c.refused(waiting)
			} else {
				c.failWaiting(waiting)
			}
			return
		}
		// Cloned: the answer's header lines share one allocation, which
		// the dialog is not to keep.
		d.remoteTag = strings.Clone(wire.Tag(res.Get(wire.HeaderTo)))
		if t := wire.AddressURI(res.Get(wire.HeaderContact)); t != "" {
			d.target = strings.Clone(t)
		}
		ack := c.inDialog(d, wire.MethodAck, d.cseq)
		c.mu.Unlock()
		c.establish(d, ack)
	})
	if err != nil {
		c.mu.Lock()
		c.forgetLocked(d)
		waiting := d.waiting
		d.waiting = nil
		c.mu.Unlock()
		c.failWaiting(waiting)
	}
}

// establish marks d accepted and sends, in order, first (when not nil)
// and the messages that waited. A message that comes meanwhile waits for
// them (c.order), so that none overtakes another.
func (c *conn) establish(d *dialog, first *wire.Message) {
	c.order.Lock()
	defer c.order.Unlock()
	c.mu.Lock()
	d.established = true
	waiting := d.waiting
	d.waiting = nil
	c.mu.Unlock()
	if first != nil {
		_ = c.send(first)
	}
	for _, o := range waiting {
		_ = c.sendIMOrdered(d, o)
	}
}

// sendIM sends one message in an established session.
func (c *conn) sendIM(d *dialog, o outgoing) error {
	c.order.Lock()
	defer c.order.Unlock()
	return c.sendIMOrdered(d, o)
}

// sendIMOrdered is sendIM for a caller holding c.order.
func (c *conn) sendIMOrdered(d *dialog, o outgoing) error {
	contentType, body := typeText, []byte(o.msg.Text)
	if o.invitation != nil {
		contentType, body = typeInvitation, o.invitation
	}
	c.mu.Lock()
	d.cseq++
	m := c.inDialog(d, wire.MethodMessage, d.cseq).Add(wire.HeaderContentType, contentType)
	c.mu.Unlock()
	m.Body = body
	t := transactions.Get().(*transaction)
	t.dialog, t.message = d, o
	err := c.startTransaction(m, t)
	m.Recycle() // encoded: the transaction keeps none of it
	if err != nil {
		c.failWaiting([]outgoing{o})
	}
	return err
}

// settleMessage settles a message of ours in d with the client's answer
// (nil: none came, or the connection ended).
func (c *conn) settleMessage(d *dialog, o outgoing, res *wire.Message) {
	switch {
	case res == nil:
		c.failWaiting([]outgoing{o})
	case res.StatusCode < 300:
		if o.offline != 0 {
			if err := c.sess().DeleteOffline(context.Background(), o.offline); err != nil {
				c.log().Warn("delete offline message", "err", err)
			}
		}
	case (res.StatusCode == 481 || res.StatusCode == 408 || res.StatusCode == 480) && !o.retried:
		// The client forgot the session: start a new one.
		c.mu.Lock()
		c.forgetLocked(d)
		c.mu.Unlock()
		o.retried = true
		if !c.deliverMessage(o) {
			c.failWaiting([]outgoing{o})
		}
	default:
		c.log().Info("client refused a message", "code", res.StatusCode)
		c.refused([]outgoing{o})
	}
}

// failWaiting settles messages the client never got because the
// connection or the session went first: live ones go back to the mailbox,
// stored ones stay claimed by the session, which returns them when it
// ends.
func (c *conn) failWaiting(os []outgoing) {
	s := c.sess()
	for _, o := range os {
		if o.invitation != nil {
			o.fail()
			continue
		}
		if o.offline == 0 && s != nil {
			s.Undelivered(o.from, o.msg)
		}
	}
}

// refused counts messages the client answered with an error: putting
// them back would only bring them to it again.
func (c *conn) refused(os []outgoing) {
	for _, o := range os {
		if o.invitation != nil {
			o.fail()
			continue
		}
		if o.offline == 0 {
			metrics.MessageOutcomes.WithLabelValues("refused").Inc()
		}
	}
}

// fail tells an invitation's sender the client did not take it.
func (o outgoing) fail() {
	if o.failed != nil {
		o.failed()
	}
}

// dropDialogs forgets every IM session at the end of the connection; what
// waited in them was settled with the pending requests.
func (c *conn) dropDialogs() {
	c.mu.Lock()
	var waiting []outgoing
	for _, d := range c.dialogs {
		waiting = append(waiting, d.waiting...)
		d.waiting = nil
	}
	clear(c.dialogs)
	clear(c.byPeer)
	c.mu.Unlock()
	c.failWaiting(waiting)
}

// typing tells the client a contact is typing, in their IM session if
// there is one.
func (c *conn) typing(from hub.Account, active bool) {
	c.mu.Lock()
	d := c.byPeer[from.Number]
	if d == nil || !d.established || c.ended {
		c.mu.Unlock()
		return
	}
	d.cseq++
	m := c.inDialog(d, wire.MethodInfo, d.cseq).Add(wire.HeaderContentType, typeKeyboard)
	c.mu.Unlock()
	status := "idle"
	if active {
		status = "type"
	}
	m.Body = []byte(fmt.Sprintf(`<?xml version="1.0"?><KeyboardActivity><status status="%s" /></KeyboardActivity>`, status))
	_ = c.request(m, func(*wire.Message) {})
}

// deliverOffline brings the client what was kept for the account; each
// message leaves the mailbox when the client answers its MESSAGE.
func (c *conn) deliverOffline(ctx context.Context) error {
	s := c.sess()
	if s == nil {
		return nil
	}
	waiting, err := s.OfflineMessages(ctx)
	if err != nil {
		return err
	}
	for _, m := range waiting {
		if !c.deliverMessage(outgoing{from: m.From, msg: m.Message, offline: m.ID}) {
			return nil
		}
	}
	return nil
}

// addDialogLocked records d as the newest IM session with its peer; c.mu
// is held. The tables are made by the first: an idle session keeps none.
func (c *conn) addDialogLocked(d *dialog) {
	if c.dialogs == nil {
		c.dialogs = make(map[string]*dialog)
		c.byPeer = make(map[uint32]*dialog)
	}
	c.dialogs[d.callID] = d
	c.byPeer[d.peer.Number] = d
}
