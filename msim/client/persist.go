package client

import (
	"context"
	"strconv"

	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// Contact is one record of the contact list (0/1) or of a contact-info
// reply (0/2).
type Contact struct {
	ContactID  uint32
	GroupName  string // "" shows in pidgin's group "IM Friends"
	Position   int
	Visibility int // wire.VisibilityShown, wire.VisibilityBlocked
	NickName   string
	IMName     string
	Headline   string
	AvatarURL  string
	Fields     wire.Dict // every pair of the record, in order
}

// Blocked reports a deny-list entry (Visibility 2).
func (c Contact) Blocked() bool { return c.Visibility == wire.VisibilityBlocked }

// Profile is a user's profile (4/3, 4/5, 5/7).
type Profile struct {
	UserID       uint32
	UserName     string // screen name
	DisplayName  string
	RealName     string
	ImageURL     string
	Headline     string
	BandName     string
	SongName     string
	Age          int
	Gender       string
	Location     string
	TotalFriends int
	Fields       wire.Dict // the whole reply body
}

// Group is one record of the group list (2/6).
type Group struct {
	GroupID   uint32
	GroupName string
	GroupFlag int
	Position  int
}

// register gives a persist request its rid and a place for the reply.
func (c *Client) register(w *waiter) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rid++
	if w != nil {
		c.waiters[c.rid] = w
	}
	return c.rid
}

// forget drops the waiter of rid after its caller gave up; the reply, if
// it comes, becomes a PersistPush event.
func (c *Client) forget(rid int) {
	c.mu.Lock()
	delete(c.waiters, rid)
	c.mu.Unlock()
}

// finish waits for a reply; the error bit makes it a *PersistError.
func (c *Client) finish(ctx context.Context, ch <-chan wire.Persist) (wire.Persist, error) {
	p, err := waitFor(ctx, c, ch)
	if err != nil {
		return p, err
	}
	if p.Cmd&wire.CmdError != 0 {
		return p, &PersistError{Reply: p}
	}
	return p, nil
}

// request sends the message build makes for a fresh rid and waits for
// the reply with that rid.
func (c *Client) request(ctx context.Context, build func(rid int) wire.Message) (wire.Persist, error) {
	if err := c.requireOnline(); err != nil {
		return wire.Persist{}, err
	}
	ch := make(chan wire.Persist, 1)
	rid := c.register(&waiter{ch: ch})
	defer c.forget(rid)
	if err := c.send(ctx, build(rid)); err != nil {
		return wire.Persist{}, err
	}
	return c.finish(ctx, ch)
}

// persistMsg builds a request in the layout of the captured exchanges
// (and of pidgin's other requests): sesskey cmd dsn uid lid rid body.
func (c *Client) persistMsg(cmd int, ds wire.DataSet, body wire.Dict, rid int) wire.Message {
	c.mu.Lock()
	sk, uid := c.sess.SessionKey, c.sess.UserID
	c.mu.Unlock()
	return wire.Persist{SessKey: sk, Cmd: cmd, DataSet: ds, UID: uid, RID: rid, Body: body}.Message()
}

// Persist sends any persist request (sesskey, cmd, dsn, uid, lid, rid,
// body) and waits for the reply with its rid. A reply with the error bit
// gives a *PersistError along with the reply.
func (c *Client) Persist(ctx context.Context, cmd int, ds wire.DataSet, body wire.Dict) (wire.Persist, error) {
	return c.request(ctx, func(rid int) wire.Message { return c.persistMsg(cmd, ds, body, rid) })
}

// persistNoReply sends a request whose reply nobody waits for (the 514/515
// contact actions); a reply, if the server sends one, is a PersistPush.
func (c *Client) persistNoReply(ctx context.Context, cmd int, ds wire.DataSet, body wire.Dict) error {
	return c.send(ctx, c.persistMsg(cmd, ds, body, c.register(nil)))
}

func uidString(uid uint32) string { return strconv.FormatUint(uint64(uid), 10) }

