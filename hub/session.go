package hub

import (
	"context"
	"errors"
	"sync"
)

// Session is one logged-in connection of an account through one protocol.
type Session struct {
	hub      *Hub
	id       string
	protocol string
	instance string // see Hub.AttachInstance
	endpoint Endpoint
	attached int64 // Unix nanoseconds

	mu       sync.Mutex
	account  Account
	detached bool
	claimed  bool // the session claimed stored messages (under mailbox)
	// status and statusText are what the session last set, written back
	// if its node was taken for dead.
	status     Status
	statusText string
	// details is what the client says about itself in its protocol's
	// terms (see SetDetails).
	details string
	// mailbox orders this session's mailbox claims with their release at
	// Detach, so that no claim outlives the session.
	mailbox sync.Mutex
}

// addr is the client's address when its Endpoint is Addressed, "" when
// not: worked out when presence is written rather than kept, as the
// endpoint's connection keeps the address already.
func (s *Session) addr() string {
	if a, ok := s.endpoint.(Addressed); ok {
		return a.RemoteAddr().String()
	}
	return ""
}

// ID is unique among all sessions on every node.
func (s *Session) ID() string { return s.id }

// kickedBy reports whether a kick applies to this session: same protocol,
// and sent by a login newer than ours. A kick still in flight from an
// older login must not end a session that came after it. Across nodes this
// trusts clocks to agree to well within the time a person takes to log in
// twice. Logins naming different instances leave each other be; one
// without an instance takes over from all.
func (s *Session) kickedBy(ev Event) bool {
	if ev.At == 0 { // an operator's kick names its session (Hub.Kick)
		return s.id == ev.Session
	}
	sameInstance := s.instance == "" || ev.Instance == "" || s.instance == ev.Instance
	return s.protocol == ev.Protocol && s.id != ev.Session && s.attached < ev.At && sameInstance
}

// lastPresence is the status the session last set ("" before any).
func (s *Session) lastPresence() (Status, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status, s.statusText
}

// Protocol names the frontend that owns the session.
func (s *Session) Protocol() string { return s.protocol }

// Account is the session's account as of login or the last rename.
func (s *Session) Account() Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.account
}

// ErrDetached is returned by calls on a session that has ended.
var ErrDetached = errors.New("session has ended")

// SetPresence records this session's status and tells watchers when the
// account's effective status changes.
func (s *Session) SetPresence(ctx context.Context, st Status, text string) error {
	_, _, err := s.setPresence(ctx, st, text, false, nil)
	return err
}

// SignIn is SetPresence followed by Roster and OnlineContacts, for a
// client's first status after its login: one read of the account's lists
// serves all three. read, when not nil, is a Roster the session read since
// it attached (MSN's SYN asks for the lists first): when the lists have
// not changed since, SignIn reads only their serial instead.
func (s *Session) SignIn(ctx context.Context, st Status, text string, read *Roster) (*Roster, []Presence, error) {
	return s.setPresence(ctx, st, text, true, read)
}

// setPresence is SetPresence, and with signIn Roster and OnlineContacts
// after it.
func (s *Session) setPresence(ctx context.Context, st Status, text string, signIn bool, read *Roster) (*Roster, []Presence, error) {
	if !st.Valid() || st == StatusOffline {
		return nil, nil, ErrInvalid
	}
	s.mu.Lock()
	if s.detached {
		s.mu.Unlock()
		return nil, nil, ErrDetached
	}
	acct := s.account
	s.status, s.statusText = st, text
	details := s.details
	s.mu.Unlock()
	rec, before, after, newText, err := s.hub.updatePresence(ctx, acct.Number, s.id,
		&sessionPresence{ID: s.id, Status: st, Text: text, Protocol: s.protocol, Node: s.hub.cfg.Node, Details: details, Addr: s.addr()})
	if err != nil {
		return nil, nil, err
	}
	// A login of the same protocol on another node that the replica had
	// not shown at Attach shows up in the record that was just written.
	s.kickOthers(rec)
	announce := before.Visible() != after.Visible() || after.Visible() != StatusOffline
	if !announce && !signIn {
		return nil, nil, nil
	}
	// Read after the write above, the lists name everyone who could have
	// added this account before its watchers were told.
	r, err := s.listsNow(ctx, acct.Number, read)
	if err != nil {
		return nil, nil, err
	}
	if announce {
		s.hub.announceTo(r, acct, after, newText)
	}
	if !signIn {
		return nil, nil, nil
	}
	online, err := s.onlineContacts(ctx, r)
	return r, online, err
}

// SetDetails records what the client says about itself in its protocol's
// terms, opaque to the hub (MSN: dialect, capabilities, display picture);
// it goes out with the next SetPresence, and frontends of the same
// protocol on every node read it with Hub.Details.
func (s *Session) SetDetails(details string) {
	s.mu.Lock()
	s.details = details
	s.mu.Unlock()
}

