package server

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/abch"
)

// The address book and sharing services (ABCH) MSNP13+ clients load and
// edit their lists with, over HTTPS at contacts.msn.com (spec msnp8-18
// §3c). They read and change the same lists as every other protocol, by
// the same hub calls a session makes: the address book's contacts are the
// forward list, the sharing service's Allow, Block and Reverse roles the
// other lists, and Pending those who added the account and are on neither
// its allow nor its block list.

// AddressBookHandler serves abch.SharingPath and abch.AddressBookPath.
// Calls are authenticated by the ticket in their ABAuthHeader, which the
// token service issued (any node's, as with USR).
func (s *Server) AddressBookHandler() http.Handler { return http.HandlerFunc(s.serveAddressBook) }

// abCacheKey is the CacheKey every answer carries; the lists always go out
// whole, so there is no cache to key.
const abCacheKey = "crosstalk"

// abID names every account's one address book.
const abID = "00000000-0000-0000-0000-000000000000"

func (s *Server) serveAddressBook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a SOAP request", http.StatusMethodNotAllowed)
		return
	}
	if redirectService(w, r, abch.RedirectHost, abch.Host) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, abch.MaxBody+1))
	if err != nil {
		return
	}
	req, err := abch.ParseRequest(body)
	if err != nil || len(body) > abch.MaxBody {
		abch.WriteFault(w, "", abch.FaultBadArgument, "malformed request")
		return
	}
	if !abch.Serves(r.URL.Path, req.Operation) {
		abch.WriteFault(w, req.Operation, abch.FaultBadArgument, "no such operation here")
		return
	}
	acct, err := s.ticketOwner(r.Context(), req.Ticket)
	if err != nil {
		abch.WriteFault(w, req.Operation, abch.FaultAuth, "bad ticket")
		return
	}
	editor := s.cfg.Hub.ListEditor(acct)
	switch req.Operation {
	case "FindMembership", "ABFindAll", "ABFindContactsPaged":
		book, err := s.readBook(r.Context(), editor, req)
		if err != nil {
			s.abFault(w, req.Operation, err)
			return
		}
		if req.Operation == "FindMembership" {
			abch.WriteFindMembership(w, abCacheKey, book)
		} else {
			abch.WriteAddressBook(w, abCacheKey, req.Operation, book)
		}
		return
	case "ABAdd":
		abch.WriteResult(w, abCacheKey, req.Operation, abID)
		return
	case "AddDynamicItem", "UpdateDynamicItem":
		// The client's note that its roaming profile changed, for its
		// contacts' address books to say so (MSNPSharp sends it after
		// UpdateProfile). The storage service renamed the account for
		// every protocol already: there is nothing left to do.
		abch.WriteResult(w, abCacheKey, req.Operation, "")
		return
	}
	guid, err := s.abChange(r.Context(), editor, req)
	if err != nil {
		s.abFault(w, req.Operation, err)
		return
	}
	abch.WriteResult(w, abCacheKey, req.Operation, guid)
}

// ticketOwner is the account a ticket was issued to (the address book's
// and the offline-IM services' calls).
func (s *Server) ticketOwner(ctx context.Context, ticket string) (hub.Account, error) {
	number, err := s.cfg.Passport.Verify(ticket, time.Now())
	if err != nil {
		return hub.Account{}, err
	}
	return s.cfg.Hub.Store().Account(ctx, number)
}

