package client

import (
	"bytes"
	"context"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"google.golang.org/protobuf/proto"
)

// queuedSkew is how far a message's time may be from the server's clock
// before libgadu marks it GG_CLASS_QUEUED.
const queuedSkew = 2 * time.Second

// handle interprets one packet in the reader goroutine. An error ends the
// connection with that cause.
func (c *Client) handle(p wire.Packet) error {
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	switch st {
	case stateWelcome:
		return c.handleWelcome(p)
	case stateLogin:
		return c.handleLoginReply(p)
	case stateDisconnecting:
		return c.handleDisconnecting(p)
	}
	return c.handleSession(p)
}

// handleSession interprets a packet of a logged-in session.
func (c *Client) handleSession(p wire.Packet) error {
	switch p.Type {
	case wire.TypeIMToken:
		return c.handleIMToken(p)
	case wire.TypeNotifyReply80:
		return c.handleNotifyReply(p)
	case wire.TypeStatus80:
		s, err := wire.ParseContactStatus(p.Body)
		if err != nil {
			return &ProtocolError{Type: p.Type, Err: err}
		}
		return c.emit(Status{ContactStatus: s})
	case wire.TypeRecvMsg110, wire.TypeRecvOwnMsg110:
		return c.handleMessage(p)
	case wire.TypeSendMsgAck110:
		return c.handleSendAck(p)
	case wire.TypeSendMsgAck:
		return c.handleSendStatus(p)
	case wire.TypeTypingNotify:
		t, err := wire.ParseTyping(p.Body)
		if err != nil {
			return &ProtocolError{Type: p.Type, Err: err}
		}
		return c.emit(Typing{From: t.UIN, Length: t.Length})
	case wire.TypeEvent110:
		return c.handleMPA(p)
	case wire.TypePong110, wire.TypePong:
		return c.handlePong(p)
	case wire.TypeUserlist100Reply:
		return c.handleUserlistReply(p)
	case wire.TypeUserlist100Version:
		v, err := wire.ParseUserlistVersion(p.Body)
		if err != nil {
			return &ProtocolError{Type: p.Type, Err: err}
		}
		return c.emit(UserlistVersion{Version: v.Version})
	case wire.TypeTransferInfo:
		return c.handleTransferInfo(p)
	case wire.TypeDisconnecting:
		c.mu.Lock()
		c.reason = wire.TypeName(p.Type)
		c.mu.Unlock()
		return ErrKicked
	}
	return c.emitOther(p)
}

// handleDisconnecting: after an offline status libgadu only waits for
// GG_DISCONNECT_ACK and ignores (does not ack) everything else.
func (c *Client) handleDisconnecting(p wire.Packet) error {
	if p.Type != wire.TypeDisconnectAck {
		return c.emitOther(p)
	}
	c.mu.Lock()
	c.reason = wire.TypeName(p.Type)
	c.mu.Unlock()
	return ErrClosed
}

