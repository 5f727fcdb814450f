package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(offstack.WorkerFunction), goleak.IgnoreAnyFunction(offstack.PollerFunction))
}

type testEnv struct {
	store *store.SQLite
	hub   *hub.Hub
	srv   *Server
	addr  string
}

func newTestEnv(tb testing.TB, tweak func(*Config)) *testEnv {
	tb.Helper()
	st, h := testenv.Hub(tb, hub.Config{})
	cfg := Config{Hub: h}
	if tweak != nil {
		tweak(&cfg)
	}
	srv := New(cfg)
	return &testEnv{store: st, hub: h, srv: srv, addr: testenv.Serve(tb, srv, ErrServerClosed)}
}

func (e *testEnv) account(tb testing.TB, uin uint32, email, password string) hub.Account {
	tb.Helper()
	a, err := e.store.CreateAccount(context.Background(), hub.Account{Number: uin, Email: email, DisplayName: email}, password)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// rawGG speaks GG packets directly, for exact checks of what the server sends.
type rawGG struct {
	t    testing.TB
	nc   net.Conn
	rd   *wire.Reader
	seed uint32
}

func dial(t testing.TB, addr string) *rawGG {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawGG{t: t, nc: nc, rd: wire.NewReader(nc)}
	p := c.expect(wire.TypeWelcome)
	w, err := wire.ParseWelcome(p.Body)
	if err != nil {
		t.Fatal(err)
	}
	c.seed = w.Seed
	return c
}

func (c *rawGG) send(typ uint32, body []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(wire.AppendPacket(nil, typ, body)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawGG) sendProto(typ uint32, m proto.Message) {
	c.t.Helper()
	body, err := proto.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(typ, body)
}

func (c *rawGG) next() (wire.Packet, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	return c.rd.ReadPacket()
}

// expect returns the next packet, which must be of type typ.
func (c *rawGG) expect(typ uint32) wire.Packet {
	c.t.Helper()
	p, err := c.next()
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", wire.TypeName(typ), err)
	}
	if p.Type != typ {
		c.t.Fatalf("got %s, want %s", p, wire.TypeName(typ))
	}
	return p
}

func (c *rawGG) expectProto(typ uint32, m proto.Message) {
	c.t.Helper()
	if err := proto.Unmarshal(c.expect(typ).Body, m); err != nil {
		c.t.Fatalf("%s: %v", wire.TypeName(typ), err)
	}
}

func (c *rawGG) expectClosed() {
	c.t.Helper()
	for {
		p, err := c.next()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open after %s", p)
		}
		return
	}
}

func loginPacket(uin uint32, hash []byte, status uint32, descr string) *ggpb.GG105Login {
	return &ggpb.GG105Login{
		Lang: proto.String("pl"), Uin: wire.AppendProtoUIN(nil, 1, uin), Hash: hash,
		Dummy1: proto.Int32(4), Dummy2: proto.Uint32(0x03eeff77), Dummy3: proto.Uint32(0x00030614),
		Client:            proto.String("GG-Phoenix/11.3.45.10771"),
		InitialStatus:     proto.Uint32(status),
		InitialDescr:      proto.String(descr),
		Dummy4:            make([]byte, 4),
		SupportedFeatures: proto.String("avatar,StatusComments,ggaccount,edisc"),
		Dummy5:            proto.Int32(255), Dummy6: proto.Int32(100),
	}
}

// login runs the GG11 login and returns the IMToken.
func (c *rawGG) login(uin uint32, password string, status uint32, descr string) string {
	c.t.Helper()
	c.sendProto(wire.TypeLogin105, loginPacket(uin, wire.HashSHA1(password, c.seed), status, descr))
	var ok ggpb.GG110LoginOK
	c.expectProto(wire.TypeLogin110OK, &ok)
	if ok.GetUin() != uin || ok.GetDummy1() != 1 {
		c.t.Fatalf("login OK: %v", &ok)
	}
	var tok ggpb.GG110Imtoken
	c.expectProto(wire.TypeIMToken, &tok)
	return tok.GetImtoken()
}

func (c *rawGG) notify(list ...wire.Contact) {
	c.t.Helper()
	if len(list) == 0 {
		c.send(wire.TypeNotify105ListEmpty, nil)
		return
	}
	chunks := wire.NotifyChunks(list)
	for i, ch := range chunks {
		typ := wire.TypeNotify105First
		if i == len(chunks)-1 {
			typ = wire.TypeNotify105Last
		}
		c.send(typ, ch)
	}
}

