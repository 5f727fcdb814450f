package server

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/abch"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// The notification server's part of MSNP13 and later (spec msnp8-18 §3b,
// §4): the lists come from the address book over SOAP (abservice.go), and
// the client tells the server which contacts it has with ADL; contacts are
// written by handle (network:email) from MSNP18, and MSNP16+ clients are
// signed in from several endpoints at once.

// handleArgs writes a contact in the dialect's form: email (to MSNP13),
// email 1 (MSNP14–17: the network follows), 1:email (MSNP18).
func (n *nsConn) handleArgs(email string) []string {
	switch {
	case handles(n.dialect):
		return []string{strconv.Itoa(wire.NetworkMSN) + ":" + email}
	case networkIDs(n.dialect):
		return []string{email, strconv.Itoa(wire.NetworkMSN)}
	}
	return []string{email}
}

var machineGUIDPattern = regexp.MustCompile(`^\{?([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})\}?$`)

// parseMachineGUID reads an endpoint's machine GUID from USR SSO S: WLM
// 2009 writes it in braces, Pidgin without. It is kept in braces, as UBX
// and the switchboard write it (email;{guid}).
func parseMachineGUID(s string) (string, bool) {
	m := machineGUIDPattern.FindStringSubmatch(s)
	if m == nil || strings.HasPrefix(s, "{") != strings.HasSuffix(s, "}") {
		return "", false
	}
	return "{" + m[1] + "}", true
}

// capsFor writes a capabilities value for dialect d: MSNP16+ want
// caps:extcaps, earlier dialects the first number only.
func capsFor(d int, caps string) string {
	base, ext, found := strings.Cut(caps, ":")
	switch {
	case !endpoints(d):
		return base
	case !found:
		return base + ":0"
	}
	return base + ":" + ext
}

// validCaps accepts caps, or caps:extcaps from MSNP16, as decimal numbers.
func validCaps(d int, caps string) bool {
	base, ext, found := strings.Cut(caps, ":")
	if found && !endpoints(d) {
		return false
	}
	if _, err := strconv.ParseUint(base, 10, 32); err != nil {
		return false
	}
	if found {
		_, err := strconv.ParseUint(ext, 10, 32)
		return err == nil
	}
	return true
}

// policies is the GCF configuration MSNP13+ clients are sent before USR …
// S: the Shields policy MSN 7 asked for, and an address book that pushes.
// One document, so without the Shields file's XML declaration inside it,
// which XML parsers such as .NET's (MSNPSharp) refuse.
const policies = `<Policies><Policy type="SHIELDS">` + shieldsPolicy + `</Policy>` +
	`<Policy type="ABCH"><policy><set id="push">on</set><set id="delaysup">off</set><set id="hotmail">off</set><set id="gtc">off</set><set id="loadonstartup">on</set></policy></Policy></Policies>`

func (n *nsConn) sendPolicies() { n.sendPayload("GCF", []byte(policies), "0") }

// errUnknownContact (241) answers an ADL naming an address without an
// account.
const errUnknownContact = 241

// readML decodes the payload of ADL, RML or FQY (MSNP13+).
func (n *nsConn) readML(cmd wire.Command) (wire.ML, error) {
	if !addressBook(n.dialect) {
		return wire.ML{}, errCode(errSyntax)
	}
	ml, err := wire.ParseML(cmd.Payload)
	if err != nil {
		// As the service did: a client that sends garbage lists is gone.
		return ml, fatalCode(errInvalidParameter)
	}
	return ml, nil
}

// editableLists are the ADL/RML bits a client may change; the reverse and
// pending lists follow what others do.
var editableLists = []struct {
	bit  int
	list hub.List
}{{wire.ListForward, hub.Forward}, {wire.ListAllow, hub.Allow}, {wire.ListBlock, hub.Block}}

