package server

import (
	"context"
	"errors"
	"strconv"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// handlePersist answers a persist request with a persistr of the same rid.
// Gets always get a reply (an empty one for data sets we do not keep);
// actions get none, as the original service sent none that is known.
func (c *conn) handlePersist(ctx context.Context, m wire.Message) error {
	p, err := wire.ParsePersist(m)
	if err != nil {
		c.send(errorMessage(wire.ErrCodeParse, "Unable to parse the request.", false))
		return nil
	}
	me := c.sess().Account()
	reply := wire.Persist{Reply: true, Cmd: p.Cmd | wire.CmdReply, DataSet: p.DataSet, UID: me.Number, RID: p.RID}
	switch p.DataSet {
	case wire.DSOwnProfile:
		if reply.Body, err = c.profile(ctx, me); err != nil {
			return err
		}
	case wire.DSProfile, wire.DSContactInfo, wire.DSContactIMInfo, wire.DSIMInfoByID:
		uid := p.Body.Get("UserID")
		if uid == "" {
			uid = p.Body.Get("ContactID")
		}
		acct, err := c.lookupUID(ctx, uid)
		if errors.Is(err, hub.ErrNotFound) {
			reply.Cmd |= wire.CmdError
			reply.Body = wire.Dict{{Key: "ErrorCode", Value: strconv.Itoa(wire.ErrCodeBadUID)}}
			break
		}
		if err != nil {
			return err
		}
		if reply.Body, err = c.profile(ctx, acct); err != nil {
			return err
		}
	case wire.DSLookup:
		reply.Body, err = c.lookup(ctx, p.Body)
		if err != nil {
			return err
		}
	case wire.DSOwnIMInfo:
		reply.Body, err = c.imInfo(ctx, me)
		if err != nil {
			return err
		}
	case wire.DSContactList:
		if reply.Body, err = c.contactList(ctx); err != nil {
			return err
		}
		c.send(reply.Message())
		return c.afterContactList(ctx)
	case wire.DSGroupList:
		if reply.Body, err = c.groupList(ctx); err != nil {
			return err
		}
	case wire.DSAddContact:
		visibility := p.Body.Get("Visibility")
		l := hub.Forward
		if visibility == strconv.Itoa(wire.VisibilityBlocked) {
			l = hub.Block
		}
		acct, err := c.lookupUID(ctx, p.Body.Get("ContactID"))
		if err == nil {
			err = c.applyContact(ctx, acct.Number, l, true, p.Body.Get("GroupName"))
		}
		return ignoreNotFound(err)
	case wire.DSDeleteContact:
		acct, err := c.lookupUID(ctx, p.Body.Get("ContactID"))
		if err == nil {
			if err = c.applyContact(ctx, acct.Number, hub.Forward, false, ""); err == nil {
				err = c.applyContact(ctx, acct.Number, hub.Block, false, "")
			}
		}
		return ignoreNotFound(err)
	case wire.DSSetIMInfo:
		return nil
	case wire.DSSetUserName:
		code := "0"
		if p.Body.Get("UserName") != uniqueNick(me) {
			code = "1" // screen names are set by the operator, not the client
		}
		reply.Body = wire.Dict{{Key: "UserName", Value: uniqueNick(me)}, {Key: "Code", Value: code}}
	default:
		if wire.CmdCode(p.Cmd) != wire.CmdGet {
			return nil
		}
		reply.Body = wire.Dict{}
	}
	c.send(reply.Message())
	return nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, hub.ErrNotFound) {
		return nil
	}
	return err
}

// profile is the body of a profile reply (4/3, 4/5, 5/7), in the fields
// Pidgin 2.10.12 reads. It has no ImageURL, as there are no pictures:
// Pidgin fetches any URL it is given, an empty one too. Headline is the
// status text the session may see: Pidgin asks for the profile of every
// contact whose bm 100 says it is online and keeps this Headline over the
// one the bm 100 carried.
func (c *conn) profile(ctx context.Context, a hub.Account) (wire.Dict, error) {
	h, me := c.srv.cfg.Hub, c.sess().Account()
	var (
		headline string
		err      error
	)
	if a.Number == me.Number {
		_, headline, err = h.Presence(ctx, a.Number)
	} else {
		_, headline, err = h.VisiblePresence(ctx, me.Number, a.Number)
	}
	if err != nil {
		return nil, err
	}
	return wire.Dict{
		{Key: "UserID", Value: strconv.FormatUint(uint64(a.Number), 10)},
		{Key: "UserName", Value: uniqueNick(a)},
		{Key: "DisplayName", Value: a.DisplayName},
		{Key: "BandName", Value: ""},
		{Key: "SongName", Value: ""},
		{Key: "Age", Value: "0"},
		{Key: "Gender", Value: ""},
		{Key: "Location", Value: ""},
		{Key: "TotalFriends", Value: "0"},
		{Key: "Headline", Value: headline},
	}, nil
}

