package server

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// ownState is what the client published of its own presence.
type ownState struct {
	userAvail, machineAvail int // 0: not published, or withdrawn
	activity                string
	note                    string
}

// status is the hub status the publications add up to: the state the
// user chose, else the machine's.
func (o ownState) status() hub.Status {
	avail := o.userAvail
	if avail == 0 {
		avail = o.machineAvail
	}
	if avail == 0 {
		return hub.StatusInvisible
	}
	return StatusFromAvailability(avail, o.activity)
}

// containerBlocked is the [MS-PRES] container of blocked people.
const containerBlocked = "32000"

// handleService runs SERVICE requests: presence publications, contact
// list changes (SOAP), acknowledged subscribers and blocks.
func (c *conn) handleService(ctx context.Context, m *wire.Message) error {
	ct := strings.ToLower(m.Get(wire.HeaderContentType))
	var err error
	switch {
	case strings.HasPrefix(ct, typePublish):
		err = c.publish(ctx, m)
	case strings.HasPrefix(ct, typeSOAP):
		return c.soap(ctx, m)
	case strings.HasPrefix(ct, "application/msrtc-presence-setsubscriber+xml"):
		err = c.acknowledge(ctx, m.Body)
	case strings.HasPrefix(ct, "application/msrtc-setcontainermembers+xml"):
		err = c.setContainerMembers(ctx, m.Body)
	}
	if err != nil {
		return err
	}
	c.respond(m, 200, "")
	return nil
}

// publish takes the client's state and note to the hub.
func (c *conn) publish(ctx context.Context, m *wire.Message) error {
	p, err := parsePublish(m.Body)
	if err != nil {
		c.log().Debug("publication does not parse", "err", err)
		return nil
	}
	if p.userAvail == nil && p.machineAvail == nil && p.note == nil {
		return nil // devices, calendar data: nothing for the hub
	}
	c.mu.Lock()
	if p.userAvail != nil {
		c.own.userAvail = *p.userAvail
	}
	if p.machineAvail != nil {
		c.own.machineAvail = *p.machineAvail
	}
	if p.userAvail != nil || p.machineAvail != nil {
		c.own.activity = p.activity
	}
	if p.note != nil {
		c.own.note = truncate(*p.note, MaxNoteBytes)
	}
	own := c.own
	c.mu.Unlock()
	st, text := own.status(), own.note
	if st == hub.StatusInvisible {
		text = ""
	}
	return c.sess().SetPresence(ctx, st, text)
}

// MaxNoteBytes bounds a published note; longer ones are cut.
const MaxNoteBytes = 512

// soap runs a contact list change ([MS-SIP] roaming contacts SOAP): the
// method is the element inside Body, its parameters the leaves under it.
func (c *conn) soap(ctx context.Context, m *wire.Message) error {
	var method string
	params := map[string]string{}
	_ = elements(m.Body, func(path []string, el xml.StartElement, text string) {
		switch {
		case len(path) > 0 && path[len(path)-1] == "Body":
			method = el.Name.Local
		case method != "" && len(path) > 1 && path[len(path)-1] == method:
			params[el.Name.Local] = strings.TrimSpace(text)
		}
	})
	s := c.sess()
	var body string
	var err error
	switch method {
	case "setContact":
		err = c.setContact(ctx, s, params)
	case "deleteContact":
		var a hub.Account
		if a, err = c.srv.resolve(ctx, params["URI"]); err == nil {
			_, err = s.RemoveContact(ctx, hub.Forward, a.Number, -1)
		}
	case "addGroup":
		var g hub.Group
		if g, _, err = s.AddGroup(ctx, params["name"]); err == nil {
			body = fmt.Sprintf(`<m:groupID>%d</m:groupID>`, groupID(g.ID))
		}
	case "modifyGroup":
		if id, ok := hubGroup(params["groupID"]); ok {
			_, err = s.RenameGroup(ctx, id, params["name"])
		} else {
			err = hub.ErrNoSuchGroup
		}
	case "deleteGroup":
		if id, ok := hubGroup(params["groupID"]); ok {
			_, err = s.RemoveGroup(ctx, id)
		} else {
			err = hub.ErrNoSuchGroup
		}
	default:
		c.respond(m, 501, "")
		return nil
	}
	code, err := listCode(err)
	if err != nil {
		return err
	}
	if code != 200 {
		c.respond(m, code, "")
		return nil
	}
	res := wire.Response(m, 200, c.tag)
	if body != "" {
		res.Add(wire.HeaderContentType, "application/SOAP+xml")
		res.Body = []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:` + method +
			` xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip">` + body + `</m:` + method + `></s:Body></s:Envelope>`)
	}
	if err := c.send(res); err != nil {
		return err
	}
	return c.pushContacts(ctx)
}