// handleADL adds contacts to lists. The initial dump (ml l="1") repeats
// the address book the client just loaded, which the server already
// holds: it is checked and acknowledged.
func (n *nsConn) handleADL(ctx context.Context, cmd wire.Command) error {
	ml, err := n.readML(cmd)
	if err != nil || ml.Initial {
		if err == nil {
			n.send("ADL", cmd.Args[0], "OK")
		}
		return err
	}
	var show []hub.Account // forward-list contacts, whose presence follows
	for _, c := range ml.Contacts {
		if c.Network > wire.NetworkMSN {
			continue // Yahoo! and other networks have no accounts here
		}
		contact, err := n.lookupContact(ctx, c.Email)
		if isCode(err, errInvalidUser) {
			return errCode(errUnknownContact)
		}
		if err != nil {
			return err
		}
		for _, e := range editableLists {
			if c.Lists&e.bit == 0 {
				continue
			}
			group := -1
			if e.list == hub.Forward {
				group = 0
			}
			_, _, err := n.sess().AddContact(ctx, e.list, contact.Number, group)
			if err != nil && !errors.Is(err, hub.ErrAlreadyOnList) {
				return listError(err)
			}
			if e.list == hub.Forward {
				show = append(show, contact)
			}
		}
	}
	n.send("ADL", cmd.Args[0], "OK")
	if !n.online() {
		return nil // the first CHG brings it
	}
	// Also for a contact the address book added just before: the client
	// learns its presence from this ADL.
	for _, contact := range show {
		if err := n.showContact(ctx, contact); err != nil {
			return err
		}
	}
	return nil
}

// showContact sends a contact's presence if it is visible.
func (n *nsConn) showContact(ctx context.Context, contact hub.Account) error {
	st, text, err := n.srv.cfg.Hub.VisiblePresence(ctx, n.sess().Account().Number, contact.Number)
	if err != nil || st == hub.StatusOffline {
		return err
	}
	n.sendPresence("", hub.Presence{Contact: contact, Status: st, Text: text})
	return nil
}

