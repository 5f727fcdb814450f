package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/abch"
	"github.com/crosstalk-im/crosstalk/msnp/storage"
)

// abClient calls the address book services of a test server.
type abClient struct {
	t      *testing.T
	srv    *httptest.Server
	ticket string
}

func (c abClient) call(op string, args ...string) (abch.Book, string, error) {
	c.t.Helper()
	path := abch.AddressBookPath
	if op == "FindMembership" || op == "AddMember" || op == "DeleteMember" {
		path = abch.SharingPath
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var b abch.Book
	guid, err := abch.Call(ctx, c.srv.Client(), c.srv.URL+path, op, abch.NewRequest(op, c.ticket, args...), &b)
	return b, guid, err
}

func (c abClient) must(op string, args ...string) (abch.Book, string) {
	c.t.Helper()
	b, guid, err := c.call(op, args...)
	if err != nil {
		c.t.Fatalf("%s: %v", op, err)
	}
	return b, guid
}

func (c abClient) fault(code, op string, args ...string) {
	c.t.Helper()
	_, _, err := c.call(op, args...)
	var f *abch.Fault
	if !errors.As(err, &f) || f.Code != code {
		c.t.Errorf("%s: %v, want fault %s", op, err, code)
	}
}

func members(b abch.Book, role string) []string {
	var out []string
	for _, m := range b.Memberships {
		if m.Role == role {
			for _, x := range m.Members {
				out = append(out, x.Email)
			}
		}
	}
	return out
}

// TestAddressBookService edits Alice's lists through every ABCH operation
// and reads them back through the services and the store.
func TestAddressBookService(t *testing.T) {
	env := newTestEnv(t, nil)
	alice := env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	bob := env.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	env.addAccount(t, 1003, "carol@example.com", "Carol", "pc")
	srv := httptest.NewServer(env.srv.AddressBookHandler())
	t.Cleanup(srv.Close)
	c := abClient{t: t, srv: srv, ticket: env.srv.cfg.Passport.Issue(alice.Number, time.Now())}

	book, _ := c.must("ABFindContactsPaged", abch.FullViewArg)
	// Pidgin's paths start with two slashes.
	if _, err := abch.Call(context.Background(), srv.Client(), srv.URL+"/"+abch.SharingPath, "FindMembership",
		abch.NewRequest("FindMembership", c.ticket, abch.FullViewArg), &abch.Book{}); err != nil {
		t.Fatalf("FindMembership at //: %v", err)
	}
	if book.Me.Email != "alice@example.com" || book.Me.DisplayName != "Alice" || len(book.Contacts) != 0 {
		t.Fatalf("empty book: %+v", book)
	}
	_, bobID := c.must("ABContactAdd", abch.ContactArg("", "Bob@example.com"))
	if bobID != contactGUID(bob.Number) {
		t.Fatalf("ABContactAdd guid %q", bobID)
	}
	_, friends := c.must("ABGroupAdd", abch.NewGroupArg("Friends"))
	if _, guid := c.must("ABGroupContactAdd", abch.GroupFilterArg(friends), abch.ContactArg(bobID, "")); guid != bobID {
		t.Fatalf("ABGroupContactAdd guid %q", guid)
	}
	c.must("ABGroupUpdate", abch.GroupUpdateArg(friends, "Pals"))
	book, _ = c.must("ABFindAll", abch.FullViewArg)
	if len(book.Groups) != 1 || book.Groups[0].Name != "Pals" || len(book.Contacts) != 1 ||
		book.Contacts[0].Email != "bob@example.com" || !slices.Equal(book.Contacts[0].GroupIDs, []string{friends}) {
		t.Fatalf("after adds: %+v", book)
	}
	c.must("AddMember", abch.MemberArg("Allow", "bob@example.com"))
	c.must("AddMember", abch.MemberArg("Block", "carol@example.com"))
	// Reverse and Pending follow others; changes to them are no-ops.
	c.must("DeleteMember", abch.MemberArg("Pending", "carol@example.com"))
	// MSNPSharp names a member by the MembershipId it was given, a number.
	c.must("DeleteMember", `<memberships><Membership><MemberRole>Pending</MemberRole><Members><Member><MembershipId>1003</MembershipId></Member></Members></Membership></memberships>`)
	book, _ = c.must("FindMembership", abch.FullViewArg)
	if !slices.Equal(members(book, "Allow"), []string{"bob@example.com"}) || !slices.Equal(members(book, "Block"), []string{"carol@example.com"}) {
		t.Fatalf("memberships: %+v", book.Memberships)
	}
	// Bob sees Alice on his reverse list: she is pending for him until he
	// allows or blocks her.
	bc := abClient{t: t, srv: srv, ticket: env.srv.cfg.Passport.Issue(bob.Number, time.Now())}
	bobs, _ := bc.must("FindMembership", abch.FullViewArg)
	if !slices.Equal(members(bobs, "Reverse"), []string{"alice@example.com"}) || !slices.Equal(members(bobs, "Pending"), []string{"alice@example.com"}) {
		t.Fatalf("bob's memberships: %+v", bobs.Memberships)
	}
	c.must("ABContactUpdate", abch.MeDisplayNameArg("Alice W"))
	if a, err := env.store.Account(context.Background(), alice.Number); err != nil || a.DisplayName != "Alice W" {
		t.Fatalf("renamed: %+v %v", a, err)
	}
	c.must("ABGroupContactDelete", abch.GroupFilterArg(friends), abch.ContactArg(bobID, ""))
	c.must("ABGroupDelete", abch.GroupFilterArg(friends))
	c.must("DeleteMember", abch.MemberArg("Block", "carol@example.com"))
	c.must("ABContactDelete", abch.ContactArg(bobID, ""))
	r, err := env.store.Roster(context.Background(), alice.Number)
	if err != nil || r.On(hub.Forward, bob.Number) || r.On(hub.Block, 1003) || !r.On(hub.Allow, bob.Number) || len(r.Groups) > 1 {
		t.Fatalf("roster at the end: %+v %v", r, err)
	}
	if _, guid := c.must("ABAdd"); guid != abID {
		t.Fatalf("ABAdd: %q", guid)
	}

	// Faults.
	c.fault(abch.FaultInvalidPassportUser, "ABContactAdd", abch.ContactArg("", "nobody@example.com"))
	c.fault(abch.FaultInvalidPassportUser, "ABContactAdd", abch.ContactArg("", "not-an-address"))
	c.fault(abch.FaultContactDoesNotExist, "ABContactDelete", abch.ContactArg("junk", ""))
	c.fault(abch.FaultContactDoesNotExist, "ABContactUpdate", abch.ContactArg("", "carol@example.com"))
	c.fault(abch.FaultGroupDoesNotExist, "ABGroupDelete", abch.GroupFilterArg(friends))
	c.fault(abch.FaultGroupDoesNotExist, "ABGroupUpdate", abch.GroupUpdateArg("junk", "x"))
	c.fault(abch.FaultMemberDoesNotExist, "DeleteMember", `<memberships><Membership><MemberRole>Block</MemberRole><Members><Member><MembershipId>Block/x</MembershipId></Member></Members></Membership></memberships>`)
	c.fault(abch.FaultInvalidPassportUser, "AddMember", abch.MemberArg("Allow", "nobody@example.com"))
	// Pidgin sends RML before ABContactDelete and DeleteMember, and ADL
	// may come before AddMember: changes already made are no error.
	c.must("ABContactDelete", abch.ContactArg(bobID, ""))
	c.must("DeleteMember", abch.MemberArg("Block", "carol@example.com"))
	c.must("AddMember", abch.MemberArg("Allow", "bob@example.com"))
	c.fault(abch.FaultBadArgument, "AddMember", abch.MemberArg("Owner", "bob@example.com"))
	c.fault(abch.FaultBadArgument, "ABGroupAdd")
	// Group names are the hub's: unique and at most hub.MaxGroupNameBytes.
	_, work := c.must("ABGroupAdd", abch.NewGroupArg("Work"))
	c.must("ABGroupAdd", abch.NewGroupArg(strings.Repeat("n", hub.MaxGroupNameBytes)))
	c.fault(abch.FaultBadArgument, "ABGroupAdd", abch.NewGroupArg(strings.Repeat("n", hub.MaxGroupNameBytes+1)))
	c.fault(abch.FaultGroupAlreadyExists, "ABGroupAdd", abch.NewGroupArg("Work"))
	c.fault(abch.FaultGroupAlreadyExists, "ABGroupUpdate", abch.GroupUpdateArg(work, strings.Repeat("n", hub.MaxGroupNameBytes)))
	c.fault(abch.FaultBadArgument, "ABGroupUpdate", abch.GroupUpdateArg(work, ""))
	// Only a contact of the address book goes into a group, and only into
	// a group it has.
	c.fault(abch.FaultContactDoesNotExist, "ABGroupContactAdd", abch.GroupFilterArg(work), abch.ContactArg(bobID, ""))
	c.must("ABContactAdd", abch.ContactArg("", "bob@example.com"))
	c.fault(abch.FaultGroupDoesNotExist, "ABGroupContactAdd", abch.GroupFilterArg(groupGUID(99)), abch.ContactArg(bobID, ""))
	c.fault(abch.FaultGroupDoesNotExist, "ABGroupContactAdd", abch.GroupFilterArg("junk"), abch.ContactArg(bobID, ""))
	c.fault(abch.FaultContactDoesNotExist, "ABGroupContactDelete", abch.GroupFilterArg(work), abch.ContactArg(bobID, ""))
	c.must("ABGroupContactAdd", abch.GroupFilterArg(work), abch.ContactArg(bobID, ""))
	c.must("ABGroupContactDelete", abch.GroupFilterArg(work), abch.ContactArg(bobID, ""))
	// Pidgin adds a new contact straight into a group, by e-mail.
	if _, guid := c.must("ABGroupContactAdd", abch.GroupFilterArg(work), abch.ContactArg("", "carol@example.com")); guid != contactGUID(1003) {
		t.Errorf("carol added as %q", guid)
	}
	c.fault(abch.FaultContactDoesNotExist, "ABGroupContactDelete", abch.GroupFilterArg(work), abch.ContactArg("", "bob@example.com"))
	r, err = env.store.Roster(context.Background(), alice.Number)
	workID, _ := parseGroupGUID(work)
	inWork := false
	for _, e := range r.Of(hub.Forward) {
		inWork = inWork || e.Contact.Number == 1003 && slices.Contains(e.Groups, workID)
	}
	if err != nil || !inWork {
		t.Errorf("carol in alice's book: %+v %v", r.Of(hub.Forward), err)
	}
	// Deltas since no time at all, or since before the account was made,
	// cannot be told (TestAddressBookDeltas has the rest).
	c.fault(abch.FaultFullSyncRequired, "ABFindAll", `<deltasOnly>true</deltasOnly>`)
	// MSNPSharp's word that its profile changed, after UpdateProfile.
	c.must("UpdateDynamicItem", `<dynamicItems><DynamicItem xsi:type="PassportDynamicItem"><Type>Passport</Type><PassportName>alice@example.com</PassportName><Changes>Notifications</Changes></DynamicItem></dynamicItems>`)
	c.must("AddDynamicItem")
	// MSNPSharp (MSNP18) fetches everything again only on a fault whose
	// text contains "Full sync required"; on any other it leaves a new
	// contact half added, unable to chat.
	_, _, err = c.call("FindMembership", `<View>Full</View><deltasOnly>true</deltasOnly><lastChange>2026-01-01T00:00:00.0000000+00:00</lastChange>`)
	if f := (*abch.Fault)(nil); !errors.As(err, &f) || f.Code != abch.FaultFullSyncRequired || !strings.Contains(f.Message, "Full sync required") {
		t.Errorf("FindMembership deltas: %v", err)
	}
	bad := abClient{t: t, srv: srv, ticket: "t=forged&p="}
	bad.fault(abch.FaultAuth, "FindMembership", abch.FullViewArg)
	// Pidgin renews its ticket on this faultcode and on no other.
	resp, err := srv.Client().Post(srv.URL+abch.SharingPath, "text/xml", bytes.NewReader(abch.NewRequest("FindMembership", "t=forged&p=")))
	if err != nil {
		t.Fatal(err)
	}
	refusal, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(refusal), ">q0:BadContextToken</faultcode>") {
		t.Errorf("a refused ticket's fault: %s", refusal)
	}
	// An operation of the other service is not found at this one.
	ctx := context.Background()
	_, err = abch.Call(ctx, srv.Client(), srv.URL+abch.AddressBookPath, "FindMembership", abch.NewRequest("FindMembership", c.ticket), &abch.Book{})
	if f := (*abch.Fault)(nil); !errors.As(err, &f) || f.Code != abch.FaultBadArgument {
		t.Errorf("FindMembership at the address book: %v", err)
	}
	resp, err = srv.Client().Post(srv.URL+abch.AddressBookPath, "text/xml", nil)
	if err != nil || resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("empty body: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = srv.Client().Get(srv.URL + abch.AddressBookPath)
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestAddressBookLastChangeMoves: the address book's and the memberships'
// lastChange move on with each change to the lists. MSNPSharp (MSNP18)
// refetches the address book after adding a contact and applies the answer
// only when its lastChange is later than the one it has; while it stayed
// at the account's creation, a contact added during a session never
// became one it could chat with.
func TestAddressBookLastChangeMoves(t *testing.T) {
	env := newTestEnv(t, nil)
	alice := env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	bob := env.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	srv := httptest.NewServer(env.srv.AddressBookHandler())
	t.Cleanup(srv.Close)
	aliceAB := abClient{t: t, srv: srv, ticket: env.srv.cfg.Passport.Issue(alice.Number, time.Now())}
	bobAB := abClient{t: t, srv: srv, ticket: env.srv.cfg.Passport.Issue(bob.Number, time.Now())}
	// lastChange reads the one an answer of alice's carries: the first
	// element named so after the marker.
	lastChange := func(op, path, marker, element string) time.Time {
		t.Helper()
		resp, err := srv.Client().Post(srv.URL+path, "text/xml", bytes.NewReader(abch.NewRequest(op, aliceAB.ticket, abch.FullViewArg)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		_, rest, ok := strings.Cut(string(body), marker)
		_, rest, ok2 := strings.Cut(rest, "<"+element+">")
		value, _, _ := strings.Cut(rest, "<")
		when, err := time.Parse("2006-01-02T15:04:05.0000000-07:00", value)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s: no %s in %s", op, element, body)
		}
		return when
	}
	ab0 := lastChange("ABFindContactsPaged", abch.AddressBookPath, "<Ab>", "lastChange")
	ms0 := lastChange("FindMembership", abch.SharingPath, "</Info>", "LastChange")
	if again := lastChange("ABFindContactsPaged", abch.AddressBookPath, "<Ab>", "lastChange"); !again.Equal(ab0) {
		t.Errorf("lastChange moved without a change: %v, then %v", ab0, again)
	}
	aliceAB.must("ABContactAdd", abch.ContactArg("", "bob@example.com"))
	ab1 := lastChange("ABFindContactsPaged", abch.AddressBookPath, "<Ab>", "lastChange")
	if !ab1.After(ab0) {
		t.Errorf("address book lastChange %v after adding a contact, was %v", ab1, ab0)
	}
	// Bob adding Alice puts him on her reverse list.
	ms1 := lastChange("FindMembership", abch.SharingPath, "</Info>", "LastChange")
	bobAB.must("ABContactAdd", abch.ContactArg("", "alice@example.com"))
	if ms2 := lastChange("FindMembership", abch.SharingPath, "</Info>", "LastChange"); !ms2.After(ms1) || !ms1.After(ms0) {
		t.Errorf("memberships lastChange %v, %v, then %v after Bob added Alice", ms0, ms1, ms2)
	}
}

// roleDelta lists a role's members in an answer, the deleted ones marked
// with a leading "-".
func roleDelta(b abch.Book, role string) []string {
	var out []string
	for _, m := range b.Memberships {
		if m.Role != role {
			continue
		}
		for _, x := range m.Members {
			if x.Deleted {
				out = append(out, "-"+x.Email)
			} else {
				out = append(out, x.Email)
			}
		}
	}
	return out
}

// bookDelta lists an answer's groups and contacts (not Me) the same way.
func bookDelta(b abch.Book) (groups, contacts []string) {
	for _, g := range b.Groups {
		if g.Deleted {
			groups = append(groups, "-"+g.ID)
		} else {
			groups = append(groups, g.Name)
		}
	}
	for _, c := range b.Contacts {
		if c.Deleted {
			contacts = append(contacts, "-"+c.Email)
		} else {
			contacts = append(contacts, c.Email)
		}
	}
	return groups, contacts
}

// TestAddressBookDeltas: asked for deltas since the lastChange of an
// earlier answer, the services answer what changed since, what left the
// lists deleted, with a lastChange of their own; changes made by others
// and through other protocols (the hub's lists) among them. Only a
// lastChange they cannot tell from gets "Full sync required".
func TestAddressBookDeltas(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx := context.Background()
	alice := env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	env.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	carol := env.addAccount(t, 1003, "carol@example.com", "Carol", "pc")
	env.addAccount(t, 1004, "dave@example.com", "Dave", "pd")
	srv := httptest.NewServer(env.srv.AddressBookHandler())
	t.Cleanup(srv.Close)
	c := abClient{t: t, srv: srv, ticket: env.srv.cfg.Passport.Issue(alice.Number, time.Now())}
	carolLists := env.hub.ListEditor(carol)
	// deltas asks for the memberships and the address book (both forms)
	// since the given lastChanges.
	deltas := func(ms, ab time.Time) (abch.Book, abch.Book) {
		t.Helper()
		m, _ := c.must("FindMembership", abch.DeltasArg("FindMembership", ms))
		paged, _ := c.must("ABFindContactsPaged", abch.DeltasArg("ABFindContactsPaged", ab))
		all, _ := c.must("ABFindAll", abch.DeltasArg("ABFindAll", ab))
		pg, pc := bookDelta(paged)
		ag, ac := bookDelta(all)
		if !slices.Equal(pg, ag) || !slices.Equal(pc, ac) || !paged.Changed.Equal(all.Changed) || paged.Me.Email != "alice@example.com" {
			t.Fatalf("ABFindContactsPaged %+v and ABFindAll %+v differ", paged, all)
		}
		return m, paged
	}

	ms0, _ := c.must("FindMembership", abch.FullViewArg)
	ab0, _ := c.must("ABFindContactsPaged", abch.FullViewArg)
	m, ab := deltas(ms0.Changed, ab0.Changed)
	if g, cs := bookDelta(ab); len(g)+len(cs) != 0 || !ab.Changed.Equal(ab0.Changed) || !m.Changed.Equal(ms0.Changed) {
		t.Fatalf("nothing changed, yet: %+v %+v", m, ab)
	}
	for _, role := range []string{"Allow", "Block", "Reverse", "Pending"} {
		if got := roleDelta(m, role); len(got) != 0 {
			t.Errorf("nothing changed, yet %s: %q", role, got)
		}
	}

	// Alice adds Bob into a group and blocks Dave here; Carol adds her
	// from elsewhere.
	_, bobID := c.must("ABContactAdd", abch.ContactArg("", "bob@example.com"))
	_, friends := c.must("ABGroupAdd", abch.NewGroupArg("Friends"))
	c.must("ABGroupContactAdd", abch.GroupFilterArg(friends), abch.ContactArg(bobID, ""))
	c.must("AddMember", abch.MemberArg("Block", "dave@example.com"))
	if _, _, err := carolLists.AddContact(ctx, hub.Forward, alice.Number, 0); err != nil {
		t.Fatal(err)
	}
	m, ab = deltas(ms0.Changed, ab0.Changed)
	groups, contacts := bookDelta(ab)
	if !slices.Equal(groups, []string{"Friends"}) || !slices.Equal(contacts, []string{"bob@example.com"}) ||
		!slices.Equal(ab.Contacts[0].GroupIDs, []string{friends}) || !ab.Changed.After(ab0.Changed) {
		t.Errorf("address book deltas: groups %q, contacts %q, %+v", groups, contacts, ab)
	}
	for role, want := range map[string][]string{"Allow": nil, "Block": {"dave@example.com"}, "Reverse": {"carol@example.com"}, "Pending": {"carol@example.com"}} {
		if got := roleDelta(m, role); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", role, got, want)
		}
	}
	// What the first delta gave needs no second telling.
	ms1, ab1 := m, ab
	if m, ab = deltas(ms1.Changed, ab1.Changed); len(ab.Contacts)+len(ab.Groups)+len(roleDelta(m, "Reverse"))+len(roleDelta(m, "Block")) != 0 {
		t.Errorf("deltas since the last: %+v %+v", m, ab)
	}

	// Alice accepts Carol, then Carol takes Alice off her list; Alice
	// renames the group, deletes it, and drops Bob.
	c.must("AddMember", abch.MemberArg("Allow", "carol@example.com"))
	m, _ = deltas(ms1.Changed, ab1.Changed)
	if got := roleDelta(m, "Pending"); !slices.Equal(got, []string{"-carol@example.com"}) || !slices.Equal(roleDelta(m, "Allow"), []string{"carol@example.com"}) {
		t.Errorf("accepted: pending %q, allow %q", got, roleDelta(m, "Allow"))
	}
	if _, err := carolLists.RemoveContact(ctx, hub.Forward, alice.Number, -1); err != nil {
		t.Fatal(err)
	}
	c.must("ABGroupUpdate", abch.GroupUpdateArg(friends, "Pals"))
	if _, ab = deltas(ms1.Changed, ab1.Changed); !slices.Equal(first(bookDelta(ab)), []string{"Pals"}) {
		t.Errorf("renamed: %+v", ab.Groups)
	}
	c.must("ABGroupDelete", abch.GroupFilterArg(friends))
	c.must("ABContactDelete", abch.ContactArg(bobID, ""))
	c.must("DeleteMember", abch.MemberArg("Block", "dave@example.com"))
	m, ab = deltas(ms1.Changed, ab1.Changed)
	if groups, contacts := bookDelta(ab); !slices.Equal(groups, []string{"-" + friends}) || !slices.Equal(contacts, []string{"-bob@example.com"}) {
		t.Errorf("removals: groups %q, contacts %q", groups, contacts)
	}
	for role, want := range map[string][]string{"Allow": {"carol@example.com"}, "Block": {"-dave@example.com"}, "Reverse": {"-carol@example.com"}, "Pending": {"-carol@example.com"}} {
		if got := roleDelta(m, role); !slices.Equal(got, want) {
			t.Errorf("%s after removals: %q, want %q", role, got, want)
		}
	}
	// A deleted member's time is later than the one it was added with, as
	// MSNPSharp requires to drop it.
	for _, x := range m.Memberships[2].Members {
		if !x.Changed.After(ms1.Memberships[2].Members[0].Changed) {
			t.Errorf("carol left Reverse at %v, joined at %v", x.Changed, ms1.Memberships[2].Members[0].Changed)
		}
	}

	// The whole book never shows what is gone.
	full, _ := c.must("FindMembership", abch.FullViewArg)
	for _, ms := range full.Memberships {
		for _, x := range ms.Members {
			if x.Deleted {
				t.Errorf("full memberships hold a deleted %s %s", ms.Role, x.Email)
			}
		}
	}
	// A lastChange from before the account, or after its last change, is
	// none of its own.
	c.fault(abch.FaultFullSyncRequired, "FindMembership", abch.DeltasArg("FindMembership", alice.CreatedAt.Add(-time.Second)))
	c.fault(abch.FaultFullSyncRequired, "ABFindContactsPaged", abch.DeltasArg("ABFindContactsPaged", ab.Changed.Add(time.Millisecond)))
}

func first(groups, _ []string) []string { return groups }

// TestRedirectors: a call that reaches a service's redirector, which
// MSNPSharp calls first, is redirected to the service's own host, as the
// real redirectors did; MSNPSharp 2.5 finds no host to go on with after
// a successful answer there.
func TestRedirectors(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, c := range []struct {
		handler    http.Handler
		redirector string
		path       string
		want       string
	}{
		{env.srv.AddressBookHandler(), "byrdr.omega.contacts.msn.com", abch.SharingPath, "https://contacts.msn.com" + abch.SharingPath},
		{env.srv.AddressBookHandler(), "BYRDR.omega.contacts.msn.com:443", abch.AddressBookPath, "https://contacts.msn.com" + abch.AddressBookPath},
		{env.srv.StorageHandler(), "tkrdr.storage.msn.com", storage.Path, "https://storage.msn.com" + storage.Path},
	} {
		srv := httptest.NewServer(c.handler)
		req, err := http.NewRequest(http.MethodPost, srv.URL+c.path, bytes.NewReader(abch.NewRequest("FindMembership", "t=x&p=")))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = c.redirector
		hc := srv.Client()
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != c.want {
			t.Errorf("%s%s: %s, Location %q", c.redirector, c.path, resp.Status, resp.Header.Get("Location"))
		}
		srv.Close()
	}
	// The services' own hosts answer.
	srv := httptest.NewServer(env.srv.AddressBookHandler())
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+abch.SharingPath, bytes.NewReader(abch.NewRequest("FindMembership", "t=x&p=")))
	req.Host = "contacts.msn.com"
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError { // the fault of a forged ticket
		t.Errorf("contacts.msn.com: %s", resp.Status)
	}
}
