package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// fakeServer is a scripted stand-in for a MySpaceIM server on loopback
// TCP: each accepted connection is handed to the next script, which
// expects exact bytes from the client and answers with given ones.
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

// read reads the bytes of the next message from the client.
func (p *peer) read() string {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := p.rd.ReadRaw()
	if err != nil {
		p.failf("fake: reading a message: %v", err)
	}
	return string(b)
}

// expect reads a message and compares its bytes.
func (p *peer) expect(want string) {
	p.t.Helper()
	if got := p.read(); got != want {
		p.failf("fake: got  %q\n      want %q", got, want)
	}
}

// expectMsg reads and parses a message.
func (p *peer) expectMsg() wire.Message {
	p.t.Helper()
	m, err := wire.Parse([]byte(p.read()))
	if err != nil {
		p.failf("fake: %v", err)
	}
	return m
}

// send writes messages in one write, back to back.
func (p *peer) send(msgs ...string) {
	p.t.Helper()
	if _, err := p.c.Write([]byte(strings.Join(msgs, ""))); err != nil {
		p.failf("fake: write: %v", err)
	}
}

// expectClose waits for the client to close its side. A reset counts too:
// a client closing with unread data in its buffer sends one.
func (p *peer) expectClose() {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := p.rd.ReadRaw(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		p.failf("fake: want EOF, got %q, %v", b, err)
	}
}

