package server

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// switchboard is one chat session and its participants, in joining order.
type switchboard struct {
	id      string
	mu      sync.Mutex
	members []*sbConn
}

// sbConn is one participant's switchboard connection.
type sbConn struct {
	*conn
	acct hub.Account
	sb   *switchboard // set once joined; read only by the reader goroutine
}

func (c *sbConn) loggedIn() bool { return c.sb != nil }

func (c *sbConn) dispatch(ctx context.Context, cmd wire.Command) error {
	if cmd.Name == "OUT" {
		return errClose
	}
	if _, ok := cmd.TrID(); !ok {
		return errCode(errSyntax)
	}
	switch cmd.Name {
	case "USR":
		return c.handleUSR(ctx, cmd)
	case "ANS":
		return c.handleANS(ctx, cmd)
	case "CAL", "MSG":
		if c.sb == nil {
			return errCode(errNotLoggedIn)
		}
		if cmd.Name == "CAL" {
			return c.handleCAL(ctx, cmd)
		}
		return c.handleMSG(cmd)
	}
	return errCode(errSyntax)
}

// admit checks a cookie presented in USR or ANS and resolves the account.
func (c *sbConn) admit(ctx context.Context, email, value, session string) (hub.Account, error) {
	if c.sb != nil {
		return hub.Account{}, errCode(errAlreadyLoggedIn)
	}
	ck, ok := c.srv.cookies.take(value)
	if !ok || ck.session != session {
		return hub.Account{}, fatalCode(errAuthFailed)
	}
	acct, err := c.srv.cfg.Hub.Store().Account(ctx, ck.account)
	if err != nil || !strings.EqualFold(acct.Email, email) {
		return hub.Account{}, fatalCode(errAuthFailed)
	}
	c.acct = acct
	c.log = c.log.With("account", acct.Number)
	return acct, nil
}

// handleUSR opens a new switchboard session with an XFR SB cookie.
func (c *sbConn) handleUSR(ctx context.Context, cmd wire.Command) error {
	if len(cmd.Args) != 3 {
		return errCode(errInvalidParameter)
	}
	acct, err := c.admit(ctx, cmd.Args[1], cmd.Args[2], "")
	if err != nil {
		return err
	}
	sb := c.srv.newSwitchboard()
	sb.members = []*sbConn{c}
	c.sb = sb
	c.send("USR", cmd.Args[0], "OK", acct.Email, wire.EncodeName(acct.DisplayName))
	return nil
}

// handleANS joins a session the client was rung into.
func (c *sbConn) handleANS(ctx context.Context, cmd wire.Command) error {
	if len(cmd.Args) != 4 {
		return errCode(errInvalidParameter)
	}
	trid, sid := cmd.Args[0], cmd.Args[3]
	acct, err := c.admit(ctx, cmd.Args[1], cmd.Args[2], sid)
	if err != nil {
		return err
	}
	sb := c.srv.switchboard(sid)
	if sb == nil {
		return fatalCode(errAuthFailed)
	}
	sb.mu.Lock()
	if len(sb.members) == 0 {
		sb.mu.Unlock()
		return fatalCode(errAuthFailed)
	}
	others := append([]*sbConn(nil), sb.members...)
	sb.members = append(sb.members, c)
	sb.mu.Unlock()
	c.sb = sb
	total := strconv.Itoa(len(others))
	for i, o := range others {
		c.send("IRO", trid, strconv.Itoa(i+1), total, o.acct.Email, wire.EncodeName(o.acct.DisplayName))
	}
	c.send("ANS", trid, "OK")
	for _, o := range others {
		o.send("JOI", acct.Email, wire.EncodeName(acct.DisplayName))
	}
	return nil
}

func (c *sbConn) handleCAL(ctx context.Context, cmd wire.Command) error {
	email := cmd.Arg(1)
	if !validPassport(email) {
		return errCode(errInvalidUsername)
	}
	callee, err := c.srv.cfg.Hub.Store().AccountByEmail(ctx, email)
	if errors.Is(err, hub.ErrNotFound) {
		return errCode(errNotOnline)
	}
	if err != nil {
		return err
	}
	c.sb.mu.Lock()
	for _, m := range c.sb.members {
		if m.acct.Number == callee.Number {
			c.sb.mu.Unlock()
			return errCode(errAlreadyThere)
		}
	}
	c.sb.mu.Unlock()
	value := c.srv.cookies.issue(cookie{
		account: callee.Number,
		session: c.sb.id,
		caller:  c.acct.Number,
		expires: time.Now().Add(c.srv.cfg.CookieLifetime),
	})
	err = c.srv.cfg.Hub.Invite(ctx, c.acct, callee.Number, hub.Invite{
		Protocol:     "msnp",
		Conversation: c.sb.id,
		Addr:         c.srv.cfg.SwitchboardAddr,
		Cookie:       value,
	})
	if errors.Is(err, hub.ErrUnreachable) {
		c.srv.cookies.take(value)
		return errCode(errNotOnline)
	}
	if err != nil {
		return err
	}
	c.send("CAL", cmd.Args[0], "RINGING", c.sb.id)
	return nil
}

// handleMSG relays a message byte for byte to the other participants and
// acknowledges it as the client asked: U never, N only on failure, A always.
func (c *sbConn) handleMSG(cmd wire.Command) error {
	if len(cmd.Args) != 3 {
		return errCode(errInvalidParameter)
	}
	if len(cmd.Payload) > c.srv.cfg.MaxMessageBytes {
		c.log.Info("message too large", "bytes", len(cmd.Payload))
		return errClose
	}
	trid, mode := cmd.Args[0], cmd.Args[1]
	switch mode {
	case "U", "N", "A", "D":
	default:
		return errCode(errInvalidParameter)
	}
	c.sb.mu.Lock()
	others := make([]*sbConn, 0, len(c.sb.members))
	for _, m := range c.sb.members {
		if m != c {
			others = append(others, m)
		}
	}
	c.sb.mu.Unlock()
	if len(others) == 0 {
		if mode != "U" {
			c.send("NAK", trid)
		}
		return nil
	}
	frame := wire.AppendPayloadCommand(nil, "MSG", cmd.Payload, c.acct.Email, wire.EncodeName(c.acct.DisplayName))
	for _, o := range others {
		o.write(frame)
	}
	metrics.Messages.WithLabelValues("msnp").Inc()
	if mode == "A" || mode == "D" {
		c.send("ACK", trid)
	}
	return nil
}

// end leaves the session: the others see BYE, and the last one out ends it.
func (c *sbConn) end(context.Context) {
	sb := c.sb
	if sb == nil {
		return
	}
	sb.mu.Lock()
	for i, m := range sb.members {
		if m == c {
			sb.members = append(sb.members[:i], sb.members[i+1:]...)
			break
		}
	}
	others := append([]*sbConn(nil), sb.members...)
	sb.mu.Unlock()
	for _, o := range others {
		o.send("BYE", c.acct.Email)
	}
	if len(others) == 0 {
		c.srv.dropSwitchboard(sb.id)
	}
}

func (s *Server) newSwitchboard() *switchboard {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		id := randomDigits(8)
		if _, taken := s.switchboards[id]; !taken {
			sb := &switchboard{id: id}
			s.switchboards[id] = sb
			return sb
		}
	}
}

func (s *Server) switchboard(id string) *switchboard {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.switchboards[id]
}

func (s *Server) dropSwitchboard(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.switchboards, id)
}
