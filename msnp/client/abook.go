package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/crosstalk-im/crosstalk/msnp/abch"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// MSNP13 and later: tickets from the security token service, single
// sign-on from MSNP15, the lists from the address book services over SOAP
// and ADL/RML on the notification server, contacts written 1:email from
// MSNP18, and the machine GUID that names this endpoint from MSNP16.

// Services the token request asks tickets for: the notification server's
// (messengerclear.live.com for SSO, messenger.msn.com for TWN) and the
// address book's.
const (
	messengerService = "messenger.msn.com"
	contactsService  = "contacts.msn.com"
)

// DefaultAddressBook is where MSNP13+ clients load their lists from.
const DefaultAddressBook = "https://local-bay.contacts.msn.com"

// newMachineGUID makes a machine GUID for MSNP16+ logins.
func newMachineGUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("{%X-%X-%X-%X-%X}", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// requestTickets asks the token service for the notification server's
// ticket (service, with policy) and the address book's, and keeps the
// latter for the SOAP calls.
func (c *Client) requestTickets(ctx context.Context, email, password, service, policy string) (passport.TokenResponse, error) {
	rst := c.opts.TokenService
	if rst == "" {
		rst = passport.DefaultRST
	}
	resp, err := passport.RequestTokens(ctx, c.opts.Passport, rst, email, password, []passport.RequestedToken{
		{Address: service, Policy: policy}, {Address: contactsService, Policy: "MBI"},
	})
	if err != nil {
		return resp, err
	}
	if resp.Tickets[service] == "" {
		return resp, fmt.Errorf("msnp client: no %s ticket from %s", service, rst)
	}
	c.mu.Lock()
	c.abTicket = resp.Tickets[contactsService]
	c.mu.Unlock()
	return resp, nil
}

// ssoAnswer is what USR SSO S sends after the server's USR SSO S
// MBI_KEY_OLD nonce: the ticket, the proof made with its key, and from
// MSNP16 the machine GUID.
func (c *Client) ssoAnswer(ctx context.Context, email, password, policy, nonce string) ([]string, error) {
	resp, err := c.requestTickets(ctx, email, password, passport.MessengerClear, policy)
	if err != nil {
		return nil, err
	}
	proof, err := passport.MBIResponse(resp.Proofs[passport.MessengerClear], nonce)
	if err != nil {
		return nil, err
	}
	args := []string{"SSO", "S", resp.Tickets[passport.MessengerClear], proof}
	if c.Dialect() >= 16 {
		args = append(args, c.MachineGUID())
	}
	return args, nil
}

// MachineGUID returns the GUID naming this endpoint (MSNP16+):
// Options.MachineGUID, or a random one made once per Client.
func (c *Client) MachineGUID() string {
	c.guidOnce.Do(func() {
		c.machineGUID = c.opts.MachineGUID
		if c.machineGUID == "" {
			c.machineGUID = newMachineGUID()
		}
	})
	return c.machineGUID
}

// abCall calls an address book service.
func (c *Client) abCall(ctx context.Context, op string, book *abch.Book, args ...string) (string, error) {
	path := abch.AddressBookPath
	if abch.Serves(abch.SharingPath, op) {
		path = abch.SharingPath
	}
	c.mu.Lock()
	ticket := c.abTicket
	c.mu.Unlock()
	if book == nil {
		book = &abch.Book{}
	}
	base := c.opts.AddressBook
	if base == "" {
		base = DefaultAddressBook
	}
	return abch.Call(ctx, c.opts.Passport, strings.TrimSuffix(base, "/")+path, op, abch.NewRequest(op, ticket, args...), book)
}

// addressBookOp is the operation that reads the address book: MSNP18's
// ABFindContactsPaged, ABFindAll before.
func (c *Client) addressBookOp() string {
	if c.Dialect() >= 18 {
		return "ABFindContactsPaged"
	}
	return "ABFindAll"
}

// syncAddressBook is Sync from MSNP13: the lists from FindMembership and
// the address book, then the initial ADL that tells the server which
// contacts this client shows. The book is kept for SyncChanges.
func (c *Client) syncAddressBook(ctx context.Context) (*List, error) {
	book, err := c.fetchBook(ctx)
	if err != nil {
		return nil, err
	}
	l, ml := listOf(book)
	if err := c.sendML(ctx, "ADL", ml); err != nil {
		return nil, err
	}
	return l, nil
}

// fetchBook reads the whole book and keeps it.
func (c *Client) fetchBook(ctx context.Context) (*abch.Book, error) {
	var members, book abch.Book
	if _, err := c.abCall(ctx, "FindMembership", &members, abch.FullViewArg); err != nil {
		return nil, err
	}
	if _, err := c.abCall(ctx, c.addressBookOp(), &book, abch.FullViewArg); err != nil {
		return nil, err
	}
	book.Memberships, book.MembershipsChanged = members.Memberships, members.Changed
	c.mu.Lock()
	c.book = &book
	c.mu.Unlock()
	return &book, nil
}

// SyncChanges brings the lists the last Sync (MSNP13+) read up to date as
// WLM does after the address book's notification (AddressBookChanged):
// it asks the services only for what changed since, and applies that to
// its copy; where they answer that they cannot tell ("full sync
// required"), it reads everything again. It sends no ADL: the server has
// the lists already.
func (c *Client) SyncChanges(ctx context.Context) (*List, error) {
	c.mu.Lock()
	kept := c.book
	c.mu.Unlock()
	if c.Dialect() < 13 || kept == nil {
		return nil, errors.New("msnp client: no address book to bring up to date (MSNP13+, after Sync)")
	}
	var members, book abch.Book
	_, err := c.abCall(ctx, "FindMembership", &members, abch.DeltasArg("FindMembership", kept.MembershipsChanged))
	if err == nil {
		_, err = c.abCall(ctx, c.addressBookOp(), &book, abch.DeltasArg(c.addressBookOp(), kept.Changed))
	}
	var f *abch.Fault
	if errors.As(err, &f) && f.Code == abch.FaultFullSyncRequired {
		whole, err := c.fetchBook(ctx)
		if err != nil {
			return nil, err
		}
		l, _ := listOf(whole)
		return l, nil
	}
	if err != nil {
		return nil, err
	}
	merged := kept.Apply(members, book)
	c.mu.Lock()
	c.book = merged
	c.mu.Unlock()
	l, _ := listOf(merged)
	l.Deltas = true
	return l, nil
}

// listOf shows a book as lists, and the initial ADL for them.
func listOf(book *abch.Book) (*List, wire.ML) {
	l := &List{Friendly: book.Me.DisplayName}
	for _, g := range book.Groups {
		l.Groups = append(l.Groups, Group{Name: g.Name, GUID: g.ID})
	}
	bits := map[string]int{}
	var order []string
	note := func(email string, bit int) {
		if _, seen := bits[email]; !seen {
			order = append(order, email)
		}
		bits[email] |= bit
	}
	for _, ct := range book.Contacts {
		if !ct.IsMessenger {
			continue
		}
		l.Forward = append(l.Forward, Contact{Email: ct.Email, Friendly: ct.DisplayName, GUID: ct.ID, GroupGUIDs: ct.GroupIDs})
		note(ct.Email, wire.ListForward)
	}
	for _, m := range book.Memberships {
		var list *[]Contact
		bit := 0
		switch m.Role {
		case "Allow":
			list, bit = &l.Allow, wire.ListAllow
		case "Block":
			list, bit = &l.Block, wire.ListBlock
		case "Reverse":
			list = &l.Reverse
		case "Pending":
			list = &l.Pending
		default:
			continue
		}
		for _, x := range m.Members {
			*list = append(*list, Contact{Email: x.Email, Friendly: x.Name})
			if bit != 0 {
				note(x.Email, bit)
			}
		}
	}
	ml := wire.ML{Initial: true}
	for _, email := range order {
		ml.Contacts = append(ml.Contacts, wire.MLContact{Email: email, Lists: bits[email], Network: wire.NetworkMSN})
	}
	return l, ml
}

// sendML sends ADL or RML and waits for its OK.
func (c *Client) sendML(ctx context.Context, name string, ml wire.ML) error {
	reply, err := c.current().requestPayload(ctx, name, wire.AppendML(nil, ml))
	if err == nil && (reply.Name != name || reply.Arg(1) != "OK") {
		err = unexpected(name, reply)
	}
	return err
}

// memberRoles are the sharing service's roles of the lists a client edits.
var memberRoles = map[string]string{ListAllow: "Allow", ListBlock: "Block"}

var listBits = map[string]int{ListForward: wire.ListForward, ListAllow: wire.ListAllow, ListBlock: wire.ListBlock}

// changeAddressBook is Add and Remove from MSNP13: the address book (FL)
// or the sharing service (AL, BL) first, then ADL or RML.
func (c *Client) changeAddressBook(ctx context.Context, add bool, list, email string) error {
	bit, ok := listBits[list]
	if !ok {
		return fmt.Errorf("msnp client: cannot change %s", list)
	}
	op, arg, ml := "AddMember", abch.MemberArg(memberRoles[list], email), "ADL"
	switch {
	case !add && list == ListForward:
		op, arg, ml = "ABContactDelete", abch.ContactArg("", email), "RML"
	case !add:
		op, ml = "DeleteMember", "RML"
	case list == ListForward:
		op, arg = "ABContactAdd", abch.ContactArg("", email)
	}
	if _, err := c.abCall(ctx, op, nil, arg); err != nil {
		return err
	}
	return c.sendML(ctx, ml, wire.ML{Contacts: []wire.MLContact{{Email: email, Lists: bit, Network: wire.NetworkMSN}}})
}

// contactArgs reads a contact as presence commands write it: email (to
// MSNP13), email and network (MSNP14–17), network:email (MSNP18). It
// returns the e-mail and the arguments after it.
func contactArgs(dialect int, args []string) (string, []string) {
	if len(args) == 0 {
		return "", nil
	}
	switch {
	case dialect >= 18:
		if _, email, ok := strings.Cut(args[0], ":"); ok {
			return email, args[1:]
		}
		return args[0], args[1:]
	case dialect >= 14 && len(args) > 1:
		return args[0], args[2:]
	}
	return args[0], args[1:]
}
