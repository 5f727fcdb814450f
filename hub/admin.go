package hub

import (
	"cmp"
	"context"
	"net"
	"slices"
)

// Addressed is what an Endpoint implements to have its client's address
// shown with its session (OnlineSessions); frontends over a connection do.
type Addressed interface {
	RemoteAddr() net.Addr
}

// OnlineSession is one session as the presence directory shows it, on
// whichever node holds it.
type OnlineSession struct {
	Account  uint32
	ID       string
	Protocol string
	Node     string
	// Addr is the client's address as its node saw it; empty when the
	// frontend has none.
	Addr   string
	Status Status
}

// OnlineSessions lists every session of every node that has set its presence,
// as this node's replica shows them, ordered by account and protocol.
func (h *Hub) OnlineSessions() []OnlineSession {
	d := &h.directory
	d.mu.RLock()
	var out []OnlineSession
	for number, r := range d.records {
		for _, sp := range r.rec.Sessions {
			out = append(out, OnlineSession{Account: number, ID: sp.ID, Protocol: sp.Protocol, Node: sp.Node, Addr: sp.Addr, Status: sp.Status})
		}
	}
	d.mu.RUnlock()
	slices.SortFunc(out, func(a, b OnlineSession) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Kick ends one session of an account, on whichever node holds it (an
// operator's kick, KickOperator). ErrNotFound when the directory knows no
// such session.
func (h *Hub) Kick(ctx context.Context, number uint32, id string) error {
	rec, _ := h.directory.record(number)
	sp, ok := rec.session(id)
	if !ok {
		return ErrNotFound
	}
	h.publishTo(number, Event{Kind: EventKick, Protocol: sp.Protocol, Session: id, Reason: KickOperator}, []string{sp.Node}, nil, "")
	return nil
}

// KickAll ends every session of an account (a disabled one, say): those
// the directory shows, on every node, and this node's that have not set
// their presence yet. A login that attaches after it is refused by Attach
// once the store has the account disabled.
func (h *Hub) KickAll(ctx context.Context, number uint32, reason KickReason) {
	h.KickProtocol(ctx, number, "", reason)
}

// KickProtocol ends an account's sessions of one protocol, as KickAll
// ends all of them ("" is every protocol): the web's sign-out ends the
// web chat's.
func (h *Hub) KickProtocol(ctx context.Context, number uint32, protocol string, reason KickReason) {
	rec, _ := h.directory.record(number)
	h.mu.RLock()
	local := h.users.appendOf(nil, number)
	h.mu.RUnlock()
	for _, s := range local {
		if protocol == "" || s.protocol == protocol {
			h.enqueue(envelope{to: number, ev: Event{Kind: EventKick, Protocol: s.protocol, Session: s.id, Reason: reason}})
		}
	}
	for _, sp := range rec.Sessions {
		if sp.Node != h.cfg.Node && (protocol == "" || sp.Protocol == protocol) {
			h.publishTo(number, Event{Kind: EventKick, Protocol: sp.Protocol, Session: sp.ID, Reason: reason}, []string{sp.Node}, nil, "")
		}
	}
}
