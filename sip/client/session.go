package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// Availability values to publish ([MS-PRES]), as pidgin-sipe does.
const (
	AvailabilityOnline  = 3500
	AvailabilityBusy    = 6500
	AvailabilityDND     = 9500
	AvailabilityBRB     = 12500
	AvailabilityAway    = 15500
	AvailabilityOffline = 18500 // appear offline
)

// handle takes one message from the server in the reader goroutine.
func (c *Client) handle(m *wire.Message) error {
	c.mu.Lock()
	a := c.auth
	if a == nil && c.pendingAuth != nil && !m.IsRequest() && m.StatusCode == 200 && m.Transaction() == c.pendingKey {
		if c.verify(m, c.pendingAuth) {
			c.auth, a = c.pendingAuth, c.pendingAuth
		}
		c.pendingAuth = nil
	}
	c.mu.Unlock()
	if a != nil {
		if _, signed := m.Lookup(wire.HeaderAuthenticationInfo); signed {
			if !c.verify(m, a) {
				return ErrBadSignature
			}
		} else if m.IsRequest() || m.StatusCode >= 200 && m.StatusCode != 401 {
			_, method, _ := m.CSeq()
			if !strings.EqualFold(method, wire.MethodRegister) {
				c.log.Debug("sip: ignoring an unsigned message", "msg", m.FirstLine())
				return nil
			}
		}
	}
	if !m.IsRequest() {
		if m.StatusCode >= 200 {
			// Taken out as it is answered: an answer sent again finds
			// no one, and a channel is sent on once (see answerChans).
			k := m.Transaction()
			c.mu.Lock()
			ch := c.waiters[k]
			delete(c.waiters, k)
			c.mu.Unlock()
			if ch != nil {
				ch <- m // never blocks: room for one, and sent on once
			}
		}
		return nil
	}
	switch strings.ToUpper(m.Method) {
	case wire.MethodNotify:
		if err := c.respond(m, 200, "", nil, ""); err != nil {
			return err
		}
		return c.document(m)
	case wire.MethodBENotify:
		return c.document(m)
	case wire.MethodInvite:
		return c.answerInvite(m)
	case wire.MethodMessage:
		return c.incomingMessage(m)
	case wire.MethodInfo:
		if err := c.respond(m, 200, "", nil, ""); err != nil {
			return err
		}
		if bytes.Contains(m.Body, []byte("KeyboardActivity")) {
			return c.emit(Typing{From: wire.AddressURI(m.Get(wire.HeaderFrom)), Active: bytes.Contains(m.Body, []byte(`"type"`))})
		}
		return nil
	case wire.MethodBye:
		c.mu.Lock()
		if d := c.byCall[m.Get(wire.HeaderCallID)]; d != nil {
			delete(c.byCall, d.callID)
			delete(c.dialogs, peerKey(d.peer))
		}
		c.mu.Unlock()
		return c.respond(m, 200, "", nil, "")
	case wire.MethodAck:
		return nil
	case wire.MethodOptions:
		return c.respond(m, 200, "", nil, "")
	}
	return c.respond(m, 501, "", nil, "")
}

// document interprets what a NOTIFY (or a 200 with a piggy-backed first
// notification) carries.
func (c *Client) document(m *wire.Message) error {
	event, _, _ := strings.Cut(m.Get(wire.HeaderEvent), ";")
	switch strings.ToLower(strings.TrimSpace(event)) {
	case "presence":
		p, ok := parseCategories(m.Body)
		if !ok {
			return nil
		}
		return c.emit(p)
	case "vnd-microsoft-roaming-contacts":
		list := parseContactList(m.Body)
		c.mu.Lock()
		clear(c.contacts)
		for _, ct := range list.Contacts {
			c.contacts[strings.ToLower(ct.URI)] = true
		}
		c.mu.Unlock()
		return c.emit(list)
	case "vnd-microsoft-roaming-self":
		users := pendingSubscribers(m.Body)
		if len(users) == 0 {
			return nil
		}
		go c.acknowledge(users) // the reader must not wait for the answer
		return c.emit(Subscribers{Users: users})
	case "registration-notify":
		reason := wire.Between(m.Get(wire.HeaderDiagnostics), `reason="`, `"`)
		return c.emit(Deregistered{Reason: reason})
	}
	return nil
}

