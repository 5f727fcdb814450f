// Package wire is the framing of SIP over a byte stream (RFC 3261 §7 and
// §18.3) as Office Communicator clients and pidgin-sipe speak it: one
// start line, header lines, a blank line and exactly Content-Length bytes
// of body. It holds no state; the server and the client libraries build on
// it.
//
// Choices, for the clients we serve:
//   - Header names are matched without regard to case, and the compact
//     forms of RFC 3261 §7.3.3 (i, f, t, l, …) are read as their full
//     names: pidgin-sipe understands only full names, so whatever is read
//     is written back in full.
//   - Content-Length is framing, not a header: the reader takes it out of
//     Headers (the body's length says it), and Encode always writes it,
//     0 included, as the last header — a message with a Content-Type but
//     no Content-Length makes pidgin-sipe drop the connection.
//   - CR and LF bytes between messages are keep-alives (pidgin-sipe sends
//     CRLF CRLF when it has been silent for the keep-alive interval):
//     ReadMessage reports them as a nil message, so a server can count them
//     as activity.
//   - Lines may end in LF alone; continuation lines (leading space or tab)
//     are folded into one value with a single space.
//   - Every size is bounded (Limits); a message over a bound is an error
//     after which the stream cannot be trusted.
package wire

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Version is the only protocol version spoken.
const Version = "SIP/2.0"

// Methods used by Office Communicator and pidgin-sipe.
const (
	MethodRegister  = "REGISTER"
	MethodSubscribe = "SUBSCRIBE"
	MethodNotify    = "NOTIFY"
	MethodBENotify  = "BENOTIFY"
	MethodService   = "SERVICE"
	MethodInvite    = "INVITE"
	MethodAck       = "ACK"
	MethodMessage   = "MESSAGE"
	MethodInfo      = "INFO"
	MethodBye       = "BYE"
	MethodCancel    = "CANCEL"
	MethodOptions   = "OPTIONS"
)

// Header names, in the spelling written.
const (
	HeaderVia                = "Via"
	HeaderFrom               = "From"
	HeaderTo                 = "To"
	HeaderCallID             = "Call-ID"
	HeaderCSeq               = "CSeq"
	HeaderContact            = "Contact"
	HeaderContentType        = "Content-Type"
	HeaderContentLength      = "Content-Length"
	HeaderExpires            = "Expires"
	HeaderMaxForwards        = "Max-Forwards"
	HeaderEvent              = "Event"
	HeaderAllowEvents        = "Allow-Events"
	HeaderSupported          = "Supported"
	HeaderRequire            = "Require"
	HeaderAccept             = "Accept"
	HeaderUserAgent          = "User-Agent"
	HeaderServer             = "Server"
	HeaderAuthorization      = "Authorization"
	HeaderWWWAuthenticate    = "WWW-Authenticate"
	HeaderAuthenticationInfo = "Authentication-Info"
	HeaderSubscriptionState  = "Subscription-State"
	HeaderKeepAlive          = "ms-keep-alive"
	HeaderPiggybackCSeq      = "ms-piggyback-cseq"
	HeaderTextFormat         = "ms-text-format"
	HeaderDiagnostics        = "ms-diagnostics"
	HeaderWarning            = "Warning"
	HeaderRecordRoute        = "Record-Route"
)

// Header is one header line, its value as sent (folded lines joined).
type Header struct {
	Name  string
	Value string
}

// Message is a SIP request (Method set) or response (StatusCode set).
type Message struct {
	Method     string
	RequestURI string
	StatusCode int
	Reason     string
	Headers    []Header // in order; never Content-Length (see the package doc)
	Body       []byte
}

// NewRequest starts a request.
func NewRequest(method, uri string) *Message {
	m := newMessage()
	m.Method, m.RequestURI = method, uri
	return m
}

// NewResponse starts a response with the usual reason phrase.
func NewResponse(code int) *Message {
	m := newMessage()
	m.StatusCode, m.Reason = code, ReasonPhrase(code)
	return m
}

// headerRoom is how many header lines a new message has room for: those
// of most messages read or sent (a client's MESSAGE has ten; a response
// copies five, and a server adds a signature, Contact and Content-Type).
const headerRoom = 10

// messageWithRoom is a message and room for its header lines, in one
// allocation rather than two for every message read or sent.
type messageWithRoom struct {
	Message
	room [headerRoom]Header
}

func newMessage() *Message {
	if m, _ := recycled.Get().(*Message); m != nil {
		return m
	}
	r := new(messageWithRoom)
	r.Headers = r.room[:0]
	return &r.Message
}

// recycled are messages given back (Recycle) for the next read or made.
var recycled sync.Pool

