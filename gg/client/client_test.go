package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(offstack.WorkerFunction), goleak.IgnoreAnyFunction(offstack.PollerFunction))
}

func TestLogin(t *testing.T) {
	// The script runs on the fake server's goroutine: the login it saw
	// comes back over a channel, which orders it before the checks below.
	logins := make(chan *ggpb.GG105Login, 1)
	f := newFake(t, func(p *peer) {
		logins <- serverLogin(p)
		p.expect(wire.TypeNotify105ListEmpty)
		p.ExpectClose()
	})
	c := dial(t, f, Options{})
	if err := c.Login(ctx(t), testUIN, testPassword, wire.StatusBusyDescr|wire.StatusDescrMask, polish); err != nil {
		t.Fatalf("Login: %v", err)
	}
	li := next[LoggedIn](t, c)
	if li.UIN != testUIN || time.Since(li.ServerTime) > time.Minute {
		t.Fatalf("LoggedIn = %+v", li)
	}
	if tok := next[IMToken](t, c); tok.Token != testToken {
		t.Fatalf("IMToken event = %+v", tok)
	}
	if tok, err := c.IMToken(ctx(t)); err != nil || tok != testToken {
		t.Fatalf("IMToken = %q, %v", tok, err)
	}
	if c.UIN() != testUIN {
		t.Fatalf("UIN = %d", c.UIN())
	}
	if err := c.NotifyList(ctx(t), nil); err != nil {
		t.Fatal(err)
	}
	c.Close()
	d := next[Disconnected](t, c)
	if !errors.Is(d.Err, ErrClosed) || d.Reason != "" {
		t.Fatalf("Disconnected = %+v", d)
	}

	login := <-logins
	// Every field libgadu 1.12 sends, with its values.
	want := &ggpb.GG105Login{
		Lang: proto.String("pl"), Uin: []byte("\x01\x041234"), Hash: login.Hash,
		Dummy1: proto.Int32(4), Dummy2: proto.Uint32(0x03eeff77), Dummy3: proto.Uint32(0x00030614),
		Client: proto.String(DefaultClientName), InitialStatus: proto.Uint32(wire.StatusBusyDescr),
		InitialDescr: proto.String(polish), Dummy4: []byte{0, 0, 0, 0}, SupportedFeatures: proto.String(DefaultFeatures),
		Dummy5: proto.Int32(255), Dummy6: proto.Int32(100), Dummy7: proto.Uint32(0x7F), Dummy8: proto.Int32(0),
		Dummy10: proto.Uint32(0),
	}
	if !proto.Equal(login, want) {
		t.Fatalf("GG105Login = %v\nwant %v", login, want)
	}
}

func TestLoginFailed(t *testing.T) {
	for _, tt := range []struct {
		typ  uint32
		body []byte
	}{
		{wire.TypeLogin80Failed, wire.LoginFailed80Body()},
		{wire.TypeLoginFailed, nil},
	} {
		t.Run(wire.TypeName(tt.typ), func(t *testing.T) {
			f := newFake(t, func(p *peer) {
				p.send(wire.TypeWelcome, wire.AppendWelcome(nil, wire.Welcome{Seed: testSeed}))
				p.expect(wire.TypeLogin105)
				p.send(tt.typ, tt.body)
				p.ExpectClose() // libgadu hangs up at once; so does the client
			})
			c := dial(t, f, Options{})
			if err := c.Login(ctx(t), testUIN, "wrong", 0, ""); !errors.Is(err, ErrLoginFailed) {
				t.Fatalf("Login = %v, want ErrLoginFailed", err)
			}
			d := next[Disconnected](t, c)
			if d.Reason != wire.TypeName(tt.typ) || !errors.Is(d.Err, ErrLoginFailed) {
				t.Fatalf("Disconnected = %+v", d)
			}
			if _, err := c.SendMessage(ctx(t), 1, "x"); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrLoginFailed) {
				t.Fatalf("SendMessage after failed login = %v", err)
			}
		})
	}
}

// TestLoginLegacyOK: like libgadu, older confirmations and even
// GG_NEED_EMAIL count as success.
func TestLoginLegacyOK(t *testing.T) {
	f := newFake(t, func(p *peer) {
		p.send(wire.TypeWelcome, wire.AppendWelcome(nil, wire.Welcome{Seed: testSeed}))
		p.expect(wire.TypeLogin105)
		p.send(wire.TypeNeedEmail, nil)
		p.ExpectClose()
	})
	c := dial(t, f, Options{})
	if err := c.Login(ctx(t), testUIN, testPassword, 0, ""); err != nil {
		t.Fatal(err)
	}
	if li := next[LoggedIn](t, c); li.UIN != testUIN || !li.ServerTime.IsZero() {
		t.Fatalf("LoggedIn = %+v", li)
	}
	if err := c.Login(ctx(t), testUIN, testPassword, 0, ""); !errors.Is(err, ErrState) {
		t.Fatalf("second Login = %v", err)
	}
}

