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

// Deliver passes ev to deliver once the gate is open, in arrival order.
// deliver must only queue output: it runs under the gate's lock.
func (g *Gate) Deliver(ev hub.Event, deliver func(hub.Event)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		g.held = append(g.held, ev)
		return
	}
	deliver(ev)
}

// Open hands over the events held so far and lets later ones through.
func (g *Gate) Open(deliver func(hub.Event)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, ev := range g.held {
		deliver(ev)
	}
	g.held, g.open = nil, true
}
