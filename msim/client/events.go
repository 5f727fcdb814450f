package client

import (
	"time"

	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// Event is something the server sent on its own. The concrete types are
// Message, Status, Typing, Zap, AddedBy, Error, NewItems, PersistPush, Other
// and, last, Disconnected; a type switch is the usual way to consume them.
type Event interface{ isEvent() }

// Message is an instant message: bm 1, or a bm 121 that is not an action
// (web clients sent their IMs that way).
type Message struct {
	From   uint32
	Text   string // Markup rendered as plain text (wire.MarkupToText)
	Markup string // the msg as sent, unescaped
	Type   int    // wire.BMIM or wire.BMAction
	// Date is the bm's "date" (Unix seconds), which servers set on
	// messages stored while the recipient was offline; zero when absent.
	Date time.Time
}

// Status is a presence update (bm 100). Status is the code (wire.Status*,
// 0 also for hidden users); Text is the headline.
type Status struct {
	UserID   uint32
	Status   int
	Text     string
	Location string
}

// Typing reports bm 121 %typing% (Typing true) or %stoptyping%.
type Typing struct {
	From   uint32
	Typing bool
}

// Zap reports a zap (bm 121 !!!ZAP_SEND!!!=RTE_BTN_ZAPS_n); Zap is n,
// named by wire.ZapNames.
type Zap struct {
	From uint32
	Zap  int
}

// AddedBy reports a bm 4. Its meaning is not documented: in the only
// capture it came from a user right after the client added that user to
// its list. UserID is its "f".
type AddedBy struct {
	UserID uint32
}

// Error is an \error\ without \fatal\: the server complains and the
// session goes on (pidgin shows a dialog). Fatal errors end the connection
// instead, with a *ServerError in Disconnected.
type Error struct {
	Code    int
	Message string
}

// NewItems is the reply to the sign-on mail check (Options.MailCheck):
// keys such as Mail, BlogComment, ProfileComment, FriendRequest,
// PictureComment are present (value On) when there is something new.
type NewItems struct {
	Items wire.Dict
}

// PersistPush is a persistr no request is waiting for: data the server
// pushes on its own (server settings 101/20, web challenges 17/26, ...) or
// a reply that came after its caller gave up.
type PersistPush struct {
	Reply wire.Persist
}

// Other is any message the client does not interpret: unknown bm types
// (122 media, 124, 126, 200, group chat), an lc outside the login, unknown
// message types.
type Other struct {
	Message wire.Message
}

// Disconnected is the last event; the channel is closed after it. It is
// dropped only when the channel is full (see ErrEventOverflow).
type Disconnected struct {
	// Err is ErrClosed after Close or Logout, a *ServerError for a fatal
	// \error\ (errors.Is finds ErrLoginFailed, ErrLoggedInElsewhere),
	// ErrEventOverflow, ErrIdleTimeout, a *ProtocolError, a wire framing
	// error, or the network error (io.EOF when the server hung up).
	Err error
}

func (Message) isEvent()      {}
func (Status) isEvent()       {}
func (Typing) isEvent()       {}
func (Zap) isEvent()          {}
func (AddedBy) isEvent()      {}
func (Error) isEvent()        {}
func (NewItems) isEvent()     {}
func (PersistPush) isEvent()  {}
func (Other) isEvent()        {}
func (Disconnected) isEvent() {}