func (c *Client) handleNotifyReply(p wire.Packet) error {
	list, err := wire.ParseContactStatuses(p.Body)
	if err != nil {
		return &ProtocolError{Type: p.Type, Err: err}
	}
	for _, s := range list {
		if err := c.emit(Status{ContactStatus: s, Initial: true}); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) handleMessage(p wire.Packet) error {
	m, err := wire.ParseRecvMsg110(p.Body)
	if err != nil {
		return &ProtocolError{Type: p.Type, Err: err}
	}
	// One string for both forms, each a part of it: a string each was an
	// allocation more for every message, for the price of the text
	// keeping the XHTML in memory while it is kept.
	var forms strings.Builder
	forms.Grow(len(m.Plain) + len(m.XHTML))
	forms.Write(m.Plain)
	forms.Write(m.XHTML)
	both := forms.String()
	msg := Message{
		Seq:    m.Seq,
		MsgID:  m.MsgID,
		ConvID: m.ConvID,
		Flags:  m.Flags,
		Time:   time.Unix(int64(m.Time), 0),
		Text:   both[:len(m.Plain)],
		HTML:   both[len(m.Plain):],
		Own:    p.Type == wire.TypeRecvOwnMsg110,
	}
	if m.HasData {
		msg.Data = bytes.Clone(m.Data)
	}
	switch {
	case m.HasSender:
		uin, _, err := wire.ParseProtoUIN(m.Sender)
		if err != nil {
			return &ProtocolError{Type: p.Type, Err: err}
		}
		msg.From = uin
	case msg.Own:
		msg.From = c.UIN()
	}
	if skew := msg.Time.Sub(c.serverNow()); skew > queuedSkew || skew < -queuedSkew {
		msg.Queued = true
	}
	if msg.Text == "" && msg.HTML != "" {
		msg.Text = htmlToText(msg.HTML)
	} else if !m.HasXHTML {
		msg.HTML = textToHTML(msg.Text)
	}
	if err := c.autoAck(ggpb.GG110Ack_MSG, msg.Seq); err != nil {
		return err
	}
	return c.emit(msg)
}

func (c *Client) handleSendAck(p wire.Packet) error {
	a, err := wire.ParseMessageAck110(p.Body)
	if err != nil {
		return &ProtocolError{Type: p.Type, Err: err}
	}
	ack := MessageAck{
		Seq:     a.Seq,
		MsgType: a.MsgType,
		Time:    time.Unix(int64(a.Time), 0),
		MsgID:   a.MsgID,
		ConvID:  a.ConvID,
	}
	c.mu.Lock()
	d := c.sends[ack.Seq]
	delete(c.sends, ack.Seq)
	if d != nil {
		ack.Status = d.status
	}
	c.mu.Unlock()
	if d == nil {
		c.log.Warn("gg: ack for no waiting message", "seq", ack.Seq)
		return nil
	}
	d.ack.Complete(ack)
	return nil
}

// handleSendStatus takes a GG_SEND_MSG_ACK. For a message the server took
// (delivered, or queued for later) the GG110 ack follows and the status
// waits for it; a refusal is the message's only receipt.
func (c *Client) handleSendStatus(p wire.Packet) error {
	a, err := wire.ParseSendMsgAck(p.Body)
	if err != nil {
		return &ProtocolError{Type: p.Type, Err: err}
	}
	c.mu.Lock()
	d := c.sends[a.Seq]
	if d != nil {
		d.status = a.Status
		if !taken(a.Status) {
			delete(c.sends, a.Seq)
		}
	}
	c.mu.Unlock()
	switch {
	case d == nil:
		c.log.Warn("gg: ack for no waiting message", "seq", a.Seq)
	case !taken(a.Status):
		d.ack.Complete(MessageAck{Seq: a.Seq, Status: a.Status})
	}
	return nil
}

// taken tells the statuses of messages the server took.
func taken(status uint32) bool { return status == wire.AckDelivered || status == wire.AckQueued }

func (c *Client) handleMPA(p wire.Packet) error {
	var m ggpb.GG110Event
	if err := proto.Unmarshal(p.Body, &m); err != nil {
		return &ProtocolError{Type: p.Type, Err: err}
	}
	if err := c.autoAck(ggpb.GG110Ack_MPA, m.GetSeq()); err != nil {
		return err
	}
	return c.emit(MPANotify{Type: m.GetType(), Seq: m.GetSeq(), Subtype: m.GetSubtype(), Data: m.GetData(), ID: m.GetId()})
}

// handleTransferInfo acks GG_TRANSFER_INFO as libgadu does and passes it on.
func (c *Client) handleTransferInfo(p wire.Packet) error {
	var m ggpb.GG112TransferInfo
	if err := proto.Unmarshal(p.Body, &m); err != nil {
		return &ProtocolError{Type: p.Type, Err: err}
	}
	if err := c.autoAck(ggpb.GG110Ack_TRANSFER_INFO, m.GetSeq()); err != nil {
		return err
	}
	return c.emitOther(p)
}

func (c *Client) handlePong(p wire.Packet) error {
	var server time.Time
	if p.Type == wire.TypePong110 {
		var m ggpb.GG110Pong
		if err := proto.Unmarshal(p.Body, &m); err != nil {
			return &ProtocolError{Type: p.Type, Err: err}
		}
		server = time.Unix(int64(m.GetServerTime()), 0)
		c.syncTime(server)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pings) > 0 {
		c.pings[0] <- server
		c.pings = c.pings[1:]
	}
	return nil
}

func (c *Client) handleUserlistReply(p wire.Packet) error {
	u, err := wire.ParseUserlist100(p.Body)
	if err != nil {
		return &ProtocolError{Type: p.Type, Err: err}
	}
	reply := UserlistReply{Type: u.Type, Version: u.Version, Format: u.Format}
	if len(u.Data) > 0 {
		if reply.List, err = wire.InflateUserlist(u.Data, c.opts.MaxUserlist); err != nil {
			return &ProtocolError{Type: p.Type, Err: err}
		}
	}
	c.mu.Lock()
	var ch chan UserlistReply
	if len(c.userlists) > 0 {
		ch = c.userlists[0]
		c.userlists = c.userlists[1:]
	}
	c.mu.Unlock()
	if ch == nil {
		return c.emitOther(p)
	}
	ch <- reply
	return nil
}

// autoAck sends GG_ACK110 from the reader unless acks are left to the user.
func (c *Client) autoAck(typ ggpb.GG110Ack_Type, seq uint32) error {
	if c.opts.NoAutoAck {
		return nil
	}
	start := len(c.acks)
	c.acks = wire.AppendAck110(append(c.acks, make([]byte, wire.HeaderSize)...), wire.Ack110{Type: uint32(typ), Seq: seq})
	wire.PutHeader(c.acks[start:], wire.TypeAck110)
	c.debugSend(context.Background(), wire.TypeAck110, c.acks[start+wire.HeaderSize:])
	return nil
}

// flushAcks writes the acks kept so far once no whole packet waits to be
// read, so that the acks of packets that came together leave in one
// write, and then hands over the events held behind them. An event is
// never seen before the ack of its packet is written: a caller that
// closes the connection when it has what it wanted loses no ack.
func (c *Client) flushAcks() error {
	if len(c.acks) == 0 || c.rd.PacketBuffered() {
		return nil
	}
	err := c.conn.Write(context.Background(), c.acks)
	c.acks = c.acks[:0]
	held := c.held
	c.held = c.held[:0]
	if err != nil {
		return err // the server keeps what was not acked
	}
	for i, ev := range held {
		held[i] = nil
		if !c.conn.Emit(ev) {
			return ErrEventOverflow
		}
	}
	return nil
}
