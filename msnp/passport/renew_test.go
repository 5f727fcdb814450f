package passport

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/sha1"
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

// renewalService is a token service over loopback HTTPS whose account 7
// may be disabled by the test.
func renewalService(t *testing.T) (*Service, *httptest.Server, *bool) {
	disabled := new(bool)
	svc := &Service{Tickets: Tickets{Key: []byte("key")},
		Authenticate: func(_ context.Context, _, signIn, password string) (uint32, error) {
			if signIn == "bob@example.com" && password == "pw" {
				return 7, nil
			}
			return 0, ErrRefused
		},
		CheckAccount: func(_ context.Context, number uint32) error {
			if number != 7 || *disabled {
				return ErrRefused
			}
			return nil
		}}
	srv := httptest.NewTLSServer(svc)
	t.Cleanup(srv.Close)
	return svc, srv, disabled
}

// TestRenewToken: the Passport.NET/tb token of a sign-in renews one
// service's ticket without the password; a renewal whose signature, body,
// token or account does not hold is refused.
func TestRenewToken(t *testing.T) {
	ctx := context.Background()
	svc, srv, disabled := renewalService(t)
	oimToken := RequestedToken{Address: "messenger.msn.com", Policy: "?id=507"}
	signedIn, err := RequestTokens(ctx, srv.Client(), srv.URL+"/RST.srf", "bob@example.com", "pw", []RequestedToken{oimToken})
	if err != nil || signedIn.Renewal.Cipher == "" || len(signedIn.Renewal.Key) != 24 {
		t.Fatalf("sign-in: %+v %v", signedIn.Renewal, err)
	}
	for _, path := range RSTPaths {
		ticket, proof, err := RenewToken(ctx, srv.Client(), srv.URL+path, signedIn.Renewal, oimToken)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if n, err := svc.Tickets.Verify(ticket, time.Now()); err != nil || n != 7 {
			t.Fatalf("%s: renewed ticket %q: %d %v", path, ticket, n, err)
		}
		if !bytes.Equal(proof, svc.Tickets.ProofKey(ticket, oimToken.Address)) {
			t.Fatalf("%s: the proof key is not the ticket's", path)
		}
	}

	// A renewal token is no ticket, and a ticket renews nothing.
	token, _ := base64.StdEncoding.DecodeString(signedIn.Renewal.Cipher)
	if _, err := svc.Tickets.Verify("t="+string(token)+"&p=", time.Now()); err == nil {
		t.Fatal("a renewal token passed for a ticket")
	}
	if _, err := svc.Tickets.VerifyRenewal(Token(signedIn.Tickets[oimToken.Address]), time.Now()); err == nil {
		t.Fatal("a ticket passed for a renewal token")
	}
	if _, err := svc.Tickets.VerifyRenewal(string(token), time.Now().Add(DefaultRenewalLifetime+time.Minute)); err == nil {
		t.Fatal("an expired renewal token passed")
	}

	wrongKey := signedIn.Renewal
	wrongKey.Key = bytes.Repeat([]byte{1}, 24)
	forged := signedIn.Renewal
	forged.Cipher = base64.StdEncoding.EncodeToString([]byte(svc.Tickets.IssueRenewal(8, time.Now())))
	for what, from := range map[string]Renewable{"wrong key": wrongKey, "another account's token signed with this key": forged} {
		if _, _, err := RenewToken(ctx, srv.Client(), srv.URL+"/RST.srf", from, oimToken); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v", what, err)
		}
	}
	// The body is signed: asking for another service with the signature
	// of this request is refused.
	body := pidginRenewal(signedIn.Renewal, 1, oimToken, time.Now())
	tampered := bytes.Replace(body, []byte("messenger.msn.com"), []byte("contacts.msn.com"), 1)
	if code, _ := post(t, srv, tampered); code != http.StatusForbidden {
		t.Errorf("a tampered body: HTTP %d", code)
	}
	if code, _ := post(t, srv, pidginRenewal(signedIn.Renewal, 1, oimToken, time.Now().Add(-time.Hour))); code != http.StatusForbidden {
		t.Errorf("an expired timestamp: HTTP %d", code)
	}
	// A client clock a few minutes behind still renews.
	if code, answer := post(t, srv, pidginRenewal(signedIn.Renewal, 1, oimToken, time.Now().Add(-ClockSkew))); code != http.StatusOK {
		t.Errorf("a timestamp %v old: HTTP %d\n%s", ClockSkew, code, answer)
	}
	*disabled = true
	if _, _, err := RenewToken(ctx, srv.Client(), srv.URL+"/RST.srf", signedIn.Renewal, oimToken); !errors.Is(err, ErrRefused) {
		t.Errorf("a disabled account: %v", err)
	}
}

