package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crosstalk-im/crosstalk/internal/race"
)

// register is pidgin-sipe 1.25's first REGISTER, as sip.md §2.1 records it.
const register = "REGISTER sip:example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/tcp 10.0.0.2:40000;branch=z9hG4bK1\r\n" +
	"From: <sip:alice@example.com>;tag=a1;epid=e1\r\n" +
	"To: <sip:alice@example.com>\r\n" +
	"Max-Forwards: 70\r\n" +
	"CSeq: 1 REGISTER\r\n" +
	"User-Agent: UCCAPI/3.5\r\n" +
	"Call-ID: r1\r\n" +
	"Contact: <sip:10.0.0.2:40000;transport=tcp;ms-opaque=d3470f2e1d>;methods=\"INVITE, MESSAGE\";proxy=replace;+sip.instance=\"<urn:uuid:U>\"\r\n" +
	"Supported: gruu-10, adhoclist, msrtc-event-categories, com.microsoft.msrtc.presence\r\n" +
	"Event: registration\r\n" +
	"Allow-Events: presence\r\n" +
	"ms-keep-alive: UAC;hop-hop=yes\r\n" +
	"Content-Length: 0\r\n" +
	"\r\n"

func read(t *testing.T, wire string, lim Limits) []*Message {
	t.Helper()
	r := NewReader(strings.NewReader(wire), lim)
	var out []*Message
	for {
		m, err := r.ReadMessage()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("ReadMessage: %v", err)
		}
		out = append(out, m)
	}
}

func TestReadRegister(t *testing.T) {
	ms := read(t, register, Limits{})
	if len(ms) != 1 {
		t.Fatalf("got %d messages", len(ms))
	}
	m := ms[0]
	if m.Method != MethodRegister || m.RequestURI != "sip:example.com" || !m.IsRequest() {
		t.Fatalf("request line: %q %q", m.Method, m.RequestURI)
	}
	if got := m.Get("call-id"); got != "r1" {
		t.Errorf("Call-ID %q", got)
	}
	if _, ok := m.Lookup(HeaderContentLength); ok {
		t.Error("Content-Length kept among the headers")
	}
	if !m.HasValue(HeaderSupported, "msrtc-event-categories") {
		t.Error("Supported item not found")
	}
	n, method, err := m.CSeq()
	if n != 1 || method != MethodRegister || err != nil {
		t.Errorf("CSeq %d %q %v", n, method, err)
	}
	enc, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(enc) != register {
		t.Errorf("re-encoded:\n%s\nwant\n%s", enc, register)
	}
}

