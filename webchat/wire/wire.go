// Package wire is the vocabulary of Crosstalk's web chat protocol: the
// JSON messages a browser (or a bot) and the server exchange over one
// WebSocket, one JSON object per WebSocket text message. Every message has
// a "type"; a client request may carry an "id" of its own, which the
// server's answer ("ack" or "error") repeats. PROTOCOL.md beside this
// package describes the protocol for implementers in any language.
//
// The package holds no state: Decode turns a client message into one of
// the typed requests below (checking sizes and required fields), Encode
// renders any message.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Client message types.
const (
	TypeLogin     = "login"
	TypePresence  = "presence" // also sent by the server: a contact's status
	TypeSend      = "send"
	TypeTyping    = "typing" // also sent by the server
	TypeAdd       = "add"
	TypeAccept    = "accept"
	TypeRemove    = "remove"
	TypeBlock     = "block"
	TypeUnblock   = "unblock"
	TypeFileOffer = "file_offer"
	TypePing      = "ping"
	TypeLogout    = "logout"
)

// Server message types.
const (
	TypeWelcome    = "welcome"
	TypeContacts   = "contacts"
	TypeContact    = "contact"
	TypeMessage    = "message"
	TypeRequest    = "request"
	TypeFile       = "file"
	TypeFileUpload = "file_upload"
	TypeFileStatus = "file_status"
	TypeAck        = "ack"
	TypeError      = "error"
	TypeBye        = "bye"
)

// Limits of the protocol itself; the server's frame limit is a setting.
const (
	MaxIDBytes       = 64
	MaxEmailBytes    = 254
	MaxPasswordBytes = 1024
	MaxTokenBytes    = 1024
	MaxStatusText    = 512
	MaxFileName      = 255
	// MaxTextBytes bounds a message's text (the hub's own limit).
	MaxTextBytes = 20000
	// DefaultMaxFrame bounds one client message: a message of
	// MaxTextBytes escaped as JSON fits.
	DefaultMaxFrame = 128 << 10
)

// Statuses a client may set and may see.
const (
	StatusOnline    = "online"
	StatusBusy      = "busy"
	StatusAway      = "away"
	StatusIdle      = "idle"
	StatusBRB       = "brb"
	StatusPhone     = "phone"
	StatusLunch     = "lunch"
	StatusInvisible = "invisible"
	StatusOffline   = "offline"
)

// ValidStatus reports whether s is a status a client may set.
func ValidStatus(s string) bool {
	switch s {
	case StatusOnline, StatusBusy, StatusAway, StatusIdle, StatusBRB, StatusPhone, StatusLunch, StatusInvisible:
		return true
	}
	return false
}

// Results of a sent message ("ack" to a "send").
const (
	// ResultDelivered: a session of the recipient took the message.
	ResultDelivered = "delivered"
	// ResultStored: the recipient was away; the message waits in their
	// mailbox for their next login.
	ResultStored = "stored"
)

// File statuses ("file_status").
const (
	FileDeclined  = "declined"  // the recipient refused the file
	FileSent      = "sent"      // the file is in the drive and on its way
	FileFailed    = "failed"    // the upload or the hand-over failed (an upload may be tried again)
	FileCancelled = "cancelled" // the offer ran out of time
)

// Error codes ("error"). Codes are stable; texts are for people.
const (
	CodeBadRequest     = "bad_request"   // malformed JSON or a missing or oversized field
	CodeUnknownType    = "unknown_type"  // a type this server does not know
	CodeNotLoggedIn    = "not_logged_in" // log in first
	CodeAlreadyIn      = "already_logged_in"
	CodeLoginFailed    = "login_failed"    // wrong e-mail, password or token
	CodeLoginLocked    = "login_locked"    // too many failed logins: try later
	CodeUnknownContact = "unknown_contact" // no such account
	CodeRefused        = "refused"         // the recipient does not accept you
	CodeMailboxFull    = "mailbox_full"    // the recipient is away and their mailbox is full
	CodeListFull       = "list_full"       // the contact list is full
	CodeOffline        = "offline"         // the recipient is not online (files)
	CodeTooLarge       = "too_large"       // a file larger than the drive takes
	CodeQuota          = "quota_exceeded"  // the sender's files in the drive take all their room
	CodeUnavailable    = "unavailable"     // the service lacks what this needs (no drive)
	CodeInternal       = "internal"        // the server failed; try again
)

