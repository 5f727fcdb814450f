package client

import (
	"context"
	"errors"

	"github.com/crosstalk-im/crosstalk/msnp/abch"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// Groups named by GUID (MSNP10 and later): ADG, RMG, REG, and ADC and REM
// with a group on the notification server up to MSNP12; from MSNP13 the
// address book service's ABGroupAdd, ABGroupDelete, ABGroupUpdate,
// ABGroupContactAdd and ABGroupContactDelete, with nothing to tell the
// notification server (groups live only in the address book).

// ErrNeedsGroupGUIDs is returned by the GUID group operations before
// MSNP10, whose groups are numbered (AddGroup and the others).
var ErrNeedsGroupGUIDs = errors.New("msnp client: groups by GUID need MSNP10 or later")

func (c *Client) guidGroups() error {
	if c.Dialect() < 10 {
		return ErrNeedsGroupGUIDs
	}
	return nil
}

// AddGroupGUID creates a group and returns its GUID.
func (c *Client) AddGroupGUID(ctx context.Context, name string) (string, error) {
	if err := c.guidGroups(); err != nil {
		return "", err
	}
	if c.Dialect() >= 13 {
		return c.abCall(ctx, "ABGroupAdd", nil, abch.NewGroupArg(name))
	}
	reply, err := c.single(ctx, "ADG", wire.EncodeName(name), "0") // ADG trid name guid 0
	if err != nil {
		return "", err
	}
	if reply.Arg(2) == "" {
		return "", unexpected("ADG", reply)
	}
	return reply.Arg(2), nil
}

// RemoveGroupGUID deletes a group; its contacts stay on the forward list.
func (c *Client) RemoveGroupGUID(ctx context.Context, guid string) error {
	if err := c.guidGroups(); err != nil {
		return err
	}
	if c.Dialect() >= 13 {
		_, err := c.abCall(ctx, "ABGroupDelete", nil, abch.GroupFilterArg(guid))
		return err
	}
	_, err := c.single(ctx, "RMG", guid) // RMG trid 1 guid
	return err
}

// RenameGroupGUID renames a group.
func (c *Client) RenameGroupGUID(ctx context.Context, guid, name string) error {
	if err := c.guidGroups(); err != nil {
		return err
	}
	if c.Dialect() >= 13 {
		_, err := c.abCall(ctx, "ABGroupUpdate", nil, abch.GroupUpdateArg(guid, name))
		return err
	}
	_, err := c.single(ctx, "REG", guid, wire.EncodeName(name)) // REG trid 1 name guid 0
	return err
}

// AddToGroup puts a forward-list contact, named by its GUID
// (Contact.GUID), into a group.
func (c *Client) AddToGroup(ctx context.Context, contactGUID, groupGUID string) error {
	return c.groupMember(ctx, true, contactGUID, groupGUID)
}

// RemoveFromGroup takes a forward-list contact out of a group; it stays
// on the forward list.
func (c *Client) RemoveFromGroup(ctx context.Context, contactGUID, groupGUID string) error {
	return c.groupMember(ctx, false, contactGUID, groupGUID)
}

// groupMember is ABGroupContactAdd or ABGroupContactDelete from MSNP13,
// ADC FL C=contact group or REM FL contact group (both echoed) before.
func (c *Client) groupMember(ctx context.Context, add bool, contactGUID, groupGUID string) error {
	if err := c.guidGroups(); err != nil {
		return err
	}
	op, cmd, contact := "ABGroupContactAdd", "ADC", "C="+contactGUID
	if !add {
		op, cmd, contact = "ABGroupContactDelete", "REM", contactGUID
	}
	if c.Dialect() >= 13 {
		_, err := c.abCall(ctx, op, nil, abch.GroupFilterArg(groupGUID), abch.ContactArg(contactGUID, ""))
		return err
	}
	_, err := c.single(ctx, cmd, ListForward, contact, groupGUID)
	return err
}