// handleRML takes contacts off lists; one not on a list is no error.
func (n *nsConn) handleRML(ctx context.Context, cmd wire.Command) error {
	ml, err := n.readML(cmd)
	if err != nil {
		return err
	}
	for _, c := range ml.Contacts {
		contact, err := n.lookupContact(ctx, c.Email)
		if isCode(err, errInvalidUser) {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range editableLists {
			if c.Lists&e.bit == 0 {
				continue
			}
			if _, err := n.sess().RemoveContact(ctx, e.list, contact.Number, -1); err != nil && !errors.Is(err, hub.ErrNotOnList) {
				return listError(err)
			}
		}
	}
	n.send("RML", cmd.Args[0], "OK")
	return nil
}

// handleFQY (MSNP14+) asks which network addresses are on: the answer
// names those with an account here, without a network, which both clients
// that use it read as Windows Live: Pidgin takes a missing t as Passport,
// and MSNPSharp adds an address whose answer has any t other than 0 anew
// as a contact of that network, with another FQY, without end.
func (n *nsConn) handleFQY(ctx context.Context, cmd wire.Command) error {
	if !networkIDs(n.dialect) {
		return errCode(errSyntax)
	}
	ml, err := n.readML(cmd)
	if err != nil {
		return err
	}
	var found wire.ML
	for _, c := range ml.Contacts {
		if _, err := n.lookupContact(ctx, c.Email); err == nil {
			found.Contacts = append(found.Contacts, wire.MLContact{Email: strings.ToLower(c.Email)})
		} else if !isCode(err, errInvalidUser) && !isCode(err, errInvalidParameter) {
			return err
		}
	}
	n.sendPayload("FQY", wire.AppendML(nil, found), cmd.Args[0])
	return nil
}

// Notification kinds the MSN frontend sends itself over the hub.
const (
	// notifyUBN carries a UUN to the recipient's clients: "email type\n"
	// then the payload.
	notifyUBN = "msnp/ubn"
	// notifyEndpoints tells an account's MSNP16+ clients that its set of
	// endpoints changed, so they show the others.
	notifyEndpoints = "msnp/endpoints"
	// notifyOIMsDeleted tells an account's MSNP11+ clients how many of its
	// offline messages one of them deleted at the offline-IM service.
	notifyOIMsDeleted = "msnp/oims-deleted"
)

// handleUUN passes a notification to a contact's clients (MSNP13+: P2P
// bootstrap, an endpoint signing another out), delivered as UBN.
func (n *nsConn) handleUUN(ctx context.Context, cmd wire.Command) error {
	if !addressBook(n.dialect) || len(cmd.Args) < 4 {
		return errCode(errSyntax)
	}
	email := cmd.Args[1]
	if _, rest, ok := strings.Cut(email, ":"); ok {
		email = rest // MSNP18 handle
	}
	email, _, _ = strings.Cut(email, ";") // an endpoint
	kind := cmd.Args[2]
	if _, err := strconv.Atoi(kind); err != nil {
		return errCode(errInvalidParameter)
	}
	contact, err := n.lookupContact(ctx, email)
	if err != nil {
		return err
	}
	me := n.sess().Account()
	if contact.Number != me.Number {
		if err := n.srv.cfg.Hub.CanReach(ctx, me, contact.Number); errors.Is(err, hub.ErrUnreachable) {
			return errCode(errNotOnline)
		} else if err != nil {
			return err
		}
	}
	n.srv.cfg.Hub.Notify(contact.Number, hub.Notification{Kind: notifyUBN, Protocol: protocolName, Data: me.Email + " " + kind + "\n" + string(cmd.Payload)})
	n.send("UUN", cmd.Args[0], "OK")
	return nil
}

// deliverNotification handles the hub notifications meant for MSN clients.
func (n *nsConn) deliverNotification(note *hub.Notification) bool {
	if note == nil || !n.loggedIn() {
		return true
	}
	switch note.Kind {
	case notifyUBN:
		head, payload, _ := strings.Cut(note.Data, "\n")
		from, kind, _ := strings.Cut(head, " ")
		if addressBook(n.dialect) {
			n.sendPayload("UBN", []byte(payload), append(n.handleArgs(from), kind)...)
		}
	case notifyEndpoints:
		if endpoints(n.dialect) && n.online() && note.Data != n.sess().ID() {
			n.sendOwnEndpoints()
		}
	case drive.KindTicketChanged:
		if id, ok := drive.RejectedAfterUpload(note); ok {
			n.srv.fileNotDelivered(n, id)
		}
	case notifyOIMsDeleted:
		if offlineIMs(n.dialect) {
			n.sendOIMsDeleted(note.Data)
		}
	}
	return true
}

// announceEndpoints tells the account's other MSNP16+ clients that this
// endpoint came, changed or left; this one, when online, is sent its own
// UBX at once.
func (n *nsConn) announceEndpoints(s *hub.Session, online bool) {
	if !endpoints(n.dialect) {
		return
	}
	if online {
		n.sendOwnEndpoints()
	}
	n.srv.cfg.Hub.Notify(s.Account().Number, hub.Notification{Kind: notifyEndpoints, Protocol: protocolName, Data: s.ID()})
}

// sendOwnEndpoints sends the client its own UBX: its personal status and
// every endpoint the account is signed in at, with the private data only
// the owner sees.
func (n *nsConn) sendOwnEndpoints() {
	me := n.sess().Account()
	var ps wire.PersonalStatus
	n.mu.Lock()
	if n.extras != nil {
		ps = n.extras.personal
	}
	n.mu.Unlock()
	ps.MachineGUID = ""
	payload := wire.AppendUBX(nil, ps)
	payload = n.appendEndpoints(payload[:len(payload)-len("</Data>")], me.Number, true)
	n.sendPayload("UBX", append(payload, "</Data>"...), n.handleArgs(me.Email)...)
}

// appendEndpoints appends an EndpointData element per MSNP16+ endpoint of
// the account, and for its owner the PrivateEndpointData too.
func (n *nsConn) appendEndpoints(dst []byte, number uint32, private bool) []byte {
	for _, d := range n.srv.cfg.Hub.AllDetails(number, protocolName) {
		x := decodeExtras(d)
		if x.guid == "" {
			continue
		}
		dst = wire.AppendEndpoint(dst, wire.Endpoint{GUID: x.guid, Capabilities: capsFor(maxDialect, x.caps), Name: x.epName}, private)
	}
	return dst
}

// sendReverse tells an MSNP13+ client that someone added it (ADL 0, with
// their name) or removed it (RML 0) from their list: its reverse list,
// and with it the pending members of its sharing service, changed, which
// the address book's notification follows.
func (n *nsConn) sendReverse(name string, from hub.Account, friendly string) bool {
	ml := wire.ML{Contacts: []wire.MLContact{{Email: from.Email, Lists: wire.ListReverse, Network: wire.NetworkMSN, Friendly: friendly}}}
	n.sendPayload(name, wire.AppendML(nil, ml), "0")
	n.sendAddressBookChanged(time.Now())
	return true
}

// sendAddressBookChanged sends the address book's change notification
// (NOT), on which WLM fetches its lists again.
func (n *nsConn) sendAddressBookChanged(changed time.Time) {
	me := n.sess().Account()
	n.sendPayload("NOT", abch.AppendNotification(nil, abch.Notification{Email: me.Email, CID: cid(me.Number), Service: abch.ServiceInternal, Changed: changed}))
}