func TestSendMessage(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		for seq := uint32(1); seq <= 2; seq++ {
			var m ggpb.GG110SendMessage
			p.expectProto(wire.TypeSendMsg110, &m)
			want := &ggpb.GG110SendMessage{Recipient: []byte("\x01\x045678"), Dummy1: proto.Uint32(8), Seq: proto.Uint32(seq),
				MsgPlain: proto.String(polish + " <&>\n2"), MsgXhtml: proto.String("<span>" + polish + " &lt;&amp;&gt;<br>2</span>")}
			if !proto.Equal(&m, want) {
				p.Failf("fake: GG110SendMessage = %v\nwant %v", &m, want)
			}
			if seq == 2 { // the second one with what became of it
				p.send(wire.TypeSendMsgAck, wire.AppendSendMsgAck(nil, wire.SendMsgAck{Status: wire.AckQueued, Recipient: 5678, Seq: seq}))
			}
			p.sendProto(wire.TypeSendMsgAck110, &ggpb.GG110MessageAck{MsgType: proto.Uint32(1), Seq: proto.Uint32(seq),
				Time: proto.Uint32(1700000000 + seq), MsgId: proto.Uint64(0xAB00 + uint64(seq)), ConvId: proto.Uint64(0xC0), Dummy1: proto.Uint32(0)})
		}
		// The third is refused: its only receipt says why.
		p.expect(wire.TypeSendMsg110)
		p.send(wire.TypeSendMsgAck, wire.AppendSendMsgAck(nil, wire.SendMsgAck{Status: wire.AckNotDelivered, Recipient: 5678, Seq: 3}))
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	for seq := uint32(1); seq <= 2; seq++ {
		ack, err := c.SendMessage(ctx(t), 5678, polish+" <&>\n2")
		want := MessageAck{Seq: seq, MsgType: 1, Time: time.Unix(int64(1700000000+seq), 0), MsgID: 0xAB00 + uint64(seq), ConvID: 0xC0}
		if seq == 2 {
			want.Status = wire.AckQueued
		}
		if err != nil || ack != want {
			t.Fatalf("SendMessage = %+v, %v; want %+v", ack, err, want)
		}
	}
	ack, err := c.SendMessage(ctx(t), 5678, "anyone?")
	var refused *MessageRefused
	if !errors.As(err, &refused) || refused.Status != wire.AckNotDelivered || ack != (MessageAck{Seq: 3, Status: wire.AckNotDelivered}) {
		t.Fatalf("refused SendMessage = %+v, %v", ack, err)
	}
}

// TestSendMessageTimeout: a missing ack ends the wait with the context; an
// ack arriving afterwards is dropped.
func TestSendMessageTimeout(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.expect(wire.TypeSendMsg110)
		p.expect(wire.TypePing) // sent after SendMessage gave up
		p.sendProto(wire.TypeSendMsgAck110, &ggpb.GG110MessageAck{MsgType: proto.Uint32(1), Seq: proto.Uint32(1),
			Time: proto.Uint32(1), Dummy1: proto.Uint32(0)})
		p.send(wire.TypePong, nil)
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	short, cancel := context.WithTimeout(ctx(t), fakeserver.ShortTimeout)
	defer cancel()
	ack, err := c.SendMessage(short, 5678, "hello")
	if ack.Seq != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendMessage = %+v, %v", ack, err)
	}
	if server, err := c.Ping(ctx(t)); err != nil || !server.IsZero() {
		t.Fatalf("Ping = %v, %v", server, err)
	}
}

