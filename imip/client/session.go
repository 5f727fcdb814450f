package client

import (
	"context"
	"strconv"
	"time"

	"github.com/crosstalk-im/crosstalk/imip/wire"
)

// handle interprets one block in the reader goroutine. An error ends the
// connection with that cause.
func (c *Client) handle(b *wire.Block) error {
	if ref, ok := b.Reference(); ok {
		c.mu.Lock()
		w, waiting := c.waiters[ref]
		delete(c.waiters, ref)
		ping := c.pings[ref]
		delete(c.pings, ref)
		c.mu.Unlock()
		if waiting {
			err := c.answered(w.req, b)
			w.answer.Complete(b)
			return err
		}
		if ping && b.Type == wire.TypeACK && b.Arg(0) == "600" {
			return nil // a keep-alive answered
		}
	}
	switch b.Type {
	case wire.TypeACK:
		return c.handleAck(b)
	case wire.TypeSTAT:
		return c.handleStat(b)
	case wire.TypeMESG:
		return c.handleMessage(b)
	case wire.TypeLIST:
		return c.handleList(b)
	case wire.TypePING:
		return c.answerPing(b)
	case wire.TypeDISC:
		reason := string(b.Body)
		if reason == "" {
			reason = wire.TypeDISC
		}
		c.mu.Lock()
		c.reason = reason
		c.mu.Unlock()
		return ErrServerDisc
	}
	return c.emit(Other{Block: b})
}

// answered applies an answer's effect on the session before the reader
// reads on, so that the blocks after it see it: a contact added with LIST
// ADD is pending (its first presence means consent), and the answers that
// end the session (an ACK to DISC, an error ACK to LOGN) end the reader
// with the cause set before the server's hang-up can be seen.
func (c *Client) answered(req, reply *wire.Block) error {
	if reply.Type != wire.TypeACK {
		return nil
	}
	code, err := ackCode(reply)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var cause error
	switch {
	case req.Type == wire.TypeLIST && code == wire.CodeOK && req.Arg(0) == wire.ListAdd:
		c.adding[req.Arg(1)] = true
	case req.Type == wire.TypeLIST && code == wire.CodeOK && req.Arg(0) == wire.ListRemove:
		delete(c.adding, req.Arg(1))
	case req.Type == wire.TypeDISC:
		if code == wire.CodeOK {
			c.reason = wire.TypeDISC
		}
		cause = ErrClosed
	case req.Type == wire.TypeLOGN && code != wire.CodeOK:
		c.state = stateDisc
		cause = &AckError{Code: code, Text: string(reply.Body), Request: req.TypeLine()}
	}
	return cause
}

// handleAck takes an ACK nobody waits for: a failed errors-only MESG
// becomes MessageFailed, a late ACK 600 is dropped, the rest is Other.
func (c *Client) handleAck(b *wire.Block) error {
	code, err := ackCode(b)
	if err != nil {
		return err
	}
	ref, ok := b.Reference()
	c.mu.Lock()
	to, sent := c.sent[ref]
	c.mu.Unlock()
	switch {
	case ok && sent && code != wire.CodeOK:
		return c.emit(MessageFailed{ID: ref, To: to, Code: code, Text: string(b.Body)})
	case code == wire.CodeOK:
		c.log.Debug("imip: ACK 600 for no waiting block", "reference", b.Get(wire.HeaderReference))
		return nil
	}
	return c.emit(Other{Block: b})
}

func (c *Client) handleStat(b *wire.Block) error {
	if len(b.Args) == 0 {
		return protocolErrorf(b, "STAT without status")
	}
	from, err := wire.ParseAddress(b.Get(wire.HeaderFrom))
	if err != nil {
		return &ProtocolError{Block: b, Err: err}
	}
	st := wire.Status(b.Arg(0))
	if known, ok := wire.ParseStatus(b.Arg(0)); ok {
		st = known
	}
	if st != wire.StatusOffline {
		c.mu.Lock()
		pending := c.adding[from.User]
		delete(c.adding, from.User)
		c.mu.Unlock()
		if pending {
			if err := c.emit(ListResult{Op: wire.ListAdd, User: from.User, Nick: from.Nick, List: wire.ListBuddy, Accepted: true}); err != nil {
				return err
			}
		}
	}
	return c.emit(Status{Number: from.User, Nick: from.Nick, Status: st, Text: string(b.Body)})
}

