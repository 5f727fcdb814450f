package client

import (
	"errors"
	"fmt"
)

// Event is something the server sent on its own. The concrete types are
// Presence, Message, Typing, ContactList, Subscribers, FileOffer,
// FileCancelled, Deregistered and, last, Disconnected.
type Event interface{ isEvent() }

// Presence is a contact's state ([MS-PRES] categories): its availability
// (3500 online … 18500 offline) and note.
type Presence struct {
	URI          string // sip:…
	Availability int
	Activity     string // e.g. "on-the-phone"; "" when none
	Note         string
	DisplayName  string
}

// Online reports whether the availability shows the contact signed in.
func (p Presence) Online() bool { return p.Availability >= 3000 && p.Availability < 18000 }

// Message is an instant message from a contact.
type Message struct {
	From string // sip:…
	Text string
}

// Typing: a contact started (Active) or stopped typing.
type Typing struct {
	From   string
	Active bool
}

// Contact is one entry of the contact list.
type Contact struct {
	URI    string // as the list names it, with "sip:"
	Name   string
	Groups []int
}

// ContactList is the server's roaming contact list, at sign-in and after
// every change.
type ContactList struct {
	Contacts []Contact
	Groups   map[int]string
}

// Subscribers are people who added the account and wait for an answer;
// the client acknowledges them itself.
type Subscribers struct {
	Users []string // without "sip:"
}

// Deregistered: the server signed us out (another sign-in, shutdown); it
// closes the connection next.
type Deregistered struct {
	Reason string
}

// Disconnected is the last event; the channel is closed after it.
type Disconnected struct {
	Err error
}

func (Presence) isEvent()     {}
func (Message) isEvent()      {}
func (Typing) isEvent()       {}
func (ContactList) isEvent()  {}
func (Subscribers) isEvent()  {}
func (Deregistered) isEvent() {}
func (Disconnected) isEvent() {}

// Errors.
var (
	// ErrClosed: the connection was closed, locally or by the server.
	ErrClosed = errors.New("sip client: connection closed")
	// ErrEventOverflow: the Events channel stayed full, so the connection
	// was dropped.
	ErrEventOverflow = errors.New("sip client: event buffer overflow, consumer too slow")
	// ErrBadSignature: the server's message did not carry a good
	// signature; the connection is dropped, as pidgin-sipe does.
	ErrBadSignature = errors.New("sip client: bad message signature from the server")
	// ErrAuthentication: the server refused the password (or the account).
	ErrAuthentication = errors.New("sip client: authentication failed")
	// ErrState: the call does not fit the session's state.
	ErrState = errors.New("sip client: not signed in")
)

// StatusError is a final answer other than 2xx to one of our requests.
type StatusError struct {
	Method      string
	Code        int
	Reason      string
	Diagnostics string // the ms-diagnostics header, if any
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("sip client: %s answered %d %s", e.Method, e.Code, e.Reason)
	if e.Diagnostics != "" {
		s += " (" + e.Diagnostics + ")"
	}
	return s
}

// Is lets errors.Is find ErrAuthentication in a refused sign-in.
func (e *StatusError) Is(target error) bool {
	return target == ErrAuthentication && e.Method == "REGISTER" && (e.Code == 401 || e.Code == 403 || e.Code == 404)
}
