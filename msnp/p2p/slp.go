package p2p

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MSNSLP body types (Content-Type of an SLP message).
const (
	SessionRequest = "application/x-msnmsgr-sessionreqbody"
	TransRequest   = "application/x-msnmsgr-transreqbody"
	TransResponse  = "application/x-msnmsgr-transrespbody"
	SessionClose   = "application/x-msnmsgr-sessionclosebody"
)

// EUF-GUIDs of the session kinds an INVITE asks for.
const (
	EUFFileTransfer = "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"
	EUFMSNObject    = "{A4268EEC-FEC5-49E5-95C3-F126696BDBF6}"
)

// Methods and answers.
const (
	Invite = "INVITE"
	Bye    = "BYE"

	StatusOK      = 200
	StatusDecline = 603
)

// MaxSLP bounds an SLP message a peer reassembles.
const MaxSLP = 16 << 10

// Field is one "Name: value" line of an SLP body.
type Field struct{ Name, Value string }

// Fields is an SLP body in its order.
type Fields []Field

// Get returns the value of the first field of that name (any letter case).
func (f Fields) Get(name string) string {
	for _, x := range f {
		if strings.EqualFold(x.Name, name) {
			return x.Value
		}
	}
	return ""
}

// SLP is one MSNSLP message: a request (Method set) or a response (Status).
type SLP struct {
	Method      string // INVITE or BYE; "" for a response
	Status      int    // 200, 603 … for a response
	Reason      string // of a response: OK, Decline
	To, From    string // e-mail addresses
	Branch      string // of Via, a {GUID}
	CSeq        int
	CallID      string // a {GUID}
	ContentType string
	Body        Fields
}

// SessionID returns the body's SessionID, 0 when absent or malformed.
func (s SLP) SessionID() uint32 {
	n, _ := strconv.ParseUint(s.Body.Get("SessionID"), 10, 32)
	return uint32(n)
}

// Reply is the response to request s, as the peer that received it
// writes it: same Call-ID and branch, To and From swapped, CSeq one more.
func (s SLP) Reply(status int, reason, contentType string, body Fields) SLP {
	return SLP{Status: status, Reason: reason, To: s.From, From: s.To, Branch: s.Branch, CSeq: s.CSeq + 1,
		CallID: s.CallID, ContentType: contentType, Body: body}
}

// Marshal writes the message: CRLF lines, then the body followed by one
// NUL byte that Content-Length counts.
func (s SLP) Marshal() []byte {
	var body strings.Builder
	for _, f := range s.Body {
		body.WriteString(f.Name + ": " + f.Value + "\r\n")
	}
	body.WriteString("\r\n")
	var b strings.Builder
	if s.Method != "" {
		b.WriteString(s.Method + " MSNMSGR:" + s.To + " MSNSLP/1.0\r\n")
	} else {
		fmt.Fprintf(&b, "MSNSLP/1.0 %d %s\r\n", s.Status, s.Reason)
	}
	fmt.Fprintf(&b, "To: <msnmsgr:%s>\r\nFrom: <msnmsgr:%s>\r\nVia: MSNSLP/1.0/TLP ;branch=%s\r\nCSeq: %d \r\nCall-ID: %s\r\n"+
		"Max-Forwards: 0\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		s.To, s.From, s.Branch, s.CSeq, s.CallID, s.ContentType, body.Len()+1)
	b.WriteString(body.String())
	b.WriteByte(0)
	return []byte(b.String())
}

// ErrBadSLP is returned for text that is not an MSNSLP message.
var ErrBadSLP = errors.New("p2p: malformed MSNSLP message")

// ParseSLP reads an MSNSLP message. Lines may end in CRLF or LF; the body
// runs to Content-Length (or the end) without its trailing NUL.
func ParseSLP(b []byte) (SLP, error) {
	if len(b) > MaxSLP {
		return SLP{}, ErrBadSLP
	}
	text := string(b)
	head, body, ok := strings.Cut(text, "\r\n\r\n")
	if !ok {
		if head, body, ok = strings.Cut(text, "\n\n"); !ok {
			return SLP{}, ErrBadSLP
		}
	}
	lines := strings.Split(strings.ReplaceAll(head, "\r\n", "\n"), "\n")
	var s SLP
	start := strings.Fields(lines[0])
	switch {
	case len(start) == 3 && start[2] == "MSNSLP/1.0" && strings.HasPrefix(strings.ToUpper(start[1]), "MSNMSGR:"):
		s.Method = start[0]
	case len(start) >= 2 && start[0] == "MSNSLP/1.0":
		n, err := strconv.Atoi(start[1])
		if err != nil || n < 100 || n > 999 {
			return SLP{}, ErrBadSLP
		}
		s.Status, s.Reason = n, strings.Join(start[2:], " ")
	default:
		return SLP{}, ErrBadSLP
	}
	length := -1
	for _, line := range lines[1:] {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "to":
			s.To = address(value)
		case "from":
			s.From = address(value)
		case "via":
			if _, br, ok := strings.Cut(value, "branch="); ok {
				s.Branch = strings.TrimSpace(br)
			}
		case "cseq":
			s.CSeq, _ = strconv.Atoi(value)
		case "call-id":
			s.CallID = value
		case "content-type":
			s.ContentType = value
		case "content-length":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return SLP{}, ErrBadSLP
			}
			length = n
		}
	}
	if length >= 0 && length < len(body) {
		body = body[:length]
	}
	body = strings.TrimRight(body, "\x00")
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok {
			s.Body = append(s.Body, Field{strings.TrimSpace(name), strings.TrimSpace(value)})
		}
	}
	if !token(s.CallID) || !token(s.To) || !token(s.From) || s.Branch != "" && !token(s.Branch) {
		return SLP{}, ErrBadSLP
	}
	return s, nil
}

