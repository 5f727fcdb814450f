package hub

import (
	"context"
	"encoding/binary"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// relations caches how one account's lists treat another: every message
// and presence check asks, and the answer changes only when the owner
// edits their lists, which goes through this hub (Session.AddContact,
// RemoveContact, SetPrivacy). The node making a change forgets the owner's
// entries at once and tells the other nodes on relationsSubject to do the
// same. Entries also expire after relationTTL, which bounds how long a
// change made behind the hub's back (an account deleted from the command
// line) can go unseen.
type relations struct {
	sub *nats.Subscription
	// logins keeps the store's login records current (startLogins): the
	// other cache that nodes keep of what the database holds.
	logins *nats.Subscription

	mu      sync.Mutex
	owners  map[uint32]map[uint32]cachedRelation
	entries int
	// epoch counts invalidations: a lookup that raced one does not cache
	// what it read, which may be from before the change.
	epoch uint64
}

type cachedRelation struct {
	rel     Relation
	expires time.Time
}

const (
	relationsSubject = "ct.relations"
	relationTTL      = 30 * time.Second
	// maxCachedRelations bounds the cache (about 60 bytes an entry).
	maxCachedRelations = 200_000
)

func (h *Hub) startRelations() error {
	r := &h.relations
	r.owners = make(map[uint32]map[uint32]cachedRelation)
	sub, err := h.cfg.Conn.Subscribe(relationsSubject, func(m *nats.Msg) {
		if len(m.Data) == 4 {
			r.forget(binary.BigEndian.Uint32(m.Data))
		}
	})
	r.sub = sub
	if err != nil {
		return err
	}
	if r.logins, err = h.startLogins(); err != nil {
		_ = sub.Unsubscribe()
	}
	return err
}

// unsubscribe ends what startRelations subscribed to.
func (r *relations) unsubscribe() {
	_ = r.sub.Unsubscribe()
	if r.logins != nil {
		_ = r.logins.Unsubscribe()
	}
}

// relation reads how owner's lists treat contact, from the cache when it
// can.
func (h *Hub) relation(ctx context.Context, owner, contact uint32) (Relation, error) {
	return h.relationAt(ctx, owner, contact, time.Now())
}

// relationAt is relation for a caller that read the clock just now: a
// message reads it once.
func (h *Hub) relationAt(ctx context.Context, owner, contact uint32, now time.Time) (Relation, error) {
	r := &h.relations
	r.mu.Lock()
	c, ok := r.owners[owner][contact]
	epoch := r.epoch
	r.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.rel, nil
	}
	rel, err := h.cfg.Store.Relation(ctx, owner, contact)
	if err != nil {
		return rel, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epoch != epoch {
		return rel, nil
	}
	if r.entries >= maxCachedRelations {
		for o, m := range r.owners { // a random owner's entries make room
			r.entries -= len(m)
			delete(r.owners, o)
			break
		}
	}
	m := r.owners[owner]
	if m == nil {
		m = make(map[uint32]cachedRelation)
		r.owners[owner] = m
	}
	if _, had := m[contact]; !had {
		r.entries++
	}
	m[contact] = cachedRelation{rel: rel, expires: now.Add(relationTTL)}
	return rel, nil
}

// listsChanged forgets what this node and every other knew of owner's
// lists, and tells owner's sessions but the one that made the change.
func (h *Hub) listsChanged(owner uint32, by string) {
	h.relations.forget(owner)
	if err := h.cfg.Conn.Publish(relationsSubject, binary.BigEndian.AppendUint32(nil, owner)); err != nil {
		h.warn("tell other nodes of a list change", "owner", owner, "err", err)
	}
	h.publish(owner, Event{Kind: EventListsChanged, Session: by})
}

func (r *relations) forget(owner uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.epoch++
	r.entries -= len(r.owners[owner])
	delete(r.owners, owner)
}