// TestRenewalPidginForm: a renewal in the form Pidgin 2.10 writes (its
// ps:AuthInfo header and the fixed digest it signs for it, the body's
// token numbered by its domain table) is answered in the form it reads:
// decrypted with a zero IV and read up to the first zero byte, the
// plaintext is a RequestSecurityTokenResponse with the new ticket.
func TestRenewalPidginForm(t *testing.T) {
	ctx := context.Background()
	svc, srv, _ := renewalService(t)
	want := RequestedToken{Address: "contacts.msn.com", Policy: "MBI"}
	signedIn, err := RequestTokens(ctx, srv.Client(), srv.URL+"/RST.srf", "bob@example.com", "pw", []RequestedToken{want})
	if err != nil {
		t.Fatal(err)
	}
	code, answer := post(t, srv, pidginRenewal(signedIn.Renewal, 2, want, time.Now()))
	if code != http.StatusOK {
		t.Fatalf("HTTP %d\n%s", code, answer)
	}
	var a renewalAnswer
	if err := xml.Unmarshal(answer, &a); err != nil || len(a.Keys) != 1 || a.Keys[0].ID != "EncKey" {
		t.Fatalf("answer: %+v %v", a, err)
	}
	nonce, _ := base64.StdEncoding.DecodeString(a.Keys[0].Nonce)
	sealed, _ := base64.StdEncoding.DecodeString(a.Cipher)
	block, err := des.NewTripleDESCipher(deriveKey(signedIn.Renewal.Key, string(nonce)))
	if err != nil || len(sealed)%8 != 0 {
		t.Fatalf("%d bytes sealed: %v", len(sealed), err)
	}
	plain := make([]byte, len(sealed))
	cipher.NewCBCDecrypter(block, make([]byte, 8)).CryptBlocks(plain, sealed)
	end := bytes.IndexByte(plain, 0)
	if end < 0 {
		t.Fatalf("no zero byte ends the plaintext: %q", plain)
	}
	var tok struct {
		XMLName xml.Name
		renewedToken
		Expires string `xml:"LifeTime>Expires"`
	}
	if err := xml.Unmarshal(plain[:end], &tok); err != nil || tok.XMLName.Local != "RequestSecurityTokenResponse" || tok.Address != want.Address || tok.Expires == "" {
		t.Fatalf("plaintext %q: %+v %v", plain[:end], tok, err)
	}
	if n, err := svc.Tickets.Verify(tok.Token, time.Now()); err != nil || n != 7 {
		t.Fatalf("ticket %q: %d %v", tok.Token, n, err)
	}
}

