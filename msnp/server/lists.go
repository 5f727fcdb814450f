package server

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// List forms of MSNP8 and later (spec msnp8-18 §3a): one LST line per
// contact with a bitmask of its lists, no TrID on the lines after SYN, and
// from MSNP10 contacts and groups named by GUID.

// listBits are the LST bitmask values of the lists.
var listBits = map[hub.List]int{hub.Forward: 1, hub.Allow: 2, hub.Block: 4, hub.Reverse: 8}

// rosterContact is one contact of a roster with all its lists.
type rosterContact struct {
	acct   hub.Account
	lists  int
	groups []int // forward list groups
}

// contactsOf folds a roster's entries into one record per contact, in the
// order they first appear.
func contactsOf(r *hub.Roster) []rosterContact {
	var out []rosterContact
	index := map[uint32]int{}
	for _, e := range r.Entries {
		i, seen := index[e.Contact.Number]
		if !seen {
			i = len(out)
			index[e.Contact.Number] = i
			out = append(out, rosterContact{acct: e.Contact})
		}
		out[i].lists |= listBits[e.List]
		if e.List == hub.Forward {
			out[i].groups = e.Groups
		}
	}
	return out
}

// guidSyncStamp is the time both MSNP10+ SYN stamps are given: the lists
// always go out whole, so the client's cache is never trusted.
const guidSyncStamp = "2000-01-01T00:00:00.0-00:00"

// syncAll sends the MSNP8+ list dump: SYN with counts, then GTC, BLP,
// (MSNP10+) PRP MFN, LSG per group and LST per contact, none with a TrID.
func (n *nsConn) syncAll(trid string, r *hub.Roster, synArgs []string) {
	contacts := contactsOf(r)
	groups := r.Groups
	if guidLists(n.dialect) {
		// Group 0 is no group from MSNP10: its contacts have none.
		groups = nil
		for _, g := range r.Groups {
			if g.ID != 0 {
				groups = append(groups, g)
			}
		}
	}
	n.send("SYN", append(append([]string{trid}, synArgs...), strconv.Itoa(len(contacts)), strconv.Itoa(len(groups)))...)
	gtc := "N"
	if r.Settings.PromptOnAdd {
		gtc = "A"
	}
	n.send("GTC", gtc)
	n.send("BLP", string(r.Settings.Privacy))
	if guidLists(n.dialect) {
		n.send("PRP", "MFN", wire.EncodeName(n.sess().Account().DisplayName))
	}
	for _, g := range groups {
		if guidLists(n.dialect) {
			n.send("LSG", wire.EncodeName(g.Name), groupGUID(g.ID))
		} else {
			n.send("LSG", strconv.Itoa(g.ID), wire.EncodeName(g.Name), "0")
		}
	}
	for _, c := range contacts {
		n.send("LST", n.lstArgs(c)...)
	}
}

func (n *nsConn) lstArgs(c rosterContact) []string {
	name := wire.EncodeName(c.acct.DisplayName)
	onFL := c.lists&listBits[hub.Forward] != 0
	if !guidLists(n.dialect) {
		args := []string{c.acct.Email, name, strconv.Itoa(c.lists)}
		if onFL {
			args = append(args, joinGroups(c.groups, strconv.Itoa, true))
		}
		return args
	}
	args := []string{"N=" + c.acct.Email, "F=" + name}
	if onFL {
		args = append(args, "C="+contactGUID(c.acct.Number))
	}
	args = append(args, strconv.Itoa(c.lists))
	if switchboardCaps(n.dialect) { // MSNP12's extra field
		args = append(args, "1")
	}
	if g := joinGroups(c.groups, groupGUID, false); onFL && g != "" {
		args = append(args, g)
	}
	return args
}

// joinGroups lists group ids for LST; withDefault keeps group 0 (and uses
// it when there is none), as MSNP7–9 show it.
func joinGroups(ids []int, name func(int) string, withDefault bool) string {
	var parts []string
	for _, id := range ids {
		if id != 0 || withDefault {
			parts = append(parts, name(id))
		}
	}
	if len(parts) == 0 && withDefault {
		return "0"
	}
	return strings.Join(parts, ",")
}