// Detach ends the session: its status leaves the account's presence and
// watchers see the change. Offline messages it claimed but whose delivery
// its client never confirmed go back to the mailbox, for the account's
// other sessions or its next login. Safe to call more than once.
func (s *Session) Detach(ctx context.Context) {
	s.mu.Lock()
	if s.detached {
		s.mu.Unlock()
		return
	}
	s.detached = true
	acct := s.account
	s.mu.Unlock()
	s.hub.forget(s)
	_, before, after, text, err := s.hub.updatePresence(ctx, acct.Number, s.id, nil)
	if err != nil {
		s.hub.log.Warn("presence on detach", "account", acct.Number, "err", err)
	}
	var released int64
	var rerr error
	s.mailbox.Lock()
	if s.claimed { // most sessions never had a stored message: no write
		released, rerr = s.hub.cfg.Store.ReleaseOffline(ctx, acct.Number, s.id)
	}
	s.mailbox.Unlock()
	if rerr != nil {
		// A later login takes them over: this session is no longer live.
		s.hub.log.Warn("release offline messages", "account", acct.Number, "err", rerr)
	} else if released > 0 {
		s.hub.nudgeMailbox(ctx, acct.Number)
	}
	if err != nil {
		return
	}
	if before.Visible() != after.Visible() {
		if err := s.hub.announce(ctx, acct, after, text); err != nil {
			s.hub.log.Warn("announce on detach", "account", acct.Number, "err", err)
		}
	}
}

// ListEditor returns a session that is not attached, for a service that
// edits an account's lists outside a connection (MSN's address book over
// SOAP): its list, group and name changes have the side effects a
// session's have; it has no presence and receives no events.
func (h *Hub) ListEditor(acct Account) *Session {
	return &Session{hub: h, id: "lists-" + randomID(8), account: acct, detached: true}
}

// listsNow reads the owner's roster, or takes read when the lists have
// not changed since it was read: their serial moves with every change,
// someone else's adding the owner to their list too.
func (s *Session) listsNow(ctx context.Context, owner uint32, read *Roster) (*Roster, error) {
	if read != nil {
		serial, err := s.hub.cfg.Store.ListSerial(ctx, owner)
		if err != nil {
			return nil, err
		}
		if serial == read.Settings.Serial {
			return read, nil
		}
	}
	return s.hub.cfg.Store.Roster(ctx, owner)
}

// Roster reads the account's lists.
func (s *Session) Roster(ctx context.Context) (*Roster, error) {
	return s.hub.cfg.Store.Roster(ctx, s.Account().Number)
}

// OnlineContacts lists the forward-list contacts who are online and let
// this account see them: what a client shows right after signing in.
func (s *Session) OnlineContacts(ctx context.Context) ([]Presence, error) {
	r, err := s.Roster(ctx)
	if err != nil {
		return nil, err
	}
	return s.onlineContacts(ctx, r)
}

// onlineContacts is OnlineContacts of the lists r.
func (s *Session) onlineContacts(ctx context.Context, r *Roster) ([]Presence, error) {
	me := s.Account().Number
	var out []Presence
	for _, e := range r.Of(Forward) {
		st, text, err := s.hub.VisiblePresence(ctx, me, e.Contact.Number)
		if err != nil {
			return nil, err
		}
		if st != StatusOffline {
			out = append(out, Presence{Contact: e.Contact, Status: st, Text: text})
		}
	}
	return out, nil
}

// AddContact puts contact on one of this account's lists and carries the
// side effects: the contact learns it is on our reverse list, and a change of
// permission shows us online or offline to them. For a forward-list add it
// also returns what we may see of the contact now, so the frontend can show
// it right after its reply.
func (s *Session) AddContact(ctx context.Context, l List, contact uint32, group int) (ListChange, Presence, error) {
	change, err := s.changeList(ctx, l, contact, func() (ListChange, error) {
		return s.hub.cfg.Store.AddToList(ctx, s.Account().Number, contact, l, group, s.hub.cfg.MaxListEntries)
	}, EventReverseAdded)
	if err != nil || l != Forward {
		return change, Presence{Status: StatusOffline}, err
	}
	p := Presence{Status: StatusOffline}
	p.Contact, err = s.hub.cfg.Store.Account(ctx, contact)
	if err == nil {
		p.Status, p.Text, err = s.hub.VisiblePresence(ctx, s.Account().Number, contact)
	}
	return change, p, err
}

// RemoveContact takes contact off a list (see Store.RemoveFromList for group).
func (s *Session) RemoveContact(ctx context.Context, l List, contact uint32, group int) (ListChange, error) {
	return s.changeList(ctx, l, contact, func() (ListChange, error) {
		return s.hub.cfg.Store.RemoveFromList(ctx, s.Account().Number, contact, l, group)
	}, EventReverseRemoved)
}

func (s *Session) changeList(ctx context.Context, l List, contact uint32, apply func() (ListChange, error), reverseKind EventKind) (ListChange, error) {
	me := s.Account()
	before, err := s.hub.cfg.Store.Roster(ctx, me.Number)
	if err != nil {
		return ListChange{}, err
	}
	wasOnFL := before.On(Forward, contact)
	change, err := apply()
	if err != nil {
		return change, err
	}
	s.hub.listsChanged(me.Number, s.id)
	after, err := s.hub.cfg.Store.Roster(ctx, me.Number)
	if err != nil {
		return change, err
	}
	if l == Forward && wasOnFL != after.On(Forward, contact) {
		s.hub.publish(contact, Event{Kind: reverseKind, From: me, Serial: change.ContactSerial})
	}
	s.hub.refreshWatchers(ctx, me, before, after)
	return change, nil
}

