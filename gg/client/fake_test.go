package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
	"google.golang.org/protobuf/proto"
)

// peer is the server side of one connection to a scripted stand-in for
// a GG server, which expects exact packets from the client and answers
// with given ones.
type peer struct {
	*fakeserver.Peer
	rd *wire.Reader
}

func newFake(t *testing.T, scripts ...func(*peer)) *fakeserver.Server {
	t.Helper()
	return fakeserver.New(t, func(p *fakeserver.Peer) *peer { return &peer{p, wire.NewReader(p.R)} }, scripts...)
}

// read reads the next packet from the client.
func (p *peer) read() wire.Packet {
	p.T.Helper()
	p.Arm()
	pk, err := p.rd.ReadPacket()
	if err != nil {
		p.Failf("fake: reading a packet: %v", err)
	}
	return pk
}

// expect reads a packet of type typ and returns its body.
func (p *peer) expect(typ uint32) []byte {
	p.T.Helper()
	pk := p.read()
	if pk.Type != typ {
		p.Failf("fake: got %v % x, want %s", pk, pk.Body, wire.TypeName(typ))
	}
	return pk.Body
}

// expectBody reads a packet and compares type and body bytes.
func (p *peer) expectBody(typ uint32, want []byte) {
	p.T.Helper()
	if got := p.expect(typ); !bytes.Equal(got, want) {
		p.Failf("fake: %s body % x, want % x", wire.TypeName(typ), got, want)
	}
}

// expectProto reads a packet of type typ into m.
func (p *peer) expectProto(typ uint32, m proto.Message) {
	p.T.Helper()
	if err := proto.Unmarshal(p.expect(typ), m); err != nil {
		p.Failf("fake: decoding %s: %v", wire.TypeName(typ), err)
	}
}

// expectAck reads a GG_ACK110 and checks it against the captured form.
func (p *peer) expectAck(typ ggpb.GG110Ack_Type, seq uint32) {
	p.T.Helper()
	want, _ := proto.Marshal(&ggpb.GG110Ack{Type: typ.Enum(), Seq: proto.Uint32(seq), Dummy1: proto.Uint32(1)})
	p.expectBody(wire.TypeAck110, want)
}

func (p *peer) send(typ uint32, body []byte) {
	p.T.Helper()
	p.Send(string(wire.AppendPacket(nil, typ, body)))
}

func (p *peer) sendProto(typ uint32, m proto.Message) {
	p.T.Helper()
	body, err := proto.Marshal(m)
	if err != nil {
		p.Failf("fake: encoding %s: %v", wire.TypeName(typ), err)
	}
	p.send(typ, body)
}

// Login parameters. testHash is SHA-1("password" ‖ 78 56 34 12), computed
// outside Go (see wire's hash test).
const (
	testUIN      = 1234
	testPassword = "password"
	testSeed     = 0x12345678
	testHash     = "b854541caa373cd45dcb1e4a556575c0ec51fa4f"
	testToken    = "0123456789abcdef"
	polish       = "Zażółć gęślą jaźń"
)

// serverLogin plays the server side of a good login: welcome, a checked
// GG_LOGIN105, GG_LOGIN110_OK with the current time and GG_IMTOKEN.
func serverLogin(p *peer) *ggpb.GG105Login {
	p.T.Helper()
	p.send(wire.TypeWelcome, wire.AppendWelcome(nil, wire.Welcome{Seed: testSeed}))
	var login ggpb.GG105Login
	p.expectProto(wire.TypeLogin105, &login)
	if got := hex.EncodeToString(login.GetHash()); got != testHash {
		p.Failf("fake: hash %s, want %s", got, testHash)
	}
	if uin, magic, err := wire.ParseProtoUIN(login.GetUin()); err != nil || uin != testUIN || magic != wire.UINMagicClient {
		p.Failf("fake: login uin % x", login.GetUin())
	}
	p.sendProto(wire.TypeLogin110OK, &ggpb.GG110LoginOK{Dummy1: proto.Int32(1), Dummyhash: proto.String("0123456789abcdef"),
		Uin: proto.Uint32(testUIN), ServerTime: proto.Uint32(uint32(time.Now().Unix()))})
	p.sendProto(wire.TypeIMToken, &ggpb.GG110Imtoken{Imtoken: proto.String(testToken)})
	return &login
}

// ctx is a test context bounded well below the test timeout.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// dial connects to the fake; the client is closed at the end of the test.
func dial(t *testing.T, f *fakeserver.Server, opts Options) *Client {
	t.Helper()
	c, err := Dial(ctx(t), f.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// loggedIn dials and logs in against serverLogin, consuming the LoggedIn
// and IMToken events.
func loggedIn(t *testing.T, f *fakeserver.Server, opts Options) *Client {
	t.Helper()
	c := dial(t, f, opts)
	if err := c.Login(ctx(t), testUIN, testPassword, wire.StatusAvail, ""); err != nil {
		t.Fatalf("Login: %v", err)
	}
	next[LoggedIn](t, c)
	next[IMToken](t, c)
	return c
}

// next takes the next event, which must be a T.
func next[T Event](t *testing.T, c *Client) T {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatalf("events closed, want %T", *new(T))
		}
		got, isT := ev.(T)
		if !isT {
			t.Fatalf("event %#v, want %T", ev, *new(T))
		}
		return got
	case <-time.After(5 * time.Second):
		t.Fatalf("no event, want %T", *new(T))
	}
	panic("unreachable")
}