// Keep-alives between messages are reported as nil messages, once per
// burst of line ends that has arrived.
func TestKeepAlives(t *testing.T) {
	r := NewReader(strings.NewReader("\r\n\r\n"+register+"\r\n\r\n"), Limits{})
	var got []string
	for {
		m, err := r.ReadMessage()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if m == nil {
			got = append(got, "keep-alive")
		} else {
			got = append(got, m.Method)
		}
	}
	if want := []string{"keep-alive", "REGISTER", "keep-alive"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestReadForms(t *testing.T) {
	wire := "SIP/2.0 200 OK\n" +
		"i: abc\n" +
		"f: <sip:a@b>;tag=1\n" +
		"t: <sip:a@b>;tag=2\n" +
		"Subject :  folded\r\n" +
		"\t value  \r\n" +
		"l: 5\n" +
		"c: text/plain\n" +
		"\n" +
		"hello" +
		"MESSAGE sip:b@c SIP/2.0\r\nCall-ID: x\r\n\r\n"
	ms := read(t, wire, Limits{})
	if len(ms) != 2 {
		t.Fatalf("got %d messages", len(ms))
	}
	m := ms[0]
	if m.StatusCode != 200 || m.Reason != "OK" || m.IsRequest() {
		t.Fatalf("status %d %q", m.StatusCode, m.Reason)
	}
	want := []Header{{HeaderCallID, "abc"}, {HeaderFrom, "<sip:a@b>;tag=1"}, {HeaderTo, "<sip:a@b>;tag=2"},
		{"Subject", "folded value"}, {HeaderContentType, "text/plain"}}
	if !reflect.DeepEqual(m.Headers, want) || string(m.Body) != "hello" {
		t.Fatalf("headers %q body %q", m.Headers, m.Body)
	}
	if ms[1].Method != MethodMessage || len(ms[1].Body) != 0 {
		t.Fatalf("second message %+v", ms[1])
	}
}

func TestReadErrors(t *testing.T) {
	lim := Limits{MaxHeaders: 3, MaxHeaderBytes: 200, MaxBodyBytes: 10}
	for _, tt := range []struct {
		name, wire string
		check      func(error) bool
	}{
		{"no version", "REGISTER sip:x\r\n\r\n", isMalformed},
		{"bad version", "REGISTER sip:x SIP/3.0\r\n\r\n", isMalformed},
		{"bad status", "SIP/2.0 20 OK\r\n\r\n", isMalformed},
		{"status out of range", "SIP/2.0 700 Huh\r\n\r\n", isMalformed},
		{"bad method", "REG<ISTER sip:x SIP/2.0\r\n\r\n", isMalformed},
		{"header without colon", "OPTIONS sip:x SIP/2.0\r\nVia\r\n\r\n", isMalformed},
		{"bare carriage return", "OPTIONS sip:x SIP/2.0\r\nVia: a\rb\r\n\r\n", isMalformed},
		{"tab in URI", "OPTIONS sip:x\ty SIP/2.0\r\n\r\n", isMalformed},
		{"bad header name", "OPTIONS sip:x SIP/2.0\r\nV ia: x\r\n\r\n", isMalformed},
		{"leading continuation", "OPTIONS sip:x SIP/2.0\r\n x\r\n\r\n", isMalformed},
		{"folded length", "OPTIONS sip:x SIP/2.0\r\nContent-Length: 1\r\n 2\r\n\r\n", isMalformed},
		{"bad length", "OPTIONS sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n", isMalformed},
		{"two lengths", "OPTIONS sip:x SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab", isMalformed},
		{"too many headers", "OPTIONS sip:x SIP/2.0\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n", tooLarge("headers")},
		{"header section", "OPTIONS sip:x SIP/2.0\r\na: " + strings.Repeat("x", 200) + "\r\n\r\n", tooLarge("header section")},
		{"body", "OPTIONS sip:x SIP/2.0\r\nContent-Length: 11\r\n\r\n", tooLarge("body")},
		{"truncated header", "OPTIONS sip:x SIP/2.0\r\nVia: x", isTruncated},
		{"truncated body", "OPTIONS sip:x SIP/2.0\r\nContent-Length: 5\r\n\r\nab", isTruncated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewReader(strings.NewReader(tt.wire), lim).ReadMessage()
			if m != nil || !tt.check(err) {
				t.Fatalf("got %v, %v", m, err)
			}
		})
	}
}

func isMalformed(err error) bool {
	var se *SyntaxError
	return errors.Is(err, ErrMalformed) && errors.As(err, &se)
}

func isTruncated(err error) bool {
	return errors.Is(err, ErrTruncated) && errors.Is(err, io.ErrUnexpectedEOF)
}

func tooLarge(what string) func(error) bool {
	return func(err error) bool {
		var tl *TooLargeError
		return errors.As(err, &tl) && tl.What == what
	}
}

func TestEncode(t *testing.T) {
	m := NewResponse(401).Add(HeaderCallID, "c").Add(HeaderWWWAuthenticate, `NTLM realm="r"`)
	enc, err := m.Encode()
	want := "SIP/2.0 401 Unauthorized\r\nCall-ID: c\r\nWWW-Authenticate: NTLM realm=\"r\"\r\nContent-Length: 0\r\n\r\n"
	if err != nil || string(enc) != want {
		t.Fatalf("got %q, %v", enc, err)
	}
	for _, bad := range []*Message{
		NewRequest("BAD METHOD", "sip:x"),
		NewRequest("OPTIONS", "sip:x y"),
		NewResponse(200).Add("X", "a\r\nInjected: 1"),
		NewResponse(200).Add("Bad Name", "a"),
		NewResponse(200).Add(HeaderContentLength, "3"),
		{StatusCode: 99, Reason: "x"},
		{StatusCode: 200},
	} {
		if _, err := bad.Encode(); !errors.Is(err, ErrEncode) {
			t.Errorf("Encode(%+v): %v", bad, err)
		}
	}
}

func TestHeaderEditing(t *testing.T) {
	m := NewRequest(MethodNotify, "sip:a@b").Add("Supported", "a").Add("X", "1").Add("supported", "b")
	m.Set(HeaderSupported, "c")
	if got := m.Values(HeaderSupported); !reflect.DeepEqual(got, []string{"c"}) || m.Headers[0].Name != HeaderSupported {
		t.Fatalf("after Set: %q", m.Headers)
	}
	m.Del("x")
	if len(m.Headers) != 1 {
		t.Fatalf("after Del: %q", m.Headers)
	}
}

// TestAppendEncodeSet: encoding with a header set gives what Set then
// AppendEncode give, whether m has none of the header, one, or several
// in other spellings, and leaves m as it was.
func TestAppendEncodeSet(t *testing.T) {
	for _, m := range []*Message{
		NewRequest(MethodMessage, "sip:a@b").Add("X", "1"),
		NewRequest(MethodMessage, "sip:a@b").Add("Authorization", "old").Add("X", "1"),
		NewResponse(200).Add("X", "1").Add("authorization", "a").Add("Y", "2").Add("AUTHORIZATION", "b"),
	} {
		before := slices.Clone(m.Headers)
		got, err := m.AppendEncodeSet([]byte("kept"), HeaderAuthorization, []byte(`NTLM response="01"`))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(m.Headers, before) {
			t.Fatalf("headers changed: %q", m.Headers)
		}
		set := &Message{Method: m.Method, RequestURI: m.RequestURI, StatusCode: m.StatusCode, Reason: m.Reason, Headers: slices.Clone(m.Headers)}
		want, err := set.Set(HeaderAuthorization, `NTLM response="01"`).AppendEncode([]byte("kept"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("AppendEncodeSet\n%q\nSet and AppendEncode\n%q", got, want)
		}
	}
	m := NewResponse(200)
	for _, bad := range []struct {
		name  string
		value string
	}{{"Bad Name", "x"}, {HeaderContentLength, "3"}, {"X", "a\r\nInjected: 1"}, {"X", "a\nb"}} {
		if _, err := m.AppendEncodeSet(nil, bad.name, []byte(bad.value)); !errors.Is(err, ErrEncode) {
			t.Errorf("AppendEncodeSet(%q, %q): %v", bad.name, bad.value, err)
		}
	}
}

func TestLogStringHidesSecrets(t *testing.T) {
	m := read(t, "REGISTER sip:x SIP/2.0\r\nAuthorization: NTLM qop=\"auth\", gssapi-data=\"c2VjcmV0\", response=\"0102\"\r\nContent-Length: 6\r\n\r\nsecret", Limits{})[0]
	s := m.LogString()
	for _, secret := range []string{"c2VjcmV0", "0102", "secret"} {
		if strings.Contains(s, secret) {
			t.Fatalf("%q shows %q", s, secret)
		}
	}
	if !strings.Contains(s, "Authorization: NTLM [redacted]") || !strings.Contains(s, "[6 bytes of body]") {
		t.Fatalf("log string %q", s)
	}
}

func TestAddressHelpers(t *testing.T) {
	for _, tt := range []struct{ v, uri, tag string }{
		{`<sip:alice@example.com>;tag=a1;epid=e1`, "sip:alice@example.com", "a1"},
		{`"Bob" <sip:bob@example.com;transport=tcp>;tag=9`, "sip:bob@example.com;transport=tcp", "9"},
		{`sip:carol@example.com;tag=x`, "sip:carol@example.com", "x"},
		{`<sip:dave@example.com>`, "sip:dave@example.com", ""},
		{`<sip:broken`, "", ""},
	} {
		if got := AddressURI(tt.v); got != tt.uri {
			t.Errorf("AddressURI(%q) = %q, want %q", tt.v, got, tt.uri)
		}
		if got := Tag(tt.v); got != tt.tag {
			t.Errorf("Tag(%q) = %q, want %q", tt.v, got, tt.tag)
		}
	}
	if got := URIUser("SIP:Alice@Example.com;transport=tcp"); got != "Alice@Example.com" {
		t.Errorf("URIUser: %q", got)
	}
	if got := Param("SIP/2.0/tcp 1.2.3.4:5;branch=z9hG4bKx;rport", "branch"); got != "z9hG4bKx" {
		t.Errorf("Param: %q", got)
	}
	scheme, p := AuthParams(`NTLM qop="auth", opaque="O1", realm="SIP Communications Service", gssapi-data="", version=4, crand="c0ffee01"`)
	want := map[string]string{"qop": "auth", "opaque": "O1", "realm": "SIP Communications Service", "gssapi-data": "", "version": "4", "crand": "c0ffee01"}
	if scheme != "NTLM" || !reflect.DeepEqual(p, want) {
		t.Errorf("AuthParams: %q %v", scheme, p)
	}
}

// TestSignatureBuffer checks the field order of [MS-SIP] 3.1.4.2 for a
// response and a request.
func TestSignatureBuffer(t *testing.T) {
	ok := NewResponse(200).
		Add(HeaderFrom, "<sip:alice@example.com>;tag=a1;epid=e1").
		Add(HeaderTo, "<sip:alice@example.com>;tag=s1").
		Add(HeaderCallID, "r1").
		Add(HeaderCSeq, "3 REGISTER").
		Add(HeaderExpires, "7200")
	a := SignatureAuth{Protocol: "NTLM", Rand: "5e1f00aa", Num: "1", Realm: "SIP Communications Service", TargetName: "sip.example.com"}
	want := "<NTLM><5e1f00aa><1><SIP Communications Service><sip.example.com><r1><3><REGISTER>" +
		"<sip:alice@example.com><a1><sip:alice@example.com><s1><><><7200><200>"
	if got := string(SignatureBuffer(ok, a)); got != want {
		t.Errorf("response:\n got %s\nwant %s", got, want)
	}
	req := NewRequest(MethodMessage, "sip:bob@example.com").
		Add(HeaderFrom, "<sip:alice@example.com>;tag=a1").
		Add(HeaderTo, "<sip:bob@example.com>").
		Add(HeaderCallID, "k2").
		Add(HeaderCSeq, "2 MESSAGE").
		Add("P-Asserted-Identity", `"Alice" <sip:alice@example.com>, <tel:+4812>`)
	want = "<NTLM><5e1f00aa><1><SIP Communications Service><sip.example.com><k2><2><MESSAGE>" +
		"<sip:alice@example.com><a1><sip:bob@example.com><><sip:alice@example.com><tel:+4812><>"
	if got := string(SignatureBuffer(req, a)); got != want {
		t.Errorf("request:\n got %s\nwant %s", got, want)
	}
}

// FuzzReadMessage: the reader never panics, stays within its limits, fails
// only with its typed errors, and what it returns encodes and reads back
// as the same message.
func FuzzReadMessage(f *testing.F) {
	f.Add([]byte(register))
	f.Add([]byte("\r\n\r\n" + register + register))
	f.Add([]byte("SIP/2.0 200 OK\nl: 3\ni: x\n\nabc"))
	f.Add([]byte("INVITE sip:bob@x SIP/2.0\r\nVia: a\r\n b\r\nContent-Length: 99999999999\r\n\r\n"))
	f.Add([]byte("SIP/2.0 401\r\n\r\n"))
	f.Add([]byte("MESSAGE sip:b@x SIP/2.0\r\nCall-ID: c\r\nContent-Length: 5\r\n\r\nhelloSIP/2.0 200 OK\r\nl: 2\r\nTo: t\r\n\r\nok"))
	f.Add([]byte("MESSAGE sip:b@x SIP/2.0\r\nContent-Length:  70\r\n\r\nshort"))
	lim := Limits{MaxHeaders: 8, MaxHeaderBytes: 512, MaxBodyBytes: 64}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), lim)
		for {
			m, err := r.ReadMessage()
			if err != nil {
				var se *SyntaxError
				var tl *TooLargeError
				if err != io.EOF && !errors.Is(err, ErrTruncated) && !errors.As(err, &se) && !errors.As(err, &tl) {
					t.Fatalf("unexpected error %T: %v", err, err)
				}
				return
			}
			if m == nil {
				continue
			}
			if len(m.Headers) > lim.MaxHeaders || len(m.Body) > lim.MaxBodyBytes {
				t.Fatalf("over the limits: %d headers, %d bytes", len(m.Headers), len(m.Body))
			}
			// The body may share the lines' allocation: writing to it,
			// or past it, changes no header.
			lines := fmt.Sprint(m.Method, m.RequestURI, m.Reason, m.Headers)
			body := slices.Clone(m.Body)
			for i := range m.Body {
				m.Body[i] ^= 0xff
			}
			_ = append(m.Body, "past the body"...)
			if fmt.Sprint(m.Method, m.RequestURI, m.Reason, m.Headers) != lines {
				t.Fatalf("writing the body changed the lines: %s, was %s", fmt.Sprint(m.Method, m.RequestURI, m.Reason, m.Headers), lines)
			}
			copy(m.Body, body)
			enc, err := m.Encode()
			if err != nil {
				t.Fatalf("Encode(%+v): %v", m, err)
			}
			m2, err := NewReader(bytes.NewReader(enc), Limits{}).ReadMessage()
			if err != nil || !reflect.DeepEqual(m, m2) {
				t.Fatalf("round trip of %q: %+v, %v; want %+v", enc, m2, err, m)
			}
		}
	})
}

