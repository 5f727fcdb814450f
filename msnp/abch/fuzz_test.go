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