// SendMessage reuses the Delivery of a message answered, never one that
// may still be: each call gets its own ack, also after a call that gave
// up before its ack came. Run with the race detector, this also shows
// that nothing touches a Delivery once it is reused.
func TestSendMessageReuse(t *testing.T) {
	const n, late = 100, 50
	ack := func(p *peer, seq uint32) {
		p.sendProto(wire.TypeSendMsgAck110, &ggpb.GG110MessageAck{MsgType: proto.Uint32(1), Seq: proto.Uint32(seq),
			Time: proto.Uint32(seq), Dummy1: proto.Uint32(0)})
	}
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		for seq := uint32(1); seq <= n; seq++ {
			p.expect(wire.TypeSendMsg110)
			switch {
			case seq == late:
			case seq == late+1:
				ack(p, late) // after its sender gave up: dropped
				ack(p, seq)
			case seq%3 == 0: // taken, as the older receipt says first
				p.send(wire.TypeSendMsgAck, wire.AppendSendMsgAck(nil, wire.SendMsgAck{Status: wire.AckDelivered, Recipient: 5678, Seq: seq}))
				ack(p, seq)
			default:
				ack(p, seq)
			}
		}
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	for seq := uint32(1); seq <= n; seq++ {
		sendCtx, cancel := context.WithCancel(ctx(t))
		if seq == late {
			sendCtx, cancel = context.WithTimeout(sendCtx, fakeserver.ShortTimeout)
		}
		got, err := c.SendMessage(sendCtx, 5678, "hi")
		cancel()
		if seq == late {
			if !errors.Is(err, context.DeadlineExceeded) || got.Seq != seq {
				t.Fatalf("message %d, never answered in time: %+v, %v", seq, got, err)
			}
			continue
		}
		want := MessageAck{Seq: seq, MsgType: 1, Time: time.Unix(int64(seq), 0)}
		if seq%3 == 0 && seq != late+1 {
			want.Status = wire.AckDelivered
		}
		if err != nil || got != want {
			t.Fatalf("message %d: %+v, %v; want %+v", seq, got, err, want)
		}
	}
}

// TestPost: several messages go out before any ack (one, then two at
// once); the acks, out of order, each reach their own Delivery by
// sequence number.
func TestPost(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		for seq := uint32(1); seq <= 3; seq++ {
			var m ggpb.GG110SendMessage
			p.expectProto(wire.TypeSendMsg110, &m)
			if m.GetSeq() != seq || m.GetMsgPlain() != fmt.Sprint("m", seq) {
				p.Failf("fake: GG110SendMessage = %v, want seq %d", &m, seq)
			}
		}
		p.send(wire.TypeSendMsgAck, wire.AppendSendMsgAck(nil, wire.SendMsgAck{Status: wire.AckBlocked, Recipient: 5678, Seq: 2}))
		for _, seq := range []uint32{3, 1} {
			p.sendProto(wire.TypeSendMsgAck110, &ggpb.GG110MessageAck{MsgType: proto.Uint32(1), Seq: proto.Uint32(seq),
				Time: proto.Uint32(1700000000 + seq), Dummy1: proto.Uint32(0)})
		}
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	first, err := c.Post(ctx(t), 5678, "m1")
	if err != nil {
		t.Fatal(err)
	}
	rest, err := c.PostAll(ctx(t), 5678, []string{"m2", "m3"})
	if err != nil {
		t.Fatal(err)
	}
	ds := append([]*Delivery{first}, rest...)
	for i, d := range ds {
		if d.Seq() != uint32(i+1) {
			t.Fatalf("Delivery %d has seq %d", i, d.Seq())
		}
	}
	for i, d := range ds {
		seq := uint32(i + 1)
		ack, err := d.Wait(ctx(t))
		if seq == 2 {
			var refused *MessageRefused
			if !errors.As(err, &refused) || refused.Status != wire.AckBlocked || ack != (MessageAck{Seq: 2, Status: wire.AckBlocked}) {
				t.Errorf("refused Wait = %+v, %v", ack, err)
			}
			continue
		}
		if want := (MessageAck{Seq: seq, MsgType: 1, Time: time.Unix(int64(1700000000+seq), 0)}); err != nil || ack != want {
			t.Errorf("Wait %d = %+v, %v; want %+v", seq, ack, err, want)
		}
	}
}

// TestPostAckNeverComes: a Wait whose ack does not come ends with its
// context; the others are still answered.
func TestPostAckNeverComes(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.expect(wire.TypeSendMsg110)
		p.expect(wire.TypeSendMsg110)
		p.sendProto(wire.TypeSendMsgAck110, &ggpb.GG110MessageAck{MsgType: proto.Uint32(1), Seq: proto.Uint32(2),
			Time: proto.Uint32(1), Dummy1: proto.Uint32(0)})
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	first, err := c.Post(ctx(t), 5678, "one")
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Post(ctx(t), 5678, "two")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx(t), fakeserver.ShortTimeout)
	defer cancel()
	if ack, err := first.Wait(short); ack.Seq != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait for the unanswered one = %+v, %v", ack, err)
	}
	if ack, err := second.Wait(ctx(t)); ack.Seq != 2 || err != nil {
		t.Errorf("Wait for the answered one = %+v, %v", ack, err)
	}
}

// TestPostConnectionEnds: the connection ending completes every pending
// Delivery with its cause.
func TestPostConnectionEnds(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.expect(wire.TypeSendMsg110)
		p.expect(wire.TypeSendMsg110)
	}) // and hangs up
	c := loggedIn(t, f, Options{})
	var ds []*Delivery
	for _, text := range []string{"one", "two"} {
		d, err := c.Post(ctx(t), 5678, text)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	for _, d := range ds {
		if ack, err := d.Wait(ctx(t)); ack.Seq != d.Seq() || !errors.Is(err, ErrClosed) || !errors.Is(err, io.EOF) {
			t.Errorf("Wait %d = %+v, %v", d.Seq(), ack, err)
		}
	}
	if _, err := c.Post(ctx(t), 5678, "three"); !errors.Is(err, ErrClosed) {
		t.Errorf("Post after the end = %v", err)
	}
}