// abFault answers an error of the hub or of the request as the fault
// clients know for it.
func (s *Server) abFault(w http.ResponseWriter, op string, err error) {
	var f *abch.Fault
	switch {
	case errors.As(err, &f):
	case errors.Is(err, hub.ErrNotFound):
		f = &abch.Fault{Code: abch.FaultInvalidPassportUser, Message: "no such account"}
	case errors.Is(err, hub.ErrAlreadyOnList):
		f = &abch.Fault{Code: abch.FaultContactAlreadyExists, Message: "already there"}
	case errors.Is(err, hub.ErrNotOnList):
		f = &abch.Fault{Code: abch.FaultContactDoesNotExist, Message: "not there"}
	case errors.Is(err, hub.ErrNoSuchGroup), errors.Is(err, hub.ErrDefaultGroup):
		f = &abch.Fault{Code: abch.FaultGroupDoesNotExist, Message: "no such group"}
	case errors.Is(err, hub.ErrGroupExists):
		f = &abch.Fault{Code: abch.FaultGroupAlreadyExists, Message: "group exists"}
	case errors.Is(err, hub.ErrInvalid), errors.Is(err, hub.ErrGroupNameTooLong), errors.Is(err, hub.ErrListFull),
		errors.Is(err, hub.ErrTooManyGroups), errors.Is(err, hub.ErrInOppositeList), errors.Is(err, hub.ErrUnchanged):
		f = &abch.Fault{Code: abch.FaultBadArgument, Message: err.Error()}
	default:
		s.log.Error("address book", "op", op, "err", err)
		f = &abch.Fault{Code: abch.FaultInternal, Message: "internal error"}
	}
	abch.WriteFault(w, op, f.Code, f.Message)
}

func badArgument(msg string) error { return &abch.Fault{Code: abch.FaultBadArgument, Message: msg} }

// cid is how the services name an account: its number.
func cid(number uint32) string { return strconv.FormatUint(uint64(number), 10) }

// The services' times are list serials: every lastChange is the
// account's creation plus a millisecond per change to its lists (its
// serial), the same on every node. Clients apply an answer only when its
// lastChange is later than the one they have (MSNPSharp skips it
// otherwise), and send that lastChange back when they ask for deltas,
// which names the serial their copy came from.
func changeTime(me hub.Account, serial uint32) time.Time {
	return me.CreatedAt.Add(time.Duration(serial) * time.Millisecond)
}

// changeSerial is the serial of a lastChange, rounded down: a client that
// kept it less precisely gets a little more than it missed, never less.
func changeSerial(me hub.Account, when time.Time) (uint32, bool) {
	ms := when.Sub(me.CreatedAt) / time.Millisecond
	if when.IsZero() || ms < 0 || ms > math.MaxUint32 {
		return 0, false
	}
	return uint32(ms), true
}

// errFullSync is the fault clients fetch everything again on; MSNPSharp
// knows it only by its text, capital F.
var errFullSync = &abch.Fault{Code: abch.FaultFullSyncRequired, Message: "Full sync required"}

// readBook reads what FindMembership, ABFindAll and ABFindContactsPaged
// answer: the whole book, or for a request of deltas what changed after
// its lastChange, removals included. Deltas are answered whenever the
// store can tell everything that changed since: it keeps removals for a
// bounded number per account, and knows nothing from before it kept them
// or from a lastChange that is not one of this account's (another
// account of the same address, or a time to come); only then must the
// client fetch everything.
func (s *Server) readBook(ctx context.Context, editor *hub.Session, req abch.Request) (abch.Book, error) {
	me := editor.Account()
	if !req.DeltasOnly {
		r, err := editor.Roster(ctx)
		if err != nil {
			return abch.Book{}, err
		}
		return bookOf(me, r, nil, 0, false), nil
	}
	since, ok := changeSerial(me, req.LastChange)
	if !ok {
		return abch.Book{}, errFullSync
	}
	r, removals, err := s.cfg.Hub.Store().ListChanges(ctx, me.Number, since)
	if errors.Is(err, hub.ErrChangesForgotten) {
		return abch.Book{}, errFullSync
	}
	if err != nil {
		return abch.Book{}, err
	}
	return bookOf(me, r, removals, since, true), nil
}