// Errors of Decode.
var (
	ErrMalformed   = errors.New("webchat: malformed message")
	ErrUnknownType = errors.New("webchat: unknown message type")
	ErrTooLarge    = errors.New("webchat: message too large")
)

// FieldError names the field of a message that is missing or too long.
type FieldError struct {
	Type, Field, Problem string
}

func (e *FieldError) Error() string {
	return "webchat: " + e.Type + ": " + e.Field + " " + e.Problem
}

// Is lets errors.Is(err, ErrMalformed) hold for field errors too.
func (e *FieldError) Is(target error) bool { return target == ErrMalformed }

// Contact names another account in requests: its number, or its e-mail
// address, or its nick (whichever is set; the first wins).
type Contact struct {
	Number uint32 `json:"number,omitempty"`
	Email  string `json:"email,omitempty"`
	Nick   string `json:"nick,omitempty"`
}

// IsZero reports whether c names nobody.
func (c Contact) IsZero() bool { return c.Number == 0 && c.Email == "" && c.Nick == "" }

// Login authenticates the connection: with Email and Password, or with
// Token, an opaque single-use chat token handed out by the web pages.
type Login struct {
	Type     string `json:"type"`
	ID       string `json:"id,omitempty"`
	Email    string `json:"email,omitempty"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
	// Status is the presence to log in with (default online).
	Status string `json:"status,omitempty"`
}

// String keeps secrets out of logs and test failures.
func (l Login) String() string {
	return fmt.Sprintf("login{id:%q email:%q password:%d bytes token:%d bytes}", l.ID, l.Email, len(l.Password), len(l.Token))
}

// SetPresence sets the connection's own status.
type SetPresence struct {
	Type   string `json:"type"`
	ID     string `json:"id,omitempty"`
	Status string `json:"status"`
	Text   string `json:"text,omitempty"`
}

// Send sends a message.
type Send struct {
	Type string  `json:"type"`
	ID   string  `json:"id,omitempty"`
	To   Contact `json:"to"`
	Text string  `json:"text"`
}

// Typing tells a contact whether one is typing to them.
type Typing struct {
	Type   string  `json:"type"`
	To     Contact `json:"to"`
	Typing bool    `json:"typing"`
}

// ListOp is add, accept, remove, block or unblock of one contact.
type ListOp struct {
	Type    string  `json:"type"`
	ID      string  `json:"id,omitempty"`
	Contact Contact `json:"contact"`
}

// FileOffer offers a contact a file of Size bytes; the server answers
// with "file_upload" (where to PUT it) or an error.
type FileOffer struct {
	Type string  `json:"type"`
	ID   string  `json:"id"`
	To   Contact `json:"to"`
	Name string  `json:"name"`
	Size int64   `json:"size"`
}

// Ping asks for an "ack"; Logout ends the session.
type Ping struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

type Logout struct {
	Type string `json:"type"`
}

// Account is how the server shows an account.
type Account struct {
	Number uint32 `json:"number"`
	Email  string `json:"email,omitempty"`
	Nick   string `json:"nick,omitempty"`
	Name   string `json:"name,omitempty"`
}

// ContactEntry is one contact in the list: their presence as this
// account may see it, and on which of its lists they are ("FL" forward:
// I follow them; "AL" allowed; "BL" blocked; "RL" they follow me).
type ContactEntry struct {
	Account
	Status string   `json:"status"`
	Text   string   `json:"text,omitempty"`
	Lists  []string `json:"lists"`
}

// Welcome answers a successful login.
type Welcome struct {
	Type    string  `json:"type"`
	ID      string  `json:"id,omitempty"`
	Account Account `json:"account"`
	// MaxFrame is the largest message the server accepts; MaxFileBytes
	// the largest file (0: no file transfer).
	MaxFrame     int   `json:"max_frame"`
	MaxFileBytes int64 `json:"max_file_bytes"`
}

// Contacts is the whole contact list, sent after Welcome and whenever
// the server resynchronises it.
type Contacts struct {
	Type     string         `json:"type"`
	Contacts []ContactEntry `json:"contacts"`
}

// ContactChanged is one entry after a list change.
type ContactChanged struct {
	Type    string       `json:"type"`
	Contact ContactEntry `json:"contact"`
}

// Presence is a contact's new status.
type Presence struct {
	Type   string  `json:"type"`
	From   Account `json:"from"`
	Status string  `json:"status"`
	Text   string  `json:"text,omitempty"`
}

// Message is a message for this account. Offline says it waited in the
// mailbox while the account was away.
type Message struct {
	Type    string    `json:"type"`
	From    Account   `json:"from"`
	Text    string    `json:"text"`
	Sent    time.Time `json:"sent"`
	Offline bool      `json:"offline,omitempty"`
}

// TypingNotice says From is typing (or stopped).
type TypingNotice struct {
	Type   string  `json:"type"`
	From   Account `json:"from"`
	Typing bool    `json:"typing"`
}

// Request says From put this account on their list and waits for an
// answer ("accept" or "block").
type Request struct {
	Type string  `json:"type"`
	From Account `json:"from"`
}

// File is a file for this account, waiting in the drive at URL.
type File struct {
	Type   string  `json:"type"`
	From   Account `json:"from"`
	Ticket string  `json:"ticket"`
	Name   string  `json:"name"`
	Size   int64   `json:"size"`
	URL    string  `json:"url"`
}

// FileUpload tells the sender of a file offer where to PUT its bytes:
// URL, relative to the WebSocket's own http(s) address, takes exactly
// the offered size as the request body, and answers with the offer's
// FileStatus as JSON.
type FileUpload struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	URL  string `json:"url"`
}

// FileStatus is what became of a file offer.
type FileStatus struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Status string `json:"status"`
	Ticket string `json:"ticket,omitempty"`
}

// Ack answers a request that went well; Result is set for "send".
type Ack struct {
	Type   string `json:"type"`
	ID     string `json:"id,omitempty"`
	Result string `json:"result,omitempty"`
}

// Error answers a request that failed, or reports a problem with the
// connection (ID empty).
type Error struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	Code string `json:"code"`
	Text string `json:"text,omitempty"`
}

// Bye is the server's last message before it closes the connection.
type Bye struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// ClientMessage is a client message as Decode returns it: *Login,
// *SetPresence, *Send, *Typing, *ListOp, *FileOffer, *Ping or *Logout.
type ClientMessage interface {
	// RequestType is the message's "type".
	RequestType() string
	check() error
}

// Decode reads one client message of at most maxFrame bytes (<= 0:
// DefaultMaxFrame). Errors wrap
// ErrTooLarge, ErrMalformed (a *FieldError for a bad field) or
// ErrUnknownType; the message's id, when it could be read, comes back
// with them so that the error can answer it.
func Decode(data []byte, maxFrame int) (msg ClientMessage, id string, err error) {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if len(data) > maxFrame {
		return nil, "", ErrTooLarge
	}
	var env struct {
		Type string          `json:"type"`
		ID   json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(env.ID) > 0 && !bytes.Equal(env.ID, []byte("null")) {
		if err := json.Unmarshal(env.ID, &id); err != nil || len(id) > MaxIDBytes || !utf8.ValidString(id) {
			return nil, "", &FieldError{Type: env.Type, Field: "id", Problem: "must be a string of at most 64 bytes"}
		}
	}
	var v ClientMessage
	switch env.Type {
	case TypeLogin:
		v = new(Login)
	case TypePresence:
		v = new(SetPresence)
	case TypeSend:
		v = new(Send)
	case TypeTyping:
		v = new(Typing)
	case TypeAdd, TypeAccept, TypeRemove, TypeBlock, TypeUnblock:
		v = &ListOp{Type: env.Type}
	case TypeFileOffer:
		v = new(FileOffer)
	case TypePing:
		v = new(Ping)
	case TypeLogout:
		v = new(Logout)
	default:
		return nil, id, fmt.Errorf("%w: %.32q", ErrUnknownType, env.Type)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, id, fmt.Errorf("%w: %s: %v", ErrMalformed, env.Type, err)
	}
	if err := v.check(); err != nil {
		return nil, id, err
	}
	return v, id, nil
}

func (l *Login) RequestType() string       { return l.Type }
func (p *SetPresence) RequestType() string { return p.Type }
func (s *Send) RequestType() string        { return s.Type }
func (t *Typing) RequestType() string      { return t.Type }
func (o *ListOp) RequestType() string      { return o.Type }
func (f *FileOffer) RequestType() string   { return f.Type }
func (p *Ping) RequestType() string        { return p.Type }
func (l *Logout) RequestType() string      { return l.Type }

func (l *Login) check() error {
	switch {
	case l.Token == "" && (l.Email == "" || l.Password == ""):
		return &FieldError{TypeLogin, "email and password, or token,", "required"}
	case l.Token != "" && (l.Email != "" || l.Password != ""):
		return &FieldError{TypeLogin, "token", "excludes email and password"}
	case len(l.Email) > MaxEmailBytes:
		return &FieldError{TypeLogin, "email", "too long"}
	case len(l.Password) > MaxPasswordBytes:
		return &FieldError{TypeLogin, "password", "too long"}
	case len(l.Token) > MaxTokenBytes:
		return &FieldError{TypeLogin, "token", "too long"}
	case l.Status != "" && !ValidStatus(l.Status):
		return &FieldError{TypeLogin, "status", "unknown"}
	}
	return nil
}

func (p *SetPresence) check() error {
	switch {
	case !ValidStatus(p.Status):
		return &FieldError{TypePresence, "status", "unknown"}
	case len(p.Text) > MaxStatusText:
		return &FieldError{TypePresence, "text", "too long"}
	}
	return nil
}

func (s *Send) check() error {
	switch {
	case s.To.IsZero():
		return &FieldError{TypeSend, "to", "required"}
	case s.Text == "":
		return &FieldError{TypeSend, "text", "required"}
	case len(s.Text) > MaxTextBytes:
		return &FieldError{TypeSend, "text", "too long"}
	}
	return checkContact(TypeSend, "to", s.To)
}

func (t *Typing) check() error {
	if t.To.IsZero() {
		return &FieldError{TypeTyping, "to", "required"}
	}
	return checkContact(TypeTyping, "to", t.To)
}

func (o *ListOp) check() error {
	if o.Contact.IsZero() {
		return &FieldError{o.Type, "contact", "required"}
	}
	return checkContact(o.Type, "contact", o.Contact)
}

func (f *FileOffer) check() error {
	switch {
	case f.ID == "":
		return &FieldError{TypeFileOffer, "id", "required"}
	case f.To.IsZero():
		return &FieldError{TypeFileOffer, "to", "required"}
	case f.Name == "" || len(f.Name) > MaxFileName:
		return &FieldError{TypeFileOffer, "name", "required, at most 255 bytes"}
	case f.Size < 0:
		return &FieldError{TypeFileOffer, "size", "must not be negative"}
	}
	return checkContact(TypeFileOffer, "to", f.To)
}

func (*Ping) check() error   { return nil }
func (*Logout) check() error { return nil }

func checkContact(typ, field string, c Contact) error {
	if len(c.Email) > MaxEmailBytes || len(c.Nick) > MaxEmailBytes {
		return &FieldError{typ, field, "too long"}
	}
	return nil
}

// Encode renders a server or client message. Every message type here
// encodes; an error means a value JSON cannot hold (a bug).
func Encode(v any) ([]byte, error) { return json.Marshal(v) }

// DecodeServer reads one server message (for clients) and returns it as
// *Welcome, *Contacts, *ContactChanged, *Presence, *Message,
// *TypingNotice, *Request, *File, *FileUpload, *FileStatus, *Ack, *Error
// or *Bye. Unknown types give ErrUnknownType: a client should ignore
// them, since later servers may send more.
func DecodeServer(data []byte) (any, error) {
	var env struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var v any
	switch env.Type {
	case TypeWelcome:
		v = new(Welcome)
	case TypeContacts:
		v = new(Contacts)
	case TypeContact:
		v = new(ContactChanged)
	case TypePresence:
		v = new(Presence)
	case TypeMessage:
		v = new(Message)
	case TypeTyping:
		v = new(TypingNotice)
	case TypeRequest:
		v = new(Request)
	case TypeFile:
		v = new(File)
	case TypeFileUpload:
		v = new(FileUpload)
	case TypeFileStatus:
		v = new(FileStatus)
	case TypeAck:
		v = new(Ack)
	case TypeError:
		v = new(Error)
	case TypeBye:
		v = new(Bye)
	default:
		return nil, fmt.Errorf("%w: %.32q", ErrUnknownType, env.Type)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, env.Type, err)
	}
	return v, nil
}
