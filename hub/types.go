// Package hub is Crosstalk's protocol-neutral core: accounts, contact lists,
// privacy, presence and the delivery of events between sessions. Frontends
// (msnp, gg, msim, imip) translate their wire protocols to and from the calls
// and events defined here; they never talk to each other directly.
//
// # The delivery contract
//
// A sender is told "delivered" (MSN ACK, GG's GG_SEND_MSG_ACK110, IMIP's
// silence under "ACK-Type: errors-only", MySpaceIM's silence) only once a
// session of the recipient took the message into its connection, and
// "stored" (GG_ACK_QUEUED and the GG11 receipt after it) only once the
// message is committed to the recipient's mailbox. Otherwise it hears its
// protocol's failure: MSN NAK, GG_SEND_MSG_ACK with GG_ACK_BLOCKED,
// GG_ACK_MBOXFULL or GG_ACK_NOT_DELIVERED, IMIP's error ACK (802, 803).
//
//   - SendMessage asks the nodes that hold the recipient's sessions whether
//     one took the message (Endpoint.Deliver's answer) and waits at most
//     Config.DeliveryTimeout; a message no session took goes to the mailbox.
//   - A session that took a message and then could not write it (its client
//     stopped reading and the output queue overflowed, or the connection
//     ended first) puts it back with Session.Undelivered, which queues it
//     for one goroutine that returns such messages many to a transaction.
//     Only if the mailbox then fails, or Config.MaxQueuedReturnBytes of
//     them already wait for a slow store, is a message lost, and that is
//     counted (crosstalk_message_outcomes_total{outcome="lost"}) and
//     logged.
//   - A node refuses an event when its event queue is full: it is counted
//     (crosstalk_events_refused_total{cause="queue_full"}) and logged, the
//     sender of a message among them is told at once that no session took
//     it (so it goes to the mailbox), and the account's sessions on that
//     node get a fresh copy of their contacts' presence.
//   - A mailbox holds Config.Mailbox.Total messages, at most PerSender of
//     them from one sender; messages put back after being taken may use
//     twice the total.
//
// # Routing
//
// Each node keeps a replica of the presence bucket (who is online, through
// which protocols, on which nodes) and subscribes to the bus once, on its
// own subject. An event for an account goes straight to the account's
// sessions on the sending node, without the bus, and to each other node
// that holds some, encoded in protocol buffers' wire format. Reads of
// presence come from the replica, made causal by watermarks (see
// directory): what a session is told is never newer than what its node
// then shows. Each node renews a liveness record; the sessions of a node
// that stops (Config.NodeTimeout, 6 s by default) are taken out of
// presence by the others and their watchers told.
//
// Stored messages are claimed by the session that reads them and leave the
// mailbox only when delivered: on the client's receipt (GG), or once
// written to the socket (IMIP, MySpaceIM, MSN, which have no receipt). A
// session that ends gives its unconfirmed claims back, and the account's
// other sessions are told to read the mailbox again (EventMailbox); a login
// takes over the claims of sessions that no longer exist (a node killed).
// What a crash can deliver twice is what was in flight: for GG at most 32
// messages per session (written, receipt not yet processed); for IMIP and
// MySpaceIM at most one batch of 32 written before their deletion, for MSN
// the stored messages of one chat, plus what the kernel held for the
// socket. An account logged in through several protocols sees a message on
// each of them.
package hub

import (
	"errors"
	"time"
)

// Account is one person, reachable under every protocol at once.
type Account struct {
	Number      uint32 // GG UIN, IMIP number, MySpaceIM user id
	Email       string // MSN passport and MySpaceIM login; stored lower-case
	Nick        string // optional unique nick (MySpaceIM uniquenick)
	DisplayName string // MSN friendly name, MySpaceIM display name
	CreatedAt   time.Time
	// Disabled accounts cannot log in (an operator's decision, kept by the
	// store); Attach refuses them. Events do not carry it.
	Disabled bool
}

// Profile is what an account keeps for its clients besides its display
// name: MSN's roaming profile (the storage service of WLM 8.5 / 2009).
type Profile struct {
	PersonalMessage string
	// Picture is the display picture the client uploaded, PictureType its
	// media type (image/png); PictureVersion grows with each upload and is
	// 0 while there is none.
	Picture        []byte
	PictureType    string
	PictureVersion uint32
	Changed        time.Time // zero when nothing was kept
}

// Status is a canonical presence state. Each frontend maps its own codes to
// and from these.
type Status string

const (
	StatusOffline     Status = "offline"
	StatusOnline      Status = "online"
	StatusBusy        Status = "busy"
	StatusAway        Status = "away"
	StatusIdle        Status = "idle"
	StatusBeRightBack Status = "brb"
	StatusOnThePhone  Status = "phone"
	StatusOutToLunch  Status = "lunch"
	StatusInvisible   Status = "invisible"
)

// Valid reports whether s is one of the canonical statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusOffline, StatusOnline, StatusBusy, StatusAway, StatusIdle,
		StatusBeRightBack, StatusOnThePhone, StatusOutToLunch, StatusInvisible:
		return true
	}
	return false
}

// Visible is the status others are shown: invisible looks offline.
func (s Status) Visible() Status {
	if s == StatusInvisible || s == "" {
		return StatusOffline
	}
	return s
}

