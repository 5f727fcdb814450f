// Package invite reads and writes MSN Messenger invitation messages, the
// text/x-msmsgsinvite payloads that clients exchange through a switchboard to
// negotiate file transfers (MSNFTP), voice, NetMeeting and other
// applications.
//
// An invitation travels as the payload of an MSG command: a MIME-style header
// block, an empty line, then a body of "Name: value" lines in any order. One
// negotiation is a sequence of such messages sharing an Invitation-Cookie:
// INVITE from the inviter, then ACCEPT or CANCEL replies. This package only
// deals with one message at a time; it keeps no negotiation state.
package invite

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// ContentType is the media type of invitation payloads.
const ContentType = "text/x-msmsgsinvite"

// FileTransferGUID is the Application-GUID of MSNFTP file transfer. The
// official client compares it case-sensitively, so always send it exactly
// like this.
const FileTransferGUID = "{5D3E02AB-6190-11d3-BBBB-00C04F795683}"

// FileTransferName is the English Application-Name of file transfer. It is
// only a label for people; clients recognise the application by its GUID.
const FileTransferName = "File Transfer"

// Command is the value of the Invitation-Command field.
type Command string

// The three invitation commands.
const (
	Invite Command = "INVITE"
	Accept Command = "ACCEPT"
	Cancel Command = "CANCEL"
)

// Cancel codes seen from official and third-party clients in the
// Cancel-Code field of a CANCEL. The field is free-form; other values may
// arrive and are kept as they are.
const (
	CancelReject             = "REJECT"               // the user declined
	CancelRejectNotInstalled = "REJECT_NOT_INSTALLED" // the application GUID is not supported
	CancelTimeout            = "TIMEOUT"              // gave up waiting for a reply or a connection
	CancelFTTimeout          = "FTTIMEOUT"            // the file transfer itself failed or timed out
	CancelOutbandCancel      = "OUTBANDCANCEL"        // cancelled during the transfer / the chat window closed
	CancelFail               = "FAIL"                 // no usable session protocol, or an unparsable invitation
	CancelUserCancel         = "USER_CANCEL"          // the user cancelled (aMSN, voice)
)

// Field is one "Name: value" line of the body that Invitation has no field
// for, kept as it arrived.
type Field struct {
	Name  string
	Value string
}

// Invitation is one invitation message. Empty strings and zero numbers mean
// the field is absent; Payload omits them (Invitation-Command and
// Invitation-Cookie are always written, and Application-FileSize is written
// whenever Application-File is set, so an empty file keeps its size 0).
//
// Flag fields (Connectivity, Launch-Application, Sender-Connect) are kept as
// the text that travels, normally "TRUE"/"FALSE" or "Y"/"N".
type Invitation struct {
	Command Command // Invitation-Command: INVITE, ACCEPT or CANCEL
	Cookie  uint32  // Invitation-Cookie, chosen by the inviter, 1..2^32-1

	AppName string // Application-Name, e.g. "File Transfer"
	AppGUID string // Application-GUID, e.g. FileTransferGUID
	AppURL  string // Application-URL (non-file applications, optional)

	File     string // Application-File: the name of the offered file
	FileSize int64  // Application-FileSize in bytes

	Connectivity      string // Connectivity: "N" when the inviter cannot accept connections
	LaunchApplication string // Launch-Application: "TRUE" or "FALSE"
	RequestData       string // Request-Data, normally "IP-Address:"

	IPAddress         string // IP-Address (voice sends "ip:port")
	IPAddressInternal string // IP-Address-Internal
	Port              int    // Port
	PortX             int    // PortX
	PortXInternal     int    // PortX-Internal
	AuthCookie        uint32 // AuthCookie: the MSNFTP USR cookie
	SenderConnect     string // Sender-Connect: "TRUE" when the file's sender is to connect

	SessionID       string // Session-ID
	SessionProtocol string // Session-Protocol, e.g. "SM1"
	ContextData     string // Context-Data

	CancelCode string // Cancel-Code, one of the Cancel* constants or anything else

	// The encrypted variant of Office Communicator (MSN_SECURE_FTP):
	// Encryption in the INVITE ("R" from pidgin-sipe, "S" from
	// Communicator) asks for it; the receiver's ACCEPT carries the keys,
	// each 24 bytes in base64.
	Encryption    string // Encryption
	EncryptionKey string // Encryption-Key
	HashKey       string // Hash-Key

	// Extra holds the body fields not listed above, in the order received,
	// and is written after them by Payload.
	Extra []Field
}

// Errors returned by Parse. Number fields that do not parse are reported as a
// *FieldError.
var (
	ErrContentType = errors.New("invite: payload is not text/x-msmsgsinvite")
	ErrNoCommand   = errors.New("invite: missing or unknown Invitation-Command")
	ErrNoCookie    = errors.New("invite: missing or zero Invitation-Cookie")
)

