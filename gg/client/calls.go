package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/internal/bufpool"
	"github.com/crosstalk-im/crosstalk/internal/outcome"
)

// MessageAck is the server's GG_SEND_MSG_ACK110 for a sent message.
type MessageAck struct {
	Seq     uint32 // the message's sequence number
	MsgType uint32 // 1 for a normal message
	Time    time.Time
	MsgID   uint64 // 0 when absent
	ConvID  uint64 // 0 when absent
	// Status is what became of the message as a GG_SEND_MSG_ACK said:
	// wire.AckQueued (kept for an offline recipient) before the GG110 ack,
	// or instead of it a refusal (wire.AckBlocked, wire.AckMailboxFull,
	// wire.AckNotDelivered). 0 when the server sent none: the message was
	// taken.
	Status uint32
}

// UserlistReply is the server's GG_USERLIST100_REPLY, List inflated.
type UserlistReply struct {
	Type    uint8 // wire.UserlistReply*
	Version uint32
	Format  uint8
	List    []byte
}

// SendMessage sends text to a UIN with GG_SEND_MSG110 (plain and XHTML
// forms, as libgadu does) and waits for the server's ack, whose Status
// says when the message was only queued. A message the server refused
// gives a *MessageRefused. The ack's Seq is the message's sequence number,
// counted per session from 1; on error it is still set if the message was
// written.
func (c *Client) SendMessage(ctx context.Context, to uint32, text string) (MessageAck, error) {
	d := sendDeliveries.Get().(*Delivery)
	ds := [1]*Delivery{d}
	if err := c.post(ctx, to, []string{text}, ds[:]); err != nil {
		return MessageAck{}, err
	}
	ack, err := d.Wait(ctx)
	if d.ack.Answered() {
		d.reset()
		sendDeliveries.Put(d)
	}
	return ack, err
}

// sendDeliveries are the Deliveries SendMessage waits on. One that was
// answered is no longer known to the reader, which answers it last of
// all it does with it, so the next SendMessage can take it: a Delivery
// for each message was an allocation. One given up on before its answer
// may still be answered, and is not reused.
var sendDeliveries = sync.Pool{New: func() any { return new(Delivery) }}

// Delivery is a message sent with Post whose ack is still to be awaited.
type Delivery struct {
	c   *Client
	seq uint32
	// status is from GG_SEND_MSG_ACK, if one came: the reader's, under
	// c.mu.
	status uint32
	ack    outcome.Outcome[MessageAck]
}

// reset empties an answered Delivery for reuse.
func (d *Delivery) reset() {
	d.c, d.seq, d.status = nil, 0, 0
	d.ack.Reset()
}

// Seq is the message's sequence number.
func (d *Delivery) Seq() uint32 { return d.seq }

// Wait waits for the server's ack to the message, as SendMessage does: a
// refusal gives a *MessageRefused, and the ack's Seq is set on error too.
// It may be called once; when ctx ends first, or the connection, the ack
// is no longer awaited.
func (d *Delivery) Wait(ctx context.Context) (MessageAck, error) {
	ack, err := d.ack.Wait(ctx, d.c.conn.Done())
	if err != nil {
		d.c.forgetAll(d)
		if errors.Is(err, outcome.ErrEnded) {
			err = d.c.conn.ClosedErr()
		}
		return MessageAck{Seq: d.seq}, err
	}
	if !taken(ack.Status) && ack.Status != 0 {
		return ack, &MessageRefused{Status: ack.Status}
	}
	return ack, nil
}

// Post sends text to a UIN as SendMessage does and returns before the
// server acks it, so that a client with several messages to send need not
// wait for each ack before sending the next (as libgadu does not); the
// acks carry the messages' sequence numbers, and Delivery.Wait waits for
// the message's own. On error the Delivery is nil.
func (c *Client) Post(ctx context.Context, to uint32, text string) (*Delivery, error) {
	d := new(Delivery)
	ds := [1]*Delivery{d}
	if err := c.post(ctx, to, []string{text}, ds[:]); err != nil {
		return nil, err
	}
	return d, nil
}

// PostAll is Post for several messages to one UIN, written at once (as a
// paste split in several messages); it returns their Deliveries in the
// same order.
func (c *Client) PostAll(ctx context.Context, to uint32, texts []string) ([]*Delivery, error) {
	// One allocation for all the Deliveries: a paste is many messages.
	all := make([]Delivery, len(texts))
	ds := make([]*Delivery, len(texts))
	for i := range ds {
		ds[i] = &all[i]
	}
	if err := c.post(ctx, to, texts, ds); err != nil {
		return nil, err
	}
	return ds, nil
}