func TestReceiveMessage(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		now := uint32(time.Now().Unix())
		p.sendProto(wire.TypeRecvMsg110, &ggpb.GG110RecvMessage{Sender: []byte("\x00\x045678"), Flags: proto.Uint32(0),
			Seq: proto.Uint32(101), Time: proto.Uint32(now), MsgPlain: proto.String(polish),
			MsgXhtml: proto.String("<span>" + polish + "</span>"), MsgId: proto.Uint64(7), ConvId: proto.Uint64(8)})
		// Captured from libgadu: 08 01 10 65 18 01 = type MSG, seq 101.
		p.expectBody(wire.TypeAck110, []byte{0x08, 0x01, 0x10, 0x65, 0x18, 0x01})
		// Mobile clients send only XHTML; an offline message has an old time.
		p.sendProto(wire.TypeRecvMsg110, &ggpb.GG110RecvMessage{Sender: []byte("\x00\x045678"), Flags: proto.Uint32(0),
			Seq: proto.Uint32(102), Time: proto.Uint32(now - 3600), MsgPlain: proto.String(""),
			MsgXhtml: proto.String("<span>a&amp;b<br/>c</span>")})
		p.expectAck(ggpb.GG110Ack_MSG, 102)
		// Sent from another session of the same account.
		p.sendProto(wire.TypeRecvOwnMsg110, &ggpb.GG110RecvMessage{Flags: proto.Uint32(0), Seq: proto.Uint32(103),
			Time: proto.Uint32(now), MsgPlain: proto.String("x<y")})
		p.expectAck(ggpb.GG110Ack_MSG, 103)
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	m := next[Message](t, c)
	if m.From != 5678 || m.Seq != 101 || m.Text != polish || m.HTML != "<span>"+polish+"</span>" ||
		m.MsgID != 7 || m.ConvID != 8 || m.Queued || m.Own || time.Since(m.Time) > time.Minute {
		t.Fatalf("first message = %+v", m)
	}
	m = next[Message](t, c)
	if m.Text != "a&b\nc" || !m.Queued || m.Seq != 102 {
		t.Fatalf("XHTML-only message = %+v", m)
	}
	m = next[Message](t, c)
	if !m.Own || m.From != testUIN || m.Text != "x<y" || m.HTML != "<span>x&lt;y</span>" {
		t.Fatalf("own message = %+v", m)
	}
}

// Packets are read one after the other into the same buffer: what their
// events keep of them (an Other's body, a message's data) is their own,
// not what the packets after them overwrote.
func TestEventsKeepTheirPackets(t *testing.T) {
	// The first is the longest: the buffer it grew has room for the others.
	unknown := bytes.Repeat([]byte("unknown "), 200)
	data := bytes.Repeat([]byte{0xd}, 100)
	overwrite := strings.Repeat("z", 400)
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		now := uint32(time.Now().Unix())
		withData, _ := proto.Marshal(&ggpb.GG110RecvMessage{Sender: []byte("\x00\x045678"), Flags: proto.Uint32(0),
			Seq: proto.Uint32(1), Time: proto.Uint32(now), MsgPlain: proto.String("data"), Data: data})
		long, _ := proto.Marshal(&ggpb.GG110RecvMessage{Sender: []byte("\x00\x045678"), Flags: proto.Uint32(0),
			Seq: proto.Uint32(2), Time: proto.Uint32(now), MsgPlain: proto.String(overwrite)})
		together := wire.AppendPacket(nil, 0x7777, unknown)
		together = wire.AppendPacket(together, wire.TypeRecvMsg110, withData)
		together = wire.AppendPacket(together, wire.TypeRecvMsg110, long)
		p.Send(string(together))
		p.expectAck(ggpb.GG110Ack_MSG, 1)
		p.expectAck(ggpb.GG110Ack_MSG, 2)
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	if o := next[Other](t, c); o.Packet.Type != 0x7777 || !bytes.Equal(o.Packet.Body, unknown) {
		t.Fatalf("unknown packet % x, want % x", o.Packet.Body, unknown)
	}
	if m := next[Message](t, c); m.Text != "data" || !bytes.Equal(m.Data, data) {
		t.Fatalf("message with data %q % x", m.Text, m.Data)
	}
	if m := next[Message](t, c); m.Text != overwrite {
		t.Fatalf("last message %.20q…", m.Text)
	}
}