// bookOf shows the roster as the services do: all of it, or with deltas
// only what changed after serial since, and what was removed since as
// deleted. A contact or group removed and then added again is shown as it
// is now.
func bookOf(me hub.Account, r *hub.Roster, removals []hub.Removal, since uint32, deltas bool) abch.Book {
	at := func(serial uint32) time.Time { return changeTime(me, serial) }
	changed := func(serial uint32) bool { return !deltas || serial > since }
	b := abch.Book{
		// The owner's contact goes with every answer: a rename moves the
		// serial with no entry to show for it.
		Me:      abch.Contact{ID: contactGUID(me.Number), Email: me.Email, DisplayName: me.DisplayName, Type: "Me", CID: cid(me.Number), IsMessenger: true},
		ABID:    abID,
		Changed: at(r.Settings.Serial),
	}
	groups := map[int]bool{}
	for _, g := range r.Groups {
		groups[g.ID] = true
		if g.ID != 0 && changed(g.Changed) { // group 0 is "no group" from MSNP10 on
			b.Groups = append(b.Groups, abch.Group{ID: groupGUID(g.ID), Name: g.Name, Changed: at(g.Changed)})
		}
	}
	lists := map[hub.List]map[uint32]hub.Entry{hub.Forward: {}, hub.Allow: {}, hub.Block: {}, hub.Reverse: {}}
	for _, e := range r.Entries {
		lists[e.List][e.Contact.Number] = e
	}
	for _, e := range r.Of(hub.Forward) {
		if !changed(e.Changed) {
			continue
		}
		var groupIDs []string
		for _, g := range e.Groups {
			if g != 0 {
				groupIDs = append(groupIDs, groupGUID(g))
			}
		}
		b.Contacts = append(b.Contacts, abch.Contact{ID: contactGUID(e.Contact.Number), Email: e.Contact.Email,
			DisplayName: e.Contact.DisplayName, Type: "Regular", CID: cid(e.Contact.Number), GroupIDs: groupIDs, IsMessenger: true, Changed: at(e.Changed)})
	}
	gone := map[hub.List][]hub.Removal{}
	for _, x := range removals {
		switch _, on := lists[x.List][x.Contact]; {
		case x.List == "" && !groups[x.Group]:
			b.Groups = append(b.Groups, abch.Group{ID: groupGUID(x.Group), Deleted: true, Changed: at(x.Serial)})
		case x.List == hub.Forward && !on:
			b.Contacts = append(b.Contacts, abch.Contact{ID: contactGUID(x.Contact), Email: x.Email, Type: "Regular",
				CID: cid(x.Contact), Deleted: true, Changed: at(x.Serial)})
		case x.List != "" && !on:
			gone[x.List] = append(gone[x.List], x)
		}
	}
	b.Memberships = memberships(r, lists, gone, at, changed, deltas)
	return b
}

// memberRoles are the sharing service's roles that are lists.
var memberRoles = []struct {
	role string
	list hub.List
}{{"Allow", hub.Allow}, {"Block", hub.Block}, {"Reverse", hub.Reverse}}

// memberships shows the roles: each list's entries that changed and
// removals from it, and Pending, those on the reverse list and on neither
// the allow nor the block list. A contact's pending membership changes
// with any of those three lists, so it carries the latest of their
// changes, and is shown deleted (deltas only) when a change ended it.
func memberships(r *hub.Roster, lists map[hub.List]map[uint32]hub.Entry, gone map[hub.List][]hub.Removal,
	at func(uint32) time.Time, changed func(uint32) bool, deltas bool) []abch.Membership {
	member := func(e hub.Entry, when uint32) abch.Member {
		return abch.Member{Email: e.Contact.Email, CID: cid(e.Contact.Number), Name: e.Contact.DisplayName, Changed: at(when)}
	}
	deleted := func(x hub.Removal, when uint32) abch.Member {
		return abch.Member{Email: x.Email, CID: cid(x.Contact), Deleted: true, Changed: at(when)}
	}
	// touched is when a contact's membership last changed.
	touched := map[uint32]uint32{}
	note := func(number, serial uint32) { touched[number] = max(touched[number], serial) }
	var out []abch.Membership
	for _, role := range memberRoles {
		m := abch.Membership{Role: role.role}
		for _, e := range r.Of(role.list) {
			note(e.Contact.Number, e.Changed)
			if changed(e.Changed) {
				m.Members = append(m.Members, member(e, e.Changed))
			}
		}
		for _, x := range gone[role.list] {
			note(x.Contact, x.Serial)
			m.Members = append(m.Members, deleted(x, x.Serial))
		}
		out = append(out, m)
	}
	pending := abch.Membership{Role: "Pending"}
	for _, e := range r.Of(hub.Reverse) {
		n := e.Contact.Number
		if !changed(touched[n]) {
			continue
		}
		_, allowed := lists[hub.Allow][n]
		_, blocked := lists[hub.Block][n]
		switch {
		case !allowed && !blocked:
			pending.Members = append(pending.Members, member(e, touched[n]))
		case deltas:
			pending.Members = append(pending.Members, deleted(hub.Removal{Contact: n, Email: e.Contact.Email}, touched[n]))
		}
	}
	for _, x := range gone[hub.Reverse] {
		pending.Members = append(pending.Members, deleted(x, touched[x.Contact]))
	}
	return append(out, pending)
}