// acknowledge tells the server the user was asked about new subscribers,
// as pidgin-sipe does at once.
func (c *Client) acknowledge(users []string) {
	var b strings.Builder
	b.WriteString(`<setSubscribers xmlns="http://schemas.microsoft.com/2006/09/sip/presence-subscribers">`)
	for _, u := range users {
		fmt.Fprintf(&b, `<subscriber user="%s" acknowledged="true"/>`, xmlText(u))
	}
	b.WriteString(`</setSubscribers>`)
	m := c.service("application/msrtc-presence-setsubscriber+xml", b.String())
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.RequestTimeout)
	defer cancel()
	if _, err := c.requestOK(ctx, m); err != nil {
		c.log.Debug("sip: acknowledging subscribers", "err", err)
	}
}

// answerInvite accepts an IM session the server (a contact) starts.
func (c *Client) answerInvite(m *wire.Message) error {
	peer := wire.AddressURI(m.Get(wire.HeaderFrom))
	d := &dialog{
		callID: m.Get(wire.HeaderCallID), peer: peer, localTag: wire.RandomHex(5),
		remoteTag: wire.Tag(m.Get(wire.HeaderFrom)), target: wire.AddressURI(m.Get(wire.HeaderContact)),
	}
	if d.target == "" {
		d.target = peer
	}
	c.mu.Lock()
	if old := c.byCall[d.callID]; old != nil {
		d = old // a re-INVITE
	}
	c.dialogs[peerKey(peer)] = d
	c.byCall[d.callID] = d
	c.mu.Unlock()
	return c.respond(m, 200, d.localTag, c.sdp(), "application/sdp")
}

func (c *Client) sdp() []byte {
	host, port, _ := net.SplitHostPort(c.local)
	return []byte("v=0\r\no=- 0 0 IN IP4 " + host + "\r\ns=session\r\nc=IN IP4 " + host + "\r\nt=0 0\r\nm=message " + port +
		" sip null\r\na=accept-types:text/plain text/html application/im-iscomposing+xml text/x-msmsgsinvite\r\n")
}

func (c *Client) incomingMessage(m *wire.Message) error {
	ct := m.Get(wire.HeaderContentType)
	from := wire.AddressURI(m.Get(wire.HeaderFrom))
	switch {
	case wire.HasPrefixFold(ct, "text/plain"), wire.HasPrefixFold(ct, "text/html"):
		if err := c.respond(m, 200, "", nil, ""); err != nil {
			return err
		}
		return c.emit(Message{From: from, Text: string(m.Body)})
	case wire.HasPrefixFold(ct, "application/im-iscomposing+xml"):
		if err := c.respond(m, 200, "", nil, ""); err != nil {
			return err
		}
		return c.emit(Typing{From: from, Active: bytes.Contains(m.Body, []byte("active"))})
	case wire.HasPrefixFold(ct, invite.ContentType):
		return c.incomingInvitation(m, from)
	}
	return c.respond(m, 415, "", nil, "")
}

// SendMessage sends text to a contact ("bob@example.com" or with "sip:"):
// in the IM session with them, or in a new one whose INVITE carries the
// text (ms-text-format), as pidgin-sipe does. It returns once the server
// took the message; a refusal is a *StatusError (480: the contact is
// offline).
func (c *Client) SendMessage(ctx context.Context, to, text string) error {
	return c.sendInSession(ctx, to, typeText, []byte(text))
}

