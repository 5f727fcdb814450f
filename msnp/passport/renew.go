package passport

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Renewing one ticket without the password, as Pidgin does when a service
// refuses an expired ticket (its nexus.c msn_nexus_update_token; spec
// msnp8-18 §2b). The client posts to the token service:
//   - in wsse:Security, the Passport.NET/tb token of its sign-in
//     (EncryptedData/CipherData/CipherValue), a wssc:DerivedKeyToken
//     "SignKey" with a nonce, a wsu:Timestamp and an XML signature:
//     HMAC-SHA1 over the SignedInfo element with the key derived from the
//     tb token's proof key and the nonce, SignedInfo holding the SHA-1
//     digests of the body's RequestSecurityToken and of the Timestamp;
//   - in the body, one wst:RequestSecurityToken for the service.
//
// The answer carries, in wsse:Security, a wssc:DerivedKeyToken "EncKey"
// with a nonce of the server's, and as the body an EncryptedData whose
// CipherValue is the RequestSecurityTokenResponse, encrypted with 3DES-CBC
// under the key derived from the proof key and that nonce, the IV zero.

// RenewalKey is the proof key (BinarySecret) of a renewal token, derived as
// ProofKey is, so that every node holding the key checks renewals.
func (t Tickets) RenewalKey(token string) []byte {
	m := hmac.New(sha256.New, t.Key)
	m.Write([]byte("msn passport renewal proof\x00"))
	m.Write([]byte(token))
	return m.Sum(nil)[:24]
}

// Renewal is a renewal request as read.
type Renewal struct {
	Token      string // the renewal token, as the CipherValue decodes
	Nonce      []byte // SignKey's
	SignedInfo []byte // the element as sent, which the signature covers
	Signature  []byte
	Expires    time.Time // the Timestamp's
	Requested  RequestedToken
	// digests are SignedInfo's references by id; parts the signed
	// elements as sent, by their Id.
	digests map[string][]byte
	parts   map[string][]byte
}

type renewalEnvelope struct {
	Cipher string `xml:"Header>Security>EncryptedData>CipherData>CipherValue"`
	Keys   []struct {
		ID    string `xml:"Id,attr"`
		Nonce string `xml:"Nonce"`
	} `xml:"Header>Security>DerivedKeyToken"`
	Expires   string `xml:"Header>Security>Timestamp>Expires"`
	Signature string `xml:"Header>Security>Signature>SignatureValue"`
	Tokens    []struct {
		ID      string `xml:"Id,attr"`
		Address string `xml:"AppliesTo>EndpointReference>Address"`
		Policy  struct {
			URI string `xml:"URI,attr"`
		} `xml:"PolicyReference"`
	} `xml:"Body>RequestSecurityToken"`
}

type signedInfo struct {
	References []struct {
		URI    string `xml:"URI,attr"`
		Digest string `xml:"DigestValue"`
	} `xml:"Reference"`
}

// ErrBadRenewal is returned for a body that is not a renewal request, or
// one whose token or signature does not hold.
var ErrBadRenewal = errors.New("passport: malformed token renewal")

// ParseRenewal decodes a renewal request, keeping the signed parts as
// sent.
func ParseRenewal(body []byte) (Renewal, error) {
	var env renewalEnvelope
	if err := xml.Unmarshal(body, &env); err != nil || len(env.Tokens) != 1 {
		return Renewal{}, ErrBadRenewal
	}
	token, err1 := base64.StdEncoding.DecodeString(strings.TrimSpace(env.Cipher))
	sig, err2 := base64.StdEncoding.DecodeString(strings.TrimSpace(env.Signature))
	expires, err3 := time.Parse(time.RFC3339, strings.TrimSpace(env.Expires))
	if err1 != nil || err2 != nil || err3 != nil || len(token) == 0 {
		return Renewal{}, ErrBadRenewal
	}
	r := Renewal{Token: string(token), Signature: sig, Expires: expires,
		Requested: RequestedToken{Address: strings.TrimSpace(env.Tokens[0].Address), Policy: env.Tokens[0].Policy.URI}}
	var err error
	for _, k := range env.Keys {
		if k.ID == "SignKey" {
			r.Nonce, err = base64.StdEncoding.DecodeString(strings.TrimSpace(k.Nonce))
		}
	}
	if err != nil || len(r.Nonce) == 0 {
		return Renewal{}, ErrBadRenewal
	}
	if r.parts, r.SignedInfo, err = signedParts(body); err != nil {
		return Renewal{}, ErrBadRenewal
	}
	var si signedInfo
	if err := xml.Unmarshal(r.SignedInfo, &si); err != nil {
		return Renewal{}, ErrBadRenewal
	}
	r.digests = make(map[string][]byte, len(si.References))
	for _, ref := range si.References {
		d, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ref.Digest))
		if err != nil {
			return Renewal{}, ErrBadRenewal
		}
		r.digests[strings.TrimPrefix(ref.URI, "#")] = d
	}
	if _, ok := r.digests[env.Tokens[0].ID]; !ok || env.Tokens[0].ID == "" {
		return Renewal{}, ErrBadRenewal // the body must be signed
	}
	if _, ok := r.digests["Timestamp"]; !ok {
		return Renewal{}, ErrBadRenewal
	}
	return r, nil
}

