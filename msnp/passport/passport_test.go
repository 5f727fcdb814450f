package passport

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseAuthorization(t *testing.T) {
	c, err := ParseAuthorization("Passport1.4 OrgVerb=GET,OrgURL=http%3A%2F%2Fmessenger%2Emsn%2Ecom,sign-in=alice%40example.com,pwd=p%2Cw%20d,lc=1033,id=507,tw=40")
	if err != nil {
		t.Fatal(err)
	}
	if c.SignIn != "alice@example.com" || c.Password != "p,w d" || c.Fields["id"] != "507" || c.Fields["OrgURL"] != "http://messenger.msn.com" {
		t.Fatalf("got %+v", c)
	}
	// Form encoding (msnp.py): '+' is a space, %2B a '+'.
	c, err = ParseAuthorization("Passport1.4 OrgVerb=GET,OrgURL=http%3A%2F%2Fmessenger.msn.com,sign-in=a%2Bb%40example.com,pwd=pa+ss%2Cw%3Drd%252B%2Bx%26y")
	if err != nil || c.SignIn != "a+b@example.com" || c.Password != "pa ss,w=rd%2B+x&y" {
		t.Fatalf("form-encoded: %+v %v", c, err)
	}
	for _, bad := range []string{"", "Basic abc", "Passport1.4 sign-in=a@b", "Passport1.4 pwd=x", "Passport1.4 " + strings.Repeat("a=b,", 70) + "sign-in=a@b,pwd=x"} {
		if _, err := ParseAuthorization(bad); !errors.Is(err, ErrNotPassport) {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

func TestTickets(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tk := Tickets{Key: []byte("k1"), Lifetime: time.Hour}
	ticket := tk.Issue(4242, now)
	if !strings.HasPrefix(ticket, "t=") || !strings.Contains(ticket, "&p=") {
		t.Fatalf("ticket %q", ticket)
	}
	for _, form := range []string{ticket, Token(ticket)} {
		if n, err := tk.Verify(form, now.Add(time.Minute)); err != nil || n != 4242 {
			t.Fatalf("verify %q: %d %v", form, n, err)
		}
	}
	if _, err := tk.Verify(ticket, now.Add(2*time.Hour)); !errors.Is(err, ErrBadTicket) {
		t.Errorf("expired ticket: %v", err)
	}
	if _, err := (Tickets{Key: []byte("k2")}).Verify(ticket, now); !errors.Is(err, ErrBadTicket) {
		t.Errorf("other key: %v", err)
	}
	forged := []byte(Token(ticket))
	forged[3] ^= 1
	if _, err := tk.Verify(string(forged), now); !errors.Is(err, ErrBadTicket) {
		t.Errorf("forged: %v", err)
	}
	if _, err := (Tickets{}).Verify(Tickets{}.Issue(1, now), now); !errors.Is(err, ErrBadTicket) {
		t.Errorf("keyless tickets must not verify: %v", err)
	}
}

// TestSignIn runs the client's sign-in against the service over loopback.
func TestSignIn(t *testing.T) {
	var sawPolicy string
	svc := &Service{Tickets: Tickets{Key: []byte("key")}, Authenticate: func(_ context.Context, _, signIn, password string) (uint32, error) {
		if signIn == "bob@example.com" && password == "s3cret pw" {
			return 7, nil
		}
		if signIn == "broken@example.com" {
			return 0, errors.New("database down")
		}
		return 0, ErrRefused
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == LoginPath {
			c, _ := ParseAuthorization(r.Header.Get("Authorization"))
			sawPolicy = c.Fields["id"]
		}
		svc.ServeHTTP(w, r)
	}))
	defer srv.Close()
	// The nexus names login.passport.com; this client reaches it here, as
	// a hosts file line would make it.
	hc := srv.Client()
	hc.Transport = rewriteHost{srv.URL[len("http://"):]}
	ctx := context.Background()
	ticket, err := SignIn(ctx, hc, srv.URL+NexusPath, "bob@example.com", "s3cret pw", "lc=1033,id=507")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := svc.Tickets.Verify(ticket, time.Now()); err != nil || n != 7 {
		t.Fatalf("ticket %q: %d %v", ticket, n, err)
	}
	if sawPolicy != "507" {
		t.Errorf("policy not passed on: id=%q", sawPolicy)
	}
	// msnp.py form-encodes (Python's urlencode): a space is '+', a '+' is
	// %2B. MSN Messenger itself %-encodes everything but letters and digits.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+LoginPath, nil)
	req.Header.Set("Authorization", "Passport1.4 OrgVerb=GET,OrgURL=http%3A%2F%2Fmessenger.msn.com,sign-in=bob%40example.com,pwd=s3cret+pw,lc=1033,id=507")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Authentication-Info"), "from-PP=") {
		t.Errorf("form-encoded password: %s %q", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}
	if _, err := SignIn(ctx, hc, srv.URL+NexusPath, "bob@example.com", "wrong", ""); !errors.Is(err, ErrRefused) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := SignIn(ctx, hc, srv.URL+NexusPath, "broken@example.com", "x", ""); err == nil || errors.Is(err, ErrRefused) {
		t.Errorf("failing service: %v", err)
	}
	resp, err = hc.Get(srv.URL + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %s", resp.Status)
	}
}

type rewriteHost struct{ addr string }

func (r rewriteHost) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = "http", r.addr
	return http.DefaultTransport.RoundTrip(req)
}

// TestRequestTokens posts token requests the way MSN Messenger 7.5 and
// Pidgin do (the latter to //RST.srf) and reads the answers.
func TestRequestTokens(t *testing.T) {
	svc := &Service{Tickets: Tickets{Key: []byte("key")}, Authenticate: func(_ context.Context, _, signIn, password string) (uint32, error) {
		if signIn == "bob@example.com" && password == "p<&>w" {
			return 7, nil
		}
		return 0, ErrRefused
	}}
	var lastBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, r)
		lastBody = rec.Body.String()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	defer srv.Close()
	ctx := context.Background()
	want := []RequestedToken{{Address: "messengerclear.live.com", Policy: "MBI_KEY_OLD"}, {Address: "messenger.msn.com", Policy: "?id=507"}}
	for _, path := range []string{"/RST.srf", "//RST.srf", "/RST2.srf"} {
		resp, err := RequestTokens(ctx, srv.Client(), srv.URL+path, "bob@example.com", "p<&>w", want)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, tok := range want {
			ticket := resp.Tickets[tok.Address]
			if n, err := svc.Tickets.Verify(ticket, time.Now()); err != nil || n != 7 {
				t.Errorf("%s: %s ticket %q: %d %v", path, tok.Address, ticket, n, err)
			}
			if !bytes.Equal(resp.Proofs[tok.Address], svc.Tickets.ProofKey(ticket, tok.Address)) || len(resp.Proofs[tok.Address]) != 24 {
				t.Errorf("%s: proof key of %s", path, tok.Address)
			}
		}
		// Clients map tokens back by the number after "Compact".
		if i, j := strings.Index(lastBody, `<wsa:Address>messengerclear.live.com</wsa:Address>`), strings.Index(lastBody, `Id="Compact1"`); i < 0 || j < i ||
			strings.Index(lastBody, `Id="Compact2"`) < strings.Index(lastBody, `<wsa:Address>messenger.msn.com</wsa:Address>`) {
			t.Errorf("%s: tokens not numbered in request order:\n%s", path, lastBody)
		}
	}
	if _, err := RequestTokens(ctx, srv.Client(), srv.URL+"/RST.srf", "bob@example.com", "wrong", want); !errors.Is(err, ErrRefused) {
		t.Errorf("wrong password: %v", err)
	}
	resp, err := http.Post(srv.URL+"/RST.srf", "text/xml", strings.NewReader("<Envelope><Body/></Envelope>"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("empty request: %s", resp.Status)
	}
	resp, err = http.Get(srv.URL + "/RST.srf")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %s", resp.Status)
	}
}

