package hub

import (
	"encoding/binary"

	"github.com/nats-io/nats.go"
)

// loginsSubject carries the numbers of accounts whose login record a node
// changed (password, display name, disabled, deletion), for every node to
// forget what its store keeps of it.
const loginsSubject = "ct.logins"

// loginCache is what a store that keeps login records offers (the store
// package's do): a function told of every change it makes, and a way to
// forget another node's.
type loginCache interface {
	OnLoginChange(changed func(number uint32))
	ForgetLogin(number uint32)
}

// startLogins keeps the store's login records current across nodes: what
// it changes is told to every node, and what any node changed is
// forgotten. Until the word arrives, a node may let an account log in as
// it was a moment before. Nil for a store that keeps none.
func (h *Hub) startLogins() (*nats.Subscription, error) {
	lc, ok := h.cfg.Store.(loginCache)
	if !ok {
		return nil, nil
	}
	sub, err := h.cfg.Conn.Subscribe(loginsSubject, func(m *nats.Msg) {
		if len(m.Data) == 4 {
			lc.ForgetLogin(binary.BigEndian.Uint32(m.Data))
		}
	})
	if err != nil {
		return nil, err
	}
	lc.OnLoginChange(func(number uint32) {
		if err := h.cfg.Conn.Publish(loginsSubject, binary.BigEndian.AppendUint32(nil, number)); err != nil {
			h.warn("tell other nodes of a login change", "account", number, "err", err)
		}
	})
	return sub, nil
}
