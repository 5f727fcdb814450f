package server

import (
	"context"
	"encoding/xml"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// Events the client subscribes to.
const (
	eventContacts     = "vnd-microsoft-roaming-contacts"
	eventSelf         = "vnd-microsoft-roaming-self"
	eventProvisioning = "vnd-microsoft-provisioning-v2"
	eventPresence     = "presence"
)

// subscription is the dialog a SUBSCRIBE made, for the NOTIFYs that follow.
type subscription struct {
	key       string // the event, and for presence the Call-ID
	callID    string
	remoteTag string // the client's
	target    string // where the client is reached
	cseq      uint32 // our last CSeq in the dialog
}

// watch is a contact whose presence the client subscribed to.
type watch struct {
	callID string // the subscription's
	uri    string // the contact as the client named it
}

func (c *conn) handleSubscribe(ctx context.Context, m *wire.Message) error {
	event, _, _ := strings.Cut(m.Get(wire.HeaderEvent), ";")
	event = strings.ToLower(strings.TrimSpace(event))
	unsubscribe := strings.TrimSpace(m.Get(wire.HeaderExpires)) == "0"
	switch event {
	case eventContacts, eventSelf:
		if unsubscribe {
			c.mu.Lock()
			c.unsubscribeLocked(event)
			c.mu.Unlock()
			_ = c.send(wire.Response(m, 200, c.tag).Add(wire.HeaderExpires, "0"))
			return nil
		}
		var body []byte
		var contentType string
		s := c.sess()
		if event == eventContacts {
			r, err := s.Roster(ctx)
			if err != nil {
				return err
			}
			body, contentType = contactList(r, c.srv.user), typeRoamingContacts
		} else {
			pending, err := c.pendingSubscribers(ctx, s)
			if err != nil {
				return err
			}
			body, contentType = roamingSelf(c.selfURI(), pending), typeRoamingSelf
		}
		c.subscribe(event, m)
		// The first document rides on the 200 (ms-piggyback-first-notify).
		res := wire.Response(m, 200, c.tag).
			Add(wire.HeaderExpires, seconds(roamingExpires)).
			Add(wire.HeaderEvent, event).
			Add(wire.HeaderPiggybackCSeq, "1").
			Add(wire.HeaderContentType, contentType)
		res.Body = body
		return c.send(res)
	case eventProvisioning:
		// A one-off subscription; there is no provisioning to give.
		_ = c.send(wire.Response(m, 200, c.tag).Add(wire.HeaderExpires, "0"))
	case eventPresence:
		return c.subscribePresence(ctx, m, unsubscribe)
	default:
		c.respond(m, 489, "")
	}
	return nil
}

func seconds(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }

func (c *conn) selfURI() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.self
}

// subscribe records the dialog of a SUBSCRIBE under key.
func (c *conn) subscribe(key string, m *wire.Message) *subscription {
	target := wire.AddressURI(m.Get(wire.HeaderContact))
	c.mu.Lock()
	defer c.mu.Unlock()
	if target == "" {
		target = c.contact
	}
	// Clones: what a subscription keeps for hours must not keep the
	// whole header lines it was cut from.
	callID := m.Get(wire.HeaderCallID)
	sub := c.subscriptionLocked(key)
	if sub == nil || sub.callID != callID {
		c.unsubscribeLocked(key)
		sub = &subscription{key: strings.Clone(key), callID: strings.Clone(callID), cseq: 1}
		c.subs = append(c.subs, sub)
	}
	sub.remoteTag = strings.Clone(wire.Tag(m.Get(wire.HeaderFrom)))
	if target == c.contact {
		sub.target = c.contact
	} else {
		sub.target = strings.Clone(target)
	}
	return sub
}

// subscriptionLocked is the subscription under key, or nil. The caller
// holds c.mu.
func (c *conn) subscriptionLocked(key string) *subscription {
	for _, sub := range c.subs {
		if sub.key == key {
			return sub
		}
	}
	return nil
}

// unsubscribeLocked ends the subscription under key, if there is one.
// The caller holds c.mu.
func (c *conn) unsubscribeLocked(key string) {
	c.subs = slices.DeleteFunc(c.subs, func(sub *subscription) bool { return sub.key == key })
}

// notifyLocked sends a document in the subscription under key, if the
// client has one: a BENOTIFY, which the client does not answer. The
// caller holds c.mu.
func (c *conn) notifyLocked(key, event, contentType string, body []byte, expires time.Duration) {
	sub := c.subscriptionLocked(key)
	if sub == nil {
		return
	}
	sub.cseq++
	m := c.newRequest(wire.MethodBENotify, sub.target, "<"+c.self+">;tag="+c.tag, "<"+c.self+">;tag="+sub.remoteTag, sub.callID, sub.cseq).
		Add(wire.HeaderEvent, event).
		Add(wire.HeaderSubscriptionState, "active;expires="+seconds(expires)).
		Add(wire.HeaderContentType, contentType)
	m.Body = body
	_ = c.send(m)
}

