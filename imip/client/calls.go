package client

import (
	"context"
	"fmt"
	"strings"

	"github.com/crosstalk-im/crosstalk/imip/wire"
)

// Login sends "LOGN <user>" with the imip-md5 hash of the server's salt and
// password and waits for the answer. The server's LOGN echo is success; its
// Buddy header, the stored contact list, is returned (nil when absent).
// An ACK 600 counts as success too.
//
// Any other ACK fails with an *AckError, which matches ErrLoginFailed and,
// for 810 and 811, ErrBadPassword or ErrUnknownUser; the client then hangs
// up, as the Yahoo! client does. So does a Login that ends with ctx, since
// the answer may still come. After a successful login, set a status
// with SetStatus: the server sends the contacts' presence after the first
// one.
func (c *Client) Login(ctx context.Context, user, password string) ([]wire.Contact, error) {
	if !wire.ValidUser(user) {
		return nil, fmt.Errorf("imip client: user %q cannot be sent", user)
	}
	if at := c.hello.AuthType; at != "" && !strings.EqualFold(at, wire.AuthIMIPMD5) {
		return nil, fmt.Errorf("%w: %q", ErrAuthType, at)
	}
	if c.conn.Err() != nil {
		return nil, c.conn.ClosedErr()
	}
	c.mu.Lock()
	if c.state != stateReady {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: Login called twice", ErrState)
	}
	c.state = stateLogin
	c.user = user
	c.mu.Unlock()

	logn := wire.NewBlock(wire.TypeLOGN, user).
		Add(wire.HeaderClient, c.opts.ClientName).
		Add(wire.HeaderAuthType, wire.AuthIMIPMD5)
	logn.Body = []byte(wire.LoginHash(c.hello.Salt, password))
	reply, err := c.request(ctx, logn)
	if err != nil {
		c.conn.Fail(err) // half logged in: the session cannot go on
		return nil, err
	}
	switch reply.Type {
	case wire.TypeLOGN:
	case wire.TypeACK:
		if err := c.ackResult(logn, reply); err != nil {
			c.mu.Lock()
			c.state = stateDisc
			c.mu.Unlock()
			c.conn.Fail(err)
			return nil, err
		}
	default:
		err := protocolErrorf(reply, "want LOGN or ACK answering LOGN")
		c.conn.Fail(err)
		return nil, err
	}
	var buddies []wire.Contact
	if v, ok := reply.Lookup(wire.HeaderBuddy); ok {
		if buddies, err = wire.ParseBuddyList(v); err != nil {
			err = &ProtocolError{Block: reply, Err: err}
			c.conn.Fail(err)
			return nil, err
		}
	}
	c.mu.Lock()
	c.state = stateOnline
	c.buddies = buddies
	c.mu.Unlock()
	c.startKeepAlive()
	return buddies, nil
}

// Buddies returns the contact list the server's LOGN reported, updated by
// ListRemove.
func (c *Client) Buddies() []wire.Contact {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wire.Contact(nil), c.buddies...)
}

// SetStatus sends "STAT <status>" with text as the body and waits for the
// ACK. StatusOffline means invisible. The status is sent as given, so an
// unknown one (the server answers 801) or an empty one (a bare "STAT",
// answered with 800) can be tested.
func (c *Client) SetStatus(ctx context.Context, status wire.Status, text string) error {
	if err := c.requireState(stateOnline); err != nil {
		return err
	}
	b := wire.NewBlock(wire.TypeSTAT)
	if status != "" {
		b.Args = []string{string(status)}
	}
	b.Body = []byte(text)
	return c.requestAck(ctx, b)
}

// SendMessage sends a MESG to a user the way the Yahoo! client does (To,
// "ACK-Type: errors-only", From) and returns its block ID without waiting:
// the server answers only a failure, which arrives as a MessageFailed
// event with that ID.
func (c *Client) SendMessage(ctx context.Context, to, text string) (uint32, error) {
	if err := c.requireState(stateOnline); err != nil {
		return 0, err
	}
	b := wire.NewBlock(wire.TypeMESG).
		Add(wire.HeaderTo, to).
		Add(wire.HeaderACKType, wire.AckTypeErrorsOnly).
		Add(wire.HeaderFrom, c.User())
	b.Body = []byte(text)
	return c.send(ctx, b, func(id uint32) {
		c.sent[id] = to
		c.sentOrder = append(c.sentOrder, id)
		if len(c.sentOrder) > sentMemory {
			delete(c.sent, c.sentOrder[0])
			c.sentOrder = c.sentOrder[1:]
		}
	})
}

// SendMessageAcked sends a MESG without ACK-Type (To, From) and waits for
// the ACK, which our server sends for every such message.
func (c *Client) SendMessageAcked(ctx context.Context, to, text string) error {
	d, err := c.PostMessage(ctx, to, text)
	if err != nil {
		return err
	}
	return d.Wait(ctx)
}