// TestRSTContentLength: a long token answer carries its length, not the
// chunked encoding Pidgin's HTTP reader cannot read ("Malformed SOAP
// response" when it got one).
func TestRSTContentLength(t *testing.T) {
	svc := &Service{Tickets: Tickets{Key: []byte("key")}, Authenticate: func(context.Context, string, string, string) (uint32, error) { return 7, nil }}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	var tokens []RequestedToken
	for _, a := range []string{"messengerclear.live.com", "messenger.msn.com", "contacts.msn.com", "messengersecure.live.com", "storage.live.com", "sup.live.com"} {
		tokens = append(tokens, RequestedToken{Address: a, Policy: "MBI"})
	}
	var body bytes.Buffer
	body.WriteString(`<Envelope><Header><Security><UsernameToken><Username>a@b</Username><Password>p</Password></UsernameToken></Security></Header><Body><RequestMultipleSecurityTokens>`)
	for _, tok := range tokens {
		body.WriteString(`<RequestSecurityToken><AppliesTo><EndpointReference><Address>` + tok.Address + `</Address></EndpointReference></AppliesTo></RequestSecurityToken>`)
	}
	body.WriteString(`</RequestMultipleSecurityTokens></Body></Envelope>`)
	resp, err := srv.Client().Post(srv.URL+"//RST.srf", "text/xml", &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || len(resp.TransferEncoding) != 0 || resp.ContentLength != int64(len(got)) || len(got) < 4096 {
		t.Fatalf("HTTP %d, transfer encoding %v, length %d for %d bytes", resp.StatusCode, resp.TransferEncoding, resp.ContentLength, len(got))
	}
}

// soap12TokenRequest is a token request in the form of RST2.srf: a SOAP
// 1.2 envelope with the 2005 WS-Trust, WS-Policy and WS-Addressing
// namespaces, as MSNPSharp (MSNP18) posts it with "application/soap+xml".
func soap12TokenRequest(user, password string, addresses ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" ` +
		`xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" ` +
		`xmlns:wst="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" ` +
		`xmlns:wsa="http://www.w3.org/2005/08/addressing"><soap:Header>` +
		`<wsa:Action soap:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue</wsa:Action>` +
		`<wsse:Security><wsse:UsernameToken><wsse:Username>` + user + `</wsse:Username><wsse:Password>` + password +
		`</wsse:Password></wsse:UsernameToken></wsse:Security></soap:Header><soap:Body>` +
		`<RequestMultipleSecurityTokens Id="RSTS" xmlns="http://schemas.microsoft.com/Passport/SoapServices/PPCRL">`)
	for i, a := range append([]string{"http://Passport.NET/tb"}, addresses...) {
		fmt.Fprintf(&b, `<wst:RequestSecurityToken Id="RST%d"><wst:RequestType>http://schemas.xmlsoap.org/ws/2005/02/trust/Issue</wst:RequestType>`+
			`<wsp:AppliesTo><wsa:EndpointReference><wsa:Address>%s</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>`+
			`<wsp:PolicyReference URI="MBI" /></wst:RequestSecurityToken>`, i, a)
	}
	b.WriteString(`</RequestMultipleSecurityTokens></soap:Body></soap:Envelope>`)
	return b.String()
}