// lookup finds a user by screen name or e-mail (5/7). Not found, the reply
// holds only the name asked for, which Pidgin reports as "No such user".
func (c *conn) lookup(ctx context.Context, body wire.Dict) (wire.Dict, error) {
	store := c.srv.cfg.Hub.Store()
	var (
		acct hub.Account
		err  = hub.ErrNotFound
	)
	if email := body.Get("Email"); email != "" {
		acct, err = store.AccountByEmail(ctx, email)
	} else if name := body.Get("UserName"); name != "" {
		acct, err = store.AccountByNick(ctx, name)
		if errors.Is(err, hub.ErrNotFound) {
			acct, err = c.byDerivedNick(ctx, name)
		}
	}
	if errors.Is(err, hub.ErrNotFound) {
		return wire.Dict{{Key: "UserName", Value: body.Get("UserName")}}, nil
	}
	if err != nil {
		return nil, err
	}
	return c.profile(ctx, acct)
}

// byDerivedNick finds an account without a nick by the screen name made
// from its e-mail address.
func (c *conn) byDerivedNick(ctx context.Context, name string) (hub.Account, error) {
	accounts, err := c.srv.cfg.Hub.Store().Accounts(ctx)
	if err != nil {
		return hub.Account{}, err
	}
	for _, a := range accounts {
		if a.Nick == "" && uniqueNick(a) == name {
			return a, nil
		}
	}
	return hub.Account{}, hub.ErrNotFound
}

// imInfo is the account's own IM settings (1/4).
func (c *conn) imInfo(ctx context.Context, me hub.Account) (wire.Dict, error) {
	r, err := c.sess().Roster(ctx)
	if err != nil {
		return nil, err
	}
	onlyList := "False"
	if r.Settings.Privacy == hub.BlockUnlisted {
		onlyList = "True"
	}
	return wire.Dict{
		{Key: "UserID", Value: strconv.FormatUint(uint64(me.Number), 10)},
		{Key: "Sound", Value: "True"},
		{Key: "PrivacyMode", Value: "0"},
		{Key: "ShowOnlyToList", Value: onlyList},
		{Key: "OfflineMessageMode", Value: "2"},
		{Key: "Headline", Value: ""},
		{Key: "AvatarUrl", Value: ""},
		{Key: "ShowAvatar", Value: "False"},
		{Key: "Alert", Value: "1"},
		{Key: "IMName", Value: uniqueNick(me)},
		{Key: "LastLogin", Value: "0"},
		{Key: "ClientVersion", Value: "0"},
		{Key: "AllowBrowse", Value: "True"},
		{Key: "IMLang", Value: "English"},
		{Key: "LangID", Value: "1033"},
	}, nil
}

// contactList is the 0/1 reply: one record per contact, every record with
// every field, since Pidgin reads each record from its ContactID onward.
func (c *conn) contactList(ctx context.Context) (wire.Dict, error) {
	r, err := c.sess().Roster(ctx)
	if err != nil {
		return nil, err
	}
	groupName := map[int]string{}
	for _, g := range r.Groups {
		groupName[g.ID] = g.Name
	}
	var body wire.Dict
	record := func(a hub.Account, group string, visibility int) {
		body = append(body,
			wire.Pair{Key: "ContactID", Value: strconv.FormatUint(uint64(a.Number), 10)},
			wire.Pair{Key: "GroupName", Value: group},
			wire.Pair{Key: "Position", Value: "1000"},
			wire.Pair{Key: "Visibility", Value: strconv.Itoa(visibility)},
			wire.Pair{Key: "NickName", Value: a.DisplayName},
			wire.Pair{Key: "NameSelect", Value: "0"},
			wire.Pair{Key: "IMName", Value: uniqueNick(a)},
			wire.Pair{Key: "AvatarUrl", Value: ""},
			wire.Pair{Key: "ShowAvatar", Value: "False"},
			wire.Pair{Key: "LastLogin", Value: "0"},
			wire.Pair{Key: "OfflineMsg", Value: ""},
			wire.Pair{Key: "SkyStatus", Value: "0"},
			wire.Pair{Key: "Headline", Value: ""},
		)
	}
	for _, e := range r.Of(hub.Forward) {
		g := 0
		if len(e.Groups) > 0 {
			g = e.Groups[0]
		}
		record(e.Contact, groupName[g], wire.VisibilityShown)
	}
	for _, e := range r.Of(hub.Block) {
		record(e.Contact, "", wire.VisibilityBlocked)
	}
	return body, nil
}

// afterContactList sends, once, the presence of online contacts and the
// messages kept while the account was away.
func (c *conn) afterContactList(ctx context.Context) error {
	if c.listSent {
		return nil
	}
	c.listSent = true
	s := c.sess()
	online, err := s.OnlineContacts(ctx)
	if err != nil {
		return err
	}
	for _, p := range online {
		c.send(presenceMessage(p.Contact.Number, p.Status, p.Text))
	}
	if err := c.deliverOffline(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	again := c.mailboxAsked
	c.mailboxOpen = true
	c.mu.Unlock()
	if again {
		c.rereadMailbox()
	}
	return nil
}

// groupList is the 2/6 reply: one record per forward-list group.
func (c *conn) groupList(ctx context.Context) (wire.Dict, error) {
	r, err := c.sess().Roster(ctx)
	if err != nil {
		return nil, err
	}
	var body wire.Dict
	for i, g := range r.Groups {
		body = append(body,
			wire.Pair{Key: "GroupID", Value: strconv.Itoa(g.ID)},
			wire.Pair{Key: "GroupName", Value: g.Name},
			wire.Pair{Key: "GroupFlag", Value: "0"},
			wire.Pair{Key: "Position", Value: strconv.Itoa(i + 1)},
		)
	}
	return body, nil
}