// PostMessage sends the MESG SendMessageAcked does and returns before the
// ACK comes, so that a client with several messages to send need not wait
// for each ACK before sending the next; the ACK references the MESG's ID,
// and Delivery.Wait waits for it. On error the Delivery is nil.
func (c *Client) PostMessage(ctx context.Context, to, text string) (*Delivery, error) {
	ds, err := c.PostMessages(ctx, to, []string{text})
	if err != nil {
		return nil, err
	}
	return ds[0], nil
}

// PostMessages is PostMessage for several messages to one user, written
// at once (as a paste split in several messages); it returns their
// Deliveries in the same order.
func (c *Client) PostMessages(ctx context.Context, to string, texts []string) ([]*Delivery, error) {
	if err := c.requireState(stateOnline); err != nil {
		return nil, err
	}
	bs := make([]*wire.Block, len(texts))
	for i, text := range texts {
		// Room for the ID, which sendAll puts first, and To and From.
		bs[i] = &wire.Block{Type: wire.TypeMESG, Headers: make([]wire.Header, 0, 3), Body: []byte(text)}
		bs[i].Add(wire.HeaderTo, to).Add(wire.HeaderFrom, c.User())
	}
	return c.postAll(ctx, bs)
}

// ListAdd sends "LIST ADD <user>" (List: Buddy, From: us) with text, the
// request shown to the user, as the body, and waits for the ACK. The
// user's consent shows as a ListResult (and Status) when their presence
// first arrives.
func (c *Client) ListAdd(ctx context.Context, user, text string) error {
	if err := c.checkUser(user); err != nil {
		return err
	}
	b := wire.NewBlock(wire.TypeLIST, wire.ListAdd, user).
		Add(wire.HeaderList, wire.ListBuddy).
		Add(wire.HeaderFrom, c.User())
	b.Body = []byte(text)
	return c.requestAck(ctx, b)
}

// ListAccept answers a ListRequest with "LIST ACCEPT <user> "<nick>""
// (From: us) and waits for the ACK. nick is the one the request carried;
// it is left out when empty.
func (c *Client) ListAccept(ctx context.Context, user, nick string) error {
	if err := c.checkUser(user); err != nil {
		return err
	}
	b := wire.NewBlock(wire.TypeLIST, wire.ListAccept, user)
	if nick = wire.SanitizeNick(nick); nick != "" {
		b.Args = append(b.Args, `"`+nick+`"`)
	}
	b.Add(wire.HeaderFrom, c.User())
	return c.requestAck(ctx, b)
}

// ListReject answers a ListRequest with "LIST REJECT <user>" (From: us)
// and waits for the ACK.
func (c *Client) ListReject(ctx context.Context, user string) error {
	if err := c.checkUser(user); err != nil {
		return err
	}
	b := wire.NewBlock(wire.TypeLIST, wire.ListReject, user).Add(wire.HeaderFrom, c.User())
	return c.requestAck(ctx, b)
}

// ListRemove sends "LIST REMOVE <user>" (List: Buddy, From: us) and waits
// for the ACK.
func (c *Client) ListRemove(ctx context.Context, user string) error {
	if err := c.checkUser(user); err != nil {
		return err
	}
	b := wire.NewBlock(wire.TypeLIST, wire.ListRemove, user).
		Add(wire.HeaderList, wire.ListBuddy).
		Add(wire.HeaderFrom, c.User())
	if err := c.requestAck(ctx, b); err != nil {
		return err
	}
	c.mu.Lock()
	for i, b := range c.buddies {
		if b.User == user {
			c.buddies = append(c.buddies[:i:i], c.buddies[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	return nil
}

func (c *Client) checkUser(user string) error {
	if err := c.requireState(stateOnline); err != nil {
		return err
	}
	if !wire.ValidUser(user) {
		return fmt.Errorf("imip client: user %q cannot be sent", user)
	}
	return nil
}

// Ping sends PING and waits for the ACK.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.requireState(stateOnline); err != nil {
		return err
	}
	return c.requestAck(ctx, wire.NewBlock(wire.TypePING))
}

// Disconnect ends the session: it sends DISC, waits for the ACK and
// closes the connection (the server closes its side too). It returns nil
// when the ACK was 600. Whatever happens, the connection is closed when it
// returns; Disconnected.Reason is "DISC" after a good ACK.
func (c *Client) Disconnect(ctx context.Context) error {
	if c.conn.Err() != nil {
		return c.conn.ClosedErr()
	}
	c.mu.Lock()
	if c.state != stateReady && c.state != stateOnline {
		c.mu.Unlock()
		return ErrState
	}
	c.state = stateDisc
	if c.keepAlive != nil {
		c.keepAlive.Stop()
	}
	c.mu.Unlock()
	err := c.requestAck(ctx, wire.NewBlock(wire.TypeDISC))
	c.Close()
	return err
}
