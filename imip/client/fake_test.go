package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/imip/wire"
)

// TestMain fails the run if a client goroutine outlives the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leak := leakedGoroutines(); leak != "" {
			fmt.Fprintf(os.Stderr, "goroutines left behind:\n%s\n", leak)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines returns the stacks of goroutines still inside this
// package's non-test code, after giving them some time to end.
func leakedGoroutines() string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "imip/client.(*Client)") && !strings.Contains(g, "leakedGoroutines") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeServer is a scripted stand-in for an IMIP server on loopback TCP:
// each accepted connection is handed to the next script, which expects the
// client's exact bytes and answers with given ones.
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
			script(&peer{t: f.t, c: c, br: bufio.NewReader(c)})
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
	br *bufio.Reader
}

func (p *peer) failf(format string, args ...any) {
	p.t.Helper()
	p.t.Errorf(format, args...)
	panic(errAbort)
}

// expect reads exactly the bytes of want and compares them.
func (p *peer) expect(want string) {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	n, err := io.ReadFull(p.br, got)
	if err != nil || string(got) != want {
		p.failf("fake: got %q, %v\nwant    %q", got[:n], err, want)
	}
}

// expectWithin is expect with a longer deadline, for keep-alives.
func (p *peer) expectWithin(d time.Duration, want string) time.Time {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(d))
	got := make([]byte, len(want))
	n, err := io.ReadFull(p.br, got)
	if err != nil || string(got) != want {
		p.failf("fake: got %q, %v\nwant    %q", got[:n], err, want)
	}
	return time.Now()
}

// readBlock reads whatever block comes next.
func (p *peer) readBlock() *wire.Block {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := wire.NewReader(p.br).ReadBlock()
	if err != nil {
		p.failf("fake: reading a block: %v", err)
	}
	return b
}

func (p *peer) send(raw string) {
	p.t.Helper()
	if _, err := p.c.Write([]byte(raw)); err != nil {
		p.failf("fake: write: %v", err)
	}
}

// expectClose waits for the client to close its side. A reset counts too:
// a client closing with unread data in its buffer sends one.
func (p *peer) expectClose() {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := p.br.ReadByte(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		p.failf("fake: want EOF, got %q, %v", b, err)
	}
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
	p.t.Helper()
	p.expect(clientHELO)
	p.send(serverHELO)
	p.expect(clientLOGN)
	p.send(serverLOGN)
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

// loggedIn dials and logs in against serverLogin.
func loggedIn(t *testing.T, f *fakeServer, opts Options) *Client {
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