// sendInSession sends a MESSAGE of contentType to a contact in the IM
// session with them, starting one when there is none.
func (c *Client) sendInSession(ctx context.Context, to, contentType string, body []byte) error {
	c.mu.Lock()
	d := c.dialogs[peerKey(to)]
	c.mu.Unlock()
	if d == nil {
		return c.invite(ctx, Address(to), contentType, body)
	}
	m := c.inDialog(d, wire.MethodMessage).Add(wire.HeaderContentType, contentType).Add(wire.HeaderContact, c.contact)
	m.Body = body
	res, err := c.request(ctx, m)
	m.Recycle() // sent: the wait for its answer keeps none of it
	if err != nil {
		return err
	}
	defer res.Recycle() // read: no one else has it
	switch {
	case res.StatusCode == 481 || res.StatusCode == 408 || res.StatusCode == 480:
		// The session is gone: pidgin-sipe starts another.
		c.forget(d)
		return c.invite(ctx, Address(to), contentType, body)
	case res.StatusCode >= 300:
		return statusError(wire.MethodMessage, res)
	}
	return nil
}

// Delivery is a message posted in an IM session whose answer is still to
// be awaited (see PostMessages).
type Delivery struct {
	c      *Client
	dialog *dialog
	key    wire.Transaction
	// answer is nil for a text that started the session: the answer to
	// its INVITE accepted it before PostMessages returned.
	answer chan *wire.Message
}

// Wait waits for the server's answer to the message: nil when it took
// it, a *StatusError when it refused it (480: the contact is offline).
// After 481, 408 or 480 the session is forgotten, and the next message
// starts another. It may be called once; when ctx ends first the answer
// is no longer awaited.
func (dl *Delivery) Wait(ctx context.Context) error {
	if dl.answer == nil {
		return nil
	}
	res, err := dl.c.answer(ctx, dl.key, dl.answer)
	if err != nil {
		return err
	}
	defer res.Recycle() // read: no one else has it
	switch {
	case res.StatusCode == 481 || res.StatusCode == 408 || res.StatusCode == 480:
		dl.c.forget(dl.dialog)
		return statusError(wire.MethodMessage, res)
	case res.StatusCode >= 300:
		return statusError(wire.MethodMessage, res)
	}
	return nil
}

// PostMessages sends texts to a contact, in that order and in one write,
// and returns before the server answers them, so that a client need not
// wait for each answer before sending the next (pidgin-sipe keeps every
// message of a session unconfirmed until its answer comes);
// Delivery.Wait then waits for each one's. Without an IM session with the
// contact, the first text starts one as SendMessage does, and the rest
// follow once it is accepted. It returns the Deliveries in the order of
// texts, or the error that kept them from being sent.
func (c *Client) PostMessages(ctx context.Context, to string, texts []string) ([]*Delivery, error) {
	// One allocation for all the Deliveries: a paste is many messages.
	all := make([]Delivery, len(texts))
	ds := make([]*Delivery, len(texts))
	for i := range all {
		all[i].c = c
		ds[i] = &all[i]
	}
	c.mu.Lock()
	d := c.dialogs[peerKey(to)]
	c.mu.Unlock()
	posted := all
	if d == nil && len(texts) > 0 {
		if err := c.invite(ctx, Address(to), typeText, []byte(texts[0])); err != nil {
			return nil, err
		}
		posted = all[1:]
		c.mu.Lock()
		d = c.dialogs[peerKey(to)]
		c.mu.Unlock()
		if d == nil && len(posted) > 0 {
			return nil, fmt.Errorf("sip client: the IM session with %s ended as it started", to)
		}
	}
	if len(posted) == 0 {
		return ds, nil
	}
	ms := make([]*wire.Message, len(posted))
	for i := range posted {
		m := c.inDialog(d, wire.MethodMessage).Add(wire.HeaderContentType, typeText).Add(wire.HeaderContact, c.contact)
		m.Body = []byte(texts[len(texts)-len(posted)+i])
		ms[i] = m
		posted[i].dialog = d
		posted[i].key, posted[i].answer = c.await(m)
	}
	err := c.conn.SendAppend(ctx, func(dst []byte) ([]byte, error) {
		for _, m := range ms {
			var err error
			if dst, err = c.appendSigned(dst, m); err != nil {
				return nil, err
			}
		}
		return dst, nil
	})
	for _, m := range ms {
		m.Recycle() // sent, or not: the waits keep none of it
	}
	if err != nil {
		for i := range posted {
			c.forgetAnswer(posted[i].key, posted[i].answer)
		}
		return nil, err
	}
	return ds, nil
}