func post(t *testing.T, srv *httptest.Server, body []byte) (int, []byte) {
	t.Helper()
	resp, err := srv.Client().Post(srv.URL+"//RST.srf", "text/xml", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, answer
}

// pidginRenewal writes a renewal request laid out as Pidgin's
// MSN_SSO_TOKEN_UPDATE_TEMPLATE (nexus.h) is, signed at now.
func pidginRenewal(from Renewable, id int, want RequestedToken, now time.Time) []byte {
	rst := fmt.Sprintf(`<wst:RequestSecurityToken xmlns="http://schemas.xmlsoap.org/ws/2004/04/trust" Id="RST%d"><wst:RequestType>http://schemas.xmlsoap.org/ws/2004/04/security/trust/Issue</wst:RequestType>`+
		`<wsp:AppliesTo xmlns="http://schemas.xmlsoap.org/ws/2002/12/policy"><wsa:EndpointReference xmlns="http://schemas.xmlsoap.org/ws/2004/03/addressing"><wsa:Address>%s</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>`+
		`<wsse:PolicyReference xmlns="http://schemas.xmlsoap.org/ws/2003/06/secext" URI="%s"></wsse:PolicyReference></wst:RequestSecurityToken>`, id, want.Address, want.Policy)
	timestamp := fmt.Sprintf(`<wsu:Timestamp xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" Id="Timestamp"><wsu:Created>%s</wsu:Created><wsu:Expires>%s</wsu:Expires></wsu:Timestamp>`,
		now.UTC().Format("2006-01-02T15:04:05Z"), now.Add(5*time.Minute).UTC().Format("2006-01-02T15:04:05Z"))
	digest := func(s string) string { sum := sha1.Sum([]byte(s)); return base64.StdEncoding.EncodeToString(sum[:]) }
	ref := func(uri, value string) string {
		return `<Reference URI="#` + uri + `"><Transforms><Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></Transform></Transforms>` +
			`<DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"></DigestMethod><DigestValue>` + value + `</DigestValue></Reference>`
	}
	info := `<SignedInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></CanonicalizationMethod>` +
		`<SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"></SignatureMethod>` +
		ref(fmt.Sprintf("RST%d", id), digest(rst)) + ref("Timestamp", digest(timestamp)) + ref("PPAuthInfo", "d2IeTF4DAkPEa/tVETHznsivEpc=") + `</SignedInfo>`
	nonce := []byte("0123456789abcdefghijklmn")
	m := hmac.New(sha1.New, deriveKey(from.Key, string(nonce)))
	m.Write([]byte(info))
	return []byte(`<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/" xmlns:wsse="http://schemas.xmlsoap.org/ws/2003/06/secext" ` +
		`xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion" xmlns:wsp="http://schemas.xmlsoap.org/ws/2002/12/policy" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" ` +
		`xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/03/addressing" xmlns:wssc="http://schemas.xmlsoap.org/ws/2004/04/sc" xmlns:wst="http://schemas.xmlsoap.org/ws/2004/04/trust"><Header>` +
		`<ps:AuthInfo xmlns:ps="http://schemas.microsoft.com/Passport/SoapServices/PPCRL" Id="PPAuthInfo"><ps:HostingApp>{7108E71A-9926-4FCB-BCC9-9A9D3F32E423}</ps:HostingApp>` +
		`<ps:BinaryVersion>4</ps:BinaryVersion><ps:UIVersion>1</ps:UIVersion><ps:Cookies></ps:Cookies><ps:RequestParams>AQAAAAIAAABsYwQAAAA0MTA1</ps:RequestParams></ps:AuthInfo>` +
		`<wsse:Security><EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#" Id="BinaryDAToken0" Type="http://www.w3.org/2001/04/xmlenc#Element">` +
		`<EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#tripledes-cbc"></EncryptionMethod><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:KeyName>http://Passport.NET/STS</ds:KeyName></ds:KeyInfo>` +
		`<CipherData><CipherValue>` + from.Cipher + `</CipherValue></CipherData></EncryptedData>` +
		`<wssc:DerivedKeyToken Id="SignKey"><wsse:RequestedTokenReference><wsse:KeyIdentifier ValueType="http://docs.oasis-open.org/wss/2004/XX/oasis-2004XX-wss-saml-token-profile-1.0#SAMLAssertionID" />` +
		`<wsse:Reference URI="#BinaryDAToken0" /></wsse:RequestedTokenReference><wssc:Nonce>` + base64.StdEncoding.EncodeToString(nonce) + `</wssc:Nonce></wssc:DerivedKeyToken>` +
		timestamp + `<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">` + info + `<SignatureValue>` + base64.StdEncoding.EncodeToString(m.Sum(nil)) + `</SignatureValue>` +
		`<KeyInfo><wsse:SecurityTokenReference><wsse:Reference URI="#SignKey" /></wsse:SecurityTokenReference></KeyInfo></Signature></wsse:Security></Header><Body>` + rst + `</Body></Envelope>`)
}

// FuzzRenewal: any body is a renewal, refused or malformed, without a
// panic; a renewal that parses kept its signed parts as sent.
func FuzzRenewal(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 24)
	f.Add(pidginRenewal(Renewable{Cipher: "dG9rZW4=", Key: key}, 1, RequestedToken{Address: "messenger.msn.com", Policy: "?id=507"}, time.Unix(1_700_000_000, 0)))
	f.Add([]byte(`<Envelope><Header><Security><SignedInfo/></Security></Header><Body><RequestSecurityToken Id="a"/></Body></Envelope>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRenewal(body)
		if err != nil {
			return
		}
		if !bytes.Contains(body, r.SignedInfo) || !strings.HasPrefix(string(r.SignedInfo), "<") {
			t.Fatalf("SignedInfo %q is not part of the body", r.SignedInfo)
		}
		r.Check(key, time.Unix(1_700_000_000, 0))
	})
}