// post numbers texts, registers ds (empty) to await their acks and writes
// the messages at once.
func (c *Client) post(ctx context.Context, to uint32, texts []string, ds []*Delivery) error {
	if err := c.requireState(stateConnected); err != nil {
		return err
	}
	c.mu.Lock()
	for _, d := range ds {
		c.seq++
		d.c, d.seq = c, c.seq
		c.sends[c.seq] = d
	}
	c.mu.Unlock()
	buf := sendBuffers.Get()
	packets := *buf
	for i, d := range ds {
		start := len(packets)
		packets = wire.AppendSendMsg110(append(packets, make([]byte, wire.HeaderSize)...), to, d.seq, texts[i],
			func(dst []byte) []byte { return appendTextHTML(dst, texts[i]) })
		wire.PutHeader(packets[start:], wire.TypeSendMsg110)
		c.debugSend(ctx, wire.TypeSendMsg110, packets[start+wire.HeaderSize:])
	}
	err := c.conn.Write(ctx, packets)
	*buf = packets
	sendBuffers.Put(buf)
	if err != nil {
		c.forgetAll(ds...)
	}
	return err
}

// sendBuffers are the buffers messages are framed in, which the write is
// done with when it returns: a buffer for each message, and the protobuf
// encoder's, were allocations.
var sendBuffers = bufpool.Pool{Max: 64 << 10}

// forgetAll stops awaiting the acks for ds.
func (c *Client) forgetAll(ds ...*Delivery) {
	c.mu.Lock()
	for _, d := range ds {
		delete(c.sends, d.seq)
	}
	c.mu.Unlock()
}

// SendTyping sends GG_TYPING_NOTIFICATION: length characters typed to a
// UIN so far, 0 when the user stopped.
func (c *Client) SendTyping(ctx context.Context, to uint32, length uint16) error {
	if err := c.requireState(stateConnected); err != nil {
		return err
	}
	return c.send(ctx, wire.TypeTypingNotify, wire.AppendTyping(nil, wire.Typing{Length: length, UIN: to}))
}

// logoutWait is how long libgadu waits for GG_DISCONNECT_ACK.
const logoutWait = 5 * time.Second