// typeText is the content type of our messages.
const typeText = "text/plain; charset=UTF-8"

// inDialog starts a request of ours in d; the caller sets the body.
func (c *Client) inDialog(d *dialog, method string) *wire.Message {
	c.mu.Lock()
	d.cseq++
	if d.from == "" {
		d.from = "<" + c.self + ">;tag=" + d.localTag + ";epid=" + c.epid
		d.to = "<" + d.peer + ">;tag=" + d.remoteTag
	}
	seq, from, to := d.cseq, d.from, d.to
	c.mu.Unlock()
	return c.base(method, d.target, from, to, d.callID, seq)
}

// peerKey is what dialogs are kept by: a contact's address without
// "sip:", in lower case, which it costs nothing to make of an address
// given without "sip:" and in lower case, as most are.
func peerKey(uri string) string { return strings.ToLower(wire.URIUser(uri)) }

func (c *Client) forget(d *dialog) {
	c.mu.Lock()
	delete(c.byCall, d.callID)
	if key := peerKey(d.peer); c.dialogs[key] == d {
		delete(c.dialogs, key)
	}
	c.mu.Unlock()
}

// invite starts an IM session with its first message, of contentType.
func (c *Client) invite(ctx context.Context, to, contentType string, body []byte) error {
	d := &dialog{callID: wire.RandomHex(12), peer: to, localTag: wire.RandomHex(5), target: to, cseq: 1}
	m := c.base(wire.MethodInvite, to, "<"+c.Self()+">;tag="+d.localTag+";epid="+c.epid, "<"+to+">", d.callID, 1).
		Add(wire.HeaderContact, c.contact).
		Add(wire.HeaderSupported, "ms-sender").
		Add(wire.HeaderTextFormat, contentType+";ms-body="+base64.StdEncoding.EncodeToString(body)).
		Add(wire.HeaderContentType, "application/sdp")
	m.Body = c.sdp()
	res, err := c.requestOK(ctx, m)
	if err != nil {
		return err
	}
	d.remoteTag = wire.Tag(res.Get(wire.HeaderTo))
	if t := wire.AddressURI(res.Get(wire.HeaderContact)); t != "" {
		d.target = t
	}
	ack := c.base(wire.MethodAck, d.target, "<"+c.Self()+">;tag="+d.localTag+";epid="+c.epid, "<"+to+">;tag="+d.remoteTag, d.callID, 1)
	if err := c.send(ack); err != nil {
		return err
	}
	c.mu.Lock()
	c.dialogs[peerKey(to)] = d
	c.byCall[d.callID] = d
	c.mu.Unlock()
	if res.HasValue(wire.HeaderSupported, "ms-text-format") {
		return nil
	}
	msg := c.inDialog(d, wire.MethodMessage).Add(wire.HeaderContentType, contentType)
	msg.Body = body
	_, err = c.requestOK(ctx, msg)
	return err
}

// Typing tells a contact we are typing (or stopped), in our IM session
// with them; without one there is no one to tell and it does nothing.
func (c *Client) Typing(ctx context.Context, to string, active bool) error {
	c.mu.Lock()
	d := c.dialogs[peerKey(to)]
	c.mu.Unlock()
	if d == nil {
		return nil
	}
	status := "idle"
	if active {
		status = "type"
	}
	m := c.inDialog(d, wire.MethodInfo).Add(wire.HeaderContentType, "application/xml")
	m.Body = []byte(`<?xml version="1.0"?><KeyboardActivity> <status status="` + status + `" /></KeyboardActivity>`)
	_, err := c.requestOK(ctx, m)
	return err
}

// EndChat closes the IM session with a contact (BYE), as closing a
// conversation window does.
func (c *Client) EndChat(ctx context.Context, to string) error {
	c.mu.Lock()
	d := c.dialogs[peerKey(to)]
	c.mu.Unlock()
	if d == nil {
		return nil
	}
	_, err := c.requestOK(ctx, c.inDialog(d, wire.MethodBye))
	c.forget(d)
	return err
}

