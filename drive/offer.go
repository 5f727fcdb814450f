package drive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// FileBridge is what a frontend that stands in for its users' files uses of
// the drive (MSN and SIP, whose clients send files themselves);
// (*Server) implements it.
type FileBridge interface {
	// MaxFileBytes is the largest file kept.
	MaxFileBytes() int64
	// Deposit keeps a file for a recipient online through another protocol
	// than GG, and Deliver hands it on to them (an offer through their
	// protocol's file transfer, or a download link).
	Deposit(ctx context.Context, sender, recipient uint32, name string, size int64, r io.Reader) (Ticket, error)
	Deliver(ctx context.Context, t Ticket) bool
	// Offer, AwaitAnswer, Fill and Withdraw serve recipients online only
	// through GG: they get a drive ticket to answer, and the bridge fills
	// it once they allow it.
	Offer(ctx context.Context, sender, recipient uint32, name string, size int64) (Ticket, error)
	AwaitAnswer(ctx context.Context, id string) (Ack, error)
	Fill(ctx context.Context, id string, r io.Reader) error
	Withdraw(ctx context.Context, id string) error
	// HandOver gives offer a completed ticket's file to hand to its
	// recipient, and tells the sender if it fails.
	HandOver(ctx context.Context, id string, offer func(t Ticket, open func() (io.ReadCloser, error)) error) error
	// Ticket reads a ticket (a sender's, to tell them it was rejected).
	Ticket(ctx context.Context, id string) (Ticket, error)
}

// Errors of Offer.
var (
	ErrTooLarge   = errors.New("drive: file too large")
	ErrNotAllowed = errors.New("drive: sender is not on the recipient's list")
)

// Offer creates a ticket on behalf of a sender the server stands in for
// (a protocol bridge), under the checks of PUT /send_ticket (size, the
// recipient's list, quota), and notifies the recipient as that does. The
// caller has checked that the recipient is online through GG. The
// recipient answers through the HTTP API; see AwaitAnswer and Fill.
func (s *Server) Offer(ctx context.Context, sender, recipient uint32, name string, size int64) (Ticket, error) {
	t, err := s.newTicket(ctx, sender, recipient, name, size, AckUnknown)
	if err == nil {
		s.notifyChange(t, t.Status, recipient)
	}
	return t, err
}

// Reserve creates a ticket under the checks of Offer for a recipient who
// is not asked (their protocol has no decision step): it is allowed at
// once, Fill stores its file and Bridge then hands it to them.
func (s *Server) Reserve(ctx context.Context, sender, recipient uint32, name string, size int64) (Ticket, error) {
	return s.newTicket(ctx, sender, recipient, name, size, AckAllowed)
}

func (s *Server) newTicket(ctx context.Context, sender, recipient uint32, name string, size int64, ack Ack) (Ticket, error) {
	switch {
	case size < 0:
		return Ticket{}, errSize
	case size > s.cfg.MaxFileBytes:
		return Ticket{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.cfg.MaxFileBytes)
	case sender == recipient:
		return Ticket{}, errors.New("drive: cannot send a file to yourself")
	}
	rel, err := s.cfg.Hub.Store().Relation(ctx, recipient, sender)
	if err != nil {
		return Ticket{}, fmt.Errorf("drive: relation: %w", err)
	}
	if !rel.Allows() {
		return Ticket{}, ErrNotAllowed
	}
	now := s.cfg.Now().UTC()
	t := Ticket{
		ID: randomHex(16), Sender: sender, Recipient: recipient,
		FileName: SanitizeName(name), FileSize: size,
		Ack: ack, Status: StatusInProgress,
		Created: now, Expires: now.Add(s.cfg.TicketLifetime),
	}
	if err := s.cfg.Tickets.CreateTicket(ctx, t, max(s.cfg.QuotaBytes, 0)); err != nil {
		return Ticket{}, fmt.Errorf("drive: create ticket: %w", err)
	}
	return t, nil
}

// Ticket reads a ticket.
func (s *Server) Ticket(ctx context.Context, id string) (Ticket, error) {
	return s.cfg.Tickets.Ticket(ctx, id)
}

// answerPoll is how often AwaitAnswer reads the ticket again: an answer
// given through another node's HTTP service wakes no waiter here.
const answerPoll = time.Second

// AwaitAnswer waits until the recipient allows or rejects a ticket, or
// ctx ends. A ticket removed meanwhile gives ErrNoTicket.
func (s *Server) AwaitAnswer(ctx context.Context, id string) (Ack, error) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.waiters[id] = append(s.waiters[id], ch)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		list := s.waiters[id]
		for i, c := range list {
			if c == ch {
				list = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(s.waiters, id)
		} else {
			s.waiters[id] = list
		}
	}()
	poll := time.NewTicker(answerPoll)
	defer poll.Stop()
	for {
		t, err := s.cfg.Tickets.Ticket(ctx, id)
		if err != nil {
			return AckUnknown, err
		}
		if t.Ack != AckUnknown {
			return t.Ack, nil
		}
		select {
		case <-ch:
		case <-poll.C:
		case <-ctx.Done():
			return AckUnknown, ctx.Err()
		}
	}
}

// answered wakes the AwaitAnswer calls of a ticket.
func (s *Server) answered(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.waiters[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Fill stores the file of a ticket made with Offer once the recipient has
// allowed it: exactly the ticket's size from r (a shorter or longer stream
// fails and leaves no file), through the same path as an upload, which
// marks it completed and notifies both sides.
func (s *Server) Fill(ctx context.Context, id string, r io.Reader) error {
	t, err := s.cfg.Tickets.Ticket(ctx, id)
	if err != nil {
		return err
	}
	switch {
	case t.Ack != AckAllowed:
		return errors.New("drive: the recipient has not accepted the file")
	case t.Status != StatusInProgress:
		return errors.New("drive: file already stored")
	case t.FileSize > s.cfg.MaxFileBytes:
		return ErrTooLarge
	}
	// One byte beyond the size is enough to tell a longer stream.
	t, err = s.complete(ctx, t, io.LimitReader(r, t.FileSize+1))
	if err != nil {
		return fmt.Errorf("drive: store file: %w", err)
	}
	s.notifyCompleted(t)
	return nil
}

// Withdraw ends a ticket made with Offer that will not be filled (the
// sender cancelled, or the transfer failed): an unfinished ticket is
// marked rejected and both sides are told. A completed one stays.
func (s *Server) Withdraw(ctx context.Context, id string) error {
	changed := false
	t, err := s.cfg.Tickets.UpdateTicket(ctx, id, func(t *Ticket) error {
		changed = false // change may run again
		if t.Status == StatusInProgress && t.Ack != AckRejected {
			t.Ack, changed = AckRejected, true
		}
		return nil
	})
	if errors.Is(err, ErrNoTicket) {
		return nil
	}
	if err != nil {
		return err
	}
	if changed {
		s.answered(id)
		s.notifyChange(t, t.Status, t.Sender, t.Recipient)
	}
	return nil
}
