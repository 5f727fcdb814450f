package abch

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

func TestRequestRoundTrip(t *testing.T) {
	since := time.Date(2026, 3, 4, 5, 6, 7, 8e6, time.UTC)
	for _, c := range []struct {
		op   string
		args []string
		want Request
	}{
		{"FindMembership", []string{FullViewArg}, Request{}},
		{"ABFindAll", []string{`<deltasOnly>true</deltasOnly>`}, Request{DeltasOnly: true}},
		{"ABFindAll", []string{DeltasArg("ABFindAll", since)}, Request{DeltasOnly: true, LastChange: since}},
		{"FindMembership", []string{DeltasArg("FindMembership", since)}, Request{DeltasOnly: true, LastChange: since}},
		{"ABFindContactsPaged", []string{DeltasArg("ABFindContactsPaged", since)}, Request{DeltasOnly: true, LastChange: since}},
		// MSNPSharp's first FindMembership: a lastChange, but no deltas.
		{"FindMembership", []string{`<View>Full</View><lastChange>0001-01-01T00:00:00.0000000</lastChange>`}, Request{}},
		{"FindMembership", []string{`<deltasOnly>true</deltasOnly><lastChange>2026-12-07T07:15:01.0000000+00:00</lastChange>`},
			Request{DeltasOnly: true, LastChange: time.Date(2026, 12, 7, 7, 15, 1, 0, time.UTC)}},
		{"FindMembership", []string{`<deltasOnly>true</deltasOnly><lastChange>2026-12-07T08:15:01.5+01:00</lastChange>`},
			Request{DeltasOnly: true, LastChange: time.Date(2026, 12, 7, 7, 15, 1, 5e8, time.UTC)}},
		{"ABFindContactsPaged", []string{`<filterOptions><DeltasOnly>true</DeltasOnly><LastChanged>2026-12-07T07:15:01</LastChanged></filterOptions>`},
			Request{DeltasOnly: true, LastChange: time.Date(2026, 12, 7, 7, 15, 1, 0, time.UTC)}},
		{"ABFindAll", []string{`<deltasOnly>true</deltasOnly><lastChange>yesterday</lastChange>`}, Request{DeltasOnly: true}},
		{"ABContactAdd", []string{ContactArg("", "bob@example.com")}, Request{Contacts: []Contact{{Email: "bob@example.com", Type: "LivePending", IsMessenger: true}}}},
		{"ABContactDelete", []string{ContactArg("00000000-0000-0000-0000-0000000003ea", "")}, Request{Contacts: []Contact{{ID: "00000000-0000-0000-0000-0000000003ea", IsMessenger: true}}}},
		{"ABContactUpdate", []string{MeDisplayNameArg("Alice & co")}, Request{Contacts: []Contact{{Type: "Me", DisplayName: "Alice & co", IsMessenger: true}}}},
		{"ABGroupAdd", []string{NewGroupArg("Friends")}, Request{Groups: []Group{{Name: "Friends"}}}},
		{"ABGroupUpdate", []string{GroupUpdateArg("g1", "Pals")}, Request{Groups: []Group{{ID: "g1", Name: "Pals"}}}},
		{"ABGroupContactAdd", []string{GroupFilterArg("g1"), ContactArg("c1", "")}, Request{GroupIDs: []string{"g1"}, Contacts: []Contact{{ID: "c1", IsMessenger: true}}}},
		{"AddMember", []string{MemberArg("Block", "carol@example.com")}, Request{Memberships: []Membership{{Role: "Block", Members: []Member{{Email: "carol@example.com"}}}}}},
	} {
		got, err := ParseRequest(NewRequest(c.op, "t=abc&p=", c.args...))
		c.want.Operation, c.want.Ticket = c.op, "t=abc&p="
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v %v, want %+v", c.op, got, err, c.want)
		}
	}
	for _, bad := range []string{``, `<x/>`, `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body></soap:Body></soap:Envelope>`, `<Envelope><Body><ABAdd>`} {
		if _, err := ParseRequest([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestResponses(t *testing.T) {
	changed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// Items carry their own times of change, and answers of deltas
	// deleted ones.
	earlier := func(ms int) time.Time { return changed.Add(-time.Duration(ms) * time.Millisecond) }
	book := Book{
		Me:   Contact{ID: "me", Email: "alice@example.com", DisplayName: "Alice", Type: "Me", CID: "1001", IsMessenger: true, Changed: changed},
		ABID: "ab",
		Groups: []Group{{ID: "g1", Name: "Friends & family", Changed: earlier(3)},
			{ID: "g2", Deleted: true, Changed: earlier(1)}},
		Contacts: []Contact{{ID: "c1", Email: "bob@example.com", DisplayName: "Bob", Type: "Regular", CID: "1002", GroupIDs: []string{"g1"}, IsMessenger: true, Changed: earlier(2)},
			{ID: "c2", Email: "carol@example.com", Type: "Regular", CID: "1003", Deleted: true, Changed: earlier(4)}},
		Memberships: []Membership{
			// A member's MembershipId is its CID, a number.
			{Role: "Allow", Members: []Member{{Email: "bob@example.com", CID: "1002", MembershipID: "1002", Name: "Bob", Changed: earlier(5)},
				{Email: "carol@example.com", CID: "1003", MembershipID: "1003", Deleted: true, Changed: earlier(6)}}},
			{Role: "Reverse"},
		},
		Changed: changed,
	}
	for _, op := range []string{"ABFindAll", "ABFindContactsPaged"} {
		rec := httptest.NewRecorder()
		WriteAddressBook(rec, "k", op, book)
		var got Book
		if _, err := ParseResponse(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		want := book
		want.Memberships = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v", op, got)
		}
	}
	rec := httptest.NewRecorder()
	WriteFindMembership(rec, "k", book)
	var got Book
	if _, err := ParseResponse(rec.Body.Bytes(), &got); err != nil || len(got.Memberships) != 2 || !got.Changed.Equal(changed) {
		t.Fatalf("FindMembership: %+v %v", got, err)
	}
	if !reflect.DeepEqual(got.Memberships[0], book.Memberships[0]) || got.Memberships[1].Role != "Reverse" {
		t.Fatalf("FindMembership: %+v", got.Memberships)
	}
	// An item without a time of its own is written with the answer's.
	rec = httptest.NewRecorder()
	WriteFindMembership(rec, "k", Book{Memberships: []Membership{{Role: "Allow", Members: []Member{{Email: "a@b", CID: "1"}}}}, Changed: changed})
	got = Book{}
	if _, err := ParseResponse(rec.Body.Bytes(), &got); err != nil || !got.Memberships[0].Members[0].Changed.Equal(changed) {
		t.Fatalf("a member without its time: %+v %v", got, err)
	}
	for op, want := range map[string]string{"ABContactAdd": "c9", "ABAdd": "ab9", "ABContactDelete": ""} {
		rec := httptest.NewRecorder()
		WriteResult(rec, "k", op, want)
		if guid, err := ParseResponse(rec.Body.Bytes(), &Book{}); err != nil || guid != want {
			t.Errorf("%s: %q %v", op, guid, err)
		}
	}
	rec = httptest.NewRecorder()
	WriteFault(rec, "ABContactAdd", FaultContactAlreadyExists, "already <there>")
	var f *Fault
	if _, err := ParseResponse(rec.Body.Bytes(), &Book{}); !errors.As(err, &f) || f.Code != FaultContactAlreadyExists || f.Message != "already <there>" || rec.Code != 500 {
		t.Fatalf("fault: %v (HTTP %d)", err, rec.Code)
	}
}

// TestContentLength: long answers carry their length, not the chunked
// encoding Pidgin's HTTP reader cannot read.
func TestContentLength(t *testing.T) {
	var book Book
	for i := range 100 {
		book.Contacts = append(book.Contacts, Contact{ID: fmt.Sprint(i), Email: fmt.Sprintf("c%d@example.com", i), Type: "Regular"})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteAddressBook(w, "k", "ABFindContactsPaged", book)
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if len(resp.TransferEncoding) != 0 || resp.ContentLength != int64(len(body)) || len(body) < 4096 {
		t.Fatalf("transfer encoding %v, length %d for %d bytes", resp.TransferEncoding, resp.ContentLength, len(body))
	}
}

// TestApply: a client's copy takes in answers of deltas: what is deleted
// goes, what changed replaces what it had, what is new joins it.
func TestApply(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	copyOf := Book{
		Me:       Contact{ID: "me", Email: "alice@example.com", Type: "Me"},
		Groups:   []Group{{ID: "g1", Name: "Friends"}, {ID: "g2", Name: "Work"}},
		Contacts: []Contact{{ID: "c1", Email: "bob@example.com"}, {ID: "c2", Email: "carol@example.com"}},
		Memberships: []Membership{{Role: "Allow", Members: []Member{{Email: "bob@example.com"}}},
			{Role: "Pending", Members: []Member{{Email: "dave@example.com"}}}},
		Changed: t0, MembershipsChanged: t0,
	}
	members := Book{Changed: t0.Add(2 * time.Millisecond), Memberships: []Membership{
		{Role: "Allow", Members: []Member{{Email: "Dave@example.com"}}},
		{Role: "Pending", Members: []Member{{Email: "dave@example.com", Deleted: true}}},
		{Role: "Reverse", Members: []Member{{Email: "dave@example.com"}}},
	}}
	book := Book{Me: Contact{ID: "me", Email: "alice@example.com", DisplayName: "Alice W", Type: "Me"}, Changed: t0.Add(3 * time.Millisecond),
		Groups:   []Group{{ID: "g1", Name: "Pals"}, {ID: "g2", Deleted: true}, {ID: "g9", Deleted: true}},
		Contacts: []Contact{{ID: "c2", Deleted: true}, {ID: "c3", Email: "dave@example.com", GroupIDs: []string{"g1"}}},
	}
	got := copyOf.Apply(members, book)
	want := &Book{
		Me:       book.Me,
		Groups:   []Group{{ID: "g1", Name: "Pals"}},
		Contacts: []Contact{{ID: "c1", Email: "bob@example.com"}, {ID: "c3", Email: "dave@example.com", GroupIDs: []string{"g1"}}},
		Memberships: []Membership{{Role: "Allow", Members: []Member{{Email: "bob@example.com"}, {Email: "Dave@example.com"}}},
			{Role: "Pending", Members: []Member{}}, {Role: "Reverse", Members: []Member{{Email: "dave@example.com"}}}},
		Changed: book.Changed, MembershipsChanged: members.Changed,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("applied: %+v\nwant %+v", got, want)
	}
	if len(copyOf.Groups) != 2 || len(copyOf.Memberships[1].Members) != 1 {
		t.Errorf("the copy itself changed: %+v", copyOf)
	}
}