func (c *rawGG) sendMessage(to, seq uint32, plain, xhtml string) {
	c.t.Helper()
	c.sendProto(wire.TypeSendMsg110, &ggpb.GG110SendMessage{
		Recipient: wire.AppendProtoUIN(nil, 1, to), Dummy1: proto.Uint32(8), Seq: proto.Uint32(seq),
		MsgPlain: proto.String(plain), MsgXhtml: proto.String(xhtml),
	})
}

func TestLoginAndToken(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "a@example.com", "tajne hasło")
	c := dial(t, env.addr)
	token := c.login(1001, "tajne hasło", wire.StatusAvail, "")
	if len(token) < 16 {
		t.Fatalf("token %q", token)
	}
	if uin, ok := env.srv.TokenOwner(context.Background(), token); !ok || uin != 1001 {
		t.Fatalf("token owner %d %v", uin, ok)
	}
	c.send(wire.TypePing, nil)
	var pong ggpb.GG110Pong
	c.expectProto(wire.TypePong110, &pong)
	if d := time.Since(time.Unix(int64(pong.GetServerTime()), 0)); d < -2*time.Second || d > 2*time.Second {
		t.Fatalf("pong time off by %s", d)
	}
	// Going "not available" is how libgadu logs out: it waits for the ack.
	c.send(wire.TypeNewStatus80, wire.AppendNewStatus(nil, wire.NewStatus{Status: wire.StatusNotAvail, Flags: wire.NewStatusFlagsGG11}))
	c.expect(wire.TypeDisconnectAck)
	c.expectClosed()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := env.srv.TokenOwner(context.Background(), token); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("token still valid after the session ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLoginFailures(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.LoginTimeout = 2 * time.Second })
	env.account(t, 1001, "a@example.com", "secret")
	for name, login := range map[string]func(c *rawGG){
		"wrong password": func(c *rawGG) {
			c.sendProto(wire.TypeLogin105, loginPacket(1001, wire.HashSHA1("wrong", c.seed), wire.StatusAvail, ""))
		},
		"hash for another seed": func(c *rawGG) {
			c.sendProto(wire.TypeLogin105, loginPacket(1001, wire.HashSHA1("secret", c.seed+1), wire.StatusAvail, ""))
		},
		"unknown account": func(c *rawGG) {
			c.sendProto(wire.TypeLogin105, loginPacket(999, wire.HashSHA1("secret", c.seed), wire.StatusAvail, ""))
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, env.addr)
			login(c)
			p := c.expect(wire.TypeLogin80Failed)
			if !bytes.Equal(p.Body, []byte{1, 0, 0, 0}) {
				t.Fatalf("failure body % x", p.Body)
			}
			c.expectClosed()
		})
	}
	t.Run("GG32 hash of the wrong password", func(t *testing.T) {
		c := dial(t, env.addr)
		hash := binary.LittleEndian.AppendUint32(nil, wire.HashGG32("wrong", c.seed))
		c.sendProto(wire.TypeLogin105, loginPacket(1001, hash, wire.StatusAvail, ""))
		c.expect(wire.TypeLogin80Failed)
		c.expectClosed()
	})
	t.Run("GG32 hash", func(t *testing.T) {
		c := dial(t, env.addr)
		hash := binary.LittleEndian.AppendUint32(nil, wire.HashGG32("secret", c.seed))
		c.sendProto(wire.TypeLogin105, loginPacket(1001, hash, wire.StatusAvail, ""))
		c.expect(wire.TypeLogin110OK)
	})
	t.Run("garbage instead of login", func(t *testing.T) {
		c := dial(t, env.addr)
		c.send(wire.TypeLogin105, []byte{0xff, 0xff, 0xff})
		c.expectClosed()
	})
	t.Run("other packet before login", func(t *testing.T) {
		c := dial(t, env.addr)
		c.send(wire.TypePing, nil)
		c.expectClosed()
	})
	t.Run("never logs in", func(t *testing.T) {
		c := dial(t, env.addr)
		c.expectClosed()
	})
	t.Run("oversized packet", func(t *testing.T) {
		c := dial(t, env.addr)
		var hdr [8]byte
		copy(hdr[:], wire.AppendPacket(nil, wire.TypeLogin105, nil))
		hdr[4], hdr[5], hdr[6], hdr[7] = 0xff, 0xff, 0xff, 0x7f
		_, _ = c.nc.Write(hdr[:])
		c.expectClosed()
	})
}

