// Package mailbox holds what the frontends do alike with an account's
// stored messages: read the mailbox again when the hub says it holds
// messages no session has (Rereader), and hand stored messages to a
// client whose protocol has no receipt for them (WriteUnacknowledged).
package mailbox

import (
	"context"
	"sync"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/outbox"
)

// Rereader runs a connection's mailbox read on a goroutine of its own,
// one at a time: asked again while one runs, it runs once more after it.
// The zero value is ready; Stop ends it.
type Rereader struct {
	mu      sync.Mutex
	asked   int32 // asks since the running read started; 0 when idle
	stopped bool
	running sync.WaitGroup
}

// Reread runs read, now or after the read under way.
func (r *Rereader) Reread(read func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	r.asked++
	if r.asked > 1 {
		return
	}
	r.running.Add(1)
	go func() {
		defer r.running.Done()
		for {
			read()
			r.mu.Lock()
			again := r.asked > 1 && !r.stopped
			r.asked = 0
			if again {
				r.asked = 1
			}
			r.mu.Unlock()
			if !again {
				return
			}
		}
	}()
}

// Stop refuses later rereads and waits for the one under way: a session
// ends only after its last read, so that none claims messages after the
// session gave its claims back.
func (r *Rereader) Stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.running.Wait()
}

// Batch bounds the stored messages written before the written ones are
// deleted: a crash can repeat at most one batch.
const Batch = 32

// WriteUnacknowledged hands stored messages to a client whose protocol has
// no receipt for them (IMIP, MySpaceIM): each is done once it is written
// to the socket, and then deleted through the session. write queues one
// message with the receipt and reports whether the connection took it.
// What the connection does not write stays claimed by the session and
// returns to the mailbox when the session ends.
func WriteUnacknowledged(ctx context.Context, s *hub.Session, out *outbox.Outbox, waiting []hub.OfflineMessage,
	write func(hub.OfflineMessage, outbox.Receipt) bool) error {
	for len(waiting) > 0 {
		batch := waiting[:min(Batch, len(waiting))]
		waiting = waiting[len(batch):]
		var (
			mu      sync.Mutex
			written []int64
		)
		for _, m := range batch {
			if out.Crowded() {
				out.Wait()
			}
			id := m.ID
			taken := write(m, func(ok bool) {
				if ok {
					mu.Lock()
					written = append(written, id)
					mu.Unlock()
				}
			})
			if !taken {
				break // the connection is going
			}
		}
		out.Wait()
		mu.Lock()
		done := written
		mu.Unlock()
		if err := s.DeleteOffline(ctx, done...); err != nil {
			return err
		}
		if len(done) < len(batch) {
			return nil
		}
	}
	return nil
}
