package hub

import (
	"context"
	"slices"
	"sync"
)

// Holder is a connection's output queue that can keep what is written to
// it and write it all at once later (outbox.Outbox).
type Holder interface {
	Hold()
	Release()
}

// Batch gathers the connections that a reader's run of commands delivers
// to, on this node and on the reader's own goroutine, while more of its
// client's commands wait whole in its read buffer: each connection is held
// from its first delivery and released when the run ends, so that N
// messages to one connection leave in one system call, not N.
//
// A message in a held connection is not written yet, so its sender is not
// told "delivered" yet either: the reader hands its answer to Answer,
// which runs it once the batch is released, with what became of the
// message by then. One that a held connection dropped (it closed
// meanwhile) is put back in the mailbox first and answered as stored, or
// as refused when the mailbox will not take it.
//
// The zero value is ready to use; a Batch belongs to one goroutine.
type Batch struct {
	held []Holder
	// current is the message SendMessage is handing over now (see Track);
	// messages are those handed to a connection of the batch, and last
	// the one SendMessage handed over last, for Answer.
	current  *batched
	messages []*batched
	last     *batched
}

// batched is a message handed to held connections, and what became of it.
type batched struct {
	h        *Hub
	to, from uint32
	msg      *Message // the hub's, shared and never changed
	// answer is the sender's, run when the batch is released.
	answer func(Delivery)

	mu sync.Mutex
	// open: the batch has not settled the message yet, and a connection
	// that drops it leaves it to the batch (see Track).
	open             bool
	tracked, dropped int
}

// Hold holds h, once, until Release. A nil Batch holds nothing.
func (b *Batch) Hold(h Holder) {
	if b == nil || slices.Contains(b.held, h) {
		return
	}
	h.Hold()
	b.held = append(b.held, h)
}

// Track holds h like Hold for the message being delivered, and returns
// the receipt to write that message with: receipt, told of the write as
// ever, except that a drop while the batch is open is left to the batch,
// which returns the message to the mailbox before it answers the sender.
// A nil Batch returns receipt as it is.
func (b *Batch) Track(h Holder, receipt func(written bool)) func(written bool) {
	if b == nil || b.current == nil {
		return receipt
	}
	b.Hold(h)
	m := b.current
	m.mu.Lock()
	m.tracked++
	m.mu.Unlock()
	return func(written bool) {
		m.mu.Lock()
		if !written && m.open {
			m.dropped++
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
		receipt(written)
	}
}

// Len is how many connections the batch holds.
func (b *Batch) Len() int { return len(b.held) }

// Release writes what each held connection kept, in the order they were
// first held, then settles the messages handed to them and answers their
// senders, in order, and empties the batch.
func (b *Batch) Release() {
	for i, h := range b.held {
		h.Release()
		b.held[i] = nil
	}
	b.held = b.held[:0]
	for i, m := range b.messages {
		m.settle()
		b.messages[i] = nil
	}
	b.messages, b.last = b.messages[:0], nil
}

// settle closes m to its receipts and answers its sender: delivered when a
// connection wrote it or still has it queued (a write that fails later
// returns it to the mailbox, as for any message); when every connection
// dropped it, stored once it is back in the mailbox, MailboxFull when
// the mailbox refuses it.
func (m *batched) settle() {
	m.mu.Lock()
	m.open = false
	lost := m.dropped == m.tracked
	m.mu.Unlock()
	d := Delivered
	switch {
	case !lost:
	case m.answer == nil:
		// No one waits for the answer: the mailbox can take it later.
		m.h.Undelivered(m.to, Account{Number: m.from}, *m.msg, "batch")
	default:
		ctx, cancel := context.WithTimeout(context.Background(), m.h.cfg.DeliveryTimeout)
		d = Queued
		if m.h.returnToMailbox(ctx, m.to, m.from, *m.msg, "batch") != nil {
			d = MailboxFull
		}
		cancel()
	}
	if m.answer != nil {
		m.answer(d)
	}
}

// begin notes that msg is about to be handed to this node's sessions on
// this goroutine.
func (b *Batch) begin(h *Hub, to, from uint32, msg *Message) {
	b.current = &batched{h: h, to: to, from: from, msg: msg, open: true}
}

// end notes that the message begun is handed over: one that a connection
// of the batch took waits for the batch's release.
func (b *Batch) end() {
	m := b.current
	b.current = nil
	if m.tracked > 0 {
		b.messages = append(b.messages, m)
		b.last = m
	}
}

// Answer runs answer with d, what SendMessage said of the message just
// sent with ctx, or, when that message waits in the connections of ctx's
// batch, once the batch is released, with what became of it by then.
func (h *Hub) Answer(ctx context.Context, d Delivery, answer func(Delivery)) {
	if !h.AnswerWaits(ctx, d) {
		answer(d)
		return
	}
	b := batchOf(ctx)
	b.last.answer = answer
	b.last = nil
}

// AnswerWaits reports whether the answer to the message just sent with
// ctx, of which SendMessage said d, waits for ctx's batch: only then need
// a sender make a closure for Answer; otherwise d is the answer.
func (h *Hub) AnswerWaits(ctx context.Context, d Delivery) bool {
	b := batchOf(ctx)
	return b != nil && b.last != nil && d == Delivered
}

type batchKey struct{}

// WithBatch has the messages sent with ctx (SendMessage) held in b when
// they are delivered on this goroutine.
func WithBatch(ctx context.Context, b *Batch) context.Context {
	return context.WithValue(ctx, batchKey{}, b)
}

func batchOf(ctx context.Context) *Batch {
	b, _ := ctx.Value(batchKey{}).(*Batch)
	return b
}
