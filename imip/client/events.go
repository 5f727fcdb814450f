package client

import (
	"time"

	"github.com/crosstalk-im/crosstalk/imip/wire"
)

// Event is something the server sent on its own. The concrete types are
// Message, Status, ListRequest, ListResult, MessageFailed, Other and, last,
// Disconnected; a type switch is the usual way to consume them.
type Event interface{ isEvent() }

// Message is an incoming MESG.
type Message struct {
	ID          uint32 // the server's block ID
	From        string // sender's number
	Nick        string // sender's nickname from the From header, if any
	To          string
	Text        string    // the body
	Time        time.Time // the Time header (UTC); zero when absent
	ContentType string    // e.g. "text/plain;charset=utf-8"; "" when absent
}

// Status is a contact's presence (a server STAT). OFFLINE means the
// contact went offline or is invisible.
type Status struct {
	Number string
	Nick   string // from the From header, if any
	Status wire.Status
	Text   string // the status text (body), if any
}

// ListRequest: someone wants to add you to their list (a server "LIST ADD"
// without a user). Answer with Client.ListAccept or Client.ListReject.
type ListRequest struct {
	From string
	Nick string
	List string // the List header, normally "Buddy"
	Text string // the requester's text, e.g. "Want to add you!"
}

// ListResult is what the server says about our list beyond ACKs:
//
//   - Op "ADD", Accepted: the first non-OFFLINE STAT from a user we added
//     with ListAdd (the only sign of acceptance Odigo gave); the Status
//     event follows it.
//   - Op "ACCEPT", "REJECT", "REMOVE" or "ADD": a server LIST block naming a
//     user in its type line (or From), e.g. a rejection or a list change
//     made elsewhere; Accepted is true for ACCEPT and ADD.
type ListResult struct {
	Op       string
	User     string
	Nick     string
	List     string
	Text     string
	Accepted bool
}

// MessageFailed: the server refused a message sent with SendMessage
// (ACK-Type: errors-only, so there is an ACK only on failure).
type MessageFailed struct {
	ID   uint32 // as returned by SendMessage
	To   string // "" if the message is too old to be remembered
	Code wire.Code
	Text string
}

// Other is any block the client does not interpret (unknown types, an
// unmatched error ACK, a second HELO), for tests that want to see them.
type Other struct {
	Block *wire.Block
}

// Disconnected is the last event; the channel is closed after it. It is
// dropped only when the channel is full (see ErrEventOverflow).
type Disconnected struct {
	// Reason is "DISC" after our Disconnect was acknowledged, the server's
	// DISC text (or "DISC" without text) when the server ended the
	// session, "" when the connection just ended.
	Reason string
	// Err is ErrClosed after Close or Disconnect, ErrServerDisc, the
	// *AckError of a failed login, ErrEventOverflow, a *ProtocolError, or
	// the network error (io.EOF when the server hung up).
	Err error
}

func (Message) isEvent()       {}
func (Status) isEvent()        {}
func (ListRequest) isEvent()   {}
func (ListResult) isEvent()    {}
func (MessageFailed) isEvent() {}
func (Other) isEvent()         {}
func (Disconnected) isEvent()  {}