func TestResponse(t *testing.T) {
	req := read(t, register, Limits{})[0]
	res := Response(req, 401, "s1")
	if res.Get(HeaderTo) != "<sip:alice@example.com>;tag=s1" || res.Get(HeaderFrom) != req.Get(HeaderFrom) ||
		res.Get(HeaderCallID) != "r1" || res.Get(HeaderCSeq) != "1 REGISTER" || res.Values(HeaderVia)[0] != req.Get(HeaderVia) {
		t.Fatalf("response %+v", res.Headers)
	}
	tagged := NewRequest(MethodBye, "sip:x").Add(HeaderTo, "<sip:b@x>;tag=old")
	if got := Response(tagged, 200, "new").Get(HeaderTo); got != "<sip:b@x>;tag=old" {
		t.Fatalf("To of an in-dialog answer: %q", got)
	}
	if got := Between(`1000;reason="gone away";source="x"`, `reason="`, `"`); got != "gone away" {
		t.Fatalf("Between: %q", got)
	}
}

// AuthPairs gives every pair in order, names as sent and duplicates
// included; AuthParams keeps the first of each name, lower-cased.
func TestAuthPairs(t *testing.T) {
	const v = ` NTLM Opaque="O1", response=ab12 ,opaque="O2", realm="a, b", cnum=3`
	var got []string
	scheme := AuthPairs(v, func(name, value string) { got = append(got, name+"="+value) })
	want := []string{"Opaque=O1", "response=ab12", "opaque=O2", "realm=a, b", "cnum=3"}
	if scheme != "NTLM" || !reflect.DeepEqual(got, want) {
		t.Errorf("AuthPairs: %q %q, want NTLM %q", scheme, got, want)
	}
	_, p := AuthParams(v)
	if p["opaque"] != "O1" || p["realm"] != "a, b" || len(p) != 4 {
		t.Errorf("AuthParams: %v", p)
	}
}

