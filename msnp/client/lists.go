package client

import (
	"context"
	"strconv"
	"strings"

	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// List is the result of Sync: the account's lists and settings as of
// Serial.
type List struct {
	Serial  int    // list version ("serial") the server reported
	Prompt  string // GTC: "A" (ask when someone adds me) or "N"
	Privacy string // BLP: "AL" or "BL"
	// Phones holds the account's own phone data from PRP (MSNP5+), keyed
	// PHH, PHW, PHM, MOB, MBE; values decoded.
	Phones map[string]string
	Groups []Group // MSNP7 LSG, in the order received
	// Friendly is the account's own name from PRP MFN (MSNP10+).
	Friendly string

	Forward []Contact // FL
	Allow   []Contact // AL
	Block   []Contact // BL
	Reverse []Contact // RL
	// Pending are those who added the account and are on neither its AL
	// nor its BL (MSNP13+, from the sharing service).
	Pending []Contact
	// Deltas: the lists are an earlier copy brought up to date with what
	// the address book services said changed since (SyncChanges), not
	// fetched whole.
	Deltas bool

	contacts int // MSNP8+ LST lines read
}

// Group is a contact group (MSNP7). Group 0 always exists.
type Group struct {
	ID   int
	Name string // decoded
	GUID string // MSNP10+, where groups have no number
}

// Contact is one entry of a list.
type Contact struct {
	Email    string
	Friendly string // decoded
	Groups   []int  // FL only, MSNP7: the groups the contact is in
	// GUID names an FL contact from MSNP10 (Remove takes it), and
	// GroupGUIDs its groups.
	GUID       string
	GroupGUIDs []string
	// Phones holds the contact's phone data from BPR lines (MSNP5+).
	Phones map[string]string
}

// Sync sends SYN with the client's cached list version and collects the
// reply. When the server's version equals serial it answers with the bare
// SYN, and Sync returns a List with only Serial set. Otherwise every GTC,
// BLP, PRP, LSG, LST and BPR line of the reply is collected until each of
// the four lists (FL, AL, BL, RL) is complete as counted by the LST totals
// (an empty list arrives as "LST trid XX ver 0 0"). Use 0 on first login.
//
// From MSNP8 the reply names how many contacts and groups follow, each
// contact once with the bits of its lists; from MSNP10 SYN carries two
// time stamps instead of the version (serial is then ignored and the
// server sends everything).
//
// From MSNP13 the lists come from the address book services over SOAP
// (Options.AddressBook), and Sync then sends the initial ADL naming the
// contacts this client shows; serial is ignored.
func (c *Client) Sync(ctx context.Context, serial int) (*List, error) {
	if c.Dialect() >= 13 {
		return c.syncAddressBook(ctx)
	}
	if c.Dialect() >= 8 {
		return c.syncLines(ctx, serial)
	}
	l := &List{}
	complete := map[string]bool{}
	var last *Contact // for BPR lines
	accept := func(cmd wire.Command) (bool, error) {
		switch cmd.Name {
		case "SYN": // SYN trid ver
			n, err := strconv.Atoi(cmd.Arg(1))
			if err != nil {
				return true, unexpected("SYN", cmd)
			}
			l.Serial = n
			return n == serial, nil
		case "GTC": // GTC trid ver A|N
			l.Prompt = cmd.Arg(2)
		case "BLP": // BLP trid ver AL|BL
			l.Privacy = cmd.Arg(2)
		case "PRP": // PRP [trid] ver KEY value
			if key, value, _, ok := phoneLine(cmd); ok {
				if l.Phones == nil {
					l.Phones = map[string]string{}
				}
				l.Phones[key] = value
			}
		case "BPR": // BPR [trid] ver [email] KEY value
			key, value, email, ok := phoneLine(cmd)
			if !ok {
				break
			}
			target := last
			if email != "" && (target == nil || !strings.EqualFold(target.Email, email)) {
				target = findContact(l.Forward, email)
			}
			if target != nil {
				if target.Phones == nil {
					target.Phones = map[string]string{}
				}
				target.Phones[key] = value
			}
		case "LSG": // LSG trid ver i n gid name 0
			id, err := strconv.Atoi(cmd.Arg(4))
			if err != nil {
				return true, unexpected("SYN", cmd)
			}
			l.Groups = append(l.Groups, Group{ID: id, Name: wire.DecodeName(cmd.Arg(5))})
		case "LST": // LST trid list ver i n [email friendly [gids]]
			list := cmd.Arg(1)
			i, err1 := strconv.Atoi(cmd.Arg(3))
			n, err2 := strconv.Atoi(cmd.Arg(4))
			if err1 != nil || err2 != nil {
				return true, unexpected("SYN", cmd)
			}
			if n > 0 {
				ct := Contact{Email: cmd.Arg(5), Friendly: wire.DecodeName(cmd.Arg(6))}
				if gids := cmd.Arg(7); gids != "" {
					for _, g := range strings.Split(gids, ",") {
						if id, err := strconv.Atoi(g); err == nil {
							ct.Groups = append(ct.Groups, id)
						}
					}
				}
				dst := l.list(list)
				if dst == nil {
					return true, unexpected("SYN", cmd)
				}
				*dst = append(*dst, ct)
				last = &(*dst)[len(*dst)-1]
			}
			if i >= n {
				complete[list] = true
			}
			return complete["FL"] && complete["AL"] && complete["BL"] && complete["RL"], nil
		default:
			return true, unexpected("SYN", cmd)
		}
		return false, nil
	}
	if _, err := c.current().request(ctx, accept, "SYN", strconv.Itoa(serial)); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *List) list(name string) *[]Contact {
	switch name {
	case ListForward:
		return &l.Forward
	case ListAllow:
		return &l.Allow
	case ListBlock:
		return &l.Block
	case ListReverse:
		return &l.Reverse
	}
	return nil
}

func findContact(cs []Contact, email string) *Contact {
	for i := range cs {
		if strings.EqualFold(cs[i].Email, email) {
			return &cs[i]
		}
	}
	return nil
}

// phoneLine parses PRP and BPR lines whichever way the server shapes them:
// with or without TrID, with or without the contact's e-mail address. The
// key is the first upper-case alphabetic parameter; the value follows it.
func phoneLine(cmd wire.Command) (key, value, email string, ok bool) {
	for i, a := range cmd.Args {
		if strings.Contains(a, "@") {
			email = a
			continue
		}
		if a != "" && strings.Trim(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" {
			return a, wire.DecodeName(strings.Join(cmd.Args[i+1:], " ")), email, true
		}
	}
	return "", "", "", false
}

// single sends a command whose reply is one line of the same name and
// returns that line.
func (c *Client) single(ctx context.Context, name string, args ...string) (wire.Command, error) {
	reply, err := c.current().request(ctx, nil, name, args...)
	if err != nil {
		return reply, err
	}
	if reply.Name != name {
		return reply, unexpected(name, reply)
	}
	return reply, nil
}

// serialReply sends a list-changing command and returns the new list
// version, the reply's second parameter (after any that precede it).
func (c *Client) serialReply(ctx context.Context, at int, name string, args ...string) (int, wire.Command, error) {
	reply, err := c.single(ctx, name, args...)
	if err != nil {
		return 0, reply, err
	}
	serial, err := strconv.Atoi(reply.Arg(at))
	if err != nil {
		return 0, reply, unexpected(name, reply)
	}
	return serial, reply, nil
}

// SetStatus sends CHG and waits for its echo. After the first CHG following
// login the server lists the online contacts as ILN lines; they arrive after
// the echo and are delivered as Presence events with Initial set. From
// MSNP8 CHG carries Options.Capabilities, from MSNP9 no MSN object.
func (c *Client) SetStatus(ctx context.Context, status string) error {
	return c.SetStatusObject(ctx, status, "")
}

// SetStatusObject is SetStatus with a display picture (MSNP9+): msnobj is
// the MSN object, %-encoded as it travels; "" for none.
func (c *Client) SetStatusObject(ctx context.Context, status, msnobj string) error {
	args := []string{status}
	if d := c.Dialect(); d >= 8 {
		caps := strconv.FormatUint(uint64(c.opts.Capabilities), 10)
		if d >= 16 {
			caps += ":" + strconv.FormatUint(uint64(c.opts.ExtendedCapabilities), 10)
		}
		args = append(args, caps)
		if d >= 9 {
			if msnobj == "" {
				msnobj = "0"
			}
			args = append(args, msnobj)
		}
	}
	_, err := c.single(ctx, "CHG", args...)
	return err
}

// SetPersonalMessage sets the personal message and what is playing with
// UUX (MSNP11+); media is a CurrentMedia value (`\0Music\01\0{0} - {1}\0…`)
// or "".
func (c *Client) SetPersonalMessage(ctx context.Context, psm, media string) error {
	payload := wire.AppendUBX(nil, wire.PersonalStatus{PSM: psm, CurrentMedia: media})
	reply, err := c.current().requestPayload(ctx, "UUX", payload)
	if err == nil && reply.Name != "UUX" {
		err = unexpected("UUX", reply)
	}
	return err
}

// Add adds email to list (FL, AL or BL) with ADD and returns the new list
// version. friendly is the contact's name (the e-mail address when empty);
// group is an MSNP7 group id for FL, or -1 for none.
//
// From MSNP10 it sends ADC, whose reply has no version (serial is 0); group
// is then ignored. From MSNP13 it adds through the address book services
// and then sends ADL.
func (c *Client) Add(ctx context.Context, list, email, friendly string, group int) (serial int, err error) {
	if c.Dialect() >= 13 {
		return 0, c.changeAddressBook(ctx, true, list, email)
	}
	if friendly == "" {
		friendly = email
	}
	if c.Dialect() >= 10 {
		args := []string{list, "N=" + email}
		if list == ListForward {
			args = append(args, "F="+wire.EncodeName(friendly))
		}
		_, err := c.single(ctx, "ADC", args...)
		return 0, err
	}
	args := []string{list, email, wire.EncodeName(friendly)}
	if group >= 0 {
		args = append(args, strconv.Itoa(group))
	}
	serial, _, err = c.serialReply(ctx, 2, "ADD", args...) // ADD trid list ver email friendly [gid]
	return serial, err
}

// Remove removes email from list with REM and returns the new list version.
// group (MSNP7, FL only) removes the contact from that group only; -1 for
// none.
//
// From MSNP10 a forward-list contact is named by its GUID (Contact.GUID)
// instead of email, the reply has no version (serial is 0) and group is
// ignored. From MSNP13 the contact is named by email again, taken off
// through the address book services, and RML follows.
func (c *Client) Remove(ctx context.Context, list, email string, group int) (serial int, err error) {
	if c.Dialect() >= 13 {
		return 0, c.changeAddressBook(ctx, false, list, email)
	}
	if c.Dialect() >= 10 {
		_, err := c.single(ctx, "REM", list, email)
		return 0, err
	}
	args := []string{list, email}
	if group >= 0 {
		args = append(args, strconv.Itoa(group))
	}
	serial, _, err = c.serialReply(ctx, 2, "REM", args...) // REM trid list ver email [gid]
	return serial, err
}

// AddGroup creates a group (MSNP7 ADG) and returns the new list version and
// the group's id.
func (c *Client) AddGroup(ctx context.Context, name string) (serial, id int, err error) {
	serial, reply, err := c.serialReply(ctx, 1, "ADG", wire.EncodeName(name), "0") // ADG trid ver name gid 0
	if err != nil {
		return 0, 0, err
	}
	id, err = strconv.Atoi(reply.Arg(3))
	if err != nil {
		return 0, 0, unexpected("ADG", reply)
	}
	return serial, id, nil
}

// RemoveGroup deletes a group (MSNP7 RMG) and returns the new list version.
func (c *Client) RemoveGroup(ctx context.Context, id int) (serial int, err error) {
	serial, _, err = c.serialReply(ctx, 1, "RMG", strconv.Itoa(id)) // RMG trid ver gid
	return serial, err
}

// RenameGroup renames a group (MSNP7 REG) and returns the new list version.
func (c *Client) RenameGroup(ctx context.Context, id int, name string) (serial int, err error) {
	serial, _, err = c.serialReply(ctx, 1, "REG", strconv.Itoa(id), wire.EncodeName(name), "0") // REG trid ver gid name 0
	return serial, err
}

// SetPrivacy sets the privacy mode with BLP: PrivacyAllowAll ("AL") or
// PrivacyBlockAll ("BL"). It returns the new list version (0 from MSNP10).
func (c *Client) SetPrivacy(ctx context.Context, mode string) (serial int, err error) {
	return c.setting(ctx, "BLP", mode)
}

// SetPrompt sets with GTC whether the user wants to be asked when someone
// adds them ("A") or not ("N"). It returns the new list version.
func (c *Client) SetPrompt(ctx context.Context, mode string) (serial int, err error) {
	return c.setting(ctx, "GTC", mode)
}

// setting sends GTC or BLP; the reply carries the list version up to
// MSNP9 (GTC trid ver mode) and none from MSNP10 (serial is then 0).
func (c *Client) setting(ctx context.Context, name, mode string) (int, error) {
	if c.Dialect() >= 10 {
		_, err := c.single(ctx, name, mode)
		return 0, err
	}
	serial, _, err := c.serialReply(ctx, 1, name, mode)
	return serial, err
}

// Rename changes the friendly name with REA and returns the new list
// version. Friendly reports the name the server confirmed.
//
// From MSNP10 it sends PRP MFN, whose reply has no version (serial is 0).
func (c *Client) Rename(ctx context.Context, friendly string) (serial int, err error) {
	if c.Dialect() >= 10 {
		reply, err := c.single(ctx, "PRP", "MFN", wire.EncodeName(friendly))
		if err != nil {
			return 0, err
		}
		c.mu.Lock()
		c.friendly = wire.DecodeName(reply.Arg(2))
		c.mu.Unlock()
		return 0, nil
	}
	serial, reply, err := c.serialReply(ctx, 1, "REA", c.Email(), wire.EncodeName(friendly)) // REA trid ver email name
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.friendly = wire.DecodeName(reply.Arg(3))
	c.mu.Unlock()
	return serial, nil
}

// URLInfo is the reply to URL: a Hotmail/Passport page and the id to post
// with it.
type URLInfo struct {
	RRU string // the page ("rru") on the site
	URL string // the login URL to post to
	ID  string
}

// URL asks for the web address of a service page with URL, kind being
// INBOX, COMPOSE, PASSWORD, PERSON, MOBILE…
func (c *Client) URL(ctx context.Context, kind string) (URLInfo, error) {
	reply, err := c.single(ctx, "URL", kind)
	if err != nil {
		return URLInfo{}, err
	}
	if len(reply.Args) < 3 {
		return URLInfo{}, unexpected("URL", reply)
	}
	return URLInfo{RRU: reply.Arg(1), URL: reply.Arg(2), ID: reply.Arg(3)}, nil
}

// syncLines collects the MSNP8+ SYN reply: SYN with the counts of contacts
// and groups, then GTC, BLP, (MSNP10+) PRP MFN, LSG and LST without TrID.
// It is complete when every counted group and contact and the BLP line
// (and MSNP10's PRP MFN) have arrived.
func (c *Client) syncLines(ctx context.Context, serial int) (*List, error) {
	l := &List{}
	guids := c.Dialect() >= 10
	contacts, groups := -1, -1
	sawBLP, sawName := false, !guids
	done := func() bool {
		return sawBLP && sawName && len(l.Groups) >= groups && l.contacts >= contacts
	}
	accept := func(cmd wire.Command) (bool, error) {
		switch cmd.Name {
		case "SYN": // SYN trid ver [nC nG]; MSNP10+ SYN trid stamp stamp nC nG
			n := len(cmd.Args)
			if n == 2 {
				// The client's version is current: nothing follows.
				l.Serial, _ = strconv.Atoi(cmd.Arg(1))
				return true, nil
			}
			if n < 4 {
				return true, unexpected("SYN", cmd)
			}
			var err1, err2 error
			contacts, err1 = strconv.Atoi(cmd.Args[n-2])
			groups, err2 = strconv.Atoi(cmd.Args[n-1])
			if err1 != nil || err2 != nil {
				return true, unexpected("SYN", cmd)
			}
			if !guids {
				l.Serial, _ = strconv.Atoi(cmd.Arg(1))
			}
		case "GTC": // GTC A|N
			l.Prompt = cmd.Arg(0)
		case "BLP": // BLP AL|BL
			l.Privacy, sawBLP = cmd.Arg(0), true
		case "PRP": // PRP MFN name, or phone data
			if cmd.Arg(0) == "MFN" {
				l.Friendly, sawName = wire.DecodeName(cmd.Arg(1)), true
				c.mu.Lock()
				c.friendly = l.Friendly
				c.mu.Unlock()
			} else if key, value, _, ok := phoneLine(cmd); ok {
				if l.Phones == nil {
					l.Phones = map[string]string{}
				}
				l.Phones[key] = value
			}
		case "BPR":
		case "LSG": // MSNP8–9 LSG gid name 0; MSNP10+ LSG name guid
			if guids {
				l.Groups = append(l.Groups, Group{Name: wire.DecodeName(cmd.Arg(0)), GUID: cmd.Arg(1)})
				break
			}
			id, err := strconv.Atoi(cmd.Arg(0))
			if err != nil {
				return true, unexpected("SYN", cmd)
			}
			l.Groups = append(l.Groups, Group{ID: id, Name: wire.DecodeName(cmd.Arg(1))})
		case "LST":
			if err := l.addLine(cmd, guids); err != nil {
				return true, err
			}
		default:
			return true, unexpected("SYN", cmd)
		}
		return done(), nil
	}
	args := []string{strconv.Itoa(serial)}
	if guids {
		args = []string{"0", "0"}
	}
	if _, err := c.current().request(ctx, accept, "SYN", args...); err != nil {
		return nil, err
	}
	return l, nil
}

// addLine files one MSNP8+ LST line under every list its bits name:
// MSNP8–9 LST email name bits [gids]; MSNP10+ LST N=email F=name [C=guid]
// bits [1] [group-guids].
func (l *List) addLine(cmd wire.Command, guids bool) error {
	var ct Contact
	bits := -1
	for i, a := range cmd.Args {
		switch {
		case guids && strings.HasPrefix(a, "N="):
			ct.Email = a[2:]
		case guids && strings.HasPrefix(a, "F="):
			ct.Friendly = wire.DecodeName(a[2:])
		case guids && strings.HasPrefix(a, "C="):
			ct.GUID = a[2:]
		case !guids && i == 0:
			ct.Email = a
		case !guids && i == 1:
			ct.Friendly = wire.DecodeName(a)
		case bits < 0:
			n, err := strconv.Atoi(a)
			if err != nil {
				return unexpected("SYN", cmd)
			}
			bits = n
		case guids && strings.Contains(a, "-"):
			ct.GroupGUIDs = strings.Split(a, ",")
		case !guids:
			for _, g := range strings.Split(a, ",") {
				if id, err := strconv.Atoi(g); err == nil {
					ct.Groups = append(ct.Groups, id)
				}
			}
		}
	}
	if ct.Email == "" || bits < 0 {
		return unexpected("SYN", cmd)
	}
	for bit, name := range map[int]string{1: ListForward, 2: ListAllow, 4: ListBlock, 8: ListReverse} {
		if bits&bit != 0 {
			*l.list(name) = append(*l.list(name), ct)
		}
	}
	l.contacts++
	return nil
}