// signedParts returns the elements of body that carry an Id attribute, as
// sent, and the SignedInfo element. The signature and digests are over
// those bytes: the clients write them already canonical.
func signedParts(body []byte) (parts map[string][]byte, info []byte, err error) {
	type open struct {
		name, id string
		start    int64
	}
	parts = map[string][]byte{}
	var stack []open
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		at := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		switch e := tok.(type) {
		case xml.StartElement:
			o := open{name: e.Name.Local, start: at}
			for _, a := range e.Attr {
				if a.Name.Local == "Id" {
					o.id = a.Value
				}
			}
			stack = append(stack, o)
		case xml.EndElement:
			o := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			raw := body[o.start:d.InputOffset()]
			if o.id != "" {
				parts[o.id] = raw
			}
			if o.name == "SignedInfo" && info == nil {
				info = raw
			}
		}
	}
	if info == nil {
		return nil, nil, ErrBadRenewal
	}
	return parts, info, nil
}

// Check verifies the request with the proof key of its token, at now: the
// signature over SignedInfo, the digests of every part it names, and the
// Timestamp's expiry.
func (r Renewal) Check(proofKey []byte, now time.Time) error {
	m := hmac.New(sha1.New, deriveKey(proofKey, string(r.Nonce)))
	m.Write(r.SignedInfo)
	if !hmac.Equal(m.Sum(nil), r.Signature) {
		return ErrBadRenewal
	}
	for id, want := range r.digests {
		part, ok := r.parts[id]
		sum := sha1.Sum(part)
		if ok && !hmac.Equal(sum[:], want) || !ok && id != authInfoID {
			return ErrBadRenewal
		}
	}
	if now.After(r.Expires.Add(ClockSkew)) {
		return ErrBadRenewal
	}
	return nil
}

// ClockSkew is how far behind a client's clock may be: its Timestamp
// expires five minutes after it was made (Pidgin's), so a clock that is
// that much behind would otherwise never renew.
const ClockSkew = 5 * time.Minute

// authInfoID names the ps:AuthInfo header, which Pidgin signs with a fixed
// digest of a form of its own; it carries nothing the renewal relies on,
// so its digest is not checked.
const authInfoID = "PPAuthInfo"