// The second login session of the 2007 capture (seed 002). The password is
// ours: the capture's is unknown, and the response is checked with
// wire.VerifyLogin2.
const (
	seedEmail    = "myspace@xyzzy.cjb.net"
	seedPassword = "Hunter2-Correct-Horse"
	seedSessKey  = 267577152
	seedUID      = 3656574
	seedGreeting = `\lc\1\nc\YuhUG2NCAEazR031ICizIFi/SFU9H4aEWP7XVgaPobCAvUQNwEXLQc3OPvalwXj97VWp/KoLpsgcqHztb4Uy0w==\id\1\final\`
	seedLC2      = `\lc\2\sesskey\267577152\proof\shellreef\userid\3656574\profileid\3656574\uniquenick\shellreef\id\1\final\`
	// The first session: the account had no screen name yet.
	seedGreeting1 = `\lc\1\nc\XUsvRmBXjKK+/0WXWIvnwEbMRaxHo0oDmdS1GTcH0i+bnCB25ssRRyu1q5pk47UJ8EpsLg8JDPARfKGnv/ZLUQ==\id\1\final\`
	seedLC2First  = `\lc\2\sesskey\263958216\proof\3656574\userid\3656574\profileid\3656574\uniquenick\3656574\id\1\final\`
)

// seedServerSettings is the unsolicited 101/20 persistr the official server
// sent after the greeting and after \lc\2 (body from the first session,
// where the notes give it whole; 0x1C was printed as "?").
func seedServerSettings(rid int) string {
	body := strings.Join([]string{"AdUnitRefreshInterval=10", "AlertPollInterval=180",
		"ChatRoomUserIDs=78744676;142663391;142910130;123521495;138528147;140271072;163733130", "CurClientVersion=595",
		"EnableIMBrowse=False", "MaxAddAllFriends=100", "MaxContacts=1000", "MinClientVersion=529", "MySpaceNowTimer=720",
		"PersistenceDataTimeout=900", "UseWebChallenge=1", "WebTicketGoHome=False"}, "\x1c")
	return fmt.Sprintf(`\persistr\\cmd\257\dsn\101\uid\0\lid\20\rid\%d\body\%s\final\`, rid, body)
}

// Reply bodies from the capture. Where the notes cut a message short, it
// is closed after its last complete field.
var (
	seedOwnProfile = dict("UserID=3656574", "ImageURL=http:/1/1myspace-513.vo.llnwd.net/100928/131/151/1928941513_m.jpg",
		"DisplayName=Jeff", "UserName=shellreef", "BandName=", "SongName=", "TotalFriends=69")
	seedSettings = dict("UserID=3656574", "Sound=True", "PrivacyMode=0", "ShowOnlyToList=False", "OfflineMessageMode=1",
		"Headline=", "AvatarUrl=", "Alert=1", "ShowAvatar=False", "IMName=", "LastLogin=12818920")
	// The capture's 0/1 reply was empty; these records are its 0/2
	// replies for the same two contacts.
	seedContacts = dict("ContactID=6221", "Headline=:-)", "Position=1", "GroupName=IM Friends", "Visibility=1", "AvatarUrl=",
		"ShowAvatar=False", "LastLogin=128182824000000000", "IMName=", "NickName=", "NameSelect=0",
		"ContactID=15187323", "Headline=", "Position=0", "GroupName=Recent Contacts", "Visibility=1", "AvatarUrl=",
		"ShowAvatar=True", "IMName=", "NickName=", "NameSelect=0")
)

func dict(pairs ...string) string { return strings.Join(pairs, "\x1c") }

// persistr is a reply in the official server's layout.
func persistr(cmd, dsn, lid, rid int, body string) string {
	return fmt.Sprintf(`\persistr\\cmd\%d\dsn\%d\uid\%d\lid\%d\rid\%d\body\%s\final\`, cmd, dsn, seedUID, lid, rid, body)
}

// serverLogin plays the capture's greeting and \lc\2 around a checked
// login2 in pidgin's layout.
func serverLogin(p *peer, greeting, lc2 string, clientver int) {
	p.t.Helper()
	p.send(greeting, seedServerSettings(16339203))
	m := p.expectMsg()
	g, _ := wire.Parse([]byte(greeting))
	nonce, _ := g.Bytes("nc")
	resp := m.Raw("response")
	want := fmt.Sprintf(`\login2\196610\username\%s\response\%s\clientver\%d\langid\1033\imlang\ENGLISH\reconn\0\status\100\id\1\final\`,
		seedEmail, resp, clientver)
	if m.String() != want {
		p.failf("fake: login2 %q\nwant %q", m, want)
	}
	if !wire.VerifyLogin2(nonce, resp, seedEmail, seedPassword) {
		p.failf("fake: login2 response does not verify")
	}
	p.send(lc2, seedServerSettings(16339206))
}

// serverSignOn expects pidgin's sign-on sequence from rid and answers it
// with the capture's data.
func serverSignOn(p *peer, sesskey, rid int) {
	p.t.Helper()
	p.expect(fmt.Sprintf(`\persist\1\sesskey\%d\cmd\1\dsn\4\lid\5\rid\%d\UserID\3656574\body\UserID=3656574\final\`, sesskey, rid))
	p.expect(fmt.Sprintf(`\persist\1\sesskey\%d\cmd\1\dsn\1\lid\4\rid\%d\body\\final\`, sesskey, rid+1))
	p.expect(fmt.Sprintf(`\status\1\sesskey\%d\statstring\\locstring\\final\`, sesskey))
	p.expect(fmt.Sprintf(`\persist\1\sesskey\%d\cmd\1\dsn\0\lid\1\uid\3656574\rid\%d\body\\final\`, sesskey, rid+2))
	p.send(persistr(257, 4, 5, rid, seedOwnProfile), persistr(257, 1, 4, rid+1, seedSettings))
	p.expect(fmt.Sprintf(`\blocklist\\sesskey\%d\idlist\w0|c0\final\`, sesskey))
	p.send(persistr(257, 0, 1, rid+2, seedContacts))
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

// loggedIn dials, logs in and signs on against serverLogin and
// serverSignOn (rids 1-3), consuming the two PersistPush events of the
// server settings.
func loggedIn(t *testing.T, f *fakeServer, opts Options) *Client {
	t.Helper()
	c := dial(t, f, opts)
	if _, err := c.Login(ctx(t), seedEmail, seedPassword); err != nil {
		t.Fatalf("Login: %v", err)
	}
	next[PersistPush](t, c)
	next[PersistPush](t, c)
	return c
}

// signedOn is the server side of loggedIn.
func signedOn(p *peer) {
	serverLogin(p, seedGreeting, seedLC2, wire.PidginClientVersion)
	serverSignOn(p, seedSessKey, 1)
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

// setRID makes the next persist request use rid, to replay the capture's
// exchanges byte for byte.
func (c *Client) setRID(rid int) {
	c.mu.Lock()
	c.rid = rid - 1
	c.mu.Unlock()
}