// token tells whether v is non-empty and free of spaces and control
// characters, as addresses and GUIDs are.
func token(v string) bool {
	if v == "" {
		return false
	}
	for _, r := range v {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// address reads <msnmsgr:email>, dropping an MSNP16+ ;{guid} endpoint.
func address(v string) string {
	v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
	if i := strings.IndexByte(v, ':'); i >= 0 && strings.EqualFold(v[:i], "msnmsgr") {
		v = v[i+1:]
	}
	v, _ = SplitAddress(v)
	return v
}

// NewGUID returns a random {GUID} in upper case, for Call-ID and branch.
func NewGUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("{%X-%X-%X-%X-%X}", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// NewSessionID returns a random non-zero session id.
func NewSessionID() uint32 {
	var b [4]byte
	for {
		rand.Read(b[:])
		if n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]); n != 0 && n < 1<<31 {
			return n
		}
	}
}

// NewInvite is from's INVITE to to for a new session of the kind euf
// (EUFFileTransfer, EUFMSNObject) with application appID and its Context,
// under a new Call-ID and branch.
func NewInvite(from, to, euf string, session, appID uint32, context string) SLP {
	return SLP{
		Method: Invite, To: to, From: from, Branch: NewGUID(), CallID: NewGUID(), ContentType: SessionRequest,
		Body: Fields{
			{Name: "EUF-GUID", Value: euf},
			{Name: "SessionID", Value: strconv.FormatUint(uint64(session), 10)},
			{Name: "AppID", Value: strconv.FormatUint(uint64(appID), 10)},
			{Name: "Context", Value: context},
		},
	}
}

// Answer is the response to a session INVITE: StatusOK accepts it,
// StatusDecline refuses it. The body names the session.
func (s SLP) Answer(status int) SLP {
	reason := "OK"
	if status == StatusDecline {
		reason = "Decline"
	}
	return s.Reply(status, reason, SessionRequest, Fields{{Name: "SessionID", Value: s.Body.Get("SessionID")}})
}

// Bye is the BYE with which me closes the session that inv opened,
// whichever side sent inv.
func (s SLP) Bye(me string) SLP {
	to := s.From
	if strings.EqualFold(to, me) {
		to = s.To
	}
	return SLP{Method: Bye, To: to, From: me, Branch: NewGUID(), CallID: s.CallID, ContentType: SessionClose,
		Body: Fields{{Name: "SessionID", Value: s.Body.Get("SessionID")}}}
}

// zeroGUID is the nonce of a peer that does not listen.
const zeroGUID = "{00000000-0000-0000-0000-000000000000}"

// RefuseDirect is the answer of a peer that takes no direct connection to
// a direct-connection INVITE (TransRequest): 200 OK, "Bridge: TCPv1",
// "Listening: false" and a zero nonce, in the field the INVITE used
// (Hashed-Nonce from WLM 2009, Nonce before). It is what Pidgin answers
// when it cannot listen; the inviter, unable to reach it either, then
// keeps the data in the switchboard.
func (s SLP) RefuseDirect() SLP {
	nonce := "Nonce"
	if s.Body.Get("Hashed-Nonce") != "" {
		nonce = "Hashed-Nonce"
	}
	return s.Reply(StatusOK, "OK", TransResponse, Fields{
		{Name: "Bridge", Value: "TCPv1"}, {Name: "Listening", Value: "false"}, {Name: nonce, Value: zeroGUID}})
}