func TestPresenceMessagesAndTyping(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "a@example.com", "pa")
	env.account(t, 1002, "b@example.com", "pb")

	a := dial(t, env.addr)
	a.login(1001, "pa", wire.StatusAvailDescr, "na urlopie")
	a.notify()

	// b lists a: the notify reply shows a's status and description.
	b := dial(t, env.addr)
	b.login(1002, "pb", wire.StatusBusy, "")
	b.notify(wire.Contact{UIN: 1001, Type: wire.UserNormal})
	reply, err := wire.ParseContactStatuses(b.expect(wire.TypeNotifyReply80).Body)
	if err != nil || len(reply) != 1 || reply[0].UIN != 1001 || reply[0].Status != wire.StatusAvailDescr || reply[0].Description != "na urlopie" {
		t.Fatalf("notify reply %+v %v", reply, err)
	}
	// a's status change reaches b.
	a.send(wire.TypeNewStatus80, wire.AppendNewStatus(nil, wire.NewStatus{Status: wire.StatusDNDDescr, Flags: wire.NewStatusFlagsGG11, Description: "pracuję"}))
	st, err := wire.ParseContactStatus(b.expect(wire.TypeStatus80).Body)
	if err != nil || st.UIN != 1001 || st.Status != wire.StatusDNDDescr || st.Description != "pracuję" {
		t.Fatalf("status %+v %v", st, err)
	}

	// A message from b to a: ack to b, delivery to a with both text forms.
	const text = "Zażółć gęślą jaźń"
	b.sendMessage(1001, 7, text, "<span style=\"color:#ff0000; \"><b>"+text+"</b></span>")
	var ack ggpb.GG110MessageAck
	b.expectProto(wire.TypeSendMsgAck110, &ack)
	if ack.GetSeq() != 7 || ack.GetMsgType() != 1 {
		t.Fatalf("ack %v", &ack)
	}
	var got ggpb.GG110RecvMessage
	a.expectProto(wire.TypeRecvMsg110, &got)
	if uin, magic, _ := wire.ParseProtoUIN(got.GetSender()); uin != 1002 || magic != 0 || got.GetMsgPlain() != text {
		t.Fatalf("received %v", &got)
	}
	if want := `<span style="color:#FF0000; "><b>` + text + `</b></span>`; got.GetMsgXhtml() != want {
		t.Fatalf("xhtml %q, want %q", got.GetMsgXhtml(), want)
	}
	a.sendProto(wire.TypeAck110, &ggpb.GG110Ack{Type: ggpb.GG110Ack_MSG.Enum(), Seq: proto.Uint32(got.GetSeq()), Dummy1: proto.Uint32(1)})

	// Typing: the recipient sees the typist's number.
	a.send(wire.TypeTypingNotify, wire.AppendTyping(nil, wire.Typing{Length: 15, UIN: 1002}))
	typing, err := wire.ParseTyping(b.expect(wire.TypeTypingNotify).Body)
	if err != nil || typing.UIN != 1001 || typing.Length != 15 {
		t.Fatalf("typing %+v %v", typing, err)
	}

	// a goes invisible: b sees a as unavailable.
	a.send(wire.TypeNewStatus80, wire.AppendNewStatus(nil, wire.NewStatus{Status: wire.StatusInvisible, Flags: wire.NewStatusFlagsGG11}))
	if st, _ := wire.ParseContactStatus(b.expect(wire.TypeStatus80).Body); st.Status != wire.StatusNotAvail {
		t.Fatalf("invisible shows as %#x", st.Status)
	}
	// An MPA notification reaches a, who acks it.
	env.hub.Notify(1001, hub.Notification{Kind: "edisc/send_ticket_changed", Data: `{"id":"1"}`})
	var ev ggpb.GG110Event
	a.expectProto(wire.TypeEvent110, &ev)
	if ev.GetSubtype() != "edisc/send_ticket_changed" || ev.GetData() != `{"id":"1"}` || ev.GetType() != ggpb.GG110Event_JSON {
		t.Fatalf("event %v", &ev)
	}
}