// ContactList asks for the contact list (0/1) in pidgin's layout.
func (c *Client) ContactList(ctx context.Context) ([]Contact, error) {
	p, err := c.request(ctx, func(rid int) wire.Message {
		return pidginGet(c.SessionKey(), c.UserID(), wire.DSContactList, rid)
	})
	if err != nil {
		return nil, err
	}
	return parseContacts(p.Body), nil
}

// ContactInfo asks for one contact's record (0/2). ErrNoSuchUser when the
// reply has no record.
func (c *Client) ContactInfo(ctx context.Context, uid uint32) (Contact, error) {
	p, err := c.Persist(ctx, wire.CmdGet, wire.DSContactInfo, wire.Dict{{Key: "ContactID", Value: uidString(uid)}})
	if err != nil {
		return Contact{}, err
	}
	list := parseContacts(p.Body)
	if len(list) == 0 {
		return Contact{}, ErrNoSuchUser
	}
	return list[0], nil
}

// Profile asks for a user's profile by id (4/3), as pidgin does for every
// unknown sender. ErrNoSuchUser when the reply has no UserID.
func (c *Client) Profile(ctx context.Context, uid uint32) (Profile, error) {
	return c.profile(c.Persist(ctx, wire.CmdGet, wire.DSProfile, wire.Dict{{Key: "UserID", Value: uidString(uid)}}))
}

// OwnProfile asks for the own profile (4/5) in pidgin's layout.
func (c *Client) OwnProfile(ctx context.Context) (Profile, error) {
	return c.profile(c.request(ctx, func(rid int) wire.Message {
		uid := c.UserID()
		return wire.Message{wire.Int(wire.TypePersist, 1), wire.Uint("sesskey", c.SessionKey()), wire.Int("cmd", wire.CmdGet),
			wire.Int("dsn", 4), wire.Int("lid", 5), wire.Int("rid", int64(rid)), wire.Uint("UserID", uid),
			wire.Dictionary("body", wire.Dict{{Key: "UserID", Value: uidString(uid)}})}
	}))
}

// LookupUserName looks a user up by screen name (5/7). A reply without a
// UserID means there is no such user (ErrNoSuchUser): the name is free.
func (c *Client) LookupUserName(ctx context.Context, name string) (Profile, error) {
	return c.profile(c.Persist(ctx, wire.CmdGet, wire.DSLookup, wire.Dict{{Key: "UserName", Value: name}}))
}

// LookupEmail looks a user up by e-mail address (5/7).
func (c *Client) LookupEmail(ctx context.Context, email string) (Profile, error) {
	return c.profile(c.Persist(ctx, wire.CmdGet, wire.DSLookup, wire.Dict{{Key: "Email", Value: email}}))
}

func (c *Client) profile(p wire.Persist, err error) (Profile, error) {
	if err != nil {
		return Profile{}, err
	}
	prof := parseProfile(p.Body)
	if prof.UserID == 0 {
		return prof, ErrNoSuchUser
	}
	return prof, nil
}

// Settings asks for the own IM settings (1/4) in pidgin's layout (no uid).
func (c *Client) Settings(ctx context.Context) (wire.Dict, error) {
	p, err := c.request(ctx, func(rid int) wire.Message {
		return wire.Message{wire.Int(wire.TypePersist, 1), wire.Uint("sesskey", c.SessionKey()), wire.Int("cmd", wire.CmdGet),
			wire.Int("dsn", 1), wire.Int("lid", 4), wire.Int("rid", int64(rid)), wire.Raw("body", "")}
	})
	return p.Body, err
}

// IMInfo asks for another user's IM settings by id (1/17, as the official
// client did).
func (c *Client) IMInfo(ctx context.Context, uid uint32) (wire.Dict, error) {
	p, err := c.Persist(ctx, wire.CmdGet, wire.DSIMInfoByID, wire.Dict{{Key: "UserID", Value: uidString(uid)}})
	return p.Body, err
}