// FuzzAuthPairs: whatever an Authorization or Authentication-Info header
// holds, AuthPairs ends, and AuthParams keeps the first value of each
// name, lower-cased, that AuthPairs hands out.
func FuzzAuthPairs(f *testing.F) {
	f.Add(` NTLM Opaque="O1", response=ab12 ,opaque="O2", realm="a, b", cnum=3`)
	f.Add(`NTLM qop="auth", opaque="`)
	f.Add(`Digest =, ,="x"`)
	f.Fuzz(func(t *testing.T, v string) {
		first := map[string]string{}
		scheme := AuthPairs(v, func(name, value string) {
			name = strings.ToLower(name)
			if _, seen := first[name]; !seen {
				first[name] = value
			}
		})
		scheme2, params := AuthParams(v)
		if scheme != scheme2 || !reflect.DeepEqual(first, params) {
			t.Fatalf("AuthPairs %q %q, AuthParams %q %q", scheme, first, scheme2, params)
		}
	})
}

// RandomHex gives n bytes' worth of hex digits, different each time.
func TestRandomHex(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		token := RandomHex(8)
		if len(token) != 16 || strings.Trim(token, "0123456789abcdef") != "" || seen[token] {
			t.Fatalf("RandomHex(8) = %q (seen before: %v)", token, seen[token])
		}
		seen[token] = true
	}
	if got := AppendRandomHex([]byte("branch="), 4); len(got) != len("branch=")+8 || string(got[:7]) != "branch=" {
		t.Errorf("AppendRandomHex = %q", got)
	}
}