// SetPrivacy changes who may see an account that is on neither AL nor BL.
func (s *Session) SetPrivacy(ctx context.Context, p Privacy) (uint32, error) {
	me := s.Account()
	before, err := s.hub.cfg.Store.Roster(ctx, me.Number)
	if err != nil {
		return 0, err
	}
	serial, err := s.hub.cfg.Store.SetPrivacy(ctx, me.Number, p)
	if err != nil {
		return 0, err
	}
	s.hub.listsChanged(me.Number, s.id)
	if after, err := s.hub.cfg.Store.Roster(ctx, me.Number); err == nil {
		s.hub.refreshWatchers(ctx, me, before, after)
	}
	return serial, nil
}

// SetPromptOnAdd records whether the client wants to be asked when someone
// adds the account.
func (s *Session) SetPromptOnAdd(ctx context.Context, prompt bool) (uint32, error) {
	return s.hub.cfg.Store.SetPromptOnAdd(ctx, s.Account().Number, prompt)
}

// Rename changes the display name; watchers see it with the current status.
func (s *Session) Rename(ctx context.Context, name string) (uint32, error) {
	me := s.Account()
	serial, err := s.hub.cfg.Store.SetDisplayName(ctx, me.Number, name)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.account.DisplayName = name
	me = s.account
	s.mu.Unlock()
	s.hub.announceName(ctx, me)
	return serial, nil
}

// Rename changes an account's display name from outside any of its
// sessions (the web account page, MSN's storage service); watchers see it
// with the current status, and its sessions on every node take it for
// the presence they announce later.
func (h *Hub) Rename(ctx context.Context, number uint32, name string) error {
	if _, err := h.cfg.Store.SetDisplayName(ctx, number, name); err != nil {
		return err
	}
	h.publish(number, Event{Kind: EventNotify, Notification: &Notification{Kind: notifyRenamed, Data: name}})
	a, err := h.cfg.Store.Account(ctx, number)
	if err != nil {
		return err
	}
	h.announceName(ctx, a)
	return nil
}

// announceName tells watchers of a renamed account, if it is online.
func (h *Hub) announceName(ctx context.Context, a Account) {
	if st, text, err := h.Presence(ctx, a.Number); err == nil && st.Visible() != StatusOffline {
		_ = h.announce(ctx, a, st, text)
	}
}

// notifyRenamed carries a display name set by Hub.Rename to the account's
// own sessions; the hub takes it itself and hands it to no frontend.
const notifyRenamed = "hub/renamed"

// renamedTo is the name ev carries to the account's sessions, if it is a
// notifyRenamed.
func (ev Event) renamedTo() (string, bool) {
	if ev.Kind != EventNotify || ev.Notification == nil || ev.Notification.Kind != notifyRenamed {
		return "", false
	}
	return ev.Notification.Data, true
}

// takeName records a display name set outside the session.
func (s *Session) takeName(name string) {
	s.mu.Lock()
	s.account.DisplayName = name
	s.mu.Unlock()
}

// AddGroup, RemoveGroup and RenameGroup edit forward-list groups.
func (s *Session) AddGroup(ctx context.Context, name string) (Group, uint32, error) {
	g, serial, err := s.hub.cfg.Store.AddGroup(ctx, s.Account().Number, name)
	if err == nil {
		s.ListsChanged()
	}
	return g, serial, err
}

func (s *Session) RemoveGroup(ctx context.Context, id int) (uint32, error) {
	serial, err := s.hub.cfg.Store.RemoveGroup(ctx, s.Account().Number, id)
	if err == nil {
		s.ListsChanged()
	}
	return serial, err
}

func (s *Session) RenameGroup(ctx context.Context, id int, name string) (uint32, error) {
	serial, err := s.hub.cfg.Store.RenameGroup(ctx, s.Account().Number, id, name)
	if err == nil {
		s.ListsChanged()
	}
	return serial, err
}

// ListsChanged tells the account's other sessions that its lists changed
// (EventListsChanged), for changes that leave who may see whom as it was:
// groups, and what a frontend keeps of a contact beside the lists.
func (s *Session) ListsChanged() {
	s.hub.publish(s.Account().Number, Event{Kind: EventListsChanged, Session: s.id})
}

// ErrUnreachable: the callee is offline, invisible, blocks the caller or is
// blocked by the caller.
var ErrUnreachable = errors.New("contact cannot be reached")

// Invite asks callee to join a conversation, after checking that from may
// reach them. Switchboards call it for connections that are not hub sessions.
func (h *Hub) Invite(ctx context.Context, from Account, callee uint32, inv Invite) error {
	if err := h.CanReach(ctx, from, callee); err != nil {
		return err
	}
	h.publish(callee, Event{Kind: EventInvite, From: from, Invite: &inv})
	return nil
}
