// Package mailbox holds what the frontends do alike with an account's
// stored messages: read the mailbox again when the hub says it holds
// messages no session has (Rereader), and hand stored messages to a
// client whose protocol has no receipt for them (WriteUnacknowledged).
package mailbox

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

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
	// run is the read under way; nil when idle, so that an idle
	// connection keeps no context or channel.
	run *rereadRun
}

// rereadRun is a read under way: Stop cancels it and waits for done.
type rereadRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Reread runs read, now or after the read under way, with a context that
// ends after timeout or at Stop. What read returns goes to log, unless
// Stop cut it short.
func (r *Rereader) Reread(timeout time.Duration, log *slog.Logger, read func(context.Context) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	r.asked++
	if r.asked > 1 {
		return
	}
	run := &rereadRun{done: make(chan struct{})}
	ctx := r.startLocked(run, timeout)
	go func() {
		defer close(run.done)
		for {
			err := read(ctx)
			cutShort := errors.Is(ctx.Err(), context.Canceled)
			run.cancel()
			r.mu.Lock()
			if err != nil && !cutShort {
				log.Warn("read mailbox", "err", err)
			}
			again := r.asked > 1 && !r.stopped
			r.asked = 0
			if again {
				r.asked = 1
				ctx = r.startLocked(run, timeout)
			} else {
				r.run = nil
			}
			r.mu.Unlock()
			if !again {
				return
			}
		}
	}()
}

// startLocked gives run a fresh context for its next read.
func (r *Rereader) startLocked(run *rereadRun, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	run.cancel = cancel
	r.run = run
	return ctx
}

// Stop refuses later rereads, cuts the one under way short and waits for
// it: a session ends only after its last read, so that none claims
// messages after the session gave its claims back, and a read waiting on
// a busy store does not hold the session's end (or the server's shutdown)
// until its timeout.
func (r *Rereader) Stop() {
	r.mu.Lock()
	r.stopped = true
	run := r.run
	if run != nil {
		run.cancel()
	}
	r.mu.Unlock()
	if run != nil {
		<-run.done
	}
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
