package passport

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/setting"
)

// Paths of the WS-Trust security token service (login.live.com) that MSN
// Messenger 7.5 (MSNP12, for its TWN ticket) and later clients post their
// RequestMultipleSecurityTokens to. Pidgin posts to "//RST.srf".
var RSTPaths = []string{"/RST.srf", "//RST.srf", "/RST2.srf"}

// maxRSTBody bounds a token request; real ones are about 4 KB.
const maxRSTBody = 64 << 10

// TokenRequest is what a RequestMultipleSecurityTokens asks for.
type TokenRequest struct {
	Username, Password string
	// Tokens are the requested services in request order, RST0 (the
	// Passport.NET/tb ticket) included.
	Tokens []RequestedToken
	// SOAP12 is set for a SOAP 1.2 envelope, the form of RST2.srf
	// (MSNPSharp's MSNP18 sign-in), which is answered in kind.
	SOAP12 bool
}

// RequestedToken is one wst:RequestSecurityToken.
type RequestedToken struct {
	Address string // the service, such as messengerclear.live.com
	Policy  string // PolicyReference URI, such as MBI_KEY_OLD
}

type rstEnvelope struct {
	XMLName  xml.Name
	Username string `xml:"Header>Security>UsernameToken>Username"`
	Password string `xml:"Header>Security>UsernameToken>Password"`
	Tokens   []struct {
		Address string `xml:"AppliesTo>EndpointReference>Address"`
		Policy  struct {
			URI string `xml:"URI,attr"`
		} `xml:"PolicyReference"`
	} `xml:"Body>RequestMultipleSecurityTokens>RequestSecurityToken"`
}

// ErrBadTokenRequest is returned for a body that is not a token request
// with a user name, a password and at least one token.
var ErrBadTokenRequest = errors.New("passport: malformed security token request")

// maxTokens bounds the tokens of one request; clients ask for up to nine.
const maxTokens = 16

// ParseTokenRequest decodes a RequestMultipleSecurityTokens envelope.
func ParseTokenRequest(body []byte) (TokenRequest, error) {
	var env rstEnvelope
	if err := xml.Unmarshal(body, &env); err != nil {
		return TokenRequest{}, ErrBadTokenRequest
	}
	if env.Username == "" || env.Password == "" || len(env.Tokens) == 0 || len(env.Tokens) > maxTokens {
		return TokenRequest{}, ErrBadTokenRequest
	}
	r := TokenRequest{Username: strings.TrimSpace(env.Username), Password: env.Password, SOAP12: env.XMLName.Space == soap12Envelope}
	for _, t := range env.Tokens {
		r.Tokens = append(r.Tokens, RequestedToken{Address: strings.TrimSpace(t.Address), Policy: t.Policy.URI})
	}
	return r, nil
}

// ProofKey is the 24-byte key (BinarySecret) issued with ticket for one
// service. It is derived rather than stored, so that the notification
// server can check an MSNP15 single sign-on proof made with it (spec
// msnp8-18 §2b) on any node holding the key.
func (t Tickets) ProofKey(ticket, service string) []byte {
	m := hmac.New(sha256.New, t.Key)
	m.Write([]byte("msn passport proof\x00" + service + "\x00"))
	m.Write([]byte(Token(ticket)))
	return m.Sum(nil)[:24]
}

// rst answers a token request: one compact ticket per service, numbered
// Compact1… in request order after RST0, as clients map them back by
// that number (Pidgin reads the digits after "Compact").
func (s *Service) rst(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a token request", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRSTBody+1))
	if err != nil {
		return
	}
	if len(body) > maxRSTBody {
		soapFault(w, soap11Tokens, http.StatusBadRequest, "wsse:InvalidSecurity", "0x80048820")
		return
	}
	req, err := ParseTokenRequest(body)
	if err != nil {
		s.renew(w, r, body)
		return
	}
	d := soap11Tokens
	if req.SOAP12 {
		d = soap12Tokens
	}
	number, err := s.Authenticate(r.Context(), r.RemoteAddr, req.Username, req.Password)
	if !s.authenticated(w, d, err) {
		return
	}
	now := time.Now().UTC()
	ticket := s.Tickets.Issue(number, now)
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8" ?><S:Envelope xmlns:S="` + d.envelope + `">` +
		`<S:Header>` + passportHeader + `</S:Header><S:Body><wst:RequestSecurityTokenResponseCollection ` + d.namespaces + `>`)
	n := 0
	for _, t := range req.Tokens {
		if t.Address != RenewalAddress {
			n++
		}
		s.writeToken(&b, d, `<wst:RequestSecurityTokenResponse>`, t, n, number, ticket, now)
	}
	b.WriteString(`</wst:RequestSecurityTokenResponseCollection></S:Body></S:Envelope>`)
	writeXML(w, d.contentType, b.Bytes())
}

