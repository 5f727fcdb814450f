package server

import (
	"context"
	"sync"

	"github.com/crosstalk-im/crosstalk/hub"
)

// A drive file from a member of another protocol reaches an MSN client as
// an offer "from" that member in a switchboard, and MSN clients tie both
// to the member's presence: MSNPSharp 3.2.1 leaves a switchboard (OUT) the
// moment it sees FLN for its only other member, drops that contact's P2P
// sessions, and opens none for a contact it sees offline. GG users sign
// off right after uploading (`crosstalk gg send-file` does), so such
// files never arrived. While an offer is under way the server therefore
// keeps its sender online toward that one receiving connection: an
// offline notice for them waits until the offer ends, and a sender the
// receiver sees offline is shown online first. No one else's view
// changes, and the receiver hears the truth as soon as the offer ends.
// Waiting for the sender to come back (maybe days later, when the
// receiver may be gone) or sending a download link instead (no transfer
// window, and only where a public URL is set) would serve users worse.

// offerSenders are the senders of the files being offered to one client.
type offerSenders struct {
	mu sync.Mutex // held while deciding on and queueing presence commands, which keeps them in order
	by map[uint32]*offerSender
}

type offerSender struct {
	offers int           // offers under way from this contact
	shown  bool          // shown online though the receiver saw them offline
	held   *hub.Presence // the offline notice that waits for the offers to end
}

// holdSender keeps from online toward the client until the returned
// function is called (when the offer ends).
func (n *nsConn) holdSender(ctx context.Context, from hub.Account) (release func()) {
	s := &n.senders
	s.mu.Lock()
	if s.by == nil {
		s.by = make(map[uint32]*offerSender)
	}
	h := s.by[from.Number]
	if h == nil {
		h = &offerSender{}
		s.by[from.Number] = h
	}
	h.offers++
	s.mu.Unlock()

	// Read after the hold is in place: an offline notice from now on waits,
	// so an earlier one has been sent and the client sees them offline.
	if n.online() && n.seesOffline(ctx, from) {
		s.mu.Lock()
		if h.held == nil && !h.shown {
			h.shown = true
			n.sendPresenceCaps("", hub.Presence{Contact: from, Status: hub.StatusOnline}, n.srv.standInCaps())
			n.log().Info("file offer: the sender is shown online to the receiver until it ends", "from", from.Number)
		}
		s.mu.Unlock()
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if h.offers--; h.offers > 0 {
			return
		}
		delete(s.by, from.Number)
		switch {
		case h.held != nil:
			n.sendPresence("", *h.held)
		case h.shown:
			n.sendPresence("", hub.Presence{Contact: from, Status: hub.StatusOffline})
		}
	}
}

// seesOffline reports whether the client has from on its forward list
// (without it the client has no presence of theirs to mind) and sees them
// offline.
func (n *nsConn) seesOffline(ctx context.Context, from hub.Account) bool {
	me := n.sess()
	r, err := me.Roster(ctx)
	if err != nil || !r.On(hub.Forward, from.Number) {
		return false
	}
	st, _, err := n.srv.cfg.Hub.VisiblePresence(ctx, me.Account().Number, from.Number)
	return err == nil && st == hub.StatusOffline
}

// presenceChanged sends a contact's new presence, unless it is an offline
// notice for the sender of an offer under way, which waits for its end.
func (n *nsConn) presenceChanged(p hub.Presence) bool {
	s := &n.senders
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.by[p.Contact.Number]; h != nil {
		if p.Status.Visible() == hub.StatusOffline {
			h.held = &p
			return true
		}
		h.held, h.shown = nil, false // the truth again
	}
	return n.sendPresence("", p)
}