// availability ranks statuses so that an account logged in from several
// places shows the most available of them.
func (s Status) availability() int {
	switch s {
	case StatusOnline:
		return 8
	case StatusIdle:
		return 7
	case StatusBusy, StatusOnThePhone:
		return 6
	case StatusBeRightBack:
		return 5
	case StatusAway, StatusOutToLunch:
		return 4
	case StatusInvisible:
		return 1
	}
	return 0
}

// List names one of an account's contact lists.
type List string

const (
	Forward List = "FL" // people I follow: I see their presence
	Allow   List = "AL" // people allowed to see me and talk to me
	Block   List = "BL" // people who may not
	Reverse List = "RL" // people who have me on their forward list (server-kept)
)

// Valid reports whether l names a list.
func (l List) Valid() bool {
	return l == Forward || l == Allow || l == Block || l == Reverse
}

// Privacy is the account-wide default for people on neither AL nor BL.
type Privacy string

const (
	AllowUnlisted Privacy = "AL" // everyone not on BL may see me (MSN BLP AL)
	BlockUnlisted Privacy = "BL" // only people on AL may see me (MSN BLP BL)
)

// Settings are the per-account list options.
type Settings struct {
	Privacy      Privacy
	PromptOnAdd  bool   // MSN GTC A (true) or N (false)
	Serial       uint32 // bumped on every change to lists, groups or settings
	PhoneNumbers map[string]string
}

// Group is a forward-list group. Group 0 always exists.
type Group struct {
	ID   int
	Name string
	// Changed is the owner's list serial after the group was last added
	// or renamed (0: before the store kept it).
	Changed uint32
}

// DefaultGroupName is the name of group 0, which cannot be removed.
const DefaultGroupName = "Other Contacts"

// Entry is one contact on one of an owner's lists.
type Entry struct {
	Contact Account
	List    List
	Groups  []int // forward list only
	// Changed is the owner's list serial after the entry was last added
	// or, on FL, its groups changed; on RL, after the contact added the
	// owner (0: before the store kept it).
	Changed uint32
}

// Removal is a contact that left one of an owner's lists, or a group the
// owner deleted, as the store keeps them for clients that fetch only what
// changed since their copy (MSN's address book deltas).
type Removal struct {
	// List is the list Contact left; empty for a group.
	List    List
	Contact uint32
	// Email is the contact's e-mail when it left: the account may be
	// gone since.
	Email string
	Group int // the deleted group, when List is empty
	// Serial is the owner's list serial after the removal.
	Serial uint32
}

// Roster is everything about an account's lists, read in one go.
type Roster struct {
	Settings Settings
	Groups   []Group
	Entries  []Entry // FL, AL, BL and RL entries, in the order they were added
}

// On reports whether number is on list l.
func (r *Roster) On(l List, number uint32) bool {
	for _, e := range r.Entries {
		if e.List == l && e.Contact.Number == number {
			return true
		}
	}
	return false
}

// Of returns the entries of one list.
func (r *Roster) Of(l List) []Entry {
	var out []Entry
	for _, e := range r.Entries {
		if e.List == l {
			out = append(out, e)
		}
	}
	return out
}

// Allows reports whether the roster's owner lets contact see their presence
// and start conversations with them.
func (r *Roster) Allows(contact uint32) bool {
	if r.On(Block, contact) {
		return false
	}
	if r.On(Allow, contact) {
		return true
	}
	return r.Settings.Privacy != BlockUnlisted
}

// Relation is how one account's lists treat one contact: what the hub
// needs for each message and presence check, without the whole roster.
type Relation struct {
	Privacy                     Privacy
	OnForward, OnAllow, OnBlock bool
}

// Allows reports whether the owner lets the contact see their presence and
// talk to them (the same rule as Roster.Allows).
func (r Relation) Allows() bool {
	if r.OnBlock {
		return false
	}
	return r.OnAllow || r.Privacy != BlockUnlisted
}

// Errors shared by the store and the hub. Frontends map them to their own
// protocol error codes.
var (
	ErrNotFound         = errors.New("no such account")
	ErrAccountExists    = errors.New("account already exists")
	ErrAlreadyOnList    = errors.New("already on list")
	ErrNotOnList        = errors.New("not on list")
	ErrInOppositeList   = errors.New("on the opposite list")
	ErrListFull         = errors.New("list full")
	ErrNoSuchGroup      = errors.New("no such group")
	ErrGroupExists      = errors.New("group name already exists")
	ErrGroupNameTooLong = errors.New("group name too long")
	ErrDefaultGroup     = errors.New("group 0 cannot be removed")
	ErrTooManyGroups    = errors.New("too many groups")
	// ErrChangesForgotten: the store no longer keeps everything removed
	// since the serial asked about, or never had that serial.
	ErrChangesForgotten = errors.New("changes since that serial are no longer kept")
	ErrUnchanged        = errors.New("already set to that value")
	ErrBadPassword      = errors.New("wrong password")
	ErrInvalid          = errors.New("invalid value")
	ErrDisabled         = errors.New("account disabled")
)

// Limits on lists; the store enforces them.
const (
	MaxGroupNameBytes = 61
	MaxGroups         = 30
)