// renew answers a renewal request: a new ticket for the one service, if
// the renewal token, its signature and the account hold.
func (s *Service) renew(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := ParseRenewal(body)
	if err != nil {
		soapFault(w, soap11Tokens, http.StatusBadRequest, "wsse:InvalidSecurity", "0x80048820")
		return
	}
	now := time.Now().UTC()
	number, err := s.Tickets.VerifyRenewal(req.Token, now)
	if err == nil {
		err = req.Check(s.Tickets.RenewalKey(req.Token), now)
	}
	if err != nil || req.Requested.Address == RenewalAddress {
		soapFault(w, soap11Tokens, http.StatusForbidden, "wsse:FailedAuthentication", "0x80048823")
		return
	}
	if s.CheckAccount != nil {
		if !s.authenticated(w, soap11Tokens, s.CheckAccount(r.Context(), number)) {
			return
		}
	}
	var plain bytes.Buffer
	s.writeToken(&plain, soap11Tokens, `<wst:RequestSecurityTokenResponse `+tokenNamespaces+`>`, req.Requested, 1, number, s.Tickets.Issue(number, now), now)
	nonce := make([]byte, 24)
	rand.Read(nonce)
	sealed, err := seal(deriveKey(s.Tickets.RenewalKey(req.Token), string(nonce)), plain.Bytes())
	if err != nil {
		soapFault(w, soap11Tokens, http.StatusInternalServerError, "psf:ServiceUnavailable", "0x80048801")
		return
	}
	writeXML(w, soap11Tokens.contentType, fmt.Appendf(nil, `<?xml version="1.0" encoding="utf-8" ?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/">`+
		`<S:Header>%s<wsse:Security xmlns:wsse="http://schemas.xmlsoap.org/ws/2003/06/secext">`+
		`<wssc:DerivedKeyToken xmlns:wssc="http://schemas.xmlsoap.org/ws/2004/04/sc" Id="EncKey"><wssc:Nonce>%s</wssc:Nonce></wssc:DerivedKeyToken>`+
		`</wsse:Security></S:Header><S:Body><EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#" Id="BinaryDAToken0" Type="http://www.w3.org/2001/04/xmlenc#Element">`+
		`<EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#tripledes-cbc"></EncryptionMethod><CipherData><CipherValue>%s</CipherValue></CipherData>`+
		`</EncryptedData></S:Body></S:Envelope>`, passportHeader, base64.StdEncoding.EncodeToString(nonce), base64.StdEncoding.EncodeToString(sealed)))
}

// seal encrypts plain with 3DES-CBC under key and a zero IV, as Pidgin
// decrypts it. Pidgin reads the result as a C string and keeps the
// padding, so the padding starts with a zero byte; its last byte counts
// it, as XML encryption's does.
func seal(key, plain []byte) ([]byte, error) {
	block, err := des.NewTripleDESCipher(key)
	if err != nil {
		return nil, err
	}
	pad := des.BlockSize - len(plain)%des.BlockSize
	if pad < 2 {
		pad += des.BlockSize
	}
	buf := append(append(plain, make([]byte, pad-1)...), byte(pad))
	cipher.NewCBCEncrypter(block, make([]byte, des.BlockSize)).CryptBlocks(buf, buf)
	return buf, nil
}

// open decrypts what seal encrypted.
func open(key, sealed []byte) ([]byte, error) {
	block, err := des.NewTripleDESCipher(key)
	if err != nil || len(sealed) == 0 || len(sealed)%des.BlockSize != 0 {
		return nil, ErrBadRenewal
	}
	buf := make([]byte, len(sealed))
	cipher.NewCBCDecrypter(block, make([]byte, des.BlockSize)).CryptBlocks(buf, sealed)
	pad := int(buf[len(buf)-1])
	if pad == 0 || pad > len(buf) {
		return nil, ErrBadRenewal
	}
	return buf[:len(buf)-pad], nil
}

// Renewable is what a client keeps from its sign-in to renew tickets
// later: the Passport.NET/tb token (as the CipherValue carries it) and its
// proof key.
type Renewable struct {
	Cipher string
	Key    []byte
}

type renewalAnswer struct {
	Keys []struct {
		ID    string `xml:"Id,attr"`
		Nonce string `xml:"Nonce"`
	} `xml:"Header>Security>DerivedKeyToken"`
	Cipher string `xml:"Body>EncryptedData>CipherData>CipherValue"`
	Fault  string `xml:"Body>Fault>faultcode"`
}

type renewedToken struct {
	Address string `xml:"AppliesTo>EndpointReference>Address"`
	Token   string `xml:"RequestedSecurityToken>BinarySecurityToken"`
	Secret  string `xml:"RequestedProofToken>BinarySecret"`
}