func TestStatus(t *testing.T) {
	busy := wire.ContactStatus{UIN: 5678, Status: wire.StatusBusyDescr, Features: 0x10, RemoteIP: [4]byte{10, 0, 0, 1},
		RemotePort: 1550, Description: polish}
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.expectBody(wire.TypeNotify105Last, []byte{0x00, 0x04, 0x35, 0x36, 0x37, 0x38, 0x03, 0x00, 0x01, 0x39, 0x01})
		p.send(wire.TypeNotifyReply80, wire.AppendContactStatus(wire.AppendContactStatus(nil, busy),
			wire.ContactStatus{UIN: 9, Status: wire.StatusAvail}))
		want := []byte{0x05, 0x40, 0, 0, 0x14, 0, 0, 0, byte(len(polish)), 0, 0, 0}
		p.expectBody(wire.TypeNewStatus80, append(append(want, polish...), 0))
		p.send(wire.TypeStatus80, wire.AppendContactStatus(nil, wire.ContactStatus{UIN: 9, Status: wire.StatusNotAvail}))
		p.expectBody(wire.TypeAddNotify105, []byte{0x00, 0x02, '4', '2', wire.UserBlocked})
		p.expectBody(wire.TypeRemoveNotify105, []byte{0x00, 0x02, '4', '2', wire.UserBlocked})
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	if err := c.NotifyList(ctx(t), []wire.Contact{{UIN: 5678, Type: wire.UserNormal}, {UIN: 9, Type: wire.UserOffline}}); err != nil {
		t.Fatal(err)
	}
	if s := next[Status](t, c); !s.Initial || s.ContactStatus != busy {
		t.Fatalf("first status = %+v", s)
	}
	if s := next[Status](t, c); !s.Initial || s.UIN != 9 || s.Status != wire.StatusAvail {
		t.Fatalf("second status = %+v", s)
	}
	if err := c.SetStatus(ctx(t), wire.StatusBusyDescr|wire.StatusDescrMask, polish); err != nil {
		t.Fatal(err)
	}
	if s := next[Status](t, c); s.Initial || s.UIN != 9 || s.Status != wire.StatusNotAvail || s.Description != "" {
		t.Fatalf("status change = %+v", s)
	}
	if err := c.AddNotify(ctx(t), wire.Contact{UIN: 42, Type: wire.UserBlocked}); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveNotify(ctx(t), wire.Contact{UIN: 42, Type: wire.UserBlocked}); err != nil {
		t.Fatal(err)
	}
}

func TestNotifyListChunks(t *testing.T) {
	var list []wire.Contact
	for i := range 400 {
		list = append(list, wire.Contact{UIN: 1000000000 + uint32(i), Type: wire.UserNormal})
	}
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		var got []wire.Contact
		for {
			pk := p.read()
			part, err := wire.ParseNotifyList(pk.Body)
			if err != nil || len(pk.Body) > wire.MaxNotifyChunk {
				p.Failf("fake: chunk of %d bytes: %v", len(pk.Body), err)
			}
			got = append(got, part...)
			if pk.Type == wire.TypeNotify105Last {
				break
			}
			if pk.Type != wire.TypeNotify105First {
				p.Failf("fake: got %v", pk)
			}
		}
		if !reflect.DeepEqual(got, list) {
			p.Failf("fake: %d contacts arrived", len(got))
		}
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	if err := c.NotifyList(ctx(t), list); err != nil {
		t.Fatal(err)
	}
}

func TestTyping(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		// Captured from libgadu: 15 characters typed to 5678.
		p.expectBody(wire.TypeTypingNotify, []byte{0x0f, 0x00, 0x2e, 0x16, 0x00, 0x00})
		p.send(wire.TypeTypingNotify, wire.AppendTyping(nil, wire.Typing{Length: 0, UIN: 5678}))
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	if err := c.SendTyping(ctx(t), 5678, 15); err != nil {
		t.Fatal(err)
	}
	if tp := next[Typing](t, c); tp != (Typing{From: 5678, Length: 0}) {
		t.Fatalf("Typing = %+v", tp)
	}
}

func TestPing(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.expectBody(wire.TypePing, nil)
		p.sendProto(wire.TypePong110, &ggpb.GG110Pong{ServerTime: proto.Uint32(1700000123)})
		p.expectBody(wire.TypePing, nil)
		p.send(wire.TypePong, nil)
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	if server, err := c.Ping(ctx(t)); err != nil || server.Unix() != 1700000123 {
		t.Fatalf("Ping = %v, %v", server, err)
	}
	if server, err := c.Ping(ctx(t)); err != nil || !server.IsZero() {
		t.Fatalf("legacy Ping = %v, %v", server, err)
	}
}