// Recycle gives m back, to be the next message read or made, once
// nothing refers to m or to its Headers any more: a message and its room
// for headers, made for every message read and sent, were nearly half a
// KiB. m must come from NewRequest, NewResponse, Response or a Reader,
// and is not to be used after. What its fields held (header values, the
// body) is not reused, and may be kept.
func (m *Message) Recycle() {
	if cap(m.Headers) > headerRoom {
		return // grew for a long message: let it go
	}
	// Cleared whole, as Set and Del leave lines past the end.
	clear(m.Headers[:cap(m.Headers)])
	*m = Message{Headers: m.Headers[:0]}
	recycled.Put(m)
}

// Response starts the answer to req: Via, From, To (with tag added when
// it has none and tag is not empty), Call-ID and CSeq copied.
func Response(req *Message, code int, tag string) *Message {
	res := NewResponse(code)
	for _, h := range req.Headers {
		if strings.EqualFold(h.Name, HeaderVia) {
			res.Add(HeaderVia, h.Value)
		}
	}
	to := req.Get(HeaderTo)
	if tag != "" && Tag(to) == "" {
		to += ";tag=" + tag
	}
	return res.Add(HeaderFrom, req.Get(HeaderFrom)).
		Add(HeaderTo, to).
		Add(HeaderCallID, req.Get(HeaderCallID)).
		Add(HeaderCSeq, req.Get(HeaderCSeq))
}

// IsRequest reports whether m is a request.
func (m *Message) IsRequest() bool { return m.Method != "" }

// Lookup returns the first value of a header, matched without regard to
// case.
func (m *Message) Lookup(name string) (string, bool) {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

// Get returns the first value of a header, or "".
func (m *Message) Get(name string) string {
	v, _ := m.Lookup(name)
	return v
}

// Values returns every value of a header, in order.
func (m *Message) Values(name string) []string {
	var out []string
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			out = append(out, h.Value)
		}
	}
	return out
}

// Add appends a header line and returns m.
func (m *Message) Add(name, value string) *Message {
	m.Headers = append(m.Headers, Header{Name: name, Value: value})
	return m
}

// Set replaces every line of a header with one, where the first stood (or
// at the end).
func (m *Message) Set(name, value string) *Message {
	for i, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			m.Headers[i] = Header{Name: name, Value: value}
			m.Headers = append(m.Headers[:i+1], deleteHeader(m.Headers[i+1:], name)...)
			return m
		}
	}
	return m.Add(name, value)
}

// Del removes every line of a header.
func (m *Message) Del(name string) *Message {
	m.Headers = deleteHeader(m.Headers, name)
	return m
}

func deleteHeader(hs []Header, name string) []Header {
	out := hs[:0]
	for _, h := range hs {
		if !strings.EqualFold(h.Name, name) {
			out = append(out, h)
		}
	}
	return out
}

// HasValue reports whether one of a header's lines holds value as a
// comma-separated item (compared without regard to case).
func (m *Message) HasValue(name, value string) bool {
	for _, v := range m.Values(name) {
		for item := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(item), value) {
				return true
			}
		}
	}
	return false
}

// CSeq returns the CSeq number and method.
func (m *Message) CSeq() (uint32, string, error) {
	return ParseCSeq(m.Get(HeaderCSeq))
}

// ParseCSeq reads "<number> <method>".
func ParseCSeq(v string) (uint32, string, error) {
	num, method, ok := strings.Cut(strings.TrimSpace(v), " ")
	n, err := strconv.ParseUint(num, 10, 32)
	method = strings.TrimSpace(method)
	if !ok || err != nil || !isToken(method) {
		return 0, "", fmt.Errorf("%w: CSeq %q", ErrMalformed, v)
	}
	return uint32(n), method, nil
}

// Transaction names the transaction a message belongs to, as answers are
// matched to requests (pidgin-sipe's way): Call-ID, CSeq number and CSeq
// method, upper case. A map keyed by it costs no string per message.
type Transaction struct {
	CallID string
	CSeq   uint32
	Method string
}

// Transaction returns m's transaction; a malformed CSeq gives zero number
// and method.
func (m *Message) Transaction() Transaction {
	n, method, _ := m.CSeq()
	return Transaction{m.Get(HeaderCallID), n, strings.ToUpper(method)}
}

// ErrEncode reports a message that cannot be written: a field holds a line
// break or a character its syntax forbids.
var ErrEncode = errors.New("sip: message cannot be encoded")

// Encode writes m in wire form, Content-Length last, in one allocation.
func (m *Message) Encode() ([]byte, error) { return m.AppendEncode(nil) }

// AppendEncode is Encode appending to dst, growing it once at most: every
// message a server sends is encoded here, into a buffer it reuses.
func (m *Message) AppendEncode(dst []byte) ([]byte, error) { return m.AppendEncodeSet(dst, "", nil) }

