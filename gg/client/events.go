package client

import (
	"time"

	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	"github.com/crosstalk-im/crosstalk/gg/wire"
)

// Event is something the server sent on its own. The concrete types are
// LoggedIn, IMToken, Status, Message, Typing, MPANotify, UserlistVersion,
// Other and, last, Disconnected; a type switch is the usual way to consume
// them.
type Event interface{ isEvent() }

// LoggedIn reports the server's login confirmation.
type LoggedIn struct {
	UIN        uint32    // as the server confirmed it (GG110LoginOK.uin)
	ServerTime time.Time // zero for the pre-GG11 confirmations
}

// IMToken reports GG_IMTOKEN, which authenticates the GG drive HTTP API.
type IMToken struct {
	Token string
}

// Status reports a contact's state: Initial for each record of
// GG_NOTIFY_REPLY80 (the answer to the notify list), otherwise a
// GG_STATUS80 change.
type Status struct {
	wire.ContactStatus
	Initial bool
}

// Message is a GG_RECV_MSG110 (or, with Own, a GG_RECV_OWN_MSG110 sent from
// another session of the same account). Unless Options.NoAutoAck is set it
// has already been acknowledged with GG_ACK110 when it is delivered.
type Message struct {
	From   uint32 // the sender field; for Own messages without one, our UIN
	Seq    uint32 // the server's sequence number, echoed in the ack
	MsgID  uint64 // 0 when absent
	ConvID uint64 // 0 when absent
	Flags  uint32
	Time   time.Time
	// Queued is libgadu's GG_CLASS_QUEUED: the send time is more than 2 s
	// away from the server's clock, so the message waited offline.
	Queued bool
	Text   string // msg_plain, or derived from HTML when that is empty
	HTML   string // msg_xhtml, or derived from Text when absent
	Data   []byte // legacy attributes or image data, rarely sent
	Own    bool
}

// Typing reports GG_TYPING_NOTIFICATION: From has typed Length characters
// (0 = stopped).
type Typing struct {
	From   uint32
	Length uint16
}

// MPANotify reports GG_EVENT110, an MPA notification such as
// "edisc/send_ticket_changed". Unless Options.NoAutoAck is set it has
// already been acknowledged (GG_ACK110 type MPA).
type MPANotify struct {
	Type    ggpb.GG110Event_Type // JSON or XML
	Seq     uint32
	Subtype string
	Data    string
	ID      uint64 // 0 when absent
}

// UserlistVersion reports GG_USERLIST100_VERSION: the stored contact list
// changed.
type UserlistVersion struct {
	Version uint32
}

// Other is any packet the client does not interpret in the current state
// (GG_OPTIONS, GG_ACCESS_INFO, unknown types, session packets before login
// or after an offline status, …), for tests that want to see them.
type Other struct {
	Packet wire.Packet
}

// Disconnected is the last event; the channel is closed after it. It is
// dropped only when the channel is full (see ErrEventOverflow).
type Disconnected struct {
	// Reason names the packet that ended the session: "GG_LOGIN_FAILED",
	// "GG_LOGIN80_FAILED", "GG_DISCONNECTING", "GG_DISCONNECT_ACK"; ""
	// when the connection just ended.
	Reason string
	// Err is ErrClosed after Close or a completed offline status,
	// ErrLoginFailed, ErrKicked, ErrEventOverflow, a *ProtocolError, or the
	// network error (io.EOF when the server hung up).
	Err error
}

func (LoggedIn) isEvent()        {}
func (IMToken) isEvent()         {}
func (Status) isEvent()          {}
func (Message) isEvent()         {}
func (Typing) isEvent()          {}
func (MPANotify) isEvent()       {}
func (UserlistVersion) isEvent() {}
func (Other) isEvent()           {}
func (Disconnected) isEvent()    {}