// service is a SERVICE request to our own URI.
func (c *Client) service(contentType, body string) *wire.Message {
	m := c.newRequest(wire.MethodService, c.Self(), "").
		Add(wire.HeaderContact, c.contact).
		Add(wire.HeaderContentType, contentType)
	m.Body = []byte(body)
	return m
}

// SetStatus publishes our state (an Availability value) and note.
func (c *Client) SetStatus(ctx context.Context, availability int, note string) error {
	var b strings.Builder
	fmt.Fprintf(&b, `<publish xmlns="http://schemas.microsoft.com/2006/09/sip/rich-presence"><publications uri="%s">`, xmlText(c.Self()))
	for _, container := range []int{2, 3} {
		fmt.Fprintf(&b, `<publication categoryName="state" instance="1" container="%d" version="0" expireType="static">`+
			`<state xmlns="http://schemas.microsoft.com/2006/09/sip/state" manual="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="userState">`+
			`<availability>%d</availability><endpointLocation/></state></publication>`, container, availability)
	}
	for _, container := range []int{200, 300, 400} {
		if note == "" {
			fmt.Fprintf(&b, `<publication categoryName="note" instance="0" container="%d" version="0" expireType="static" expires="0"/>`, container)
			continue
		}
		fmt.Fprintf(&b, `<publication categoryName="note" instance="0" container="%d" version="0" expireType="static">`+
			`<note xmlns="http://schemas.microsoft.com/2006/09/sip/note"><body type="personal" uri="">%s</body></note></publication>`, container, xmlText(note))
	}
	b.WriteString(`</publications></publish>`)
	_, err := c.requestOK(ctx, c.service("application/msrtc-category-publish+xml", b.String()))
	return err
}

// SubscribePresence asks for contacts' presence (one batch subscription
// to our own URI); each arrives as a Presence event, and changes after it.
func (c *Client) SubscribePresence(ctx context.Context, uris ...string) error {
	if len(uris) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<batchSub xmlns="http://schemas.microsoft.com/2006/01/sip/batch-subscribe" uri="%s" name=""><action name="subscribe" id="63792024"><adhocList>`, xmlText(c.Self()))
	for _, u := range uris {
		fmt.Fprintf(&b, `<resource uri="%s"/>`, xmlText(Address(u)))
	}
	b.WriteString(`</adhocList><categoryList xmlns="http://schemas.microsoft.com/2006/09/sip/categorylist"><category name="calendarData"/><category name="contactCard"/><category name="note"/><category name="state"/></categoryList></action></batchSub>`)
	m := c.newRequest(wire.MethodSubscribe, c.Self(), "").
		Add(wire.HeaderRequire, "adhoclist, categoryList").
		Add(wire.HeaderSupported, "eventlist").
		Add(wire.HeaderAccept, "application/msrtc-event-categories+xml, application/rlmi+xml, multipart/related").
		Add(wire.HeaderEvent, "presence").
		Add(wire.HeaderContact, c.contact).
		Add(wire.HeaderContentType, "application/msrtc-adrl-categorylist+xml")
	m.Body = []byte(b.String())
	_, err := c.requestOK(ctx, m)
	return err
}

// ContactURIs lists the contact list's URIs (from the last ContactList).
func (c *Client) ContactURIs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.contacts))
	for u := range c.contacts {
		out = append(out, u)
	}
	return out
}

// soap sends a contact list change ([MS-SIP] roaming contacts SOAP).
func (c *Client) soap(ctx context.Context, method, params string) (*wire.Message, error) {
	body := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip"><s:Body><m:` +
		method + `>` + params + `<m:deltaNum>1</m:deltaNum></m:` + method + `></s:Body></s:Envelope>`
	return c.requestOK(ctx, c.service("application/SOAP+xml", body))
}

// AddContact puts a contact on the list (group 1, "Other Contacts", unless
// groups are given) and subscribes to its presence.
func (c *Client) AddContact(ctx context.Context, uri string, groups ...int) error {
	uri = Address(uri)
	if len(groups) == 0 {
		groups = []int{1}
	}
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = strconv.Itoa(g)
	}
	if _, err := c.soap(ctx, "setContact", `<m:displayName></m:displayName><m:groups>`+strings.Join(ids, " ")+
		`</m:groups><m:subscribed>true</m:subscribed><m:URI>`+xmlText(uri)+`</m:URI><m:externalURI />`); err != nil {
		return err
	}
	return c.SubscribePresence(ctx, uri)
}