// AppendEncodeSet is AppendEncode of m as if m.Set(name, value) had been
// called first, m itself unchanged: a signature made for each message
// sent goes straight into its encoding, not into a string of its own. An
// empty name sets nothing.
func (m *Message) AppendEncodeSet(dst []byte, name string, value []byte) ([]byte, error) {
	if err := m.checkStartLine(); err != nil {
		return nil, err
	}
	size := len(Version) + len(m.Method) + len(m.RequestURI) + len(m.Reason) + len("  999 \r\nContent-Length: 4294967296\r\n\r\n") + len(m.Body)
	for _, h := range m.Headers {
		if !isToken(h.Name) || strings.EqualFold(h.Name, HeaderContentLength) || hasLineBreak(h.Value) {
			return nil, fmt.Errorf("%w: header %q", ErrEncode, h.Name)
		}
		size += len(h.Name) + len(h.Value) + len(": \r\n")
	}
	if name != "" {
		if !isToken(name) || strings.EqualFold(name, HeaderContentLength) || bytes.IndexByte(value, '\n') >= 0 || bytes.IndexByte(value, '\r') >= 0 {
			return nil, fmt.Errorf("%w: header %q", ErrEncode, name)
		}
		size += len(name) + len(value) + len(": \r\n")
	}
	b := slices.Grow(dst, size)
	if m.IsRequest() {
		b = append(append(append(append(append(b, m.Method...), ' '), m.RequestURI...), ' '), Version...)
	} else {
		b = append(strconv.AppendInt(append(append(b, Version...), ' '), int64(m.StatusCode), 10), ' ')
		b = append(b, m.Reason...)
	}
	b = append(b, "\r\n"...)
	set := name == ""
	for _, h := range m.Headers {
		if name != "" && strings.EqualFold(h.Name, name) {
			// Set's line stands where the header's first stood.
			if !set {
				b = append(append(append(append(b, name...), ": "...), value...), "\r\n"...)
				set = true
			}
			continue
		}
		b = append(append(append(append(b, h.Name...), ": "...), h.Value...), "\r\n"...)
	}
	if !set {
		b = append(append(append(append(b, name...), ": "...), value...), "\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(m.Body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, m.Body...), nil
}

// hasLineBreak reports whether s holds a CR or an LF: two byte searches
// rather than ContainsAny's set, built for every call.
func hasLineBreak(s string) bool {
	return strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, '\r') >= 0
}

// checkStartLine reports a start line that cannot be written.
func (m *Message) checkStartLine() error {
	if m.IsRequest() {
		if !isToken(m.Method) || m.RequestURI == "" || strings.ContainsAny(m.RequestURI, " \t\r\n") {
			return fmt.Errorf("%w: request line %q %q", ErrEncode, m.Method, m.RequestURI)
		}
		return nil
	}
	// pidgin-sipe splits the status line in three: the reason may not be
	// empty.
	if m.StatusCode < 100 || m.StatusCode > 699 || m.Reason == "" || hasLineBreak(m.Reason) {
		return fmt.Errorf("%w: status line %d %q", ErrEncode, m.StatusCode, m.Reason)
	}
	return nil
}

// FirstLine is the start line, for logs.
func (m *Message) FirstLine() string {
	if m.IsRequest() {
		return m.Method + " " + m.RequestURI
	}
	return strconv.Itoa(m.StatusCode) + " " + m.Reason
}

// redacted are the headers that carry authentication data: NTLM messages,
// signatures and the values a password guess could be checked against.
var redacted = []string{HeaderAuthorization, HeaderWWWAuthenticate, HeaderAuthenticationInfo,
	"Proxy-Authorization", "Proxy-Authenticate", "Proxy-Authentication-Info"}

// LogString renders m for a trace log: authentication headers without
// their values and the body only by its size, since it holds private
// messages.
func (m *Message) LogString() string {
	var b strings.Builder
	b.WriteString(m.FirstLine())
	for _, h := range m.Headers {
		v := h.Value
		for _, r := range redacted {
			if strings.EqualFold(h.Name, r) {
				scheme, _, _ := strings.Cut(v, " ")
				v = scheme + " [redacted]"
			}
		}
		fmt.Fprintf(&b, " | %s: %s", h.Name, v)
	}
	fmt.Fprintf(&b, " | [%d bytes of body]", len(m.Body))
	return b.String()
}

// ReasonPhrase is the usual phrase for a status code.
func ReasonPhrase(code int) string {
	switch code {
	case 100:
		return "Trying"
	case 200:
		return "OK"
	case 202:
		return "Accepted"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 413:
		return "Request Entity Too Large"
	case 415:
		return "Unsupported Media Type"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call Leg/Transaction Does Not Exist"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 489:
		return "Bad Event"
	case 500:
		return "Server Internal Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Server Time-out"
	case 603:
		return "Decline"
	}
	switch {
	case code < 200:
		return "Provisional"
	case code < 300:
		return "OK"
	case code < 400:
		return "Redirect"
	case code < 500:
		return "Client Error"
	case code < 600:
		return "Server Error"
	}
	return "Global Failure"
}

// isToken reports whether s is an RFC 3261 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
