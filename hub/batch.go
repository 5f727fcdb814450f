package hub

import (
	"context"
	"slices"
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
// messages to one connection leave in one system call, not N. The reader
// releases the batch before its own replies, so that no acknowledgement
// leaves before the message it acknowledges; a message a held connection
// drops (it closed meanwhile) goes back to the mailbox, as any message a
// connection takes and then drops.
//
// The zero value is ready to use; a Batch belongs to one goroutine.
type Batch struct {
	held []Holder
}

// Hold holds h, once, until Release. A nil Batch holds nothing.
func (b *Batch) Hold(h Holder) {
	if b == nil || slices.Contains(b.held, h) {
		return
	}
	h.Hold()
	b.held = append(b.held, h)
}

// Len is how many connections the batch holds.
func (b *Batch) Len() int { return len(b.held) }

// Release writes what each held connection kept, in the order they were
// first held, and empties the batch.
func (b *Batch) Release() {
	for i, h := range b.held {
		h.Release()
		b.held[i] = nil
	}
	b.held = b.held[:0]
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