// abChange applies a change and returns the guid its result names, if any.
func (s *Server) abChange(ctx context.Context, editor *hub.Session, req abch.Request) (string, error) {
	switch req.Operation {
	case "ABContactAdd":
		number, err := s.abContact(ctx, editor, req.Contacts, false)
		if err != nil {
			return "", err
		}
		if _, _, err := editor.AddContact(ctx, hub.Forward, number, 0); err != nil && !errors.Is(err, hub.ErrAlreadyOnList) {
			return "", err
		}
		return contactGUID(number), nil
	case "ABContactDelete":
		for _, c := range req.Contacts {
			number, err := s.abContact(ctx, editor, []abch.Contact{c}, false)
			if err != nil {
				return "", err
			}
			// Pidgin sends RML before ABContactDelete: a contact already
			// gone is no error.
			if _, err := editor.RemoveContact(ctx, hub.Forward, number, -1); err != nil && !errors.Is(err, hub.ErrNotOnList) {
				return "", err
			}
		}
		return "", nil
	case "ABContactUpdate":
		return "", s.abContactUpdate(ctx, editor, req.Contacts)
	case "ABGroupAdd":
		if len(req.Groups) != 1 {
			return "", badArgument("one group")
		}
		g, _, err := editor.AddGroup(ctx, req.Groups[0].Name)
		if err != nil {
			return "", err
		}
		return groupGUID(g.ID), nil
	case "ABGroupDelete":
		for _, id := range req.GroupIDs {
			group, err := abGroup(id)
			if err != nil {
				return "", err
			}
			if _, err := editor.RemoveGroup(ctx, group); err != nil {
				return "", err
			}
		}
		return "", nil
	case "ABGroupUpdate":
		for _, g := range req.Groups {
			group, err := abGroup(g.ID)
			if err != nil {
				return "", err
			}
			if _, err := editor.RenameGroup(ctx, group, g.Name); err != nil {
				return "", err
			}
		}
		return "", nil
	case "ABGroupContactAdd", "ABGroupContactDelete":
		if len(req.GroupIDs) != 1 {
			return "", badArgument("one group")
		}
		group, err := abGroup(req.GroupIDs[0])
		if err != nil {
			return "", err
		}
		// A contact named by its contactId must be in the address book;
		// Pidgin adds a new contact straight into a group by its
		// passportName.
		byEmail := len(req.Contacts) == 1 && req.Contacts[0].ID == ""
		number, err := s.abContact(ctx, editor, req.Contacts, req.Operation == "ABGroupContactDelete" || !byEmail)
		if err != nil {
			return "", err
		}
		if req.Operation == "ABGroupContactDelete" {
			_, err = editor.RemoveContact(ctx, hub.Forward, number, group)
			return "", err
		}
		if _, _, err := editor.AddContact(ctx, hub.Forward, number, group); err != nil {
			return "", err
		}
		return contactGUID(number), nil
	case "AddMember", "DeleteMember":
		return "", s.abMembers(ctx, editor, req)
	}
	return "", badArgument("unknown operation")
}

// abContact resolves the one contact a request names: by contactId, or
// by passportName. onList requires the contact to be in the address book
// (on the forward list).
func (s *Server) abContact(ctx context.Context, editor *hub.Session, contacts []abch.Contact, onList bool) (uint32, error) {
	if len(contacts) != 1 {
		return 0, badArgument("one contact")
	}
	number, err := s.abContactNumber(ctx, contacts[0])
	if err != nil || !onList {
		return number, err
	}
	r, err := editor.Roster(ctx)
	if err != nil {
		return 0, err
	}
	if !r.On(hub.Forward, number) {
		return 0, hub.ErrNotOnList
	}
	return number, nil
}