func TestMPANotify(t *testing.T) {
	const data = `{"id":"abc","ack_status":"unknown","send_status":"in_progress"}`
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.sendProto(wire.TypeEvent110, &ggpb.GG110Event{Type: ggpb.GG110Event_JSON.Enum(), Seq: proto.Uint32(7),
			Data: proto.String(data), Subtype: proto.String("edisc/send_ticket_changed")})
		// Captured from libgadu: 08 06 10 07 18 01 = type MPA, seq 7.
		p.expectBody(wire.TypeAck110, []byte{0x08, 0x06, 0x10, 0x07, 0x18, 0x01})
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	want := MPANotify{Type: ggpb.GG110Event_JSON, Seq: 7, Subtype: "edisc/send_ticket_changed", Data: data}
	if ev := next[MPANotify](t, c); ev != want {
		t.Fatalf("MPANotify = %+v", ev)
	}
}

// TestManualAck: with NoAutoAck nothing is acknowledged until Ack.
func TestManualAck(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.sendProto(wire.TypeEvent110, &ggpb.GG110Event{Type: ggpb.GG110Event_JSON.Enum(), Seq: proto.Uint32(9),
			Data: proto.String("{}"), Subtype: proto.String("notifications/state")})
		p.sendProto(wire.TypeRecvMsg110, &ggpb.GG110RecvMessage{Sender: []byte("\x00\x012"), Flags: proto.Uint32(0),
			Seq: proto.Uint32(5), Time: proto.Uint32(uint32(time.Now().Unix())), MsgPlain: proto.String("hi")})
		p.expectAck(ggpb.GG110Ack_MSG, 5)
		p.expectAck(ggpb.GG110Ack_MPA, 9)
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{NoAutoAck: true})
	mpa := next[MPANotify](t, c)
	msg := next[Message](t, c)
	if err := c.Ack(ctx(t), ggpb.GG110Ack_MSG, msg.Seq); err != nil {
		t.Fatal(err)
	}
	if err := c.Ack(ctx(t), ggpb.GG110Ack_MPA, mpa.Seq); err != nil {
		t.Fatal(err)
	}
}

func TestUserlist(t *testing.T) {
	stored := []byte("<ContactBook><Contacts><Contact><ShowName>" + polish + "</ShowName></Contact></Contacts></ContactBook>")
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.expectBody(wire.TypeUserlist100Request, []byte{wire.UserlistGet, 0, 0, 0, 0, wire.UserlistFormatGG100, 0x01})
		p.send(wire.TypeUserlist100Reply, wire.AppendUserlist100(nil, wire.Userlist100{Type: wire.UserlistReplyList,
			Version: 3, Format: wire.UserlistFormatGG100, Data: wire.DeflateUserlist(stored)}))
		req, err := wire.ParseUserlist100(p.expect(wire.TypeUserlist100Request))
		if err != nil || req.Type != wire.UserlistPut || req.Version != 3 || req.Format != wire.UserlistFormatGG100 {
			p.Failf("fake: PUT = %+v, %v", req, err)
		}
		if list, err := wire.InflateUserlist(req.Data, 1<<20); err != nil || !bytes.Equal(list, []byte("<new/>")) {
			p.Failf("fake: PUT list %q, %v", list, err)
		}
		p.send(wire.TypeUserlist100Reply, wire.AppendUserlist100(nil, wire.Userlist100{Type: wire.UserlistReplyAck,
			Version: 4, Format: wire.UserlistFormatGG100}))
		p.send(wire.TypeUserlist100Version, wire.AppendUserlistVersion(nil, wire.UserlistVersion{Version: 4}))
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	got, err := c.UserlistGet(ctx(t), 0, wire.UserlistFormatGG100)
	if err != nil || got.Type != wire.UserlistReplyList || got.Version != 3 || !bytes.Equal(got.List, stored) {
		t.Fatalf("UserlistGet = %+v, %v", got, err)
	}
	got, err = c.UserlistPut(ctx(t), 3, wire.UserlistFormatGG100, []byte("<new/>"))
	if err != nil || got.Type != wire.UserlistReplyAck || got.Version != 4 || got.List != nil {
		t.Fatalf("UserlistPut = %+v, %v", got, err)
	}
	if v := next[UserlistVersion](t, c); v.Version != 4 {
		t.Fatalf("UserlistVersion = %+v", v)
	}
}

