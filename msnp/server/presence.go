package server

import (
	"context"
	"strconv"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// What an MSNP8+ client says about itself beyond the hub's status and
// text: capabilities, display picture, personal status. Other MSN clients
// on this node read it from the connection (see Server.clients).
type msnExtras struct {
	caps     string // client-capabilities number, as sent
	msnobj   string // %-encoded MSN object as sent, "" for none
	personal wire.PersonalStatus
}

func (s *Server) addClient(number uint32, n *nsConn) {
	s.mu.Lock()
	s.clients[number] = n
	s.mu.Unlock()
}

func (s *Server) removeClient(number uint32, n *nsConn) {
	s.mu.Lock()
	if s.clients[number] == n {
		delete(s.clients, number)
	}
	s.mu.Unlock()
}

// client returns the account's notification connection on this node.
func (s *Server) client(number uint32) *nsConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients[number]
}

// extrasOf returns what the account's MSN client said about itself; ok is
// false when it is not signed in through MSN here.
func (s *Server) extrasOf(number uint32) (x msnExtras, ok bool) {
	n := s.client(number)
	if n == nil {
		return msnExtras{}, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.extras, true
}

// dialectOf is the dialect of the account's MSN client on this node, 0 when
// there is none. A connection's dialect is fixed before it is registered.
func (s *Server) dialectOf(number uint32) int {
	if n := s.client(number); n != nil {
		return n.dialect
	}
	return 0
}

// capsOf is the capabilities number shown for an account: its MSN client's,
// or 0 for someone on another protocol (no MSNSLP, so clients fall back to
// the invitations the server translates).
func (s *Server) capsOf(number uint32) string {
	if x, ok := s.extrasOf(number); ok && x.caps != "" {
		return x.caps
	}
	return "0"
}

// sendPresence tells the client a contact's status in its dialect's form:
// ILN (initial, with the CHG's trid) or NLN, then for MSNP11+ the UBX
// personal status; FLN when the contact is offline.
func (n *nsConn) sendPresence(iln string, p hub.Presence) bool {
	email := p.Contact.Email
	code, online := statusCode(p.Status)
	if !online {
		return n.send("FLN", email)
	}
	args := make([]string, 0, 6)
	if iln != "" {
		args = append(args, iln)
	}
	args = append(args, code, email, wire.EncodeName(p.Contact.DisplayName))
	x, _ := n.srv.extrasOf(p.Contact.Number)
	if clientCaps(n.dialect) {
		args = append(args, n.srv.capsOf(p.Contact.Number))
	}
	if msnObjects(n.dialect) && x.msnobj != "" {
		args = append(args, x.msnobj)
	}
	name := "NLN"
	if iln != "" {
		name = "ILN"
	}
	ok := n.send(name, args...)
	if personalStatus(n.dialect) {
		ps := x.personal
		if ps.PSM == "" && wire.MediaText(ps.CurrentMedia) != p.Text {
			ps.PSM = p.Text // a status text from another protocol
		}
		ps.MachineGUID = ""
		n.sendPayload("UBX", wire.AppendUBX(nil, ps), email)
	}
	return ok
}

// handleCHG sets the status; MSNP8+ add the capabilities and MSNP9+ the
// MSN object, which contacts see in ILN/NLN. The first CHG brings the
// contacts' presence and what waits in the mailbox.
func (n *nsConn) handleCHG(ctx context.Context, cmd wire.Command) error {
	st, ok := statusCodes[cmd.Arg(1)]
	if !ok {
		return errCode(errInvalidParameter)
	}
	trid := cmd.Args[0]
	echo := cmd.Args[:2]
	if clientCaps(n.dialect) {
		caps := cmd.Arg(2)
		if _, err := strconv.ParseUint(caps, 10, 32); err != nil && caps != "" {
			return errCode(errInvalidParameter)
		}
		obj := cmd.Arg(3)
		if obj == "0" || !msnObjects(n.dialect) {
			obj = ""
		}
		if obj != "" {
			if _, err := wire.ParseMSNObject(obj); err != nil {
				return errCode(errInvalidParameter)
			}
		}
		echo = cmd.Args[:min(len(cmd.Args), 4)]
		n.mu.Lock()
		n.extras.caps, n.extras.msnobj = caps, obj
		n.mu.Unlock()
	}
	n.mu.Lock()
	n.status = st
	text := n.statusText
	n.mu.Unlock()
	// Contacts are told before the echo, so a client that sees its CHG
	// answered knows they were.
	if err := n.sess().SetPresence(ctx, st, text); err != nil {
		return err
	}
	n.send("CHG", echo...)
	if n.sentILN {
		return nil
	}
	n.sentILN = true
	online, err := n.sess().OnlineContacts(ctx)
	if err != nil {
		return err
	}
	for _, p := range online {
		n.sendPresence(trid, p)
	}
	// MSNP had no offline messages; what others left arrives as chats.
	return n.deliverOffline(ctx)
}

// handleUUX sets the personal message and current media (MSNP11+). Other
// protocols show the personal message, or what is playing, as the status
// text.
func (n *nsConn) handleUUX(ctx context.Context, cmd wire.Command) error {
	if !personalStatus(n.dialect) {
		return errCode(errSyntax)
	}
	root, ps, err := wire.ParseUUX(cmd.Payload)
	if err != nil || len(ps.PSM)+len(ps.CurrentMedia) > n.srv.cfg.MaxPersonalStatus {
		return errCode(errInvalidParameter)
	}
	if root != "Data" {
		// MSNP16+ endpoint data: nothing to keep before MPOP exists.
		n.send("UUX", cmd.Args[0], "0")
		return nil
	}
	text := ps.PSM
	if text == "" {
		text = wire.MediaText(ps.CurrentMedia)
	}
	n.mu.Lock()
	n.extras.personal = ps
	n.statusText = text
	st := n.status
	n.mu.Unlock()
	if st != "" {
		if err := n.sess().SetPresence(ctx, st, text); err != nil {
			return err
		}
	}
	n.send("UUX", cmd.Args[0], "0")
	return nil
}

// shieldsConfig is the GCF Shields.xml MSN 7 asks for: an empty policy
// that denies no client version.
const shieldsConfig = `<?xml version="1.0" encoding="utf-8" ?><config><shield><cli maj="7" min="0" minbld="0" maxbld="9999" deny=" " /></shield><block></block></config>`

// handleGCF answers MSN 7's request for its configuration file.
func (n *nsConn) handleGCF(_ context.Context, cmd wire.Command) error {
	if !personalStatus(n.dialect) || cmd.Arg(1) == "" {
		return errCode(errSyntax)
	}
	n.sendPayload("GCF", []byte(shieldsConfig), cmd.Args[0], cmd.Args[1])
	return nil
}
