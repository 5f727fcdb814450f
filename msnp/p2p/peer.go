package p2p

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
)

// Peer is one side of the P2P exchange between two accounts in a
// switchboard: it numbers the messages it sends and reassembles the
// MSNSLP messages it receives. It is not safe for concurrent use.
type Peer struct {
	Local, Remote string // e-mail addresses
	// Source, when set, is written as the P2P-Src header of what the peer
	// sends: WLM 2009 (MSNP16+) names the sender there, as a bare e-mail
	// address in version 1; earlier clients had no such header.
	Source string
	next   uint32
	parts  map[uint32][]byte // SLP messages being reassembled, by identifier
}

// maxPartial bounds the SLP messages reassembled at once.
const maxPartial = 4

// NewPeer starts a peer whose identifiers start at a random base, as the
// official clients' do.
func NewPeer(local, remote string) *Peer {
	var b [4]byte
	rand.Read(b[:])
	return &Peer{Local: local, Remote: remote, next: binary.LittleEndian.Uint32(b[:])>>8 + 4}
}

// NextID returns the identifier of the next message this peer sends.
func (p *Peer) NextID() uint32 {
	p.next++
	return p.next
}

// Wrap returns the MSG payload that carries m to the remote peer.
func (p *Peer) Wrap(m Message) []byte {
	if p.Source == "" {
		return Payload(p.Remote, m)
	}
	return PayloadFrom(p.Source, p.Remote, m.Append(nil))
}

// SLPPayloads returns the MSG payloads that carry s to the remote peer.
func (p *Peer) SLPPayloads(s SLP) [][]byte {
	var out [][]byte
	Chunks(0, p.NextID(), 0, AppSLP, s.Marshal(), func(m Message) error {
		out = append(out, p.Wrap(m))
		return nil
	})
	return out
}

// AckPayload returns the MSG payload that acknowledges the complete
// message whose last chunk had header h.
func (p *Peer) AckPayload(h Header) []byte { return p.Wrap(AckFor(h, p.NextID())) }

// Errors of Receive.
var (
	ErrOutOfOrder = errors.New("p2p: chunk out of order")
	ErrTooMany    = errors.New("p2p: too many SLP messages in reassembly")
)

// ReceiveSLP takes a chunk of session 0 (MSNSLP). It returns the whole
// message text once its last chunk is in; chunks must come in order.
func (p *Peer) ReceiveSLP(m Message) (text []byte, complete bool, err error) {
	if m.TotalSize > MaxSLP {
		return nil, false, ErrBadSLP
	}
	if p.parts == nil {
		p.parts = make(map[uint32][]byte)
	}
	sofar, started := p.parts[m.ID]
	switch {
	case !started && m.Offset != 0, started && m.Offset != uint64(len(sofar)):
		delete(p.parts, m.ID)
		return nil, false, ErrOutOfOrder
	case !started && m.Complete():
		return m.Data, true, nil
	case !started && len(p.parts) >= maxPartial:
		return nil, false, ErrTooMany
	}
	sofar = append(sofar, m.Data...)
	if !m.Complete() {
		p.parts[m.ID] = sofar
		return nil, false, nil
	}
	delete(p.parts, m.ID)
	return sofar, true, nil
}