// TestLogout: an offline status waits for GG_DISCONNECT_ACK and, like
// libgadu, neither interprets nor acks what comes in meanwhile.
func TestLogout(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.expectBody(wire.TypeNewStatus80, []byte{0x15, 0, 0, 0, 0x14, 0, 0, 0, 3, 0, 0, 0, 'b', 'y', 'e', 0})
		p.sendProto(wire.TypeRecvMsg110, &ggpb.GG110RecvMessage{Sender: []byte("\x00\x012"), Flags: proto.Uint32(0),
			Seq: proto.Uint32(5), Time: proto.Uint32(1), MsgPlain: proto.String("late")})
		p.send(wire.TypeDisconnectAck, nil)
		p.ExpectClose() // no GG_ACK110 before the close
	})
	c := loggedIn(t, f, Options{})
	if err := c.SetStatus(ctx(t), wire.StatusNotAvailDescr, "bye"); err != nil {
		t.Fatalf("SetStatus(offline) = %v", err)
	}
	if o := next[Other](t, c); o.Packet.Type != wire.TypeRecvMsg110 {
		t.Fatalf("Other = %v", o.Packet)
	}
	d := next[Disconnected](t, c)
	if d.Reason != "GG_DISCONNECT_ACK" || !errors.Is(d.Err, ErrClosed) {
		t.Fatalf("Disconnected = %+v", d)
	}
}

func TestKicked(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.send(wire.TypeDisconnecting, nil)
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	d := next[Disconnected](t, c)
	if d.Reason != "GG_DISCONNECTING" || !errors.Is(d.Err, ErrKicked) || !errors.Is(c.Err(), ErrKicked) {
		t.Fatalf("Disconnected = %+v", d)
	}
	if _, ok := <-c.Events(); ok {
		t.Fatal("events not closed after Disconnected")
	}
}

// TestProtocolErrors: bodies libgadu would reject end the session.
func TestProtocolErrors(t *testing.T) {
	noTime, _ := proto.MarshalOptions{AllowPartial: true}.Marshal(&ggpb.GG110RecvMessage{Sender: []byte("\x00\x012"),
		Flags: proto.Uint32(0), Seq: proto.Uint32(1), MsgPlain: proto.String("x")})
	badSender, _ := proto.Marshal(&ggpb.GG110RecvMessage{Sender: []byte("\x00\x051234"), Flags: proto.Uint32(0),
		Seq: proto.Uint32(1), Time: proto.Uint32(1), MsgPlain: proto.String("x")})
	for name, pk := range map[string]wire.Packet{
		"missing required field": {Type: wire.TypeRecvMsg110, Body: noTime},
		"bad sender UIN":         {Type: wire.TypeRecvMsg110, Body: badSender},
		"short status":           {Type: wire.TypeStatus80, Body: make([]byte, 27)},
		"bad MPA":                {Type: wire.TypeEvent110, Body: []byte{0x08}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, func(p *peer) {
				serverLogin(p)
				p.send(pk.Type, pk.Body)
				p.ExpectClose()
			})
			c := loggedIn(t, f, Options{})
			d := next[Disconnected](t, c)
			var pe *ProtocolError
			if !errors.As(d.Err, &pe) || pe.Type != pk.Type {
				t.Fatalf("Disconnected = %+v", d)
			}
		})
	}
}

func TestEventOverflow(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		var burst []byte // one write: the client hangs up halfway through reading it
		for range 10 {
			burst = wire.AppendPacket(burst, wire.TypeTypingNotify, wire.AppendTyping(nil, wire.Typing{Length: 1, UIN: 2}))
		}
		p.Send(string(burst))
		p.ExpectClose()
	})
	c := dial(t, f, Options{EventBuffer: 4})
	if err := c.Login(ctx(t), testUIN, testPassword, 0, ""); err != nil {
		t.Fatal(err)
	}
	<-c.conn.Done() // nobody reads events
	if !errors.Is(c.Err(), ErrEventOverflow) {
		t.Fatalf("Err = %v", c.Err())
	}
	if _, err := c.Ping(ctx(t)); !errors.Is(err, ErrEventOverflow) {
		t.Fatalf("Ping after overflow = %v", err)
	}
}

// TestServerHangsUp: pending calls fail with the cause, and the channel
// ends with Disconnected{Err: io.EOF}.
func TestServerHangsUp(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.expect(wire.TypePing)
	})
	c := loggedIn(t, f, Options{})
	if _, err := c.Ping(ctx(t)); !errors.Is(err, ErrClosed) || !errors.Is(err, io.EOF) {
		t.Fatalf("Ping = %v", err)
	}
	if d := next[Disconnected](t, c); d.Err != io.EOF {
		t.Fatalf("Disconnected = %+v", d)
	}
}