// FieldError reports a field whose value is not valid, such as a port that
// is not a number.
type FieldError struct {
	Name  string // field name as received
	Value string
	Err   error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("invite: bad %s %q: %v", e.Name, e.Value, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// NewCookie returns a random cookie in 1..2^32-1, as the official client
// chooses both Invitation-Cookie and AuthCookie.
func NewCookie() uint32 {
	return rand.Uint32N(1<<32-1) + 1
}

// kind tells how a known field is stored.
type kind int

const (
	kString kind = iota
	kCommand
	kCookie
	kUint32
	kSize
	kPort
)

type fieldSpec struct {
	name string
	kind kind
	str  func(*Invitation) *string
	u32  func(*Invitation) *uint32
	num  func(*Invitation) *int
}

// fields lists the known fields in the order Payload writes them: the order
// the official client uses for a file-transfer INVITE, then ACCEPT fields.
var fields = []fieldSpec{
	{name: "Application-Name", str: func(v *Invitation) *string { return &v.AppName }},
	{name: "Application-GUID", str: func(v *Invitation) *string { return &v.AppGUID }},
	{name: "Application-URL", str: func(v *Invitation) *string { return &v.AppURL }},
	{name: "Session-Protocol", str: func(v *Invitation) *string { return &v.SessionProtocol }},
	{name: "Context-Data", str: func(v *Invitation) *string { return &v.ContextData }},
	{name: "Invitation-Command", kind: kCommand},
	{name: "Invitation-Cookie", kind: kCookie},
	{name: "Session-ID", str: func(v *Invitation) *string { return &v.SessionID }},
	{name: "Application-File", str: func(v *Invitation) *string { return &v.File }},
	{name: "Application-FileSize", kind: kSize},
	{name: "Connectivity", str: func(v *Invitation) *string { return &v.Connectivity }},
	{name: "Cancel-Code", str: func(v *Invitation) *string { return &v.CancelCode }},
	{name: "IP-Address", str: func(v *Invitation) *string { return &v.IPAddress }},
	{name: "IP-Address-Internal", str: func(v *Invitation) *string { return &v.IPAddressInternal }},
	{name: "Port", kind: kPort, num: func(v *Invitation) *int { return &v.Port }},
	{name: "PortX", kind: kPort, num: func(v *Invitation) *int { return &v.PortX }},
	{name: "PortX-Internal", kind: kPort, num: func(v *Invitation) *int { return &v.PortXInternal }},
	{name: "AuthCookie", kind: kUint32, u32: func(v *Invitation) *uint32 { return &v.AuthCookie }},
	{name: "Sender-Connect", str: func(v *Invitation) *string { return &v.SenderConnect }},
	{name: "Launch-Application", str: func(v *Invitation) *string { return &v.LaunchApplication }},
	{name: "Request-Data", str: func(v *Invitation) *string { return &v.RequestData }},
	{name: "Encryption", str: func(v *Invitation) *string { return &v.Encryption }},
	{name: "Encryption-Key", str: func(v *Invitation) *string { return &v.EncryptionKey }},
	{name: "Hash-Key", str: func(v *Invitation) *string { return &v.HashKey }},
}

var byName = func() map[string]*fieldSpec {
	m := make(map[string]*fieldSpec, len(fields))
	for i := range fields {
		m[strings.ToLower(fields[i].name)] = &fields[i]
	}
	return m
}()

// Parse decodes a complete MSG payload: header lines, an empty line, then the
// invitation fields. Lines may end in CRLF, LF or a lone CR. Field names are
// matched case-insensitively; values are trimmed of surrounding white space;
// lines without a colon are ignored, as are unknown headers. An unknown body
// field goes to Extra. When a known field appears twice the last one wins.
//
// Parse fails when the Content-Type header is missing or is not
// text/x-msmsgsinvite, when Invitation-Command is missing or not one of
// INVITE, ACCEPT, CANCEL (any case), when Invitation-Cookie is missing or 0,
// and when a number field (cookies, file size, ports) does not parse. An
// empty number field counts as absent.
func Parse(payload []byte) (Invitation, error) {
	lines := splitLines(string(payload))
	// Skip blank lines before the headers, then read headers up to the
	// first blank line.
	i := 0
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	contentType := ""
	for ; i < len(lines); i++ {
		if lines[i] == "" {
			i++
			break
		}
		name, value, ok := splitField(lines[i])
		if ok && strings.EqualFold(name, "Content-Type") {
			contentType = value
		}
	}
	mediaType, _, _ := strings.Cut(contentType, ";")
	if !strings.EqualFold(strings.TrimSpace(mediaType), ContentType) {
		return Invitation{}, ErrContentType
	}
	return parseFields(lines[i:])
}

// ParseBody decodes the fields alone, as SIP carries them: the message's
// Content-Type says text/x-msmsgsinvite, and the body holds only the
// "Name: value" lines. It fails as Parse does, but for the header.
func ParseBody(body []byte) (Invitation, error) {
	return parseFields(splitLines(string(body)))
}

// parseFields reads the invitation fields of lines.
func parseFields(lines []string) (Invitation, error) {
	var inv Invitation
	haveCookie := false
	for _, l := range lines {
		name, value, ok := splitField(l)
		if !ok {
			continue
		}
		spec := byName[strings.ToLower(name)]
		if spec == nil {
			inv.Extra = append(inv.Extra, Field{Name: name, Value: value})
			continue
		}
		if err := spec.set(&inv, name, value); err != nil {
			return Invitation{}, err
		}
		if spec.kind == kCookie {
			haveCookie = true
		}
	}
	switch inv.Command {
	case Invite, Accept, Cancel:
	default:
		return Invitation{}, ErrNoCommand
	}
	if !haveCookie || inv.Cookie == 0 {
		return Invitation{}, ErrNoCookie
	}
	return inv, nil
}

func (s *fieldSpec) set(inv *Invitation, name, value string) error {
	bad := func(err error) error {
		if ne, ok := err.(*strconv.NumError); ok {
			err = ne.Err
		}
		return &FieldError{Name: name, Value: value, Err: err}
	}
	switch s.kind {
	case kString:
		*s.str(inv) = value
	case kCommand:
		inv.Command = Command(strings.ToUpper(value))
	case kCookie:
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return bad(err)
		}
		inv.Cookie = uint32(n)
	case kUint32:
		if value == "" {
			*s.u32(inv) = 0
			return nil
		}
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return bad(err)
		}
		*s.u32(inv) = uint32(n)
	case kSize:
		if value == "" {
			inv.FileSize = 0
			return nil
		}
		n, err := strconv.ParseUint(value, 10, 63)
		if err != nil {
			return bad(err)
		}
		inv.FileSize = int64(n)
	case kPort:
		if value == "" {
			*s.num(inv) = 0
			return nil
		}
		n, err := strconv.ParseUint(value, 10, 16)
		if err != nil {
			return bad(err)
		}
		*s.num(inv) = int(n)
	}
	return nil
}