func TestOfflineMessagesAndTakeover(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t, nil)
	a := env.account(t, 1001, "a@example.com", "pa")
	env.account(t, 1002, "b@example.com", "pb")
	sent := time.Now().Add(-time.Hour).UTC()
	if d, err := env.hub.SendMessage(ctx, a, 1002, hub.Message{Text: "czekam", Sent: sent}, ""); err != nil || d != hub.Queued {
		t.Fatalf("queue: %v %v", d, err)
	}

	// First login: delivered with its original time, but not acked.
	b := dial(t, env.addr)
	b.login(1002, "pb", wire.StatusAvail, "")
	var got ggpb.GG110RecvMessage
	b.expectProto(wire.TypeRecvMsg110, &got)
	if got.GetMsgPlain() != "czekam" || int64(got.GetTime()) != sent.Unix() {
		t.Fatalf("offline message %v", &got)
	}
	// A second login takes over: the first is told and closed.
	b2 := dial(t, env.addr)
	b2.login(1002, "pb", wire.StatusAvail, "")
	b.expect(wire.TypeDisconnecting)
	b.expectClosed()
	// Not acked, so it comes again; acked, it is gone.
	b2.expectProto(wire.TypeRecvMsg110, &got)
	b2.sendProto(wire.TypeAck110, &ggpb.GG110Ack{Type: ggpb.GG110Ack_MSG.Enum(), Seq: proto.Uint32(got.GetSeq()), Dummy1: proto.Uint32(1)})
	deadline := time.Now().Add(5 * time.Second)
	for {
		left, _ := env.store.CountOffline(ctx, 1002)
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("acked offline message still queued")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUserlistExportImport(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "a@example.com", "pa")
	c := dial(t, env.addr)
	c.login(1001, "pa", wire.StatusAvail, "")
	list := []byte(`<ContactBook><Contacts><Contact><ShowName>Ala</ShowName><GGNumber>1002</GGNumber></Contact></Contacts></ContactBook>`)
	request := func(u wire.Userlist100) wire.Userlist100 {
		c.send(wire.TypeUserlist100Request, wire.AppendUserlist100(nil, u))
		r, err := wire.ParseUserlist100(c.expect(wire.TypeUserlist100Reply).Body)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := request(wire.Userlist100{Type: wire.UserlistGet, Format: wire.UserlistFormatGG100}); r.Type != wire.UserlistReplyList || r.Version != 0 {
		t.Fatalf("empty get: %+v", r)
	}
	put := wire.Userlist100{Type: wire.UserlistPut, Format: wire.UserlistFormatGG100, Data: wire.DeflateUserlist(list)}
	if r := request(put); r.Type != wire.UserlistReplyAck || r.Version != 1 {
		t.Fatalf("put: %+v", r)
	}
	if r := request(put); r.Type != wire.UserlistReplyReject || r.Version != 1 {
		t.Fatalf("stale put: %+v", r)
	}
	r := request(wire.Userlist100{Type: wire.UserlistGet, Format: wire.UserlistFormatGG100})
	data, err := wire.InflateUserlist(r.Data, 1<<20)
	if r.Type != wire.UserlistReplyList || r.Version != 1 || err != nil || !bytes.Equal(data, list) {
		t.Fatalf("get: %+v %q %v", r, data, err)
	}
	if r := request(wire.Userlist100{Type: wire.UserlistGet, Version: 1, Format: wire.UserlistFormatGG100}); r.Type != wire.UserlistReplyUpToDate {
		t.Fatalf("current get: %+v", r)
	}
	// A list that does not inflate is refused by dropping the connection.
	c.send(wire.TypeUserlist100Request, wire.AppendUserlist100(nil, wire.Userlist100{Type: wire.UserlistPut, Version: 1, Format: 2, Data: []byte("not zlib")}))
	c.expectClosed()
}

// Packets that arrive together are read one after the other into the
// same buffer: what each leaves behind (a stored contact list, a notify
// list, messages on their way, a status description) is its own, not
// what the next one overwrote.
func TestPacketsReadTogetherKeepTheirContent(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "a@example.com", "pa")
	env.account(t, 1002, "b@example.com", "pb")
	b := dial(t, env.addr)
	b.login(1002, "pb", wire.StatusAvail, "")
	b.notify()
	a := dial(t, env.addr)
	a.login(1001, "pa", wire.StatusAvail, "")

	list := []byte(`<ContactBook><Contacts><Contact><ShowName>Ala</ShowName><GGNumber>1002</GGNumber></Contact></Contacts></ContactBook>`)
	overwrite := strings.Repeat("z", 400)
	message := func(seq uint32, text string) []byte {
		body, _ := proto.Marshal(&ggpb.GG110SendMessage{Recipient: wire.AppendProtoUIN(nil, 1, 1002), Dummy1: proto.Uint32(8),
			Seq: proto.Uint32(seq), MsgPlain: proto.String(text), MsgXhtml: proto.String("<span>" + text + "</span>")})
		return body
	}
	chunks := wire.NotifyChunks([]wire.Contact{{UIN: 1002, Type: wire.UserNormal}})
	// The first is the longest: the buffer it grew has room for the others.
	first := "first " + strings.Repeat("a", 600)
	together := wire.AppendPacket(nil, wire.TypeSendMsg110, message(1, first))
	together = wire.AppendPacket(together, wire.TypeUserlist100Request, wire.AppendUserlist100(nil,
		wire.Userlist100{Type: wire.UserlistPut, Format: wire.UserlistFormatGG100, Data: wire.DeflateUserlist(list)}))
	together = wire.AppendPacket(together, wire.TypeNotify105Last, chunks[0])
	together = wire.AppendPacket(together, wire.TypeNewStatus80, wire.AppendNewStatus(nil, wire.NewStatus{
		Status: wire.StatusBusyDescr, Flags: wire.NewStatusFlagsGG11, Description: "zaraz wracam"}))
	together = wire.AppendPacket(together, wire.TypeSendMsg110, message(2, "second "+overwrite))
	if _, err := a.nc.Write(together); err != nil {
		t.Fatal(err)
	}

	// The acks wait for the batch that held b's connection: the other
	// replies may come first.
	replies := map[uint32]int{}
	for range 4 {
		p, err := a.next()
		if err != nil {
			t.Fatal(err)
		}
		replies[p.Type]++
		if p.Type != wire.TypeNotifyReply80 {
			continue
		}
		if reply, err := wire.ParseContactStatuses(p.Body); err != nil || len(reply) != 1 || reply[0].UIN != 1002 {
			t.Fatalf("notify reply %+v %v", reply, err)
		}
	}
	if want := map[uint32]int{wire.TypeSendMsgAck110: 2, wire.TypeUserlist100Reply: 1, wire.TypeNotifyReply80: 1}; !maps.Equal(replies, want) {
		t.Fatalf("replies %v, want %v", replies, want)
	}
	for _, want := range []string{first, "second " + overwrite} {
		var got ggpb.GG110RecvMessage
		b.expectProto(wire.TypeRecvMsg110, &got)
		if got.GetMsgPlain() != want {
			t.Fatalf("received %.20q…, want %.20q…", got.GetMsgPlain(), want)
		}
	}
	if st, _, err := env.hub.Presence(context.Background(), 1001); err != nil || st != hub.StatusAway {
		t.Fatalf("presence %v %v", st, err)
	}
	if _, text, _ := env.hub.Presence(context.Background(), 1001); text != "zaraz wracam" {
		t.Fatalf("description %q", text)
	}
	a.send(wire.TypeUserlist100Request, wire.AppendUserlist100(nil, wire.Userlist100{Type: wire.UserlistGet, Format: wire.UserlistFormatGG100}))
	r, err := wire.ParseUserlist100(a.expect(wire.TypeUserlist100Reply).Body)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := wire.InflateUserlist(r.Data, 1<<20); err != nil || !bytes.Equal(data, list) {
		t.Fatalf("stored list %q %v", data, err)
	}
}

