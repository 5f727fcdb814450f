package client

import (
	"context"
	"fmt"

	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// Send writes any message as it is, for tests that need what the other
// methods do not send. It must encode (wire.Message.Validate).
func (c *Client) Send(ctx context.Context, m wire.Message) error {
	return c.send(ctx, m)
}

func (c *Client) statusMsg(status int, text string) wire.Message {
	return wire.Message{wire.Int(wire.TypeStatus, int64(status)), wire.Uint("sesskey", c.SessionKey()),
		wire.Str("statstring", text), wire.Str("locstring", "")}
}

// SetStatus sends \status\<status>\sesskey\S\statstring\<text>\locstring\\final\.
// status is wire.StatusOnline, wire.StatusAway, wire.StatusIdle or
// wire.StatusInvisible (0); text is the headline. The server answers
// nothing; contacts see a bm 100.
func (c *Client) SetStatus(ctx context.Context, status int, text string) error {
	if err := c.requireOnline(); err != nil {
		return err
	}
	return c.send(ctx, c.statusMsg(status, text))
}

// bm sends \bm\<type>\sesskey\S\t\<to>\cv\<version>\msg\<msg>\final\.
func (c *Client) bm(ctx context.Context, typ int, to uint32, msg string) error {
	if err := c.requireOnline(); err != nil {
		return err
	}
	return c.send(ctx, wire.Message{wire.Int(wire.TypeBM, int64(typ)), wire.Uint("sesskey", c.SessionKey()),
		wire.Uint("t", to), wire.Int("cv", int64(c.opts.ClientVersion)), wire.Str("msg", msg)})
}

// SendIM sends plain text as an instant message (bm 1), turned into markup
// with wire.TextToMarkup.
func (c *Client) SendIM(ctx context.Context, to uint32, text string) error {
	return c.bm(ctx, wire.BMIM, to, wire.TextToMarkup(text))
}

// SendMarkup sends an instant message (bm 1) whose markup is given as it
// is (unescaped; the client escapes it for the wire).
func (c *Client) SendMarkup(ctx context.Context, to uint32, markup string) error {
	return c.bm(ctx, wire.BMIM, to, markup)
}

// Typing sends bm 121 %typing% (typing true) or %stoptyping%.
func (c *Client) Typing(ctx context.Context, to uint32, typing bool) error {
	msg := wire.ActionStopTyping
	if typing {
		msg = wire.ActionTyping
	}
	return c.bm(ctx, wire.BMAction, to, msg)
}

// Zap sends zap n (wire.ZapZap .. wire.ZapRaspberry) as bm 121.
func (c *Client) Zap(ctx context.Context, to uint32, n int) error {
	if n < 0 || n >= len(wire.ZapNames) {
		return fmt.Errorf("msim client: no zap %d", n)
	}
	return c.bm(ctx, wire.BMAction, to, wire.ZapMsg(n))
}

// BlockList sends \blocklist\\sesskey\S\idlist\<items joined by |>\final\.
// Items are w0/w1 (presence visible to everyone / to the list only),
// c0/c1 (privacy mode), and a+ a- b+ b- (allow/block list add/remove)
// each followed by user ids or "*". There is no reply.
func (c *Client) BlockList(ctx context.Context, items ...string) error {
	if err := c.requireOnline(); err != nil {
		return err
	}
	return c.send(ctx, wire.Message{wire.Flag(wire.TypeBlockList), wire.Uint("sesskey", c.SessionKey()),
		wire.Str("idlist", wire.JoinList(items...))})
}

// contactRecord is the body of 0/9 as pidgin writes it.
func contactRecord(uid uint32, group string, visibility int) wire.Dict {
	return wire.Dict{{Key: "ContactID", Value: uidString(uid)}, {Key: "GroupName", Value: group}, {Key: "Position", Value: "1000"},
		{Key: "Visibility", Value: fmt.Sprint(visibility)}, {Key: "NickName", Value: ""}, {Key: "NameSelect", Value: "0"}}
}

// AddBuddy adds a user to the contact list as pidgin does:
// \addbuddy\\sesskey\S\newprofileid\<uid>\reason\\final\, the contact
// record (0/9, cmd 514, in group; "" is pidgin's "IM Friends") and
// \blocklist\ a+|<uid>|b-|<uid>. None of them has a known reply.
func (c *Client) AddBuddy(ctx context.Context, uid uint32, group string) error {
	if err := c.requireOnline(); err != nil {
		return err
	}
	sk := c.SessionKey()
	err := c.send(ctx, wire.Message{wire.Flag(wire.TypeAddBuddy), wire.Uint("sesskey", sk),
		wire.Uint("newprofileid", uid), wire.Str("reason", "")})
	if err == nil {
		err = c.persistNoReply(ctx, wire.CmdAction|wire.CmdPut, wire.DSAddContact, contactRecord(uid, group, wire.VisibilityShown))
	}
	if err == nil {
		err = c.BlockList(ctx, "a+", uidString(uid), "b-", uidString(uid))
	}
	if err == nil {
		c.mu.Lock()
		c.known[uid] = true
		c.mu.Unlock()
	}
	return err
}

func (c *Client) delBuddy(ctx context.Context, uid uint32) error {
	return c.send(ctx, wire.Message{wire.Flag(wire.TypeDelBuddy), wire.Uint("sesskey", c.SessionKey()), wire.Uint("delprofileid", uid)})
}

// RemoveBuddy removes a user from the contact list:
// \delbuddy\\sesskey\S\delprofileid\<uid>\final\ and 0/8 (cmd 515).
func (c *Client) RemoveBuddy(ctx context.Context, uid uint32) error {
	if err := c.requireOnline(); err != nil {
		return err
	}
	err := c.delBuddy(ctx, uid)
	if err == nil {
		err = c.persistNoReply(ctx, wire.CmdAction|wire.CmdDelete, wire.DSDeleteContact, wire.Dict{{Key: "ContactID", Value: uidString(uid)}})
	}
	return err
}

// Block puts a user on the deny list: \delbuddy\, \blocklist\
// b+|<uid>|a-|<uid> and the contact record with Visibility 2 (0/9).
func (c *Client) Block(ctx context.Context, uid uint32) error {
	if err := c.requireOnline(); err != nil {
		return err
	}
	err := c.delBuddy(ctx, uid)
	if err == nil {
		err = c.BlockList(ctx, "b+", uidString(uid), "a-", uidString(uid))
	}
	if err == nil {
		err = c.persistNoReply(ctx, wire.CmdAction|wire.CmdPut, wire.DSAddContact, contactRecord(uid, "", wire.VisibilityBlocked))
	}
	return err
}

// Unblock takes a user off the deny list: 0/8 (cmd 515) and \blocklist\
// a-|<uid>|b-|<uid>.
func (c *Client) Unblock(ctx context.Context, uid uint32) error {
	if err := c.requireOnline(); err != nil {
		return err
	}
	err := c.persistNoReply(ctx, wire.CmdAction|wire.CmdDelete, wire.DSDeleteContact, wire.Dict{{Key: "ContactID", Value: uidString(uid)}})
	if err == nil {
		err = c.BlockList(ctx, "a-", uidString(uid), "b-", uidString(uid))
	}
	return err
}
