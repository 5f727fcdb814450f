package wire

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultPort is the TCP port IMIP servers listen on.
const DefaultPort = 11319

// Block types (the first word of the type line).
const (
	TypeHELO = "HELO" // version and authentication handshake, both ways
	TypeLOGN = "LOGN" // login; the server echoes it on success
	TypeSTAT = "STAT" // presence, both ways
	TypeACK  = "ACK"  // "ACK <code>": the answer to a block, by Reference
	TypeLIST = "LIST" // contact list: "LIST <subcommand> [<user> ["nick"]]"
	TypeMESG = "MESG" // instant message
	TypePING = "PING" // client keep-alive
	TypeDISC = "DISC" // end of session
)

// Header names as the Odigo server and the Yahoo! client spell them. Look
// them up with Block.Get, which ignores case.
const (
	HeaderID                 = "ID"
	HeaderReference          = "Reference"
	HeaderFrom               = "From"
	HeaderTo                 = "To"
	HeaderList               = "List"
	HeaderACKType            = "ACK-Type"
	HeaderAuthType           = "Auth-Type"
	HeaderClient             = "Client"
	HeaderProtocol           = "Protocol"
	HeaderKeepAlive          = "Keep-Alive"
	HeaderCapabilities       = "Capabilities"
	HeaderRegistration       = "Registration"
	HeaderService            = "Service"
	HeaderServiceDisplayName = "ServiceDisplayName"
	HeaderBuddy              = "Buddy"        // server LOGN: the contact list
	HeaderTime               = "Time"         // server MESG: when it was sent, see FormatTime
	HeaderContentType        = "Content-Type" // server MESG
	HeaderDate               = "Date"         // not seen on the wire; see the package documentation
)

// Header values seen on the wire.
const (
	Protocol10        = "IMIP/1.0"
	AuthIMIPMD5       = "imip-md5"
	CapServerLists    = "server-lists"
	AckTypeErrorsOnly = "errors-only"
	ListBuddy         = "Buddy"
	ClientYahoo       = "Yahoo! IMIP Client"
	ContentTypeText   = "text/plain;charset=utf-8"
	// FirstClientID is where the Yahoo! client starts numbering its blocks.
	FirstClientID = 1001
	// DefaultKeepAlive is the Keep-Alive the Odigo server announced.
	DefaultKeepAlive = 60 * time.Second
)

// LIST subcommands (the second word of a LIST type line).
const (
	ListAdd    = "ADD"    // C→S: add a user; S→C (without a user): someone asks to add you
	ListAccept = "ACCEPT" // C→S: allow a requester
	ListReject = "REJECT" // C→S: refuse a requester
	ListRemove = "REMOVE" // C→S: drop a user from the list
)

// Status is a presence value, the argument of STAT.
type Status string

// Presence values. OFFLINE sent by a client means invisible; sent by the
// server it means the contact went offline (or is invisible).
const (
	StatusOnline  Status = "ONLINE"
	StatusAway    Status = "AWAY"
	StatusBusy    Status = "BUSY"
	StatusOffline Status = "OFFLINE"
)

// Statuses lists the known presence values.
var Statuses = []Status{StatusOnline, StatusAway, StatusBusy, StatusOffline}

// ParseStatus returns the known status named s, ignoring case; ok is false
// for anything else (a server answers that with ACK 801, an empty one
// with ACK 800).
func ParseStatus(s string) (st Status, ok bool) {
	for _, k := range Statuses {
		if strings.EqualFold(s, string(k)) {
			return k, true
		}
	}
	return "", false
}

// Valid reports whether s is one of the known presence values, exactly.
func (s Status) Valid() bool {
	for _, k := range Statuses {
		if s == k {
			return true
		}
	}
	return false
}

// Code is an ACK code, the argument of "ACK <code>".
type Code int

// ACK codes. 600, 800, 801, 810 and 811 were seen on the wire with the
// meanings given; 812 is ours (see the package documentation).
const (
	CodeOK          Code = 600 // the referenced block was accepted
	CodeNoStatus    Code = 800 // STAT without a status (generally: a required argument or header is missing)
	CodeBadStatus   Code = 801 // STAT with an unknown status (generally: an argument has an invalid value)
	CodeBadPassword Code = 810 // LOGN with a wrong password
	CodeUnknownUser Code = 811 // LOGN, MESG (or LIST) naming a user that does not exist
	CodeNotLoggedIn Code = 812 // ours: the block needs a successful LOGN first
)

// OK reports whether c is a success code (6xx).
func (c Code) OK() bool { return c >= 600 && c < 700 }

// String describes the code.
func (c Code) String() string {
	switch c {
	case CodeOK:
		return "600 OK"
	case CodeNoStatus:
		return "800 missing status or argument"
	case CodeBadStatus:
		return "801 invalid status or argument"
	case CodeBadPassword:
		return "810 wrong password"
	case CodeUnknownUser:
		return "811 unknown user"
	case CodeNotLoggedIn:
		return "812 not logged in"
	}
	return fmt.Sprintf("%d", int(c))
}

// LoginHash is the imip-md5 login response: the MD5 of the salt (the body
// of the server's HELO, as sent) directly followed by the password bytes,
// as 32 lowercase hex digits. For salt "1919833824" and password
// "Passwort" it is 3da461811be2c27177eeb8d3c81bb016.
func LoginHash(salt, password string) string {
	h := md5.New()
	h.Write([]byte(salt))
	h.Write([]byte(password))
	return hex.EncodeToString(h.Sum(nil))
}

