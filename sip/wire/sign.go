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
	return AppendSignatureBuffer(make([]byte, 0, 256), m, a)
}

// SignatureRoom is room enough, on a caller's stack, for most signature
// buffers (AppendSignatureBuffer): the fields of an IM message's come to
// about 200 bytes.
const SignatureRoom = 512

// AppendSignatureBuffer is SignatureBuffer appending to dst: every message
// in and out is signed or checked, and a buffer on the caller's stack
// spares an allocation for each.
func AppendSignatureBuffer(dst []byte, m *Message, a SignatureAuth) []byte {
	// The first line of each header counts, as Get would find it; one
	// pass over the headers finds them all.
	var cseq, callID, from, to, expires, asserted, preferred string
	var seen uint8
	first := func(bit uint8, field *string, value string) {
		if seen&bit == 0 {
			seen |= bit
			*field = value
		}
	}
	for _, h := range m.Headers {
		switch n := h.Name; {
		case strings.EqualFold(n, HeaderCSeq):
			first(1, &cseq, h.Value)
		case strings.EqualFold(n, HeaderCallID):
			first(2, &callID, h.Value)
		case strings.EqualFold(n, HeaderFrom):
			first(4, &from, h.Value)
		case strings.EqualFold(n, HeaderTo):
			first(8, &to, h.Value)
		case strings.EqualFold(n, HeaderExpires):
			first(16, &expires, h.Value)
		case strings.EqualFold(n, "P-Asserted-Identity"):
			first(32, &asserted, h.Value)
		case strings.EqualFold(n, "P-Preferred-Identity"):
			first(64, &preferred, h.Value)
		}
	}
	num, method, _ := strings.Cut(cseq, " ")
	if m.IsRequest() {
		method = m.Method
	}
	pai := asserted
	if seen&32 == 0 {
		pai = preferred
	}
	sipURI, telURI := assertedIdentities(pai)
	fields := [...]string{a.Protocol, a.Rand, a.Num, a.Realm, a.TargetName, callID, num, method,
		AddressURI(from), Tag(from), AddressURI(to), Tag(to), sipURI, telURI, expires}
	for _, f := range fields {
		dst = append(dst, '<')
		dst = append(dst, f...)
		dst = append(dst, '>')
	}
	if !m.IsRequest() {
		dst = append(dst, '<')
		dst = strconv.AppendInt(dst, int64(m.StatusCode), 10)
		dst = append(dst, '>')
	}
	return dst
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
