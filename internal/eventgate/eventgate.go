// Package eventgate holds the hub events that reach a connection between
// its attaching to the hub and the client being told it is logged in:
// clients drop a session that gets a message or a presence change before
// their login reply.
package eventgate

import (
	"sync"

	"github.com/crosstalk-im/crosstalk/hub"
)

// Gate is closed until Open; the zero value is ready to use.
type Gate struct {
	mu   sync.Mutex
	open bool
	held []hub.Event
}

// MaxHeld bounds the events held for one connection: a login takes a few
// round trips to the store, and a flood of events meanwhile is refused
// rather than kept without end.
const MaxHeld = 1024

// Deliver passes ev to deliver once the gate is open, in arrival order,
// and reports whether it was taken (held counts as taken). deliver must
// only queue output: it runs under the gate's lock.
func (g *Gate) Deliver(ev hub.Event, deliver func(hub.Event) bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		if len(g.held) >= MaxHeld {
			return false
		}
		ev.Batch = nil // the sender's batch ends long before the gate opens
		g.held = append(g.held, ev)
		return true
	}
	return deliver(ev)
}

// Open hands over the events held so far and lets later ones through.
// A held message that the connection cannot take after all goes to
// undelivered.
func (g *Gate) Open(deliver func(hub.Event) bool, undelivered func(hub.Event)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, ev := range g.held {
		if !deliver(ev) && ev.Kind == hub.EventMessage && ev.Message != nil {
			undelivered(ev)
		}
	}
	g.held, g.open = nil, true
}

// Discard gives the held messages of a connection that closes before it
// opened to undelivered, so that none is lost with it.
func (g *Gate) Discard(undelivered func(hub.Event)) {
	g.Open(func(hub.Event) bool { return false }, undelivered)
}
