package hub

import (
	"context"
	"sync"
	"time"
	"unsafe"

	"github.com/crosstalk-im/crosstalk/metrics"
)

// Messages that connections took and then dropped (their client stopped
// reading, or the connection closed first) go back to the mailbox from one
// goroutine, many to a transaction. A client that stops reading drops at
// once everything its output queue held, hundreds of messages; with a
// goroutine and a committed transaction for each, every session of the
// node that needed the store waited behind them.

// DefaultMaxQueuedReturnBytes bounds the dropped messages waiting for the
// mailbox while the store is slow, by what they hold (queuedBytes); past
// it they are lost, counted and logged. It is 64 output queues of MSN's
// default size: that many clients stopping at once, with a stuck store.
const DefaultMaxQueuedReturnBytes = 64 << 20

// maxReturnBatch bounds the messages one transaction puts back, so that
// it holds the store's writer only briefly.
const maxReturnBatch = 256

// returnQueue holds the dropped messages on their way back to the mailbox.
type returnQueue struct {
	mu      sync.Mutex
	queued  []returnedMessage
	bytes   int  // queuedBytes of what is queued
	running bool // a goroutine is emptying the queue
	// giveUp ends the store's writes of what is queued, DeliveryTimeout
	// after the hub began to close: one batch after another, each waiting
	// for a store that does not answer, would hold the close for hours.
	giveUp context.Context
	cancel context.CancelFunc
}

// returnedMessage is a dropped message and the protocol of the connection
// that dropped it, for the log.
type returnedMessage struct {
	QueuedMessage
	protocol string
}

// queuedBytes is what a queued message holds: its text, its runs', and
// the records around them.
func queuedBytes(msg Message) int {
	n := int(unsafe.Sizeof(returnedMessage{})) + len(msg.Text)
	for _, r := range msg.Runs {
		n += int(unsafe.Sizeof(r)) + len(r.Text)
	}
	if msg.Format != nil {
		n += int(unsafe.Sizeof(*msg.Format)) + len(msg.Format.Font) + len(msg.Format.Color)
	}
	return n
}

var (
	outcomeReturned = metrics.MessageOutcomes.WithLabelValues("returned")
	outcomeLost     = metrics.MessageOutcomes.WithLabelValues("lost")
)

// Undelivered is Session.Undelivered for a frontend's connection that is
// not a hub session (an MSN switchboard), named by its protocol.
func (h *Hub) Undelivered(to uint32, from Account, msg Message, protocol string) {
	msg.Offline = 0
	size := queuedBytes(msg)
	q := &h.returns
	q.mu.Lock()
	if q.bytes+size > h.cfg.MaxQueuedReturnBytes {
		q.mu.Unlock()
		outcomeLost.Inc()
		h.warn("message lost: its connection dropped it and too many others wait for the mailbox",
			"account", to, "from", from.Number, "protocol", protocol, "max_queued_bytes", h.cfg.MaxQueuedReturnBytes)
		return
	}
	q.queued = append(q.queued, returnedMessage{QueuedMessage{To: to, From: from.Number, Message: msg}, protocol})
	q.bytes += size
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		h.background.Add(1)
		go h.returnQueued()
	}
}

// closeReturns lets the queued messages go back to the mailbox for at most
// DeliveryTimeout more, and waits for what else runs in the background.
func (h *Hub) closeReturns() {
	giveUp := time.AfterFunc(h.cfg.DeliveryTimeout, h.returns.cancel)
	h.background.Wait()
	giveUp.Stop()
	h.returns.cancel()
}

// returnQueued puts the queued messages back in the mailbox, a batch at a
// time, until none is left.
func (h *Hub) returnQueued() {
	defer h.background.Done()
	q := &h.returns
	batch := make([]returnedMessage, 0, maxReturnBatch)
	for {
		q.mu.Lock()
		n := min(len(q.queued), maxReturnBatch)
		if n == 0 {
			q.queued, q.running = nil, false
			q.mu.Unlock()
			return
		}
		batch = append(batch[:0], q.queued[:n]...)
		for _, m := range batch {
			q.bytes -= queuedBytes(m.Message)
		}
		clear(q.queued[:n])
		q.queued = q.queued[n:]
		q.mu.Unlock()
		h.returnBatch(batch)
	}
}

// returnBatch puts batch back in the mailbox in one transaction and tells
// the recipients' sessions, if they have any, that it holds messages for
// them.
func (h *Hub) returnBatch(batch []returnedMessage) {
	ctx, cancel := context.WithTimeout(h.returns.giveUp, h.cfg.DeliveryTimeout)
	defer cancel()
	msgs := make([]QueuedMessage, len(batch))
	for i, m := range batch {
		msgs[i] = m.QueuedMessage
	}
	refused, err := h.cfg.Store.QueueOfflineBatch(ctx, msgs, h.cfg.Mailbox.returned())
	if err != nil {
		outcomeLost.Add(float64(len(batch)))
		h.log.Error("messages lost: their connections dropped them and the mailbox refused them",
			"messages", len(batch), "err", err)
		return
	}
	returnedTo := make(map[uint32]bool, 1)
	for i, m := range batch {
		if h.countReturn(m.To, m.From, m.protocol, refused[i]) {
			returnedTo[m.To] = true
		}
	}
	for to := range returnedTo {
		h.nudgeMailbox(ctx, to)
	}
}

// countReturn counts and logs what became of a dropped message that the
// mailbox kept (err nil: true) or refused.
func (h *Hub) countReturn(to, from uint32, protocol string, err error) (returned bool) {
	if err != nil {
		outcomeLost.Inc()
		h.log.Error("message lost: its connection dropped it and the mailbox refused it",
			"account", to, "from", from, "protocol", protocol, "err", err)
		return false
	}
	outcomeReturned.Inc()
	h.warn("message returned to the mailbox: its connection dropped it", "account", to, "protocol", protocol)
	return true
}
