package wire

import (
	"strconv"
	"strings"
)

// SignatureAuth is what the signature buffer takes from the security
// association rather than from the message's own headers: the scheme
// ("NTLM"), the sender's random value and message number (crand/cnum from
// a client, srand/snum from a server), the realm and the target name.
type SignatureAuth struct {
	Protocol, Rand, Num, Realm, TargetName string
}

// SignatureBuffer returns the text an MS-SIPAE signature covers ([MS-SIP]
// 3.1.4.2, the form of auth version 3 and later): each field wrapped in
// <>, in the order protocol, rand, num, realm, target name, Call-ID, CSeq
// number, method (a response's is its CSeq's), From URI, From tag, To URI,
// To tag, the sip: and tel: URIs of P-Asserted-Identity (or
// P-Preferred-Identity), Expires, and for a response its status code.
// Fields are taken as pidgin-sipe takes them (see AddressURI and Tag).
func SignatureBuffer(m *Message, a SignatureAuth) []byte {
	cseq := m.Get(HeaderCSeq)
	num, method, _ := strings.Cut(cseq, " ")
	if m.IsRequest() {
		method = m.Method
	}
	from, to := m.Get(HeaderFrom), m.Get(HeaderTo)
	pai, ok := m.Lookup("P-Asserted-Identity")
	if !ok {
		pai = m.Get("P-Preferred-Identity")
	}
	sipURI, telURI := assertedIdentities(pai)
	var code string
	if !m.IsRequest() {
		code = strconv.Itoa(m.StatusCode)
	}
	fields := [...]string{a.Protocol, a.Rand, a.Num, a.Realm, a.TargetName, m.Get(HeaderCallID), num, method,
		AddressURI(from), Tag(from), AddressURI(to), Tag(to), sipURI, telURI, m.Get(HeaderExpires), code}
	last := len(fields)
	if m.IsRequest() {
		last-- // a request has no status code
	}
	size := 2 * last
	for _, f := range fields[:last] {
		size += len(f)
	}
	// One allocation: every message in and out is signed or checked.
	b := make([]byte, 0, size)
	for _, f := range fields[:last] {
		b = append(b, '<')
		b = append(b, f...)
		b = append(b, '>')
	}
	return b
}

// assertedIdentities picks the first sip: and tel: URIs in <> of a
// P-Asserted-Identity value; a bare tel: value is the tel: URI.
func assertedIdentities(v string) (sipURI, telURI string) {
	if len(v) >= 4 && strings.EqualFold(v[:4], "tel:") {
		return "", v
	}
	for part := range strings.SplitSeq(v, ",") {
		i := strings.IndexByte(part, '<')
		if i < 0 {
			continue
		}
		uri, _, _ := strings.Cut(part[i+1:], ">")
		switch {
		case len(uri) >= 4 && strings.EqualFold(uri[:4], "sip:") && sipURI == "":
			sipURI = uri
		case len(uri) >= 4 && strings.EqualFold(uri[:4], "tel:") && telURI == "":
			telURI = uri
		}
	}
	return sipURI, telURI
}
