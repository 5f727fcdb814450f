package server

import (
	"context"
	"strconv"
	"strings"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// What an MSNP8+ client says about itself beyond the hub's status and
// text: capabilities, display picture, personal status. It travels with
// the session's presence (hub.Session.SetDetails), so MSN clients on every
// node read it.
type msnExtras struct {
	dialect  int
	caps     string // client-capabilities number (MSNP16+ caps:extcaps), as sent
	msnobj   string // %-encoded MSN object as sent, "" for none
	personal wire.PersonalStatus
	// guid names an MSNP16+ endpoint (its machine GUID), epName is the
	// name it gave itself in PrivateEndpointData.
	guid, epName string
}

// encode writes the extras as space-separated %-encoded fields.
func (x msnExtras) encode() string {
	return strings.Join([]string{strconv.Itoa(x.dialect), wire.EncodeName(x.caps), wire.EncodeName(x.msnobj),
		wire.EncodeName(x.personal.PSM), wire.EncodeName(x.personal.CurrentMedia),
		wire.EncodeName(x.guid), wire.EncodeName(x.epName)}, " ")
}

func decodeExtras(s string) msnExtras {
	f := strings.Split(s, " ")
	if len(f) != 7 {
		return msnExtras{}
	}
	d, _ := strconv.Atoi(f[0])
	return msnExtras{dialect: d, caps: wire.DecodeName(f[1]), msnobj: wire.DecodeName(f[2]),
		personal: wire.PersonalStatus{PSM: wire.DecodeName(f[3]), CurrentMedia: wire.DecodeName(f[4])},
		guid:     wire.DecodeName(f[5]), epName: wire.DecodeName(f[6])}
}

// extrasOf returns what the account's MSN client said about itself; the
// zero value when it is not signed in through MSN or said nothing.
func (s *Server) extrasOf(number uint32) msnExtras {
	return decodeExtras(s.cfg.Hub.Details(number, protocolName))
}

// capsOf is the capabilities number shown for an account: its MSN client's
// ("0" for MSNP2–7 clients, which say none); for someone online only
// through another protocol remoteCaps when the server takes files for them
// over MSNSLP, else 0 (clients fall back to the invitations the server
// translates).
func (s *Server) capsOf(number uint32) string {
	if x := s.extrasOf(number); x.caps != "" {
		return x.caps
	}
	sessions, _ := s.cfg.Hub.Sessions(context.Background(), number)
	if _, onMSN := sessions[protocolName]; !onMSN && len(sessions) > 0 {
		return s.standInCaps()
	}
	return "0"
}

// standInCaps is the capabilities number of a contact the server stands
// in for in switchboards: remoteCaps when it can take their files.
func (s *Server) standInCaps() string {
	if s.cfg.Files != nil {
		return remoteCaps
	}
	return "0"
}

// setExtras records a change of what the client says about itself; it
// goes out with the next SetPresence.
func (n *nsConn) setExtras(change func(*msnExtras)) {
	n.mu.Lock()
	if n.extras == nil {
		n.extras = new(msnExtras)
	}
	change(n.extras)
	n.extras.dialect = n.dialect
	n.extras.guid = n.machineGUID
	x := *n.extras
	n.mu.Unlock()
	n.sess().SetDetails(x.encode())
}

// sendPresence tells the client a contact's status in its dialect's form:
// ILN (initial, with the CHG's trid) or NLN, then for MSNP11+ the UBX
// personal status; FLN when the contact is offline.
func (n *nsConn) sendPresence(iln string, p hub.Presence) bool {
	return n.sendPresenceCaps(iln, p, n.srv.capsOf(p.Contact.Number))
}

// sendPresenceCaps is sendPresence showing the capabilities caps.
func (n *nsConn) sendPresenceCaps(iln string, p hub.Presence, caps string) bool {
	email := p.Contact.Email
	code, online := statusCode(p.Status)
	if !online {
		args := n.handleArgs(email)
		switch {
		case endpoints(n.dialect):
			args = append(args, "0:0")
		case networkIDs(n.dialect):
			args = append(args, "0")
		}
		return n.send("FLN", args...)
	}
	if handles(n.dialect) {
		iln = "" // MSNP18 clients read the initial presence from NLN only
	}
	args := make([]string, 0, 7)
	if iln != "" {
		args = append(args, iln)
	}
	args = append(append(args, code), n.handleArgs(email)...)
	args = append(args, wire.EncodeName(p.Contact.DisplayName))
	x := n.srv.extrasOf(p.Contact.Number)
	if clientCaps(n.dialect) {
		args = append(args, capsFor(n.dialect, caps))
	}
	switch {
	case msnObjects(n.dialect) && x.msnobj != "":
		args = append(args, x.msnobj)
	case addressBook(n.dialect):
		args = append(args, "0")
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
		payload := wire.AppendUBX(nil, ps)
		if endpoints(n.dialect) {
			payload = append(n.appendEndpoints(payload[:len(payload)-len("</Data>")], p.Contact.Number, false), "</Data>"...)
		}
		n.sendPayload("UBX", payload, n.handleArgs(email)...)
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
		if caps != "" && !validCaps(n.dialect, caps) {
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
		n.setExtras(func(x *msnExtras) { x.caps, x.msnobj = caps, obj })
	}
	n.mu.Lock()
	n.status = st
	text := n.statusText
	n.mu.Unlock()
	// Contacts are told before the echo, so a client that sees its CHG
	// answered knows they were. The first CHG also brings the contacts
	// online now (ILN), sent after the echo.
	var online []hub.Presence
	var err error
	if n.signedIn {
		err = n.sess().SetPresence(ctx, st, text)
	} else {
		var read *hub.Roster
		if n.login != nil {
			read, n.login = n.login.roster, nil
		}
		_, online, err = n.sess().SignIn(ctx, st, text, read)
	}
	if err != nil {
		return err
	}
	n.send("CHG", echo...)
	n.announceEndpoints(n.sess(), true)
	if n.signedIn {
		return nil
	}
	for _, p := range online {
		n.sendPresence(trid, p)
	}
	n.mu.Lock()
	n.signedIn = true
	n.mu.Unlock()
	return n.deliverOffline(ctx, true)
}

// handleUUX sets the personal message and current media (MSNP11+). Other
// protocols show the personal message, or what is playing, as the status
// text.
func (n *nsConn) handleUUX(ctx context.Context, cmd wire.Command) error {
	if !personalStatus(n.dialect) {
		return errCode(errSyntax)
	}
	root, ps, ep, err := wire.ParseUUX(cmd.Payload)
	if err != nil || len(ps.PSM)+len(ps.CurrentMedia) > n.srv.cfg.MaxPersonalStatus || len(ep.Name) > n.srv.cfg.MaxPersonalStatus {
		return errCode(errInvalidParameter)
	}
	switch {
	case root == "Data":
	case !endpoints(n.dialect):
		// Endpoint data before MSNP16 (WLM betas): nothing to show.
		n.send("UUX", cmd.Args[0], "0")
		return nil
	case root == "EndpointData":
		if ep.Capabilities != "" && !validCaps(n.dialect, ep.Capabilities) {
			return errCode(errInvalidParameter)
		}
		if ep.Capabilities != "" {
			n.setExtras(func(x *msnExtras) { x.caps = ep.Capabilities })
		}
		return n.endpointChanged(ctx, cmd.Args[0])
	case root == "PrivateEndpointData":
		n.setExtras(func(x *msnExtras) { x.epName = ep.Name })
		return n.endpointChanged(ctx, cmd.Args[0])
	default:
		n.send("UUX", cmd.Args[0], "0")
		return nil
	}
	text := ps.PSM
	if text == "" {
		text = wire.MediaText(ps.CurrentMedia)
	}
	n.setExtras(func(x *msnExtras) { x.personal = ps })
	n.mu.Lock()
	n.statusText = text
	st := n.status
	n.mu.Unlock()
	if st != "" {
		if err := n.sess().SetPresence(ctx, st, text); err != nil {
			return err
		}
	}
	n.send("UUX", cmd.Args[0], "0")
	n.announceEndpoints(n.sess(), st != "")
	return nil
}

// endpointChanged answers an MSNP16+ UUX of endpoint data: once the client
// is online the change goes out with its presence, and its other endpoints
// hear of it.
func (n *nsConn) endpointChanged(ctx context.Context, trid string) error {
	n.mu.Lock()
	st, text := n.status, n.statusText
	n.mu.Unlock()
	if st != "" {
		if err := n.sess().SetPresence(ctx, st, text); err != nil {
			return err
		}
	}
	n.send("UUX", trid, "0")
	n.announceEndpoints(n.sess(), st != "")
	return nil
}

// shieldsPolicy denies no client version; shieldsConfig is it as the GCF
// Shields.xml file MSN 7 asks for.
const (
	shieldsPolicy = `<config><shield><cli maj="7" min="0" minbld="0" maxbld="9999" deny=" " /></shield><block></block></config>`
	shieldsConfig = `<?xml version="1.0" encoding="utf-8" ?>` + shieldsPolicy
)

// handleGCF answers MSN 7's request for its configuration file.
func (n *nsConn) handleGCF(_ context.Context, cmd wire.Command) error {
	if !personalStatus(n.dialect) || cmd.Arg(1) == "" {
		return errCode(errSyntax)
	}
	n.sendPayload("GCF", []byte(shieldsConfig), cmd.Args[0], cmd.Args[1])
	return nil
}