func TestMessageLimits(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "a@example.com", "pa")
	env.account(t, 1002, "b@example.com", "pb")
	c := dial(t, env.addr)
	c.login(1001, "pa", wire.StatusAvail, "")
	big := string(bytes.Repeat([]byte("x"), hub.MaxMessageBytes+1))
	c.sendMessage(1002, 1, big, "")
	c.expectClosed()

	// Truncated packet: the stream ends inside a body.
	c = dial(t, env.addr)
	c.login(1001, "pa", wire.StatusAvail, "")
	pkt := wire.AppendPacket(nil, wire.TypeSendMsg110, make([]byte, 100))
	_, _ = c.nc.Write(pkt[:50])
	_ = c.nc.(*net.TCPConn).CloseWrite()
	c.expectClosed()
	_, _ = io.Copy(io.Discard, c.nc)
}

// A client sending faster than its allowance is slowed down, not cut off
// and not dropped: every message still gets its acks (kept for an offline
// recipient: queued, then the GG11 receipt).
func TestFastSenderIsThrottled(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.PacketsPerSecond = 100; c.PacketBurst = 5 })
	env.account(t, 1001, "a@example.com", "pa")
	env.account(t, 1002, "b@example.com", "pb")
	c := dial(t, env.addr)
	c.login(1001, "pa", wire.StatusAvail, "")
	const n = 40
	for i := range n {
		c.sendMessage(1002, uint32(i+1), "spam", "")
	}
	for i := range n {
		c.expect(wire.TypeSendMsgAck)
		var ack ggpb.GG110MessageAck
		c.expectProto(wire.TypeSendMsgAck110, &ack)
		if ack.GetSeq() != uint32(i+1) {
			t.Fatalf("ack %d has seq %d", i+1, ack.GetSeq())
		}
	}
}