// SetStatus sends GG_NEW_STATUS80 with status (GG_STATUS_* with any masks,
// sent as given) and a UTF-8 description (not cut to
// wire.MaxDescription, so a server's limit can be tested).
//
// An offline status (wire.StatusNotAvail or wire.StatusNotAvailDescr) ends
// the session as in libgadu: SetStatus waits for GG_DISCONNECT_ACK, ignoring
// everything else, and the connection closes. It returns nil when the ack
// came; when ctx ends first, or after libgadu's 5 s, the connection is
// closed anyway and the error says why.
func (c *Client) SetStatus(ctx context.Context, status uint32, description string) error {
	if c.conn.Err() != nil {
		return c.conn.ClosedErr()
	}
	c.mu.Lock()
	if c.state != stateConnected {
		c.mu.Unlock()
		return ErrState
	}
	offline := wire.StatusOffline(status)
	if offline {
		c.state = stateDisconnecting // before sending, so the reader takes the ack
	}
	c.mu.Unlock()
	body := wire.AppendNewStatus(nil, wire.NewStatus{Status: status, Flags: wire.NewStatusFlagsGG11, Description: description})
	if err := c.send(ctx, wire.TypeNewStatus80, body); err != nil || !offline {
		return err
	}
	t := time.NewTimer(logoutWait)
	defer t.Stop()
	select {
	case <-c.conn.Done():
	case <-ctx.Done():
		c.Close()
		return ctx.Err()
	case <-t.C:
		c.Close()
		return ErrNoDisconnectAck
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason == wire.TypeName(wire.TypeDisconnectAck) {
		return nil
	}
	return c.conn.ClosedErr()
}

// NotifyList sends the contact list whose presence the client wants:
// GG_NOTIFY105_FIRST chunks and a final GG_NOTIFY105_LAST, or
// GG_NOTIFY105_LIST_EMPTY when there are no contacts. The server answers
// with Status events (Initial) for the contacts that are available.
func (c *Client) NotifyList(ctx context.Context, contacts []wire.Contact) error {
	if err := c.requireState(stateConnected); err != nil {
		return err
	}
	chunks := wire.NotifyChunks(contacts)
	if len(chunks) == 0 {
		return c.send(ctx, wire.TypeNotify105ListEmpty, nil)
	}
	var b []byte // one write, so concurrent calls cannot interleave chunks
	for i, chunk := range chunks {
		typ := wire.TypeNotify105First
		if i == len(chunks)-1 {
			typ = wire.TypeNotify105Last
		}
		b = wire.AppendPacket(b, typ, chunk)
	}
	c.log.Debug("gg send", "notify chunks", len(chunks))
	return c.conn.Write(ctx, b)
}

// AddNotify adds one contact to the notify list (GG_ADD_NOTIFY105).
func (c *Client) AddNotify(ctx context.Context, contact wire.Contact) error {
	return c.sendNotify(ctx, wire.TypeAddNotify105, contact)
}

// RemoveNotify removes one contact from the notify list
// (GG_REMOVE_NOTIFY105).
func (c *Client) RemoveNotify(ctx context.Context, contact wire.Contact) error {
	return c.sendNotify(ctx, wire.TypeRemoveNotify105, contact)
}

func (c *Client) sendNotify(ctx context.Context, typ uint32, contact wire.Contact) error {
	if err := c.requireState(stateConnected); err != nil {
		return err
	}
	return c.send(ctx, typ, wire.AppendNotifyEntry(nil, contact))
}

// Ping sends GG_PING and waits for GG_PONG110 (or the legacy GG_PONG),
// returning the server time it carries (zero for GG_PONG). Pongs answer
// pings in order.
func (c *Client) Ping(ctx context.Context) (time.Time, error) {
	if err := c.requireState(stateConnected); err != nil {
		return time.Time{}, err
	}
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.pings = append(c.pings, ch)
	c.mu.Unlock()
	err := c.send(ctx, wire.TypePing, nil)
	var server time.Time
	if err == nil {
		server, err = waitFor(ctx, c, ch)
	}
	if err != nil {
		c.mu.Lock()
		c.pings = removeWaiter(c.pings, ch)
		c.mu.Unlock()
	}
	return server, err
}

// UserlistGet asks for the stored contact list (GG_USERLIST100_REQUEST,
// GET) in a format (wire.UserlistFormatGG100 for XML), telling the server
// the last version the client knows.
func (c *Client) UserlistGet(ctx context.Context, version uint32, format uint8) (UserlistReply, error) {
	return c.userlist(ctx, wire.Userlist100{Type: wire.UserlistGet, Version: version, Format: format})
}

// UserlistPut stores a contact list (GG_USERLIST100_REQUEST, PUT), which
// it compresses; version is the one it was based on. The reply's Type says
// whether it was stored (wire.UserlistReplyAck) or was stale
// (wire.UserlistReplyReject).
func (c *Client) UserlistPut(ctx context.Context, version uint32, format uint8, list []byte) (UserlistReply, error) {
	return c.userlist(ctx, wire.Userlist100{Type: wire.UserlistPut, Version: version, Format: format,
		Data: wire.DeflateUserlist(list)})
}

func (c *Client) userlist(ctx context.Context, req wire.Userlist100) (UserlistReply, error) {
	if err := c.requireState(stateConnected); err != nil {
		return UserlistReply{}, err
	}
	ch := make(chan UserlistReply, 1)
	c.mu.Lock()
	c.userlists = append(c.userlists, ch)
	c.mu.Unlock()
	err := c.send(ctx, wire.TypeUserlist100Request, wire.AppendUserlist100(nil, req))
	var reply UserlistReply
	if err == nil {
		reply, err = waitFor(ctx, c, ch)
	}
	if err != nil {
		c.mu.Lock()
		c.userlists = removeWaiter(c.userlists, ch)
		c.mu.Unlock()
	}
	return reply, err
}

// Ack sends GG_ACK110 for a packet the server sent: type MSG with a
// Message's Seq, MPA with an MPANotify's Seq, and so on. The reader does
// this by itself unless Options.NoAutoAck is set.
func (c *Client) Ack(ctx context.Context, typ ggpb.GG110Ack_Type, seq uint32) error {
	return c.send(ctx, wire.TypeAck110, wire.AppendAck110(nil, wire.Ack110{Type: uint32(typ), Seq: seq}))
}

// Send writes an arbitrary packet, in any state: the escape hatch for what
// this package has no method for, and for testing a server's error
// handling.
func (c *Client) Send(ctx context.Context, p wire.Packet) error {
	return c.send(ctx, p.Type, p.Body)
}