// RenewalAddress is the service whose token (RST0) renews the others.
const RenewalAddress = "http://Passport.NET/tb"

// The namespaces of a token response, and the Passport header of answers.
const (
	tokenNamespaces = `xmlns:wst="http://schemas.xmlsoap.org/ws/2004/04/trust" ` +
		`xmlns:wsse="http://schemas.xmlsoap.org/ws/2003/06/secext" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" ` +
		`xmlns:wsp="http://schemas.xmlsoap.org/ws/2002/12/policy" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/03/addressing"`
	passportHeader = `<psf:pp xmlns:psf="http://schemas.microsoft.com/Passport/SoapServices/SOAPFault"><psf:serverVersion>1</psf:serverVersion>` +
		`<psf:authstate>0x48803</psf:authstate><psf:reqstatus>0x0</psf:reqstatus></psf:pp>`
)

// soap12Envelope is the SOAP 1.2 envelope namespace.
const soap12Envelope = "http://www.w3.org/2003/05/soap-envelope"

// tokenDialect is one of the two forms of token answers: SOAP 1.1 with the
// 2004 WS-Trust namespaces (RST.srf, which Pidgin and Messenger read), or
// SOAP 1.2 with the 2005 ones (RST2.srf), which clients generated from its
// WSDL, such as MSNPSharp, only read in those namespaces.
type tokenDialect struct {
	envelope, namespaces, lifetime, contentType string
	soap12                                      bool
}

var (
	soap11Tokens = tokenDialect{envelope: "http://schemas.xmlsoap.org/soap/envelope/", namespaces: tokenNamespaces,
		lifetime: "LifeTime", contentType: "text/xml; charset=utf-8"}
	soap12Tokens = tokenDialect{envelope: soap12Envelope, namespaces: `xmlns:wst="http://schemas.xmlsoap.org/ws/2005/02/trust" ` +
		`xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" ` +
		`xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" xmlns:wsa="http://www.w3.org/2005/08/addressing"`,
		lifetime: "Lifetime", contentType: "application/soap+xml; charset=utf-8", soap12: true}
)

// authenticated answers the fault for a sign-in that failed, in dialect
// d, and reports whether it succeeded.
func (s *Service) authenticated(w http.ResponseWriter, d tokenDialect, err error) bool {
	switch {
	case errors.Is(err, ErrRefused):
		soapFault(w, d, http.StatusForbidden, "wsse:FailedAuthentication", "0x80048823")
		return false
	case err != nil:
		if s.Logger != nil {
			s.Logger.Error("passport token request", "err", err)
		}
		soapFault(w, d, http.StatusInternalServerError, "psf:ServiceUnavailable", "0x80048801")
		return false
	}
	return true
}

// writeToken writes the response for one requested token, opened with
// open: for RenewalAddress the renewal token (kept by clients only to
// renew the others), else the compact ticket numbered Compact<n>.
func (s *Service) writeToken(b *bytes.Buffer, d tokenDialect, open string, t RequestedToken, n int, number uint32, ticket string, now time.Time) {
	tickets := s.Tickets
	setting.Default(&tickets.Lifetime, DefaultTicketLifetime)
	setting.Default(&tickets.RenewalLifetime, DefaultRenewalLifetime)
	created := now.Format(time.RFC3339)
	lifetime := func(expires time.Time) string {
		return fmt.Sprintf(`<wst:%[1]s><wsu:Created>%[2]s</wsu:Created><wsu:Expires>%[3]s</wsu:Expires></wst:%[1]s>`, d.lifetime, created, expires.Format(time.RFC3339))
	}
	b.WriteString(open)
	if t.Address == RenewalAddress {
		token := tickets.IssueRenewal(number, now)
		fmt.Fprintf(b, `<wst:TokenType>urn:passport:legacy</wst:TokenType>%s%s`+
			`<wst:RequestedSecurityToken><EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#" Id="BinaryDAToken0" Type="http://www.w3.org/2001/04/xmlenc#Element">`+
			`<EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#tripledes-cbc"></EncryptionMethod><CipherData><CipherValue>%s</CipherValue></CipherData></EncryptedData></wst:RequestedSecurityToken>`+
			`<wst:RequestedTokenReference><wsse:KeyIdentifier ValueType="urn:passport"></wsse:KeyIdentifier><wsse:Reference URI="#BinaryDAToken0"></wsse:Reference></wst:RequestedTokenReference>`+
			`<wst:RequestedProofToken><wst:BinarySecret>%s</wst:BinarySecret></wst:RequestedProofToken>`,
			appliesTo(t.Address), lifetime(now.Add(tickets.RenewalLifetime)),
			base64.StdEncoding.EncodeToString([]byte(token)), base64.StdEncoding.EncodeToString(tickets.RenewalKey(token)))
	} else {
		var esc bytes.Buffer
		_ = xml.EscapeText(&esc, []byte(ticket))
		fmt.Fprintf(b, `<wst:TokenType>urn:passport:compact</wst:TokenType>%s%s`+
			`<wst:RequestedSecurityToken><wsse:BinarySecurityToken Id="Compact%d">%s</wsse:BinarySecurityToken></wst:RequestedSecurityToken>`+
			`<wst:RequestedTokenReference><wsse:KeyIdentifier ValueType="urn:passport:compact"></wsse:KeyIdentifier><wsse:Reference URI="#Compact%d"></wsse:Reference></wst:RequestedTokenReference>`+
			`<wst:RequestedProofToken><wst:BinarySecret>%s</wst:BinarySecret></wst:RequestedProofToken>`,
			appliesTo(t.Address), lifetime(now.Add(tickets.Lifetime)), n, esc.String(), n,
			base64.StdEncoding.EncodeToString(tickets.ProofKey(ticket, t.Address)))
	}
	b.WriteString(`</wst:RequestSecurityTokenResponse>`)
}

