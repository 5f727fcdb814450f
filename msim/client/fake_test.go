package client

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// peer is the server side of one connection to a scripted stand-in for
// a MySpaceIM server, which expects exact messages from the client and
// answers with given bytes.
type peer struct {
	*fakeserver.Peer
	rd *wire.Reader
}

func newFake(t *testing.T, scripts ...func(*peer)) *fakeserver.Server {
	t.Helper()
	return fakeserver.New(t, func(p *fakeserver.Peer) *peer { return &peer{p, wire.NewReader(p.R)} }, scripts...)
}

// read reads the bytes of the next message from the client.
func (p *peer) read() string {
	p.T.Helper()
	p.Arm()
	b, err := p.rd.ReadRaw()
	if err != nil {
		p.Failf("fake: reading a message: %v", err)
	}
	return string(b)
}

// expect reads a message and compares its bytes.
func (p *peer) expect(want string) {
	p.T.Helper()
	if got := p.read(); got != want {
		p.Failf("fake: got  %q\n      want %q", got, want)
	}
}

// expectMsg reads and parses a message.
func (p *peer) expectMsg() wire.Message {
	p.T.Helper()
	m, err := wire.Parse([]byte(p.read()))
	if err != nil {
		p.Failf("fake: %v", err)
	}
	return m
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
	p.T.Helper()
	p.Send(greeting, seedServerSettings(16339203))
	m := p.expectMsg()
	g, _ := wire.Parse([]byte(greeting))
	nonce, _ := g.Bytes("nc")
	resp := m.Raw("response")
	want := fmt.Sprintf(`\login2\196610\username\%s\response\%s\clientver\%d\langid\1033\imlang\ENGLISH\reconn\0\status\100\id\1\final\`,
		seedEmail, resp, clientver)
	if m.String() != want {
		p.Failf("fake: login2 %q\nwant %q", m, want)
	}
	if !wire.VerifyLogin2(nonce, resp, seedEmail, seedPassword) {
		p.Failf("fake: login2 response does not verify")
	}
	p.Send(lc2, seedServerSettings(16339206))
}

// serverSignOn expects pidgin's sign-on sequence from rid and answers it
// with the capture's data.
func serverSignOn(p *peer, sesskey, rid int) {
	p.T.Helper()
	p.expect(fmt.Sprintf(`\persist\1\sesskey\%d\cmd\1\dsn\4\lid\5\rid\%d\UserID\3656574\body\UserID=3656574\final\`, sesskey, rid))
	p.expect(fmt.Sprintf(`\persist\1\sesskey\%d\cmd\1\dsn\1\lid\4\rid\%d\body\\final\`, sesskey, rid+1))
	p.expect(fmt.Sprintf(`\status\1\sesskey\%d\statstring\\locstring\\final\`, sesskey))
	p.expect(fmt.Sprintf(`\persist\1\sesskey\%d\cmd\1\dsn\0\lid\1\uid\3656574\rid\%d\body\\final\`, sesskey, rid+2))
	p.Send(persistr(257, 4, 5, rid, seedOwnProfile), persistr(257, 1, 4, rid+1, seedSettings))
	p.expect(fmt.Sprintf(`\blocklist\\sesskey\%d\idlist\w0|c0\final\`, sesskey))
	p.Send(persistr(257, 0, 1, rid+2, seedContacts))
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

// loggedIn dials, logs in and signs on against serverLogin and
// serverSignOn (rids 1-3), consuming the two PersistPush events of the
// server settings.
func loggedIn(t *testing.T, f *fakeserver.Server, opts Options) *Client {
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
