package passport

import (
	"bytes"
	"context"
	"errors"
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
	if _, err := SignIn(ctx, hc, srv.URL+NexusPath, "bob@example.com", "wrong", ""); !errors.Is(err, ErrRefused) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := SignIn(ctx, hc, srv.URL+NexusPath, "broken@example.com", "x", ""); err == nil || errors.Is(err, ErrRefused) {
		t.Errorf("failing service: %v", err)
	}
	resp, err := hc.Get(srv.URL + "/other")
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
