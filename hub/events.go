package hub

// EventKind says what an Event reports.
type EventKind string

const (
	// EventPresence: From's status as seen by the recipient changed to
	// Status (offline when they left, went invisible or blocked you).
	EventPresence EventKind = "presence"
	// EventReverseAdded: From put the recipient on their forward list;
	// Serial is the recipient's new list serial.
	EventReverseAdded EventKind = "rl-add"
	// EventReverseRemoved: From took the recipient off their forward list.
	EventReverseRemoved EventKind = "rl-remove"
	// EventKick: a newer login of the same protocol took over; every session
	// of Protocol that attached before At must close. With At zero it ends
	// the one session named in Session, for the Reason given (Hub.Kick,
	// Hub.KickProtocol).
	EventKick EventKind = "kick"
	// EventInvite: From asks the recipient to join a conversation.
	EventInvite EventKind = "invite"
	// EventMessage: From sent the recipient Message.
	EventMessage EventKind = "message"
	// EventNotify: a service notification for the recipient's clients
	// (the GG drive's ticket changes), in Notification.
	EventNotify EventKind = "notify"
	// EventTyping: From is typing to the recipient (Typing is the length
	// typed so far, 0 when they stopped).
	EventTyping EventKind = "typing"
	// EventFile: From's file waits in the drive as ticket File, for the
	// recipient's session of Protocol to offer through that protocol's own
	// file transfer.
	EventFile EventKind = "file"
	// EventMailbox: the account's mailbox holds messages that none of its
	// sessions has claimed (they came while it was logging in, or a session
	// ended before its client acknowledged them); sessions that deliver
	// offline messages read it again.
	EventMailbox EventKind = "mailbox"
	// EventListsChanged: the account's own lists or groups changed, through
	// one of its sessions (named in Session, whose client knows already) or
	// a service; clients that keep a copy of their lists fetch the change.
	EventListsChanged EventKind = "lists"
)

// Event travels over the bus to every session of one account.
type Event struct {
	Kind         EventKind     `json:"kind"`
	From         Account       `json:"from"`
	Status       Status        `json:"status,omitempty"`
	Text         string        `json:"text,omitempty"`
	Serial       uint32        `json:"serial,omitempty"`
	Protocol     string        `json:"protocol,omitempty"`
	Session      string        `json:"session,omitempty"`
	At           int64         `json:"at,omitempty"` // Unix nanoseconds, for kicks
	Invite       *Invite       `json:"invite,omitempty"`
	Message      *Message      `json:"message,omitempty"`
	Typing       int           `json:"typing,omitempty"`
	Notification *Notification `json:"notification,omitempty"`
	File         string        `json:"file,omitempty"`
	// SkipProtocol: sessions of this protocol do not get the event (the
	// sender's frontend already delivered it there).
	SkipProtocol string `json:"skip,omitempty"`
	// Instance: for a kick, the instance of the login that sent it (see
	// Hub.AttachInstance).
	Instance string `json:"instance,omitempty"`
	// Reason: for a kick, why the session ends.
	Reason KickReason `json:"reason,omitempty"`
	// Batch, when set, is the sender's batch that a message delivered on
	// the sender's own goroutine is held in (see Batch): the endpoint
	// holds the connection it writes the message to there. It never
	// leaves this node, nor outlives the delivery.
	Batch *Batch `json:"-"`
}

// KickReason says why a kick ends a session. Each protocol tells its
// client in its own terms; where a protocol has words only for "signed in
// elsewhere" (which also keeps its clients from reconnecting at once),
// that is what its clients hear whatever the reason.
type KickReason uint8

const (
	// KickNewerLogin: a newer login of the same protocol took over.
	KickNewerLogin KickReason = iota
	// KickOperator: an operator ended the session, or reset the password.
	KickOperator
	// KickAccountClosed: an operator disabled or deleted the account.
	KickAccountClosed
	// KickSignedOut: the user signed out of the web pages, which ends
	// their web chat too.
	KickSignedOut
)

// String is the reason in words, as clients that show a server's text
// are told it.
func (r KickReason) String() string {
	switch r {
	case KickOperator:
		return "ended by an administrator"
	case KickAccountClosed:
		return "account closed by an administrator"
	case KickSignedOut:
		return "you signed out of the web pages"
	}
	return "logged in from another location"
}

// Invite names a conversation to join. Protocol is the frontend that hosts
// it; Addr and Cookie are what a client of that protocol needs to connect.
type Invite struct {
	Protocol     string `json:"protocol"`
	Conversation string `json:"conversation"`
	Addr         string `json:"addr"`
	Cookie       string `json:"cookie"`
}

// Endpoint receives a session's events. Deliver is called from the hub's
// dispatch goroutine and must not block: frontends queue the frames and write
// them from their own goroutine. It reports whether the connection took the
// event; false when it is closing or its output queue is full. A message
// it took and then fails to write goes back through Session.Undelivered.
type Endpoint interface {
	Deliver(Event) bool
}

// Presence is one contact's status as the asking account may see it.
type Presence struct {
	Contact Account
	Status  Status
	Text    string
}

// Notification is a service event for clients that understand it: Kind
// names it (GG's MPA subtype, e.g. "edisc/send_ticket_changed") and Data is
// its JSON body.
type Notification struct {
	Kind string `json:"kind"`
	Data string `json:"data"`
	// Protocol, when set, limits the notification to the sessions of one
	// frontend (one that notifies its own clients on other nodes).
	Protocol string `json:"protocol,omitempty"`
}

// For reports whether a session of protocol gets the notification; a
// nil one (an event without) is for everyone.
func (n *Notification) For(protocol string) bool {
	return n == nil || n.Protocol == "" || n.Protocol == protocol
}

// Notify sends a service notification to every session of an account, or
// of n.Protocol.
func (h *Hub) Notify(to uint32, n Notification) {
	h.publish(to, Event{Kind: EventNotify, Notification: &n})
}

// OfferFile asks the recipient's session of protocol, on whichever node it
// is, to offer them the file from sent, kept as the drive ticket named.
func (h *Hub) OfferFile(from Account, to uint32, protocol, ticket string) {
	h.publish(to, Event{Kind: EventFile, From: from, Protocol: protocol, File: ticket})
}
