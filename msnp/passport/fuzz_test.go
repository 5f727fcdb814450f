package passport

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// FuzzService sends whatever request to the nexus, the login server and
// the token service: every answer is one a client reads (a ticket, a
// refusal, a SOAP fault, 404 or 405; never 500, as the accounts never
// fail here), and a ticket is issued only for the right password.
func FuzzService(f *testing.F) {
	const user, password = "a@b.c", "pw"
	f.Add("GET", LoginPath, "Passport1.4 OrgVerb=GET,sign-in=a%40b.c,pwd=pw,lc=1033", []byte(nil))
	f.Add("GET", LoginPath, "Passport1.4 sign-in=a%40b.c,pwd=wrong", []byte(nil))
	f.Add("GET", NexusPath, "", []byte(nil))
	f.Add("POST", "/RST.srf", "", []byte(`<Envelope><Header><Security><UsernameToken><Username>a@b.c</Username><Password>pw</Password></UsernameToken></Security></Header>`+
		`<Body><RequestMultipleSecurityTokens><RequestSecurityToken><AppliesTo><EndpointReference><Address>messengerclear.live.com</Address></EndpointReference></AppliesTo>`+
		`<PolicyReference URI="MBI_KEY_OLD"/></RequestSecurityToken></RequestMultipleSecurityTokens></Body></Envelope>`))
	f.Add("POST", "/RST2.srf", "", []byte(soap12TokenRequest(user, "wrong", "messengerclear.live.com")))
	f.Add("POST", "//RST.srf", "", []byte("<Envelope><Body>"))
	svc := &Service{Tickets: Tickets{Key: []byte("key")}, Authenticate: func(_ context.Context, _, signIn, pwd string) (uint32, error) {
		if signIn == user && pwd == password {
			return 7, nil
		}
		return 0, ErrRefused
	}}
	f.Fuzz(func(t *testing.T, method, path, authorization string, body []byte) {
		u, err := url.Parse(path)
		if err != nil || !validMethod(method) {
			return
		}
		r := httptest.NewRequest(http.MethodGet, "https://login.passport.com/", bytes.NewReader(body))
		r.Method, r.URL = method, u
		r.Header.Set("Authorization", authorization)
		w := httptest.NewRecorder()
		svc.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK, http.StatusUnauthorized, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
		default:
			t.Fatalf("%s %q answered %d", method, path, w.Code)
		}
		issued := strings.Contains(w.Header().Get("Authentication-Info"), "from-PP=") || bytes.Contains(w.Body.Bytes(), []byte("RequestedSecurityToken"))
		if issued && !strings.Contains(authorization+string(body), password) {
			t.Fatalf("a ticket for %s %q without the password: %q %q", method, path, authorization, body)
		}
	})
}

// validMethod is whether m is an HTTP token, as the server reads methods.
func validMethod(m string) bool {
	return m != "" && !strings.ContainsFunc(m, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) })
}