// MessageBuffered says whether the next message waits whole in the
// buffer: not for one cut short in its headers or its body, yes for a
// keep-alive and for a Content-Length the reader refuses at once.
func TestMessageBuffered(t *testing.T) {
	withBody := "MESSAGE sip:bob@x SIP/2.0\r\ni: c1\r\nl : 5\r\n\r\nhello"
	for _, tc := range []struct {
		stream string
		want   bool
	}{
		{register, true},
		{withBody, true},
		{withBody[:len(withBody)-1], false},
		{register[:len(register)-2], false},
		{"\r\n\r\n", true},
		{"SIP/2.0 200 OK\nContent-Length: 99999999999\n", true},
		{"SIP/2.0 200 OK\nContent-Length: 5\n\n", false},
	} {
		r := NewReader(strings.NewReader(tc.stream), Limits{})
		if r.MessageBuffered() {
			t.Fatal("a message counted as buffered before anything was read")
		}
		_, _ = r.br.Peek(1)
		if got := r.MessageBuffered(); got != tc.want {
			t.Errorf("%q: MessageBuffered %v, want %v", tc.stream, got, tc.want)
		}
	}
}

// errWouldWait stands for a socket with nothing more to read yet.
var errWouldWait = errors.New("the client has sent nothing more yet")