// CheckLoginHash reports in constant time whether response is the
// imip-md5 hash of salt and password. Upper-case hex digits are accepted.
func CheckLoginHash(salt, password, response string) bool {
	want := LoginHash(salt, password)
	got := strings.ToLower(response)
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// TimeLayout is the MESG Time header: UTC, second precision, "Z" suffix
// ("yyyy-mm-ddThh:mm:ssZ").
const TimeLayout = "2006-01-02T15:04:05Z"

// FormatTime renders t in UTC in TimeLayout.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// AppendTime appends FormatTime(t) to dst.
func AppendTime(dst []byte, t time.Time) []byte { return t.UTC().AppendFormat(dst, TimeLayout) }

// ParseTime parses a Time header in TimeLayout, every field at its full
// width (time.Parse alone would take a one-digit hour); the result is in
// UTC.
func ParseTime(s string) (time.Time, error) {
	if len(s) != len(TimeLayout) {
		return time.Time{}, fmt.Errorf("imip: bad time %q: want %d characters", s, len(TimeLayout))
	}
	for i := 0; i < len(s); i++ {
		if l := TimeLayout[i]; l >= '0' && l <= '9' {
			if s[i] < '0' || s[i] > '9' {
				return time.Time{}, fmt.Errorf("imip: bad time %q: not a digit at %d", s, i)
			}
		} else if s[i] != l {
			return time.Time{}, fmt.Errorf("imip: bad time %q: want %q at %d", s, l, i)
		}
	}
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("imip: bad time %q: %w", s, err)
	}
	return t, nil
}

// Contact is a user as the server names one in From and Buddy headers and
// in LIST type lines: the number, optionally followed by a nickname in
// double quotes.
type Contact struct {
	User string
	Nick string // "" when none was given
}

// String renders c as FormatAddress does.
func (c Contact) String() string { return FormatAddress(c.User, c.Nick) }

// FormatAddress renders `user "nick"`, or just user when nick is empty.
// There is no escape for quotes, so a double quote in nick becomes a single
// quote, and CR, LF and other control characters become spaces.
func FormatAddress(user, nick string) string {
	if nick == "" {
		return user
	}
	return user + ` "` + SanitizeNick(nick) + `"`
}

// AppendNick appends to dst what FormatAddress puts after the user: a
// space and the sanitized nick in double quotes, nothing when nick is
// empty.
func AppendNick(dst []byte, nick string) []byte {
	if nick == "" {
		return dst
	}
	dst = append(dst, ' ', '"')
	if sanitized(nick) {
		dst = append(dst, nick...) // most names, every message delivered
	} else {
		for _, r := range nick {
			dst = utf8.AppendRune(dst, sanitizeNickRune(r))
		}
	}
	return append(dst, '"')
}

// sanitized reports whether SanitizeNick leaves nick as it is: valid
// UTF-8 without a double quote or an ASCII control character.
func sanitized(nick string) bool {
	ascii := true
	for i := 0; i < len(nick); i++ {
		switch c := nick[i]; {
		case c < ' ', c == '"', c == 0x7F:
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return ascii || utf8.ValidString(nick)
}

// SanitizeNick returns nick as FormatAddress sends it.
func SanitizeNick(nick string) string { return strings.Map(sanitizeNickRune, nick) }

func sanitizeNickRune(r rune) rune {
	switch {
	case r == '"':
		return '\''
	case r < ' ' || r == 0x7F:
		return ' '
	}
	return r
}

// ParseAddress splits `user "nick"` (or a bare user). The user must be
// non-empty, without spaces, control characters, quotes or commas; the
// nickname is everything between the first and the last double quote
// after it.
func ParseAddress(s string) (Contact, error) {
	s = strings.Trim(s, " \t")
	user, rest, _ := strings.Cut(s, " ")
	if !validUser(user) {
		return Contact{}, fmt.Errorf("imip: bad user %q in %q", user, s)
	}
	rest = strings.Trim(rest, " \t")
	if rest == "" {
		return Contact{User: user}, nil
	}
	if len(rest) < 2 || rest[0] != '"' || rest[len(rest)-1] != '"' {
		return Contact{}, fmt.Errorf("imip: nickname not in double quotes in %q", s)
	}
	return Contact{User: user, Nick: rest[1 : len(rest)-1]}, nil
}

// ValidUser reports whether s can stand as a user id on the wire: a
// non-empty token without spaces, control characters, quotes or commas.
func ValidUser(s string) bool { return validUser(s) }

func validUser(s string) bool {
	return validToken(s) && !strings.ContainsAny(s, `",`)
}

// ParseBuddyList parses the Buddy header of a server LOGN: addresses
// separated by commas outside double quotes, spaces around them ignored,
// empty entries skipped.
func ParseBuddyList(v string) ([]Contact, error) {
	var list []Contact
	start, quoted := 0, false
	for i := 0; i <= len(v); i++ {
		if i < len(v) {
			if v[i] == '"' {
				quoted = !quoted
			}
			if v[i] != ',' || quoted {
				continue
			}
		}
		entry := strings.Trim(v[start:i], " \t")
		start = i + 1
		if entry == "" {
			continue
		}
		c, err := ParseAddress(entry)
		if err != nil {
			return nil, err
		}
		list = append(list, c)
	}
	return list, nil
}

// FormatBuddyList renders a Buddy header value: FormatAddress of each
// contact, separated by ", ".
func FormatBuddyList(list []Contact) string {
	var sb strings.Builder
	for i, c := range list {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(c.String())
	}
	return sb.String()
}