func TestStateErrors(t *testing.T) {
	f := newFake(t, func(p *peer) {
		p.send(wire.TypeWelcome, wire.AppendWelcome(nil, wire.Welcome{Seed: 1}))
		p.send(wire.TypeRecvMsg110, []byte("ignored before login"))
		p.expectBody(wire.TypeNotify105ListEmpty, nil) // Send works in any state
		p.ExpectClose()
	})
	c := dial(t, f, Options{})
	if _, err := c.SendMessage(ctx(t), 1, "x"); !errors.Is(err, ErrState) {
		t.Fatalf("SendMessage before login = %v", err)
	}
	if err := c.SetStatus(ctx(t), wire.StatusAvail, ""); !errors.Is(err, ErrState) {
		t.Fatalf("SetStatus before login = %v", err)
	}
	if o := next[Other](t, c); o.Packet.Type != wire.TypeRecvMsg110 {
		t.Fatalf("Other = %v", o.Packet)
	}
	if err := c.Send(ctx(t), wire.Packet{Type: wire.TypeNotify105ListEmpty}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close() // twice is fine
	if _, err := c.IMToken(ctx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("IMToken after Close = %v", err)
	}
}

func TestHTMLConversions(t *testing.T) {
	if got := textToHTML("a<b>\r\n\"c\""); got != "<span>a&lt;b&gt;<br>&#34;c&#34;</span>" {
		t.Errorf("textToHTML = %q", got)
	}
	for in, want := range map[string]string{
		"<span style=\"x\">a<BR>b<br />c</span>": "a\nb\nc",
		"x &lt;y&gt; &amp;":                      "x <y> &",
		"cut <span":                              "cut ",
		"<brx>a":                                 "a",
	} {
		if got := htmlToText(in); got != want {
			t.Errorf("htmlToText(%q) = %q, want %q", in, got, want)
		}
	}
}

// writeCounter counts the writes made to a connection, and holds back
// those from the holdFrom'th on (when set) until release is closed.
type writeCounter struct {
	net.Conn
	writes   atomic.Int32
	holdFrom atomic.Int32
	release  chan struct{}
}

func (w *writeCounter) Write(b []byte) (int, error) {
	if n := w.writes.Add(1); w.holdFrom.Load() > 0 && n >= w.holdFrom.Load() {
		<-w.release
	}
	return w.Conn.Write(b)
}

// The acks of messages that arrive together leave in one write, after
// the last of them is read, and before any of the messages is seen.
func TestAcksOfPacketsThatCameTogether(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.expectAck(ggpb.GG110Ack_MSG, 99) // the test has counted the writes before
		var burst []byte
		for seq := uint32(1); seq <= 3; seq++ {
			body, err := proto.Marshal(&ggpb.GG110RecvMessage{Sender: []byte("\x00\x045678"), Flags: proto.Uint32(0),
				Seq: proto.Uint32(seq), Time: proto.Uint32(uint32(time.Now().Unix())), MsgPlain: proto.String("hi")})
			if err != nil {
				p.Failf("fake: %v", err)
			}
			burst = wire.AppendPacket(burst, wire.TypeRecvMsg110, body)
		}
		p.Send(string(burst))
		for seq := uint32(1); seq <= 3; seq++ {
			p.expectAck(ggpb.GG110Ack_MSG, seq)
		}
		// Sent once every ack was read: the client has made its writes.
		p.send(wire.TypeStatus80, wire.AppendContactStatus(nil, wire.ContactStatus{UIN: 5678, Status: wire.StatusAvail}))
		p.ExpectClose()
	})
	nc, err := net.Dial("tcp", f.Addr())
	if err != nil {
		t.Fatal(err)
	}
	counted := &writeCounter{Conn: nc, release: make(chan struct{})}
	var released sync.Once
	release := func() { released.Do(func() { close(counted.release) }) }

	c := newClient(counted, Options{})
	go c.readLoop()
	t.Cleanup(func() { c.Close() })
	t.Cleanup(release) // runs first: Close waits for the reader
	if err := c.Login(ctx(t), testUIN, testPassword, wire.StatusAvail, ""); err != nil {
		t.Fatalf("Login: %v", err)
	}
	next[LoggedIn](t, c)
	next[IMToken](t, c)
	before := counted.writes.Load()
	counted.holdFrom.Store(before + 2) // the acks' write, after this one
	if err := c.Ack(ctx(t), ggpb.GG110Ack_MSG, 99); err != nil {
		t.Fatal(err)
	}
	before++
	// While the acks' write is held back, no message is seen.
	for counted.writes.Load() == before {
		time.Sleep(time.Millisecond)
	}
	select {
	case ev := <-c.Events():
		t.Fatalf("%#v seen before the acks were written", ev)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	for seq := uint32(1); seq <= 3; seq++ {
		if m := next[Message](t, c); m.Seq != seq {
			t.Fatalf("message %d has seq %d", seq, m.Seq)
		}
	}
	next[Status](t, c)
	if writes := counted.writes.Load() - before; writes != 1 {
		t.Errorf("the acks of 3 messages that came together took %d writes, want 1", writes)
	}
}
