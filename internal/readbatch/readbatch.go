// Package readbatch lets a connection's reader handle the commands its
// client sent at once as one batch: the messages they carry to sessions on
// this node are held in those sessions' connections (hub.Batch), the
// reader's own replies in its own, and all of it leaves when the commands
// waiting whole in the read buffer are handled, one write per connection
// instead of one per message, the recipients' first, so that no
// acknowledgement leaves before the message it acknowledges.
package readbatch

import (
	"context"

	"github.com/crosstalk-im/crosstalk/hub"
)

// Batch is a reader's batch; the zero value has none running, and an idle
// connection keeps only the nil pointer. It belongs to the reader's
// goroutine (or the worker it hands its reads to, one at a time).
type Batch struct{ run *run }

type run struct {
	held hub.Batch
	ctx  context.Context
}

// Context is the context to handle a command with: ctx carrying the
// running batch, or one started when more, whole commands wait behind this
// one; ctx itself when there is neither.
func (b *Batch) Context(ctx context.Context, more bool) context.Context {
	if b.run == nil {
		if !more {
			return ctx
		}
		r := &run{}
		r.ctx = hub.WithBatch(ctx, &r.held)
		b.run = r
	}
	return b.run.ctx
}

// End releases the connections the batch held, then own (the reader's
// own output, held for the batch's replies), and ends the batch.
func (b *Batch) End(own hub.Holder) {
	if r := b.run; r != nil {
		b.run = nil
		r.held.Release()
	}
	own.Release()
}