// pushContacts sends the contact list again after the client changed it.
func (c *conn) pushContacts(ctx context.Context) error {
	r, err := c.sess().Roster(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notifyLocked(eventContacts, eventContacts, typeRoamingContacts, contactList(r, c.srv.user), roamingExpires)
	return nil
}

// pendingSubscribers are the people who added the account and got no
// answer yet: on its reverse list, on neither its allow nor its block
// list.
func (c *conn) pendingSubscribers(ctx context.Context, s *hub.Session) ([]string, error) {
	r, err := s.Roster(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range r.Of(hub.Reverse) {
		n := e.Contact.Number
		if !r.On(hub.Allow, n) && !r.On(hub.Block, n) {
			out = append(out, c.srv.user(e.Contact))
		}
	}
	return out, nil
}

// pushSubscribers tells the client, in its roaming-self subscription,
// that someone added it; pidgin-sipe asks the user about them.
func (c *conn) pushSubscribers() {
	s := c.sess()
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.WriteTimeout)
	defer cancel()
	pending, err := c.pendingSubscribers(ctx, s)
	if err != nil {
		c.log().Warn("subscribers", "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notifyLocked(eventSelf, eventSelf, typeRoamingSelf, roamingSelf(c.self, pending), roamingExpires)
}

// subscribePresence answers a presence subscription: pidgin-sipe sends
// one for all its contacts (a batchSub to its own URI) and one for each
// contact it adds later. The 200 comes first, then one BENOTIFY per
// contact with what the account may see of it.
func (c *conn) subscribePresence(ctx context.Context, m *wire.Message, unsubscribe bool) error {
	callID := m.Get(wire.HeaderCallID)
	key := eventPresence + " " + callID
	if unsubscribe {
		c.mu.Lock()
		c.unsubscribeLocked(key)
		for n, w := range c.watching {
			if w.callID == callID {
				delete(c.watching, n)
			}
		}
		c.mu.Unlock()
		_ = c.send(wire.Response(m, 200, c.tag).Add(wire.HeaderExpires, "0"))
		return nil
	}
	uris := batchResources(m.Body)
	if len(uris) == 0 {
		if to := wire.AddressURI(m.Get(wire.HeaderTo)); !strings.EqualFold(wire.URIUser(to), wire.URIUser(c.selfURI())) {
			uris = []string{strings.Clone(to)} // a subscription to one contact's URI
		}
	}
	s := c.sess()
	me := s.Account()
	var contacts []hub.Account
	var names []string
	for _, uri := range uris {
		a, err := c.srv.resolve(ctx, uri)
		if err != nil || a.Number == me.Number {
			continue // unknown contacts stay offline in the client
		}
		contacts, names = append(contacts, a), append(names, uri)
	}
	callID = c.subscribe(key, m).callID
	if err := c.send(wire.Response(m, 200, c.tag).Add(wire.HeaderExpires, seconds(presenceExpires)).Add(wire.HeaderEvent, eventPresence)); err != nil {
		return err
	}
	// Changes that come while the snapshot is taken are held and sent
	// after it, so the last word on each contact is the newest.
	c.mu.Lock()
	if c.watching == nil && len(contacts) > 0 {
		c.watching = make(map[uint32]watch, len(contacts))
	}
	for i, a := range contacts {
		c.watching[a.Number] = watch{callID: callID, uri: names[i]}
	}
	c.presence = presenceHold
	c.mu.Unlock()
	var err error
	seen := make([]hub.Presence, len(contacts))
	for i, a := range contacts {
		seen[i] = hub.Presence{Contact: a}
		if seen[i].Status, seen[i].Text, err = c.srv.cfg.Hub.VisiblePresence(ctx, me.Number, a.Number); err != nil {
			break
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		for _, p := range seen {
			c.notifyPresenceLocked(p.Contact, p.Status, p.Text)
		}
	}
	for _, ev := range c.held {
		c.notifyPresenceLocked(ev.From, ev.Status, ev.Text)
	}
	c.held = nil
	c.presence = presenceLive
	return err
}

// batchResources reads the contacts of a batchSub ([MS-PRES] batch
// subscribe): the uri of each resource in its adhocList.
func batchResources(body []byte) []string {
	var uris []string
	_ = elements(body, func(path []string, el xml.StartElement, _ string) {
		if el.Name.Local == "resource" && len(path) > 0 && path[len(path)-1] == "adhocList" {
			if uri := attr(el, "uri"); uri != "" {
				uris = append(uris, uri)
			}
		}
	})
	return uris
}

// presenceChanged passes a contact's presence to the client when it
// subscribed to it.
func (c *conn) presenceChanged(ev hub.Event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.presence {
	case presenceHold:
		if len(c.held) >= 4*c.srv.cfg.Hub.MaxListEntries() {
			return false
		}
		c.held = append(c.held, ev)
	case presenceLive:
		c.notifyPresenceLocked(ev.From, ev.Status, ev.Text)
	}
	return true
}

func (c *conn) notifyPresenceLocked(a hub.Account, st hub.Status, text string) {
	w, ok := c.watching[a.Number]
	if !ok {
		return
	}
	if st.Visible() == hub.StatusOffline {
		text = ""
	}
	c.notifyLocked(eventPresence+" "+w.callID, eventPresence, typeCategories,
		categories(w.uri, st, text, a.DisplayName, time.Now()), presenceExpires)
}