// listCode maps the hub's list errors to SIP codes; other errors end the
// connection.
func listCode(err error) (int, error) {
	switch {
	case err == nil, errors.Is(err, hub.ErrAlreadyOnList), errors.Is(err, hub.ErrNotOnList), errors.Is(err, hub.ErrUnchanged):
		return 200, nil
	case errors.Is(err, hub.ErrNotFound), errors.Is(err, hub.ErrNoSuchGroup):
		return 404, nil
	case errors.Is(err, hub.ErrListFull), errors.Is(err, hub.ErrTooManyGroups), errors.Is(err, hub.ErrDefaultGroup):
		return 403, nil
	case errors.Is(err, hub.ErrGroupExists), errors.Is(err, hub.ErrGroupNameTooLong), errors.Is(err, hub.ErrInvalid),
		errors.Is(err, hub.ErrInOppositeList):
		return 400, nil
	}
	return 0, err
}

// hubGroup reads a group id of the wire (see groupID).
func hubGroup(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 {
		return 0, false
	}
	return n - 1, true
}

// setContact adds a contact to the forward list, or moves it to the
// groups named.
func (c *conn) setContact(ctx context.Context, s *hub.Session, params map[string]string) error {
	a, err := c.srv.resolve(ctx, params["URI"])
	if err != nil {
		return err
	}
	var want []int
	for f := range strings.FieldsSeq(params["groups"]) {
		if g, ok := hubGroup(f); ok {
			want = append(want, g)
		}
	}
	if len(want) == 0 {
		want = []int{0}
	}
	r, err := s.Roster(ctx)
	if err != nil {
		return err
	}
	var have []int
	for _, e := range r.Of(hub.Forward) {
		if e.Contact.Number == a.Number {
			have = e.Groups
		}
	}
	for _, g := range want {
		if !contains(have, g) {
			if _, _, err := s.AddContact(ctx, hub.Forward, a.Number, g); err != nil && !errors.Is(err, hub.ErrAlreadyOnList) {
				return err
			}
		}
	}
	for _, g := range have {
		if !contains(want, g) {
			if _, err := s.RemoveContact(ctx, hub.Forward, a.Number, g); err != nil && !errors.Is(err, hub.ErrNotOnList) {
				return err
			}
		}
	}
	return nil
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// acknowledge records that the client saw who added it
// (setSubscribers): they go on the allow list, so the question is not
// asked again.
func (c *conn) acknowledge(ctx context.Context, body []byte) error {
	var users []string
	_ = elements(body, func(_ []string, el xml.StartElement, _ string) {
		if el.Name.Local == "subscriber" && attr(el, "acknowledged") == "true" {
			users = append(users, attr(el, "user"))
		}
	})
	s := c.sess()
	for _, u := range users {
		a, err := c.srv.resolve(ctx, "sip:"+wire.URIUser(u))
		if err != nil {
			continue
		}
		rel, err := c.srv.cfg.Hub.Store().Relation(ctx, s.Account().Number, a.Number)
		if err != nil {
			return err
		}
		if !rel.OnAllow && !rel.OnBlock {
			if _, _, err := s.AddContact(ctx, hub.Allow, a.Number, -1); err != nil {
				if _, err := listCode(err); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// setContainerMembers applies access levels: a member added to the
// blocked container is blocked, a member added to any other container or
// removed from the blocked one is unblocked.
func (c *conn) setContainerMembers(ctx context.Context, body []byte) error {
	type change struct {
		user  string
		block bool
	}
	var changes []change
	var container string
	_ = elements(body, func(_ []string, el xml.StartElement, _ string) {
		switch el.Name.Local {
		case "container":
			container = attr(el, "id")
		case "member":
			if attr(el, "type") != "user" {
				return
			}
			add := attr(el, "action") == "add"
			switch {
			case container == containerBlocked:
				changes = append(changes, change{attr(el, "value"), add})
			case add:
				changes = append(changes, change{attr(el, "value"), false})
			}
		}
	})
	s := c.sess()
	for _, ch := range changes {
		a, err := c.srv.resolve(ctx, "sip:"+wire.URIUser(ch.user))
		if err != nil {
			continue
		}
		var from, to hub.List = hub.Block, hub.Allow
		if ch.block {
			from, to = hub.Allow, hub.Block
		}
		if _, err := s.RemoveContact(ctx, from, a.Number, -1); err != nil {
			if _, err := listCode(err); err != nil {
				return err
			}
		}
		if !ch.block {
			continue // unblocking leaves the allow list alone
		}
		if _, _, err := s.AddContact(ctx, to, a.Number, -1); err != nil {
			if _, err := listCode(err); err != nil {
				return err
			}
		}
	}
	return nil
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
