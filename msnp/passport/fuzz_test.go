package passport

import (
	"testing"
	"time"
)

func FuzzParseAuthorization(f *testing.F) {
	f.Add("Passport1.4 OrgVerb=GET,OrgURL=http%3A%2F%2Fmessenger%2Emsn%2Ecom,sign-in=a%40b.c,pwd=x,lc=1033")
	f.Add("Passport1.4 sign-in=%zz,pwd=%")
	f.Fuzz(func(t *testing.T, h string) {
		c, err := ParseAuthorization(h)
		if err == nil && (c.SignIn == "" || c.Password == "") {
			t.Fatalf("accepted without credentials: %q", h)
		}
	})
}

func FuzzHeaders(f *testing.F) {
	f.Add("Passport1.4 da-status=success,from-PP='t=abc&p=',ru=x")
	f.Add("DARealm=Passport.Net,DALogin=login.passport.com/login2.srf")
	f.Fuzz(func(t *testing.T, h string) {
		TicketFromAuthenticationInfo(h)
		DALogin(h)
		tk := Tickets{Key: []byte("k")}
		if _, err := tk.Verify(h, time.Now()); err == nil && h != "" {
			// Only a ticket made with the key verifies; the fuzzer does not find HMACs.
			t.Fatalf("verified %q", h)
		}
	})
}
