package client

import (
	"context"
	"fmt"
	"time"

	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/internal/clientconn"
	"google.golang.org/protobuf/proto"
)

// Login waits for the server's GG_WELCOME, sends GG_LOGIN105 with the SHA-1
// hash of password and the seed, and waits for the confirmation. status is
// the initial GG_STATUS_* (only its low byte is sent, as libgadu does;
// 0 means wire.StatusAvail) and description its UTF-8 description.
//
// A wrong password gives ErrLoginFailed and ends the connection. Like
// libgadu, GG_LOGIN110_OK, GG_LOGIN80_OK, GG_LOGIN_OK and even GG_NEED_EMAIL
// count as success. After Login, send the contact list with NotifyList (a
// real client always does, even when it is empty); the IM token follows
// separately, see IMToken.
func (c *Client) Login(ctx context.Context, uin uint32, password string, status uint32, description string) error {
	c.mu.Lock()
	tried := c.loginTried
	c.loginTried = true
	c.mu.Unlock()
	if tried {
		return fmt.Errorf("%w: Login called twice", ErrState)
	}
	seed, err := waitFor(ctx, c, c.welcome)
	if err != nil {
		return err
	}
	if status&0xFF == 0 {
		status = wire.StatusAvail
	}
	msg := &ggpb.GG105Login{
		Lang:              proto.String("pl"),
		Uin:               wire.AppendProtoUIN(nil, wire.UINMagicClient, uin),
		Hash:              wire.HashSHA1(password, seed),
		Dummy1:            proto.Int32(4),
		Dummy2:            proto.Uint32(0x03eeff77),
		Dummy3:            proto.Uint32(0x00030614),
		Client:            proto.String(c.opts.ClientName),
		InitialStatus:     proto.Uint32(status & 0xFF),
		InitialDescr:      proto.String(description),
		Dummy4:            make([]byte, 4),
		SupportedFeatures: proto.String(c.opts.Features),
		Dummy5:            proto.Int32(255),
		Dummy6:            proto.Int32(100),
		Dummy7:            proto.Uint32(0x7F),
		Dummy8:            proto.Int32(0),
		Dummy10:           proto.Uint32(0),
	}
	c.mu.Lock()
	c.state = stateLogin // before sending, so the reader takes the reply
	c.uin = uin
	c.mu.Unlock()
	if err := c.sendProto(ctx, wire.TypeLogin105, msg); err != nil {
		return err
	}
	err, werr := waitFor(ctx, c, c.loginDone)
	if werr != nil {
		return werr
	}
	return err
}

// UIN returns the logged-in number (as the server confirmed it), or the one
// Login was called with while it waits.
func (c *Client) UIN() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.uin
}

// IMToken returns the token of GG_IMTOKEN, which the server sends right
// after confirming the login, waiting for it if it has not arrived yet.
// Bound the wait with ctx: a server may never send one.
func (c *Client) IMToken(ctx context.Context) (string, error) {
	if _, err := clientconn.Await(ctx, c.conn, c.tokenReady); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token, nil
}

// handleWelcome takes the seed; anything else before it means nothing.
func (c *Client) handleWelcome(p wire.Packet) error {
	if p.Type != wire.TypeWelcome || c.gotWelcome {
		return c.emitOther(p)
	}
	w, err := wire.ParseWelcome(p.Body)
	if err != nil {
		return &ProtocolError{Type: p.Type, Err: err}
	}
	c.gotWelcome = true
	c.welcome <- w.Seed
	return nil
}

// handleLoginReply takes the server's answer to GG_LOGIN105.
func (c *Client) handleLoginReply(p wire.Packet) error {
	switch p.Type {
	case wire.TypeLogin110OK:
		var m ggpb.GG110LoginOK
		if err := proto.Unmarshal(p.Body, &m); err != nil {
			return &ProtocolError{Type: p.Type, Err: err}
		}
		server := time.Unix(int64(m.GetServerTime()), 0)
		c.syncTime(server)
		return c.loggedIn(m.GetUin(), server)
	case wire.TypeLogin80OK, wire.TypeLoginOK, wire.TypeNeedEmail:
		return c.loggedIn(c.UIN(), time.Time{})
	case wire.TypeLogin80Failed, wire.TypeLoginFailed:
		c.mu.Lock()
		c.reason = wire.TypeName(p.Type)
		c.mu.Unlock()
		c.loginDone <- ErrLoginFailed
		return ErrLoginFailed
	}
	return c.emitOther(p)
}

func (c *Client) loggedIn(uin uint32, server time.Time) error {
	c.mu.Lock()
	c.state = stateConnected
	c.uin = uin
	c.mu.Unlock()
	if every := c.opts.PingInterval; every > 0 {
		c.pinger.Add(1)
		go c.keepAlive(every)
	}
	c.loginDone <- nil
	return c.emit(LoggedIn{UIN: uin, ServerTime: server})
}

// handleIMToken keeps the first token; libgadu reports an empty one as
// absent, which here is the empty string.
func (c *Client) handleIMToken(p wire.Packet) error {
	var m ggpb.GG110Imtoken
	if err := proto.Unmarshal(p.Body, &m); err != nil {
		return &ProtocolError{Type: p.Type, Err: err}
	}
	if !c.gotToken {
		c.gotToken = true
		c.mu.Lock()
		c.token = m.GetImtoken()
		c.mu.Unlock()
		close(c.tokenReady)
	}
	return c.emit(IMToken{Token: m.GetImtoken()})
}