// handleMessage: the Time header (TimeLayout) gives the time; a Date
// header in RFC 1123 is accepted when there is no Time.
func (c *Client) handleMessage(b *wire.Block) error {
	from, err := wire.ParseAddress(b.Get(wire.HeaderFrom))
	if err != nil {
		return &ProtocolError{Block: b, Err: err}
	}
	m := Message{From: from.User, Nick: from.Nick, To: b.Get(wire.HeaderTo), Text: string(b.Body),
		ContentType: b.Get(wire.HeaderContentType)}
	m.ID, _ = b.ID()
	if v, ok := b.Lookup(wire.HeaderTime); ok {
		if m.Time, err = wire.ParseTime(v); err != nil {
			return &ProtocolError{Block: b, Err: err}
		}
	} else if v, ok := b.Lookup(wire.HeaderDate); ok {
		t, err := time.Parse(time.RFC1123, v)
		if err != nil {
			if t, err = time.Parse(time.RFC1123Z, v); err != nil {
				return &ProtocolError{Block: b, Err: err}
			}
		}
		m.Time = t.UTC()
	}
	return c.emit(m)
}

// handleList: "LIST ADD" without a user is a request to add us; any other
// LIST names a user (in the type line or From) and reports a change.
func (c *Client) handleList(b *wire.Block) error {
	op := b.Arg(0)
	if op == "" {
		return protocolErrorf(b, "LIST without subcommand")
	}
	var who wire.Contact
	var err error
	switch {
	case len(b.Args) > 1:
		who, err = wire.ParseAddress(joinArgs(b.Args[1:]))
	default:
		who, err = wire.ParseAddress(b.Get(wire.HeaderFrom))
	}
	if err != nil {
		return &ProtocolError{Block: b, Err: err}
	}
	list := b.Get(wire.HeaderList)
	if op == wire.ListAdd && len(b.Args) == 1 {
		return c.emit(ListRequest{From: who.User, Nick: who.Nick, List: list, Text: string(b.Body)})
	}
	if op == wire.ListReject || op == wire.ListRemove {
		c.mu.Lock()
		delete(c.adding, who.User)
		c.mu.Unlock()
	}
	return c.emit(ListResult{Op: op, User: who.User, Nick: who.Nick, List: list, Text: string(b.Body),
		Accepted: op == wire.ListAccept || op == wire.ListAdd})
}

func joinArgs(args []string) string {
	s := args[0]
	for _, a := range args[1:] {
		s += " " + a
	}
	return s
}

// answerPing acknowledges a server PING with ACK 600.
func (c *Client) answerPing(b *wire.Block) error {
	ack := wire.NewBlock(wire.TypeACK, strconv.Itoa(int(wire.CodeOK)))
	if id, ok := b.ID(); ok {
		ack.Add(wire.HeaderReference, strconv.FormatUint(uint64(id), 10))
	}
	_, err := c.send(context.Background(), ack, nil)
	return err
}

// startKeepAlive arms the keep-alive PINGs after login.
func (c *Client) startKeepAlive() {
	every := c.opts.KeepAlive
	if every == 0 {
		every = c.hello.KeepAlive
	}
	if every <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn.Err() != nil || c.keepAlive != nil {
		return
	}
	var tick func()
	tick = func() {
		ctx, cancel := context.WithTimeout(context.Background(), defaultWriteTimeout)
		defer cancel()
		_, err := c.send(ctx, wire.NewBlock(wire.TypePING), func(id uint32) {
			if len(c.pings) >= 16 { // a server that never answers
				clear(c.pings)
			}
			c.pings[id] = true
		})
		_ = err // a failed write has ended the connection already
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.conn.Err() == nil && c.state == stateOnline {
			c.keepAlive.Reset(every)
		}
	}
	c.keepAlive = time.AfterFunc(every, tick)
}