// The sender hears what became of each message: taken for an online
// recipient (the GG11 receipt), kept for an offline one (GG_SEND_MSG_ACK
// queued, then the GG11 receipt), refused by one who blocks the sender or
// sent to a number nobody has (GG_SEND_MSG_ACK alone).
func TestMessageAckStatus(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "a@example.com", "pa")
	env.account(t, 1002, "online@example.com", "pb")
	env.account(t, 1003, "offline@example.com", "pc")
	env.account(t, 1004, "blocker@example.com", "pd")
	if _, err := env.store.AddToList(context.Background(), 1004, 1001, hub.Block, 0, 100); err != nil {
		t.Fatal(err)
	}
	b := dial(t, env.addr)
	b.login(1002, "pb", wire.StatusAvail, "")
	a := dial(t, env.addr)
	a.login(1001, "pa", wire.StatusAvail, "")
	for i, tc := range []struct {
		to      uint32
		status  uint32 // of GG_SEND_MSG_ACK; 0: none
		receipt bool   // GG_SEND_MSG_ACK110 follows
	}{
		{1002, 0, true},
		{1003, wire.AckQueued, true},
		{1004, wire.AckBlocked, false},
		{9999, wire.AckNotDelivered, false},
	} {
		seq := uint32(i + 1)
		a.sendMessage(tc.to, seq, "hello", "")
		if tc.status != 0 {
			got, err := wire.ParseSendMsgAck(a.expect(wire.TypeSendMsgAck).Body)
			if err != nil || got != (wire.SendMsgAck{Status: tc.status, Recipient: tc.to, Seq: seq}) {
				t.Errorf("to %d: GG_SEND_MSG_ACK %+v, %v; want status %#x", tc.to, got, err, tc.status)
			}
		}
		if tc.receipt {
			var ack ggpb.GG110MessageAck
			a.expectProto(wire.TypeSendMsgAck110, &ack)
			if ack.GetSeq() != seq {
				t.Errorf("to %d: receipt %v", tc.to, &ack)
			}
		}
	}
}

// Every message has an id of its own, in the sender's receipt as in the
// recipient's packet, and below 2⁶³.
func TestMessageIDsDistinct(t *testing.T) {
	a, b := newTestEnv(t, nil).pair(t)
	seen := map[uint64]bool{}
	note := func(id uint64) {
		t.Helper()
		if seen[id] || id >= 1<<63 {
			t.Fatalf("message id %d again or too large; ids so far %v", id, seen)
		}
		seen[id] = true
	}
	for seq := uint32(1); seq <= 5; seq++ {
		a.sendMessage(1002, seq, "hi", "")
		var ack ggpb.GG110MessageAck
		a.expectProto(wire.TypeSendMsgAck110, &ack)
		note(ack.GetMsgId())
		var got ggpb.GG110RecvMessage
		b.expectProto(wire.TypeRecvMsg110, &got)
		note(got.GetMsgId())
	}
}

// pair logs in two accounts, 1001 and 1002.
func (env *testEnv) pair(t testing.TB) (a, b *rawGG) {
	env.account(t, 1001, "a@example.com", "pa")
	env.account(t, 1002, "b@example.com", "pb")
	a, b = dial(t, env.addr), dial(t, env.addr)
	a.login(1001, "pa", wire.StatusAvail, "")
	b.login(1002, "pb", wire.StatusAvail, "")
	return a, b
}