// writeXML writes a SOAP answer with its length: Pidgin's HTTP reader
// knows no chunked encoding, which Go uses for long answers without one.
func writeXML(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

func appliesTo(address string) string {
	var esc bytes.Buffer
	_ = xml.EscapeText(&esc, []byte(address))
	return `<wsp:AppliesTo><wsa:EndpointReference><wsa:Address>` + esc.String() + `</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>`
}

// soapFault answers a token request that fails, in the form clients read:
// a SOAP fault (1.2 in dialect soap12Tokens) with the Passport status in
// the psf:pp header.
func soapFault(w http.ResponseWriter, d tokenDialect, status int, code, reqstatus string) {
	fault := `<S:Fault><faultcode>` + code + `</faultcode><faultstring>Authentication Failure</faultstring></S:Fault>`
	secext := "http://schemas.xmlsoap.org/ws/2003/06/secext"
	if d.soap12 {
		fault = `<S:Fault><S:Code><S:Value>S:Sender</S:Value><S:Subcode><S:Value>` + code + `</S:Value></S:Subcode></S:Code>` +
			`<S:Reason><S:Text xml:lang="en-US">Authentication Failure</S:Text></S:Reason></S:Fault>`
		secext = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	}
	w.Header().Set("Content-Type", d.contentType)
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8" ?><S:Envelope xmlns:S="%s" `+
		`xmlns:wsse="%s" xmlns:psf="http://schemas.microsoft.com/Passport/SoapServices/SOAPFault">`+
		`<S:Header><psf:pp><psf:serverVersion>1</psf:serverVersion><psf:authstate>0x80048800</psf:authstate><psf:reqstatus>%s</psf:reqstatus></psf:pp></S:Header>`+
		`<S:Body>%s</S:Body></S:Envelope>`, d.envelope, secext, reqstatus, fault)
}

// TokenResponse is what a client reads from an answer to a token request:
// the compact ticket and proof key of each service, by address.
type TokenResponse struct {
	Tickets map[string]string
	Proofs  map[string][]byte
	// Renewal renews the tickets later (RenewToken), when the
	// Passport.NET/tb token was asked for.
	Renewal Renewable
}

type rstrCollection struct {
	Responses []struct {
		Address string `xml:"AppliesTo>EndpointReference>Address"`
		Token   string `xml:"RequestedSecurityToken>BinarySecurityToken"`
		Cipher  string `xml:"RequestedSecurityToken>EncryptedData>CipherData>CipherValue"`
		Secret  string `xml:"RequestedProofToken>BinarySecret"`
	} `xml:"Body>RequestSecurityTokenResponseCollection>RequestSecurityTokenResponse"`
	Fault   string `xml:"Body>Fault>faultcode"`
	Fault12 string `xml:"Body>Fault>Code>Value"`
}

// ParseTokenResponse decodes a security token service's answer.
func ParseTokenResponse(body []byte) (TokenResponse, error) {
	var c rstrCollection
	if err := xml.Unmarshal(body, &c); err != nil {
		return TokenResponse{}, ErrBadTokenRequest
	}
	if c.Fault != "" || c.Fault12 != "" {
		return TokenResponse{}, ErrRefused
	}
	r := TokenResponse{Tickets: map[string]string{}, Proofs: map[string][]byte{}}
	for _, t := range c.Responses {
		if t.Token != "" {
			r.Tickets[t.Address] = t.Token
		}
		p, err := base64.StdEncoding.DecodeString(t.Secret)
		if err == nil {
			r.Proofs[t.Address] = p
		}
		if t.Address == RenewalAddress && t.Cipher != "" {
			r.Renewal = Renewable{Cipher: t.Cipher, Key: p}
		}
	}
	return r, nil
}