// RenewToken asks the token service at rstURL for a new ticket for one
// service with the renewal token of an earlier sign-in, as Pidgin does
// once a service refuses its ticket; it returns the ticket and its proof
// key. A refused renewal is ErrRefused.
func RenewToken(ctx context.Context, hc *http.Client, rstURL string, from Renewable, want RequestedToken) (string, []byte, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	var rst bytes.Buffer
	rst.WriteString(`<wst:RequestSecurityToken xmlns:wst="http://schemas.xmlsoap.org/ws/2004/04/trust" Id="RST1"><wst:RequestType>http://schemas.xmlsoap.org/ws/2004/04/security/trust/Issue</wst:RequestType>` +
		`<wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2002/12/policy"><wsa:EndpointReference xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/03/addressing"><wsa:Address>`)
	_ = xml.EscapeText(&rst, []byte(want.Address))
	rst.WriteString(`</wsa:Address></wsa:EndpointReference></wsp:AppliesTo><wsse:PolicyReference xmlns:wsse="http://schemas.xmlsoap.org/ws/2003/06/secext" URI="`)
	_ = xml.EscapeText(&rst, []byte(want.Policy))
	rst.WriteString(`"></wsse:PolicyReference></wst:RequestSecurityToken>`)
	now := time.Now().UTC()
	timestamp := `<wsu:Timestamp xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" Id="Timestamp"><wsu:Created>` +
		now.Format(time.RFC3339) + `</wsu:Created><wsu:Expires>` + now.Add(5*time.Minute).Format(time.RFC3339) + `</wsu:Expires></wsu:Timestamp>`
	digest := func(b []byte) string { sum := sha1.Sum(b); return base64.StdEncoding.EncodeToString(sum[:]) }
	reference := func(id, value string) string {
		return `<Reference URI="#` + id + `"><Transforms><Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></Transform></Transforms>` +
			`<DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"></DigestMethod><DigestValue>` + value + `</DigestValue></Reference>`
	}
	info := `<SignedInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></CanonicalizationMethod>` +
		`<SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"></SignatureMethod>` +
		reference("RST1", digest(rst.Bytes())) + reference("Timestamp", digest([]byte(timestamp))) + `</SignedInfo>`
	nonce := make([]byte, 24)
	rand.Read(nonce)
	m := hmac.New(sha1.New, deriveKey(from.Key, string(nonce)))
	m.Write([]byte(info))
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/" ` +
		`xmlns:wsse="http://schemas.xmlsoap.org/ws/2003/06/secext" xmlns:wssc="http://schemas.xmlsoap.org/ws/2004/04/sc"><Header><wsse:Security>` +
		`<EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#" Id="BinaryDAToken0" Type="http://www.w3.org/2001/04/xmlenc#Element">` +
		`<EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#tripledes-cbc"></EncryptionMethod><CipherData><CipherValue>`)
	_ = xml.EscapeText(&b, []byte(from.Cipher))
	b.WriteString(`</CipherValue></CipherData></EncryptedData><wssc:DerivedKeyToken Id="SignKey"><wssc:Nonce>` + base64.StdEncoding.EncodeToString(nonce) +
		`</wssc:Nonce></wssc:DerivedKeyToken>` + timestamp + `<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">` + info +
		`<SignatureValue>` + base64.StdEncoding.EncodeToString(m.Sum(nil)) + `</SignatureValue></Signature></wsse:Security></Header><Body>`)
	b.Write(rst.Bytes())
	b.WriteString(`</Body></Envelope>`)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rstURL, &b)
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", "")
	resp, err := hc.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", nil, err
	}
	var a renewalAnswer
	if err := xml.Unmarshal(body, &a); err != nil {
		return "", nil, ErrBadRenewal
	}
	if a.Fault != "" {
		return "", nil, ErrRefused
	}
	var answerNonce []byte
	for _, k := range a.Keys {
		if k.ID == "EncKey" {
			answerNonce, err = base64.StdEncoding.DecodeString(strings.TrimSpace(k.Nonce))
		}
	}
	sealed, err2 := base64.StdEncoding.DecodeString(strings.TrimSpace(a.Cipher))
	if err != nil || err2 != nil || len(answerNonce) == 0 {
		return "", nil, ErrBadRenewal
	}
	plain, err := open(deriveKey(from.Key, string(answerNonce)), sealed)
	if err != nil {
		return "", nil, err
	}
	var t renewedToken
	if err := xml.Unmarshal(bytes.TrimRight(plain, "\x00"), &t); err != nil || t.Token == "" || t.Address != want.Address {
		return "", nil, ErrBadRenewal
	}
	proof, err := base64.StdEncoding.DecodeString(t.Secret)
	if err != nil {
		return "", nil, ErrBadRenewal
	}
	return t.Token, proof, nil
}
