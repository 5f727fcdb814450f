package abch

import (
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzRequest decodes arbitrary SOAP bodies: no panic, and what decodes
// names an operation and stays within the limits.
func FuzzRequest(f *testing.F) {
	f.Add(NewRequest("ABGroupContactAdd", "t=x&p=", GroupFilterArg("g1"), ContactArg("c1", "")))
	f.Add(NewRequest("AddMember", "t", MemberArg("Allow", "a@b")))
	f.Add([]byte(`<Envelope><Body><ABAdd/></Body></Envelope>`))
	f.Add(NewRequest("FindMembership", "t", DeltasArg("FindMembership", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))))
	f.Add(NewRequest("ABFindContactsPaged", "t", DeltasArg("ABFindContactsPaged", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			return
		}
		if r.Operation == "" || len(r.Contacts) > maxItems || len(r.Groups) > maxItems ||
			!r.DeltasOnly && !r.LastChange.IsZero() || r.LastChange.Location() != time.UTC {
			t.Fatalf("%q: %+v", body, r)
		}
	})
}

// FuzzParseTime reads arbitrary times: what reads is in UTC and reads
// back the same once written as the services write times.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-12-07T07:15:01.0000000+00:00", "0001-01-01T00:00:00.0000000", "2026-12-07T08:15:01.5+01:00", "2026-12-07T07:15:01Z", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		when := ParseTime(s)
		if when.IsZero() {
			return
		}
		if again := ParseTime(when.Format(timeFormat)); when.Location() != time.UTC || !again.Equal(when.Truncate(100*time.Nanosecond)) {
			t.Fatalf("%q: %v, again %v", s, when, again)
		}
	})
}

// FuzzResponse decodes arbitrary answers as the client library does.
func FuzzResponse(f *testing.F) {
	rec := httptest.NewRecorder()
	WriteAddressBook(rec, "k", "ABFindAll", Book{Me: Contact{ID: "m", Type: "Me"}, Groups: []Group{{ID: "g", Name: "n"}}})
	f.Add(rec.Body.Bytes())
	rec = httptest.NewRecorder()
	WriteFindMembership(rec, "k", Book{Memberships: []Membership{{Role: "Allow", Members: []Member{{Email: "a@b", CID: "1"}, {Email: "c@d", CID: "2", Deleted: true, Changed: time.Unix(7, 0)}}}}})
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