// handleADC adds to a list the MSNP10 way: FL by N=email (and F=name), a
// FL contact to a group by C=guid, AL/BL by N=email.
func (n *nsConn) handleADC(ctx context.Context, cmd wire.Command) error {
	if !guidLists(n.dialect) {
		return errCode(errSyntax)
	}
	l, ok := parseList(cmd.Arg(1))
	if !ok || len(cmd.Args) < 3 {
		return errCode(errInvalidParameter)
	}
	trid := cmd.Args[0]
	if guid, ok := strings.CutPrefix(cmd.Args[2], "C="); ok {
		// ADC trid FL C=guid group-guid: put a contact into a group.
		number, ok1 := parseContactGUID(guid)
		group, ok2 := parseGroupGUID(cmd.Arg(3))
		if l != hub.Forward || !ok1 || !ok2 {
			return errCode(errInvalidParameter)
		}
		if _, _, err := n.sess().AddContact(ctx, l, number, group); err != nil {
			return listError(err)
		}
		n.send("ADC", cmd.Args...)
		return nil
	}
	email, ok := strings.CutPrefix(cmd.Args[2], "N=")
	if !ok {
		return errCode(errInvalidParameter)
	}
	contact, err := n.lookupContact(ctx, email)
	if err != nil {
		return err
	}
	group := -1
	if l == hub.Forward {
		group = 0
	}
	_, seen, err := n.sess().AddContact(ctx, l, contact.Number, group)
	if err != nil {
		return listError(err)
	}
	reply := []string{trid, string(l), "N=" + contact.Email}
	if l == hub.Forward {
		reply = append(reply, "F="+wire.EncodeName(contact.DisplayName), "C="+contactGUID(contact.Number))
	}
	n.send("ADC", reply...)
	if seen.Status != hub.StatusOffline && seen.Status != "" && n.online() {
		n.sendPresence("", seen)
	}
	return nil
}

// remGUID removes the MSNP10 way: REM trid FL contact-guid [group-guid],
// REM trid AL|BL email; the reply echoes the request.
func (n *nsConn) remGUID(ctx context.Context, cmd wire.Command, l hub.List) error {
	var number uint32
	group := -1
	if l == hub.Forward {
		var ok bool
		if number, ok = parseContactGUID(cmd.Args[2]); !ok {
			return errCode(errInvalidParameter)
		}
		if len(cmd.Args) > 3 {
			if group, ok = parseGroupGUID(cmd.Args[3]); !ok {
				return errCode(errInvalidGroup)
			}
		}
	} else {
		contact, err := n.lookupContact(ctx, cmd.Args[2])
		if isCode(err, errInvalidUser) {
			return errCode(errNotOnList)
		}
		if err != nil {
			return err
		}
		number = contact.Number
	}
	_, err := n.sess().RemoveContact(ctx, l, number, group)
	if errors.Is(err, hub.ErrNotOnList) && group >= 0 {
		return errCode(errNotInGroup)
	}
	if err != nil {
		return listError(err)
	}
	n.send("REM", cmd.Args...)
	return nil
}

// handleSBP sets a contact's friendly name as this user sees it (MSNP10+).
// The hub shows every contact by the name they chose, so it is only
// checked and echoed.
func (n *nsConn) handleSBP(ctx context.Context, cmd wire.Command) error {
	if !guidLists(n.dialect) {
		return errCode(errSyntax)
	}
	number, ok := parseContactGUID(cmd.Arg(1))
	if !ok || len(cmd.Args) < 4 {
		return errCode(errInvalidParameter)
	}
	r, err := n.sess().Roster(ctx)
	if err != nil {
		return listError(err)
	}
	if !r.On(hub.Forward, number) {
		return errCode(errNotOnList)
	}
	n.send("SBP", cmd.Args...)
	return nil
}

// handlePRP sets the friendly name the MSNP10 way (PRP trid MFN name, which
// replaced REA).
func (n *nsConn) handlePRP(ctx context.Context, cmd wire.Command) error {
	if cmd.Arg(1) != "MFN" || !guidLists(n.dialect) {
		return errCode(errInvalidParameter)
	}
	name, err := n.rename(ctx, cmd.Arg(2))
	if err != nil {
		return err
	}
	n.send("PRP", cmd.Args[0], "MFN", wire.EncodeName(name))
	return nil
}