// RemoveContact takes a contact off the list.
func (c *Client) RemoveContact(ctx context.Context, uri string) error {
	_, err := c.soap(ctx, "deleteContact", `<m:URI>`+xmlText(Address(uri))+`</m:URI>`)
	return err
}

// AddGroup makes a group and returns its id.
func (c *Client) AddGroup(ctx context.Context, name string) (int, error) {
	res, err := c.soap(ctx, "addGroup", `<m:name>`+xmlText(name)+`</m:name><m:externalURI />`)
	if err != nil {
		return 0, err
	}
	id, err := strconv.Atoi(wire.Between(string(res.Body), "groupID>", "<"))
	if err != nil {
		return 0, fmt.Errorf("sip client: addGroup answer without a group id")
	}
	return id, nil
}

// Block puts a contact in the blocked container, or takes it out.
func (c *Client) Block(ctx context.Context, uri string, block bool) error {
	action := "remove"
	if block {
		action = "add"
	}
	body := `<setContainerMembers xmlns="http://schemas.microsoft.com/2006/09/sip/container-management"><container id="32000" version="0"><member action="` +
		action + `" type="user" value="` + xmlText(wire.URIUser(uri)) + `"/></container></setContainerMembers>`
	_, err := c.requestOK(ctx, c.service("application/msrtc-setcontainermembers+xml", body))
	return err
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// walk visits every start element of a document with its text when it
// is a leaf, by local name.
func walk(doc []byte, visit func(el xml.StartElement, text string)) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = false
	var open *xml.StartElement
	var text bytes.Buffer
	for {
		tok, err := d.Token()
		if err != nil {
			if !errors.Is(err, io.EOF) && open != nil {
				visit(*open, text.String())
			}
			return
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if open != nil {
				visit(*open, "")
			}
			el := t.Copy()
			open = &el
			text.Reset()
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			if open != nil {
				visit(*open, text.String())
				open = nil
			}
		}
	}
}

func attr(el xml.StartElement, name string) string {
	for _, a := range el.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// parseCategories reads a contact's presence document.
func parseCategories(doc []byte) (Presence, bool) {
	var p Presence
	var category string
	walk(doc, func(el xml.StartElement, text string) {
		switch el.Name.Local {
		case "categories":
			p.URI = attr(el, "uri")
		case "category":
			category = attr(el, "name")
		case "availability":
			if category == "state" {
				p.Availability, _ = strconv.Atoi(strings.TrimSpace(text))
			}
		case "activity":
			p.Activity = attr(el, "token")
		case "body":
			if category == "note" {
				p.Note = text
			}
		case "displayName":
			p.DisplayName = text
		}
	})
	return p, p.URI != ""
}

// parseContactList reads the roaming contact list.
func parseContactList(doc []byte) ContactList {
	list := ContactList{Groups: map[int]string{}}
	walk(doc, func(el xml.StartElement, _ string) {
		switch el.Name.Local {
		case "group":
			id, _ := strconv.Atoi(attr(el, "id"))
			list.Groups[id] = attr(el, "name")
		case "contact":
			ct := Contact{URI: Address(attr(el, "uri")), Name: attr(el, "name")}
			for f := range strings.FieldsSeq(attr(el, "groups")) {
				if g, err := strconv.Atoi(f); err == nil {
					ct.Groups = append(ct.Groups, g)
				}
			}
			list.Contacts = append(list.Contacts, ct)
		}
	})
	return list
}

// pendingSubscribers reads the unacknowledged subscribers of roaming-self.
func pendingSubscribers(doc []byte) []string {
	var users []string
	walk(doc, func(el xml.StartElement, _ string) {
		if el.Name.Local == "subscriber" && attr(el, "acknowledged") == "false" {
			users = append(users, attr(el, "user"))
		}
	})
	return users
}