// header is what Payload puts before the fields.
const header = "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n"

// Payload encodes the invitation as a complete MSG payload: the MIME header,
// an empty line, one CRLF-terminated line per present field (known fields
// in a fixed order, then Extra), and a final empty line as real clients
// send. CR and LF inside names or values, which would break the framing,
// are replaced by spaces; Extra fields with an empty name are skipped.
func (inv Invitation) Payload() []byte {
	return inv.appendFields(append(make([]byte, 0, 256), header...))
}

// Body encodes the fields alone, as a SIP MESSAGE of Content-Type
// text/x-msmsgsinvite carries them (see ParseBody).
func (inv Invitation) Body() []byte {
	return inv.appendFields(make([]byte, 0, 256))
}

// appendFields appends the field lines and the final empty line to b.
func (inv Invitation) appendFields(b []byte) []byte {
	line := func(name, value string) {
		b = append(b, clean(name)...)
		b = append(b, ": "...)
		b = append(b, clean(value)...)
		b = append(b, "\r\n"...)
	}
	for i := range fields {
		s := &fields[i]
		switch s.kind {
		case kString:
			if v := *s.str(&inv); v != "" {
				line(s.name, v)
			}
		case kCommand:
			line(s.name, string(inv.Command))
		case kCookie:
			line(s.name, strconv.FormatUint(uint64(inv.Cookie), 10))
		case kUint32:
			if v := *s.u32(&inv); v != 0 {
				line(s.name, strconv.FormatUint(uint64(v), 10))
			}
		case kSize:
			if inv.File != "" || inv.FileSize != 0 {
				line(s.name, strconv.FormatInt(inv.FileSize, 10))
			}
		case kPort:
			if v := *s.num(&inv); v != 0 {
				line(s.name, strconv.Itoa(v))
			}
		}
	}
	for _, f := range inv.Extra {
		if strings.TrimSpace(f.Name) == "" {
			continue
		}
		line(f.Name, f.Value)
	}
	return append(b, "\r\n"...)
}

// clean keeps a name or value on one line.
func clean(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// splitLines splits at CRLF, LF or a lone CR. A final line terminator does
// not produce an extra empty line.
func splitLines(s string) []string {
	var lines []string
	for len(s) > 0 {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:i])
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
	return lines
}

// splitField splits "Name: value" at the first colon, trimming both parts.
// Lines without a colon or with an empty name are not fields.
func splitField(line string) (name, value string, ok bool) {
	name, value, ok = strings.Cut(line, ":")
	if !ok {
		return "", "", false
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return "", "", false
	}
	return name, strings.TrimSpace(value), true
}
