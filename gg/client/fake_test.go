package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"google.golang.org/protobuf/proto"
)

// fakeServer is a scripted stand-in for a GG server on loopback TCP: each
// accepted connection is handed to the next script, which expects exact
// packets from the client and answers with given ones.
type fakeServer struct {
	t       *testing.T
	ln      net.Listener
	mu      sync.Mutex
	scripts []func(*peer)
	wg      sync.WaitGroup
}

// errAbort unwinds a script after a failed expectation.
var errAbort = errors.New("script aborted")

func newFake(t *testing.T, scripts ...func(*peer)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{t: t, ln: ln, scripts: scripts}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.stop)
	return f
}

func (f *fakeServer) addr() string { return f.ln.Addr().String() }

func (f *fakeServer) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		if len(f.scripts) == 0 {
			f.mu.Unlock()
			f.t.Errorf("fake: unexpected extra connection")
			c.Close()
			continue
		}
		script := f.scripts[0]
		f.scripts = f.scripts[1:]
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer c.Close()
			defer func() {
				if r := recover(); r != nil && r != errAbort {
					panic(r)
				}
			}()
			script(&peer{t: f.t, c: c, rd: wire.NewReader(c)})
		}()
	}
}

// stop closes the listener and waits for the scripts to finish.
func (f *fakeServer) stop() {
	f.ln.Close()
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.scripts); n > 0 && !f.t.Failed() {
		f.t.Errorf("fake: %d scripted connection(s) never made", n)
	}
}

// peer is the server side of one connection.
type peer struct {
	t  *testing.T
	c  net.Conn
	rd *wire.Reader
}

func (p *peer) failf(format string, args ...any) {
	p.t.Helper()
	p.t.Errorf(format, args...)
	panic(errAbort)
}

// read reads the next packet from the client.
func (p *peer) read() wire.Packet {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	pk, err := p.rd.ReadPacket()
	if err != nil {
		p.failf("fake: reading a packet: %v", err)
	}
	return pk
}

// expect reads a packet of type typ and returns its body.
func (p *peer) expect(typ uint32) []byte {
	p.t.Helper()
	pk := p.read()
	if pk.Type != typ {
		p.failf("fake: got %v % x, want %s", pk, pk.Body, wire.TypeName(typ))
	}
	return pk.Body
}

// expectBody reads a packet and compares type and body bytes.
func (p *peer) expectBody(typ uint32, want []byte) {
	p.t.Helper()
	if got := p.expect(typ); !bytes.Equal(got, want) {
		p.failf("fake: %s body % x, want % x", wire.TypeName(typ), got, want)
	}
}

// expectProto reads a packet of type typ into m.
func (p *peer) expectProto(typ uint32, m proto.Message) {
	p.t.Helper()
	if err := proto.Unmarshal(p.expect(typ), m); err != nil {
		p.failf("fake: decoding %s: %v", wire.TypeName(typ), err)
	}
}

// expectAck reads a GG_ACK110 and checks it against the captured form.
func (p *peer) expectAck(typ ggpb.GG110Ack_Type, seq uint32) {
	p.t.Helper()
	want, _ := proto.Marshal(newAck(typ, seq))
	p.expectBody(wire.TypeAck110, want)
}

func (p *peer) send(typ uint32, body []byte) {
	p.t.Helper()
	if _, err := p.c.Write(wire.AppendPacket(nil, typ, body)); err != nil {
		p.failf("fake: write: %v", err)
	}
}

func (p *peer) sendProto(typ uint32, m proto.Message) {
	p.t.Helper()
	body, err := proto.Marshal(m)
	if err != nil {
		p.failf("fake: encoding %s: %v", wire.TypeName(typ), err)
	}
	p.send(typ, body)
}

// expectClose waits for the client to close its side. A reset counts too:
// a client closing with unread data in its buffer sends one.
func (p *peer) expectClose() {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if pk, err := p.rd.ReadPacket(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		p.failf("fake: want EOF, got %v, %v", pk, err)
	}
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
	p.t.Helper()
	p.send(wire.TypeWelcome, wire.AppendWelcome(nil, wire.Welcome{Seed: testSeed}))
	var login ggpb.GG105Login
	p.expectProto(wire.TypeLogin105, &login)
	if got := hex.EncodeToString(login.GetHash()); got != testHash {
		p.failf("fake: hash %s, want %s", got, testHash)
	}
	if uin, magic, err := wire.ParseProtoUIN(login.GetUin()); err != nil || uin != testUIN || magic != wire.UINMagicClient {
		p.failf("fake: login uin % x", login.GetUin())
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
func dial(t *testing.T, f *fakeServer, opts Options) *Client {
	t.Helper()
	c, err := Dial(ctx(t), f.addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// loggedIn dials and logs in against serverLogin, consuming the LoggedIn
// and IMToken events.
func loggedIn(t *testing.T, f *fakeServer, opts Options) *Client {
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