// arrived gives what a client sent so far, then notes that its reader
// would have waited for more.
type arrived struct {
	data   []byte
	waited bool
}

func (a *arrived) Read(p []byte) (int, error) {
	if len(a.data) == 0 {
		a.waited = true
		return 0, errWouldWait
	}
	n := copy(p, a.data)
	a.data = a.data[n:]
	return n, nil
}

// A message MessageBuffered calls whole is read without waiting for the
// client, whatever arrived: the server reads it with no deadline set.
func FuzzMessageBuffered(f *testing.F) {
	f.Add([]byte(register + register[:40]))
	f.Add([]byte("\r\n" + register))
	f.Add([]byte("SIP/2.0 200 OK\nl: 3\ni: x\n\nabcSIP/2.0 200 OK\nl: 4\n\nab"))
	f.Add([]byte("INVITE sip:bob@x SIP/2.0\r\nVia: a\r\n l: 9\r\nContent-Length: 2\r\n\r\nxy"))
	f.Add([]byte("MESSAGE sip:b@x SIP/2.0\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nxyz"))
	lim := Limits{MaxHeaders: 8, MaxHeaderBytes: 512, MaxBodyBytes: 64}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &arrived{data: data}
		r := NewReader(src, lim)
		if _, err := r.br.Peek(1); err != nil {
			return
		}
		for r.MessageBuffered() {
			// Asked again without a read, it answers from what it kept,
			// which is what a look at the buffer says.
			if !r.MessageBuffered() || !r.messageBuffered(r.br.Buffered()) {
				t.Fatal("MessageBuffered changed its answer without a read")
			}
			_, err := r.ReadMessage()
			if src.waited {
				t.Fatalf("MessageBuffered said whole, and the read waited for the client (%v)", err)
			}
			if err != nil {
				return
			}
		}
	})
}

// A recycled message is the next one read or made, on any goroutine,
// and what it held (header values, body) stays as it was, since only
// the message and its room for headers are reused. Run with -race: a
// value that shared reused memory would race with the next read.
func TestRecycle(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				callID := fmt.Sprintf("%d-%d", g, i)
				r := NewReader(strings.NewReader("MESSAGE sip:b@x SIP/2.0\r\nCall-ID: "+callID+"\r\nFrom: <sip:a@x>;tag=1\r\nContent-Length: 5\r\n\r\nhello"), Limits{})
				m, err := r.ReadMessage()
				if err != nil {
					t.Error(err)
					return
				}
				gotCallID, from, body := m.Get(HeaderCallID), m.Get(HeaderFrom), m.Body
				m.Recycle()
				made := Response(NewRequest(MethodMessage, "sip:c@x").Add(HeaderCallID, "other").Add(HeaderFrom, "<sip:c@x>"), 200, "t")
				made.Recycle()
				if gotCallID != callID || from != "<sip:a@x>;tag=1" || string(body) != "hello" {
					t.Errorf("after Recycle: Call-ID %q, From %q, body %q", gotCallID, from, body)
					return
				}
			}
		})
	}
	wg.Wait()
	m := NewResponse(200)
	if m.StatusCode != 200 || m.Reason != "OK" || len(m.Headers) != 0 || m.Body != nil {
		t.Fatalf("a message made after others were recycled: %+v", m)
	}
}

// A MESSAGE or a response, Content-Length last as clients write it, is
// read in two allocations: the message, and its lines with its body.
func TestReadMessageAllocations(t *testing.T) {
	if race.Enabled {
		t.Skip("the race detector allocates")
	}
	const message = "MESSAGE sip:b@x SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.2:40000;branch=z9hG4bK1\r\nCall-ID: c\r\n" +
		"CSeq: 2 MESSAGE\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: 11\r\n\r\nhello there"
	stream := strings.NewReader("")
	r := NewReader(stream, Limits{})
	allocs := testing.AllocsPerRun(100, func() {
		stream.Reset(message)
		m, err := r.ReadMessage()
		if err != nil || string(m.Body) != "hello there" || m.Get(HeaderCallID) != "c" {
			t.Fatalf("%+v, %v", m, err)
		}
	})
	if allocs > 2 {
		t.Errorf("%v allocations a message, want 2", allocs)
	}
}