func (s *Server) abContactNumber(ctx context.Context, c abch.Contact) (uint32, error) {
	if c.ID != "" {
		number, ok := parseContactGUID(c.ID)
		if !ok {
			return 0, &abch.Fault{Code: abch.FaultContactDoesNotExist, Message: "no such contact"}
		}
		return number, nil
	}
	if !validPassport(c.Email) {
		return 0, &abch.Fault{Code: abch.FaultInvalidPassportUser, Message: "not an address"}
	}
	acct, err := s.cfg.Hub.Store().AccountByEmail(ctx, strings.ToLower(c.Email))
	return acct.Number, err
}

// abContactUpdate renames the owner when the Me contact's display name
// changes; the hub shows every contact by the name they chose, so other
// contacts' changes are only checked.
func (s *Server) abContactUpdate(ctx context.Context, editor *hub.Session, contacts []abch.Contact) error {
	for _, c := range contacts {
		if c.Type == "Me" || c.ID == contactGUID(editor.Account().Number) {
			if c.DisplayName == "" {
				continue
			}
			if _, err := editor.Rename(ctx, c.DisplayName); err != nil {
				return err
			}
			editor.ListsChanged() // the book's Me contact
			continue
		}
		if _, err := s.abContact(ctx, editor, []abch.Contact{c}, true); err != nil {
			return err
		}
	}
	return nil
}

// memberLists maps the roles a client may change to lists; Reverse and
// Pending follow what others do, and changes to them are accepted as
// no-ops (clients drop a pending member after answering it).
var memberLists = map[string]hub.List{"Allow": hub.Allow, "Block": hub.Block}

func (s *Server) abMembers(ctx context.Context, editor *hub.Session, req abch.Request) error {
	if len(req.Memberships) == 0 {
		return badArgument("no membership")
	}
	for _, m := range req.Memberships {
		l, editable := memberLists[m.Role]
		if !editable && m.Role != "Reverse" && m.Role != "Pending" {
			return badArgument("unknown role")
		}
		for _, x := range m.Members {
			number, err := s.abMember(ctx, x)
			if err != nil {
				return err
			}
			if !editable {
				continue
			}
			// ADL and RML change the same lists, before or after this call:
			// a member already there, or already gone, is no error.
			if req.Operation == "AddMember" {
				_, _, err = editor.AddContact(ctx, l, number, -1)
			} else {
				_, err = editor.RemoveContact(ctx, l, number, -1)
			}
			if err != nil && !errors.Is(err, hub.ErrAlreadyOnList) && !errors.Is(err, hub.ErrNotOnList) {
				return err
			}
		}
	}
	return nil
}

// abMember resolves a member named by PassportName or by MembershipId
// (Role/cid, or the cid alone).
func (s *Server) abMember(ctx context.Context, m abch.Member) (uint32, error) {
	if m.Email != "" {
		if !validPassport(m.Email) {
			return 0, &abch.Fault{Code: abch.FaultInvalidPassportUser, Message: "not an address"}
		}
		acct, err := s.cfg.Hub.Store().AccountByEmail(ctx, strings.ToLower(m.Email))
		return acct.Number, err
	}
	id := m.MembershipID
	if _, rest, ok := strings.Cut(id, "/"); ok {
		id = rest
	}
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil {
		return 0, &abch.Fault{Code: abch.FaultMemberDoesNotExist, Message: "no such member"}
	}
	return uint32(n), nil
}

func abGroup(id string) (int, error) {
	group, ok := parseGroupGUID(id)
	if !ok || group == 0 {
		return 0, &abch.Fault{Code: abch.FaultGroupDoesNotExist, Message: "no such group"}
	}
	return group, nil
}

// redirectService answers a call that reached a service's redirector
// (MSNPSharp calls it first to learn where the service is) with a
// redirect to the service's host, as the real redirectors did: MSNPSharp
// 3.2 takes the host from Location; 2.5 must see the call fail, and
// falls back to the host it first had, which a successful answer left it
// without (KeyNotFoundException, no contact list).
func redirectService(w http.ResponseWriter, r *http.Request, redirector, service string) bool {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if !strings.EqualFold(host, redirector) {
		return false
	}
	w.Header().Set("Location", "https://"+service+r.URL.RequestURI())
	w.WriteHeader(http.StatusFound)
	return true
}
