package testenv

import (
	"context"
	"testing"

	"github.com/crosstalk-im/crosstalk/hub"
)

// Next returns the next value of type T that events brings, skipping
// others; it fails the test when events closes or ctx ends first. It
// waits for the events of every client library.
func Next[T, E any](tb testing.TB, ctx context.Context, events <-chan E) T {
	tb.Helper()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				tb.Fatalf("events closed while waiting for %T", *new(T))
			}
			if v, ok := any(ev).(T); ok {
				return v
			}
		case <-ctx.Done():
			tb.Fatalf("no %T: %v", *new(T), ctx.Err())
		}
	}
}

// Peer is an account attached to the hub directly, as any frontend
// attaches its users, keeping the events it is sent: a user of "another
// protocol" for a frontend's tests.
type Peer struct {
	*hub.Session
	events chan hub.Event
}

// Attach attaches a to h as protocol "test"; it detaches when the test
// ends.
func Attach(tb testing.TB, h *hub.Hub, a hub.Account) *Peer {
	tb.Helper()
	p := &Peer{events: make(chan hub.Event, 256)}
	var err error
	if p.Session, err = h.Attach(context.Background(), a, "test", p); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Detach(context.Background()) })
	return p
}

// Deliver keeps an event; a full buffer refuses it, as a connection that
// cannot take more does.
func (p *Peer) Deliver(ev hub.Event) bool {
	select {
	case p.events <- ev:
		return true
	default:
		return false
	}
}

// Wait waits for an event of kind that satisfies ok.
func (p *Peer) Wait(tb testing.TB, ctx context.Context, kind hub.EventKind, ok func(hub.Event) bool) hub.Event {
	tb.Helper()
	for {
		select {
		case ev := <-p.events:
			if ev.Kind == kind && ok(ev) {
				return ev
			}
		case <-ctx.Done():
			tb.Fatalf("no %s event: %v", kind, ctx.Err())
		}
	}
}