// soap12TokenResponse reads an answer with every element in the namespace
// a client generated from RST2.srf's WSDL expects it in; an element in
// another namespace is left empty.
type soap12TokenResponse struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Body    struct {
		Collection struct {
			Responses []struct {
				TokenType string `xml:"http://schemas.xmlsoap.org/ws/2005/02/trust TokenType"`
				AppliesTo struct {
					Reference struct {
						Address string `xml:"http://www.w3.org/2005/08/addressing Address"`
					} `xml:"http://www.w3.org/2005/08/addressing EndpointReference"`
				} `xml:"http://schemas.xmlsoap.org/ws/2004/09/policy AppliesTo"`
				Lifetime struct {
					Created string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Created"`
					Expires string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Expires"`
				} `xml:"http://schemas.xmlsoap.org/ws/2005/02/trust Lifetime"`
				Token struct {
					Binary string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd BinarySecurityToken"`
				} `xml:"http://schemas.xmlsoap.org/ws/2005/02/trust RequestedSecurityToken"`
				Proof struct {
					Secret string `xml:"http://schemas.xmlsoap.org/ws/2005/02/trust BinarySecret"`
				} `xml:"http://schemas.xmlsoap.org/ws/2005/02/trust RequestedProofToken"`
			} `xml:"http://schemas.xmlsoap.org/ws/2005/02/trust RequestSecurityTokenResponse"`
		} `xml:"http://schemas.xmlsoap.org/ws/2005/02/trust RequestSecurityTokenResponseCollection"`
		Fault struct {
			Code struct {
				Subcode struct {
					Value string `xml:"http://www.w3.org/2003/05/soap-envelope Value"`
				} `xml:"http://www.w3.org/2003/05/soap-envelope Subcode"`
			} `xml:"http://www.w3.org/2003/05/soap-envelope Code"`
		} `xml:"http://www.w3.org/2003/05/soap-envelope Fault"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

// TestRST2SOAP12: a SOAP 1.2 token request (RST2.srf, MSNPSharp's MSNP18
// sign-in) is answered in SOAP 1.2 with the 2005 namespaces; MSNPSharp
// found no AppliesTo in the 2004 ones and failed with a null reference.
// Its failures are SOAP 1.2 faults.
func TestRST2SOAP12(t *testing.T) {
	svc := &Service{Tickets: Tickets{Key: []byte("key")}, Authenticate: func(_ context.Context, _, signIn, password string) (uint32, error) {
		if signIn == "bob@example.com" && password == "pw" {
			return 7, nil
		}
		return 0, ErrRefused
	}}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	services := []string{"messengerclear.live.com", "contacts.msn.com", "storage.msn.com"}
	post := func(password string) (*http.Response, soap12TokenResponse) {
		t.Helper()
		resp, err := srv.Client().Post(srv.URL+"/RST2.srf", `application/soap+xml; charset=utf-8; action=""`,
			strings.NewReader(soap12TokenRequest("bob@example.com", password, services...)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var r soap12TokenResponse
		if err := xml.Unmarshal(body, &r); err != nil {
			t.Fatalf("answer is not a SOAP 1.2 envelope: %v\n%s", err, body)
		}
		return resp, r
	}
	resp, r := post("pw")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/soap+xml") {
		t.Fatalf("HTTP %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if len(r.Body.Collection.Responses) != 1+len(services) || r.Body.Collection.Responses[0].AppliesTo.Reference.Address != "http://Passport.NET/tb" || r.Body.Collection.Responses[0].TokenType != "urn:passport:legacy" {
		t.Fatalf("responses: %+v", r.Body.Collection.Responses)
	}
	for i, a := range services {
		got := r.Body.Collection.Responses[i+1]
		if got.AppliesTo.Reference.Address != a || got.TokenType != "urn:passport:compact" {
			t.Errorf("response %d: %+v, want %s", i+1, got, a)
		}
		if _, err := time.Parse(time.RFC3339, got.Lifetime.Created); err != nil {
			t.Errorf("%s: Lifetime/Created %q", a, got.Lifetime.Created)
		}
		if _, err := time.Parse(time.RFC3339, got.Lifetime.Expires); err != nil {
			t.Errorf("%s: Lifetime/Expires %q", a, got.Lifetime.Expires)
		}
		if n, err := svc.Tickets.Verify(got.Token.Binary, time.Now()); err != nil || n != 7 {
			t.Errorf("%s: ticket %q: %d %v", a, got.Token.Binary, n, err)
		}
		if key, err := base64.StdEncoding.DecodeString(got.Proof.Secret); err != nil || !bytes.Equal(key, svc.Tickets.ProofKey(got.Token.Binary, a)) {
			t.Errorf("%s: proof key %q", a, got.Proof.Secret)
		}
	}
	resp, r = post("wrong")
	if resp.StatusCode != http.StatusForbidden || r.Body.Fault.Code.Subcode.Value != "wsse:FailedAuthentication" || len(r.Body.Collection.Responses) != 0 {
		t.Errorf("wrong password: HTTP %d, fault %q", resp.StatusCode, r.Body.Fault.Code.Subcode.Value)
	}
}
