package client

import (
	"net/textproto"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// Event is something the server sent on its own: presence changes, chat
// invitations, switchboard messages. The concrete types are listed below;
// a type switch over them is the usual way to consume Events.
//
// Notification server (Client.Events): Presence, PersonalStatus, Offline, ReverseAdded,
// ReverseRemoved, AddressBookChanged, Ring, SystemMessage, Disconnected.
// Switchboard (Switchboard.Events): Joined, Left, Message, Nak, Closed.
type Event interface{ isEvent() }

// Presence reports a contact's status: ILN (Initial, the answer to the first
// CHG after login) or NLN (a later change).
type Presence struct {
	Email    string
	Friendly string // decoded
	Status   string // NLN, BSY, IDL, BRB, AWY, PHN, LUN
	Initial  bool   // from ILN
	// Capabilities is the contact's client-capabilities number (MSNP8+).
	Capabilities string
	// MSNObject is the contact's display picture object as sent,
	// %-encoded (MSNP9+; wire.ParseMSNObject reads it); "" for none.
	MSNObject string
}

// PersonalStatus reports UBX (MSNP11+): a contact's personal message and
// what they are playing, sent after their Presence.
type PersonalStatus struct {
	Email        string
	PSM          string
	CurrentMedia string // wire.MediaText renders it
}

// Offline reports FLN: a contact went offline (or hidden).
type Offline struct {
	Email string
}

// ReverseAdded reports ADD 0 RL: someone added you to their forward list.
type ReverseAdded struct {
	Email    string
	Friendly string
	Serial   int // the new list version
}

// ReverseRemoved reports REM 0 RL: someone removed you from their forward
// list. The server does not say their friendly name.
type ReverseRemoved struct {
	Email  string
	Serial int
}

// AddressBookChanged reports the address book's NOT (MSNP13+): the
// account's lists changed at the address book services, by another of its
// clients or because someone added or removed it; Sync reads them again.
type AddressBookChanged struct {
	Changed    time.Time // LastModifiedDate
	HasNewItem bool
}

// Ring reports RNG: someone invites you to a switchboard session. Pass it to
// Client.Answer to join.
type Ring struct {
	SessionID  string
	Addr       string // switchboard host:port
	Cookie     string // one-time authentication cookie (after CKI)
	Caller     string // caller's e-mail address
	CallerName string // caller's friendly name, decoded
}

// SystemMessage is an MSG from "Hotmail": the profile sent after login
// (text/x-msmsgsprofile, also available from Client.Profile), e-mail
// notifications, maintenance warnings.
type SystemMessage struct {
	ContentType string // media type, lower case, without parameters
	Header      textproto.MIMEHeader
	Body        []byte
	// Fields is Body read as "Name: value" lines, which is how e-mail
	// notifications (Inbox-Unread…) and system messages (Type, Arg1)
	// carry their data.
	Fields  textproto.MIMEHeader
	Payload []byte // the whole payload as received
}

// Disconnected is the last event of a Client; the channel is closed after
// it. It is dropped only when the channel is full (see ErrEventOverflow).
type Disconnected struct {
	// Reason is the parameter of the server's OUT: "OTH" (signed in
	// elsewhere), "SSD" (server shutting down), "" for a bare OUT or when
	// the connection ended without OUT.
	Reason string
	// Err is why the connection ended: ErrClosed after Close or Logout,
	// ErrSignedOut after an OUT, ErrEventOverflow, or the network error
	// (io.EOF when the server hung up).
	Err error
}

// Joined reports JOI: someone entered the switchboard session.
type Joined struct {
	Email    string
	Friendly string
}

// Left reports BYE: someone left the switchboard session.
type Left struct {
	Email string
	Idle  bool // "BYE email 1": removed for being idle (later dialects)
}

// Header is a message's MIME headers, read from its payload when asked:
// most messages are text, whose headers nobody reads, and a map of them
// cost the receiver more than the rest of the message.
type Header struct{ p wire.Payload }

// Get returns the first value of the named header (any letter case),
// trimmed, or "" when there is none.
func (h Header) Get(name string) string { return h.p.Header(name) }

// Message is an MSG relayed by the switchboard.
type Message struct {
	From     string
	Friendly string // sender's friendly name, decoded
	Payload  []byte // exactly as received

	ContentType string // media type, lower case, without parameters
	Header      Header // the MIME headers of Payload
	Body        []byte // what follows the empty line

	Text       string             // Body, for text/plain
	TypingUser string             // for text/x-msmsgscontrol
	Invitation *invite.Invitation // for text/x-msmsgsinvite, when it parses
}

// Nak reports a NAK for a message sent in mode N (mode A reports it as the
// error of Send instead).
type Nak struct {
	TrID int
}

// Refused reports a server error answering a message sent in mode U or N
// (713: sent too fast; 282: malformed), which mode A reports as the error
// of Send instead.
type Refused struct {
	TrID int
	Code int
}

// Closed is the last event of a Switchboard; the channel is closed after it.
type Closed struct {
	// Err is ErrClosed after Close or Leave, ErrSignedOut after an OUT
	// from the switchboard, ErrEventOverflow, or the network error.
	Err error
}

func (Presence) isEvent()           {}
func (PersonalStatus) isEvent()     {}
func (Refused) isEvent()            {}
func (Offline) isEvent()            {}
func (ReverseAdded) isEvent()       {}
func (ReverseRemoved) isEvent()     {}
func (AddressBookChanged) isEvent() {}
func (Ring) isEvent()               {}
func (SystemMessage) isEvent()      {}
func (Disconnected) isEvent()       {}
func (Joined) isEvent()             {}
func (Left) isEvent()               {}
func (Message) isEvent()            {}
func (Nak) isEvent()                {}
func (Closed) isEvent()             {}
