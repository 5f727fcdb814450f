package passport

import (
	"bytes"
	"encoding/base64"
	"strings"
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

func FuzzTokenRequest(f *testing.F) {
	f.Add([]byte(`<Envelope><Header><Security><UsernameToken><Username>a@b.c</Username><Password>x</Password></UsernameToken></Security></Header>` +
		`<Body><RequestMultipleSecurityTokens><RequestSecurityToken Id="RST0"><AppliesTo><EndpointReference><Address>http://Passport.NET/tb</Address></EndpointReference></AppliesTo></RequestSecurityToken>` +
		`<RequestSecurityToken Id="RST1"><AppliesTo><EndpointReference><Address>messengerclear.live.com</Address></EndpointReference></AppliesTo><PolicyReference URI="MBI_KEY_OLD"/></RequestSecurityToken></RequestMultipleSecurityTokens></Body></Envelope>`))
	f.Add([]byte(`<S:Envelope xmlns:S="x"><S:Body><S:Fault><faultcode>wsse:FailedAuthentication</faultcode></S:Fault></S:Body></S:Envelope>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if r, err := ParseTokenRequest(body); err == nil && (r.Username == "" || r.Password == "" || len(r.Tokens) == 0 || len(r.Tokens) > maxTokens) {
			t.Fatalf("accepted %+v", r)
		}
		if r, err := ParseTokenResponse(body); err == nil && (r.Tickets == nil || r.Proofs == nil) {
			t.Fatalf("response without maps: %+v", r)
		}
	})
}

// FuzzMBIResponse feeds arbitrary USR SSO S proofs to the verifier: no
// panic, and whatever it accepts is a 128-byte blob with the fixed header.
func FuzzMBIResponse(f *testing.F) {
	key := []byte("0123456789abcdefghijklmn")
	nonce := strings.Repeat("x", NonceLength)
	good, _ := MBIResponse(key, nonce)
	f.Add(good)
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, resp string) {
		if VerifyMBIResponse(key, nonce, resp) != nil {
			return
		}
		blob, err := base64.StdEncoding.DecodeString(resp)
		if err != nil || len(blob) != mbiBlobSize || !bytes.Equal(blob[:mbiHeaderSize], mbiHeader) {
			t.Fatalf("accepted %q", resp)
		}
	})
}
