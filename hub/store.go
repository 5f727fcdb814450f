package hub

import "context"

// Store keeps what outlives a connection: accounts, passwords, lists,
// groups and settings. The store package implements it on SQLite (default)
// and PostgreSQL. Every method is safe for concurrent use, and every change
// runs in one transaction, so two processes (serve and `user add`) may share
// one database.
type Store interface {
	// CreateAccount adds an account; ErrAccountExists when its number,
	// e-mail or nick is taken, ErrInvalid when a field is malformed.
	CreateAccount(ctx context.Context, a Account, password string) (Account, error)
	Account(ctx context.Context, number uint32) (Account, error)
	AccountByEmail(ctx context.Context, email string) (Account, error) // case-insensitive
	AccountByNick(ctx context.Context, nick string) (Account, error)   // case-insensitive
	Accounts(ctx context.Context) ([]Account, error)                   // ordered by number
	DeleteAccount(ctx context.Context, number uint32) error
	SetPassword(ctx context.Context, number uint32, password string) error
	// Password returns the plaintext password: challenge logins (MSN MD5,
	// IMIP, MySpaceIM) need it. It is encrypted at rest.
	Password(ctx context.Context, number uint32) (string, error)
	// AccountWithPassword is AccountByEmail and Password in one query, for
	// the logins that check a password.
	AccountWithPassword(ctx context.Context, email string) (Account, string, error)
	// SetDisplayName renames the account and returns its new list serial.
	SetDisplayName(ctx context.Context, number uint32, name string) (uint32, error)

	// Roster returns the owner's settings, groups and all four lists; the
	// reverse list is everyone who has the owner on their forward list.
	Roster(ctx context.Context, owner uint32) (*Roster, error)
	// ListChanges reads the roster, as Roster does, with what left the
	// lists and groups after serial since, in the same snapshot, oldest
	// first; ErrChangesForgotten when the store no longer keeps them all
	// (it keeps a bounded number per account) or since is later than the
	// owner's serial.
	ListChanges(ctx context.Context, owner, since uint32) (*Roster, []Removal, error)
	// ListSerial reads the owner's list serial (Roster's Settings.Serial),
	// which every change to its settings, groups or lists moves, its
	// reverse list's too (ErrNotFound for an unknown owner).
	ListSerial(ctx context.Context, owner uint32) (uint32, error)
	// Relation reads how owner's lists treat contact (ErrNotFound for an
	// unknown owner).
	Relation(ctx context.Context, owner, contact uint32) (Relation, error)
	// AddToList puts contact on one of owner's lists (FL, AL or BL). For FL,
	// group names the group (0 is the default); adding a contact already on FL
	// to a further group is allowed. Errors: ErrAlreadyOnList,
	// ErrInOppositeList (AL vs BL), ErrListFull (more than maxEntries on that
	// list), ErrNoSuchGroup, ErrNotFound (contact).
	AddToList(ctx context.Context, owner, contact uint32, l List, group int, maxEntries int) (ListChange, error)
	// RemoveFromList takes contact off a list. For FL with group >= 0 only
	// that group membership goes, and the contact leaves FL with its last
	// group; group < 0 removes the contact from FL entirely. ErrNotOnList.
	RemoveFromList(ctx context.Context, owner, contact uint32, l List, group int) (ListChange, error)

	AddGroup(ctx context.Context, owner uint32, name string) (Group, uint32, error)
	RemoveGroup(ctx context.Context, owner uint32, id int) (uint32, error)
	RenameGroup(ctx context.Context, owner uint32, id int, name string) (uint32, error)

	// SetPrivacy and SetPromptOnAdd return ErrUnchanged when the value is
	// already set.
	SetPrivacy(ctx context.Context, owner uint32, p Privacy) (uint32, error)
	SetPromptOnAdd(ctx context.Context, owner uint32, prompt bool) (uint32, error)

	// QueueOffline keeps a message for an offline account and returns its
	// id; ErrListFull when the mailbox or the sender's share of it is full.
	QueueOffline(ctx context.Context, to, from uint32, msg Message, limits MailboxLimits) (int64, error)
	// QueueOfflineBatch keeps several messages in one transaction, each
	// within limits, and says which it refused: refused[i] is ErrListFull
	// or ErrNotFound (an account is gone) for message i, nil when kept.
	// An error keeps none of them.
	QueueOfflineBatch(ctx context.Context, msgs []QueuedMessage, limits MailboxLimits) (refused []error, err error)
	// OfflineMessages claims for session the waiting messages no live
	// session holds (live names the account's sessions on every node) and
	// returns those it claimed now, oldest first, with Message.Offline set
	// to each one's id. They stay until deleted or released.
	OfflineMessages(ctx context.Context, to uint32, session string, live []string) ([]OfflineMessage, error)
	// ReadOffline reads the named messages of the account's mailbox, or
	// with none named all of them, oldest first, claimed or not, without
	// claiming them: services that fetch by id (MSN's offline-IM service)
	// read through it. Unknown ids are left out.
	ReadOffline(ctx context.Context, to uint32, ids ...int64) ([]OfflineMessage, error)
	// ReleaseOffline returns session's unacknowledged claims to the
	// mailbox and says how many there were.
	ReleaseOffline(ctx context.Context, to uint32, session string) (int64, error)
	// DeleteOffline removes delivered offline messages; unknown ids are
	// ignored.
	DeleteOffline(ctx context.Context, to uint32, ids ...int64) error

	// SaveContactFile keeps a client's own copy of its contact list (GG's
	// userlist export) and returns its new version; ContactFile reads it
	// back (empty, version 0 when none was saved).
	SaveContactFile(ctx context.Context, owner uint32, format string, data []byte) (uint32, error)
	ContactFile(ctx context.Context, owner uint32, format string) ([]byte, uint32, error)

	// Profile reads the account's roaming profile (the zero Profile when
	// nothing was kept); ErrNotFound for an unknown account.
	Profile(ctx context.Context, owner uint32) (Profile, error)
	// SetPersonalMessage keeps the profile's personal message.
	SetPersonalMessage(ctx context.Context, owner uint32, text string) error
	// SetPicture keeps the profile's display picture, of media type
	// mediaType, and returns its new version; empty data removes it.
	SetPicture(ctx context.Context, owner uint32, mediaType string, data []byte) (uint32, error)

	Close() error
}

// ListChange carries the serials after a list change. Changing the forward
// list also changes the contact's reverse list, so both owners' serials move.
type ListChange struct {
	OwnerSerial   uint32
	ContactSerial uint32 // zero when the contact's lists did not change
}
