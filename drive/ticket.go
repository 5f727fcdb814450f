// Package drive is the GG drive ("edisc"): the HTTP service through which
// Gadu-Gadu 11 clients send each other files. The sender offers a file in a
// ticket, the recipient accepts or rejects it, the sender uploads the bytes
// and the recipient downloads them; both learn of every change through MPA
// notifications (GG_EVENT110) sent through the hub.
package drive

import (
	"context"
	"fmt"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
)

// Ack is the recipient's decision about a ticket.
type Ack string

const (
	AckUnknown  Ack = "unknown"
	AckAllowed  Ack = "allowed"
	AckRejected Ack = "rejected"
)

// Valid reports whether a is one of the three decisions.
func (a Ack) Valid() bool { return a == AckUnknown || a == AckAllowed || a == AckRejected }

// Status is how far the upload got.
type Status string

const (
	StatusInProgress Status = "in_progress"
	StatusCompleted  Status = "completed"
	// StatusExpired is only ever sent in notifications, for tickets that
	// Sweep removed before they completed; it is never stored.
	StatusExpired Status = "expired"
)

// Valid reports whether s may be stored.
func (s Status) Valid() bool { return s == StatusInProgress || s == StatusCompleted }

// Ticket is one offered file.
type Ticket struct {
	ID        string
	Sender    uint32
	Recipient uint32
	FileName  string // sanitised (see SanitizeName)
	FileSize  int64  // bytes the sender announced; the upload must match
	Ack       Ack
	Status    Status
	Progress  int64  // bytes stored so far
	SHA256    string // hex digest of the stored blob, once completed
	Created   time.Time
	Expires   time.Time
}

// Errors of the ticket store. They wrap the hub's errors, so callers may
// test for either.
var (
	ErrNoTicket = fmt.Errorf("no such ticket: %w", hub.ErrNotFound)
	ErrQuota    = fmt.Errorf("drive quota exceeded: %w", hub.ErrListFull)
)

// Tickets keeps tickets. The store package implements it. Every method is safe
// for concurrent use.
type Tickets interface {
	// CreateTicket stores a new ticket. Sender and recipient must be
	// accounts (hub.ErrNotFound). When quota > 0 and the sender's live
	// tickets (not rejected) plus this one would announce more than quota
	// bytes, it stores nothing and returns ErrQuota; the check and the
	// insert are one transaction.
	CreateTicket(ctx context.Context, t Ticket, quota int64) error
	// Ticket reads one ticket; ErrNoTicket when there is none.
	Ticket(ctx context.Context, id string) (Ticket, error)
	// UpdateTicket runs change on the current ticket inside a write
	// transaction and stores its Ack, Status, Progress and SHA256 unless
	// change returns an error, which UpdateTicket then returns. Other
	// fields are never changed. change may run more than once (PostgreSQL
	// runs a transaction again when it loses a conflict), each time on the
	// ticket as it then is, so it sets what it reports afresh each time.
	UpdateTicket(ctx context.Context, id string, change func(*Ticket) error) (Ticket, error)
	// DeleteTicket removes a ticket; removing a missing one is no error.
	DeleteTicket(ctx context.Context, id string) error
	// ExpiredTickets returns up to limit tickets whose Expires is not after
	// now, oldest expiry first.
	ExpiredTickets(ctx context.Context, now time.Time, limit int) ([]Ticket, error)
}
