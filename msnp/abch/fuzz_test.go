package abch

import (
	"net/http/httptest"
	"testing"
)

// FuzzRequest decodes arbitrary SOAP bodies: no panic, and what decodes
// names an operation and stays within the limits.
func FuzzRequest(f *testing.F) {
	f.Add(NewRequest("ABGroupContactAdd", "t=x&p=", GroupFilterArg("g1"), ContactArg("c1", "")))
	f.Add(NewRequest("AddMember", "t", MemberArg("Allow", "a@b")))
	f.Add([]byte(`<Envelope><Body><ABAdd/></Body></Envelope>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			return
		}
		if r.Operation == "" || len(r.Contacts) > maxItems || len(r.Groups) > maxItems {
			t.Fatalf("%q: %+v", body, r)
		}
	})
}

// FuzzResponse decodes arbitrary answers as the client library does.
func FuzzResponse(f *testing.F) {
	rec := httptest.NewRecorder()
	WriteAddressBook(rec, "k", "ABFindAll", Book{Me: Contact{ID: "m", Type: "Me"}, Groups: []Group{{ID: "g", Name: "n"}}})
	f.Add(rec.Body.Bytes())
	rec = httptest.NewRecorder()
	WriteFindMembership(rec, "k", Book{Memberships: []Membership{{Role: "Allow", Members: []Member{{Email: "a@b", CID: "1"}}}}})
	f.Add(rec.Body.Bytes())
	rec = httptest.NewRecorder()
	WriteFault(rec, "x", FaultAuth, "no")
	f.Add(rec.Body.Bytes())
	f.Fuzz(func(t *testing.T, body []byte) {
		var b Book
		_, _ = ParseResponse(body, &b)
	})
}

// FuzzNotification reads arbitrary NOT payloads: what reads as an address
// book notification is written again and reads back the same.
func FuzzNotification(f *testing.F) {
	f.Add(AppendNotification(nil, Notification{Email: "a@b.c", CID: "7", Service: ServiceInternal}))
	f.Add([]byte(`<NOTIFICATION siteid="45705"><TO name="x"><VIA agent="messenger"/></TO><MSG><BODY>&lt;NotificationData/&gt;</BODY></MSG></NOTIFICATION>`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		n, err := ParseNotification(payload)
		if err != nil {
			return
		}
		again, err := ParseNotification(AppendNotification(nil, n))
		if err != nil || again.Email != n.Email || again.CID != n.CID || again.HasNewItem != n.HasNewItem || !again.Changed.Equal(n.Changed) {
			t.Fatalf("%q: %+v, again %+v %v", payload, n, again, err)
		}
	})
}