// SetSettings stores IM preferences (1/10, cmd 514), e.g. Headline,
// ShowOnlyToList. It does not wait for a reply.
func (c *Client) SetSettings(ctx context.Context, prefs wire.Dict) error {
	if err := c.requireOnline(); err != nil {
		return err
	}
	return c.persistNoReply(ctx, wire.CmdAction|wire.CmdPut, wire.DSSetIMInfo, prefs)
}

// Groups asks for the group list (2/6).
func (c *Client) Groups(ctx context.Context) ([]Group, error) {
	p, err := c.Persist(ctx, wire.CmdGet, wire.DSGroupList, nil)
	if err != nil {
		return nil, err
	}
	var out []Group
	for _, r := range p.Body.Records("GroupID") {
		g := Group{GroupName: r.Get("GroupName")}
		g.GroupID, _ = r.Uint32("GroupID")
		g.GroupFlag, _ = r.Int("GroupFlag")
		g.Position, _ = r.Int("Position")
		out = append(out, g)
	}
	return out, nil
}

// NewItems asks for the new-item flags (7/18): Mail, BlogComment, ... with
// value On when there is something new.
func (c *Client) NewItems(ctx context.Context) (wire.Dict, error) {
	p, err := c.request(ctx, func(rid int) wire.Message {
		return pidginGet(c.SessionKey(), c.UserID(), wire.DSNewItems, rid)
	})
	return p.Body, err
}

// SetUserName picks the account's screen name (9/14, cmd 2). The server
// answers 258 with Code=0 on success; another code gives a *PersistError.
// Check availability first with LookupUserName (ErrNoSuchUser = free).
func (c *Client) SetUserName(ctx context.Context, name string) error {
	p, err := c.Persist(ctx, wire.CmdPut, wire.DSSetUserName, wire.Dict{{Key: "UserName", Value: name}})
	if err != nil {
		return err
	}
	if code, ok := p.Body.Lookup("Code"); ok && code != "0" {
		return &PersistError{Reply: p}
	}
	c.mu.Lock()
	c.sess.UniqueNick = name
	c.mu.Unlock()
	return nil
}

// parseContacts reads contact records as pidgin does: for each ContactID,
// every field is the first one found from that ContactID onward (so a
// record missing a field inherits the next record's, as pidgin users would
// see). A ContactID repeated right away (the official server did that in
// 0/2 replies) counts once.
func parseContacts(body wire.Dict) []Contact {
	var out []Contact
	recs := body.Records("ContactID")
	r := 0
	for i, p := range body {
		if p.Key != "ContactID" {
			continue
		}
		fields := recs[r]
		r++
		id, err := strconv.ParseUint(p.Value, 10, 32)
		if err != nil || id == 0 {
			continue
		}
		if n := len(out); n > 0 && out[n-1].ContactID == uint32(id) && len(out[n-1].Fields) == 1 {
			out = out[:n-1]
		}
		rest := body[i:]
		ct := Contact{
			ContactID: uint32(id),
			GroupName: rest.Get("GroupName"),
			NickName:  rest.Get("NickName"),
			IMName:    rest.Get("IMName"),
			Headline:  rest.Get("Headline"),
			AvatarURL: rest.Get("AvatarUrl"),
			Fields:    fields,
		}
		ct.Position, _ = rest.Int("Position")
		ct.Visibility, _ = rest.Int("Visibility")
		out = append(out, ct)
	}
	return out
}

func parseProfile(d wire.Dict) Profile {
	p := Profile{
		UserName:    d.Get("UserName"),
		DisplayName: d.Get("DisplayName"),
		RealName:    d.Get("RealName"),
		ImageURL:    d.Get("ImageURL"),
		Headline:    d.Get("Headline"),
		BandName:    d.Get("BandName"),
		SongName:    d.Get("SongName"),
		Gender:      d.Get("Gender"),
		Location:    d.Get("Location"),
		Fields:      d,
	}
	p.UserID, _ = d.Uint32("UserID")
	p.Age, _ = d.Int("Age")
	p.TotalFriends, _ = d.Int("TotalFriends")
	return p
}
