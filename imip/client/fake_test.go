package client

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/imip/wire"
	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
)

// TestMain fails the run if a client goroutine outlives the tests.
func TestMain(m *testing.M) {
	fakeserver.Main(m, "imip/client.(*Client)")
}

// peer is the server side of one connection to a scripted stand-in for
// an IMIP server, which expects the client's exact bytes and answers with
// given ones.
type peer struct{ *fakeserver.Peer }

func newFake(t *testing.T, scripts ...func(*peer)) *fakeserver.Server {
	t.Helper()
	return fakeserver.New(t, func(p *fakeserver.Peer) *peer { return &peer{p} }, scripts...)
}

// readBlock reads whatever block comes next.
func (p *peer) readBlock() *wire.Block {
	p.T.Helper()
	p.Arm()
	b, err := wire.NewReader(p.R).ReadBlock()
	if err != nil {
		p.Failf("fake: reading a block: %v", err)
	}
	return b
}

// Wimmer's sessions: we are 1234567, the contacts 7654321 "Matthias" and
// 2345678 "Odigo Support"; salt and password are his worked example.
const (
	us       = "1234567"
	password = "Passwort"
	salt     = "1919833824"
	hash     = "3da461811be2c27177eeb8d3c81bb016" // printf 1919833824Passwort | md5sum

	clientHELO = "HELO\r\n32\r\nID: 1001\r\nProtocol: IMIP/1.0\r\n\r\n"
	serverHELO = "HELO\r\n196\r\nAuth-Type: imip-md5\r\nCapabilities: server-lists\r\nID: 19191\r\nKeep-Alive: 60\r\n" +
		"Protocol: IMIP/1.0\r\nRegistration: http://www.odigo.com/user\r\nService: odigo.com\r\nServiceDisplayName: Odigo\r\n\r\n" + salt
	clientLOGN = "LOGN 1234567\r\n93\r\nID: 1002\r\nClient: Yahoo! IMIP Client\r\nAuth-Type: imip-md5\r\n\r\n" + hash
	serverLOGN = "LOGN 1234567\r\n28\r\nID: 19194\r\nReference: 1002\r\n"
)

// ack renders the Odigo server's ACK block.
func ack(code int, id, ref uint32) string {
	body := fmt.Sprintf("ID: %d\r\nReference: %d\r\n", id, ref)
	return fmt.Sprintf("ACK %d\r\n%d\r\n%s", code, len(body), body)
}

// block renders a block the way the fixtures are written: header lines
// joined, the length computed.
func block(typeLine string, headers []string, body string) string {
	content := ""
	for _, h := range headers {
		content += h + "\r\n"
	}
	if body != "" {
		content += "\r\n" + body
	}
	return fmt.Sprintf("%s\r\n%d\r\n%s", typeLine, len(content), content)
}

// clientBlock renders a block the Yahoo! client's way: blank line always.
func clientBlock(typeLine string, headers []string, body string) string {
	content := strings.Join(headers, "\r\n") + "\r\n\r\n" + body
	return fmt.Sprintf("%s\r\n%d\r\n%s", typeLine, len(content), content)
}

// serverLogin plays HELO and a good login.
func serverLogin(p *peer) {
	p.T.Helper()
	p.Expect(clientHELO)
	p.Send(serverHELO)
	p.Expect(clientLOGN)
	p.Send(serverLOGN)
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

// loggedIn dials and logs in against serverLogin.
func loggedIn(t *testing.T, f *fakeserver.Server, opts Options) *Client {
	t.Helper()
	c := dial(t, f, opts)
	if _, err := c.Login(ctx(t), us, password); err != nil {
		t.Fatalf("Login: %v", err)
	}
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

// closed waits for the final Disconnected and the channel's end.
func closed(t *testing.T, c *Client) Disconnected {
	t.Helper()
	d := next[Disconnected](t, c)
	select {
	case ev, ok := <-c.Events():
		if ok {
			t.Fatalf("event %#v after Disconnected", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("events not closed after Disconnected")
	}
	return d
}
