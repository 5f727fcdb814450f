package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/imip/client"
	"github.com/crosstalk-im/crosstalk/imip/wire"
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

// account creates an account whose display name is the IMIP nick.
func (e *testEnv) account(tb testing.TB, number uint32, nick, password string) hub.Account {
	tb.Helper()
	a, err := e.store.CreateAccount(context.Background(),
		hub.Account{Number: number, Email: fmt.Sprintf("u%d@example.com", number), DisplayName: nick}, password)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func (e *testEnv) addToList(tb testing.TB, owner, contact uint32, l hub.List) {
	tb.Helper()
	group := 0
	if l != hub.Forward {
		group = -1
	}
	if _, err := e.store.AddToList(context.Background(), owner, contact, l, group, 100); err != nil {
		tb.Fatal(err)
	}
}

// relation reads how owner's lists treat contact.
func (e *testEnv) relation(tb testing.TB, owner, contact uint32) hub.Relation {
	tb.Helper()
	r, err := e.store.Relation(context.Background(), owner, contact)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// testCtx is bounded well below the test timeout.
func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// rawIMIP speaks blocks directly, for exact checks of what the server
// sends. It numbers its blocks from 1001, ID first, blank line always, as
// the Yahoo! client did.
type rawIMIP struct {
	t      testing.TB
	nc     net.Conn
	rd     *wire.Reader
	nextID uint32
	salt   string
	lastID uint32 // the last server ID seen, to check they rise
}

func dialRaw(t testing.TB, addr string) *rawIMIP {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawIMIP{t: t, nc: nc, rd: wire.NewReader(nc), nextID: wire.FirstClientID}
}

// write sends bytes as they are.
func (c *rawIMIP) write(s string) {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// send gives b the next ID as its first header and writes it.
func (c *rawIMIP) send(b *wire.Block) uint32 {
	c.t.Helper()
	id := c.nextID
	c.nextID++
	b.Headers = append([]wire.Header{{Name: wire.HeaderID, Value: strconv.FormatUint(uint64(id), 10)}}, b.Headers...)
	b.Blank = true
	enc, err := b.Encode()
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(string(enc))
	return id
}

func (c *rawIMIP) next() (*wire.Block, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	return c.rd.ReadBlock()
}

// expect returns the next block, which must have the type line want. It
// checks what every server block must have: an ID above the last one, no
// blank line without a body.
func (c *rawIMIP) expect(want string) *wire.Block {
	c.t.Helper()
	b, err := c.next()
	if err != nil {
		c.t.Fatalf("waiting for %q: %v", want, err)
	}
	if b.TypeLine() != want {
		c.t.Fatalf("got %s, want %q", b, want)
	}
	id, ok := b.ID()
	if !ok || id <= c.lastID {
		c.t.Fatalf("%s: ID %q after %d", b, b.Get(wire.HeaderID), c.lastID)
	}
	c.lastID = id
	if b.Blank && len(b.Body) == 0 {
		c.t.Fatalf("%s: blank line without body", b)
	}
	return b
}

// expectHeaders checks b's header names (in order) and values; "ID" is
// matched by name only.
func expectHeaders(t testing.TB, b *wire.Block, want ...string) {
	t.Helper()
	var got []string
	for _, h := range b.Headers {
		if h.Name == wire.HeaderID {
			got = append(got, h.Name)
			continue
		}
		got = append(got, h.Name+": "+h.Value)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s headers\n got %q\nwant %q", b.TypeLine(), got, want)
	}
}

// expectAck reads "ACK <code>" answering ref.
func (c *rawIMIP) expectAck(ref uint32, code wire.Code) *wire.Block {
	c.t.Helper()
	b := c.expect("ACK " + strconv.Itoa(int(code)))
	if r, ok := b.Reference(); !ok || r != ref {
		c.t.Fatalf("%s answers %q, want %d", b, b.Get(wire.HeaderReference), ref)
	}
	return b
}

// expectClosed reads until the server hangs up.
func (c *rawIMIP) expectClosed() {
	c.t.Helper()
	for {
		b, err := c.next()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open after %v", b)
		}
		return
	}
}

// hello sends HELO and keeps the salt.
func (c *rawIMIP) hello() *wire.Block {
	c.t.Helper()
	c.send(wire.NewBlock(wire.TypeHELO).Add(wire.HeaderProtocol, wire.Protocol10))
	h := c.expect(wire.TypeHELO)
	c.salt = string(h.Body)
	return h
}

// logn sends LOGN with the hash of password and returns its ID.
func (c *rawIMIP) logn(user, password string) uint32 {
	c.t.Helper()
	b := wire.NewBlock(wire.TypeLOGN, user).Add(wire.HeaderClient, wire.ClientYahoo).Add(wire.HeaderAuthType, wire.AuthIMIPMD5)
	b.Body = []byte(wire.LoginHash(c.salt, password))
	return c.send(b)
}

// login runs HELO and a good LOGN and returns the echo.
func (c *rawIMIP) login(user, password string) *wire.Block {
	c.t.Helper()
	c.hello()
	ref := c.logn(user, password)
	echo := c.expect("LOGN " + user)
	if r, _ := echo.Reference(); r != ref {
		c.t.Fatalf("LOGN echo answers %d, want %d", r, ref)
	}
	return echo
}

// stat sends STAT and expects ACK 600.
func (c *rawIMIP) stat(status wire.Status, text string) {
	c.t.Helper()
	b := wire.NewBlock(wire.TypeSTAT, string(status))
	b.Body = []byte(text)
	c.expectAck(c.send(b), wire.CodeOK)
}

// ping sends PING and reads up to its ACK 600, skipping other blocks.
func (c *rawIMIP) ping() {
	c.t.Helper()
	id := c.send(wire.NewBlock(wire.TypePING))
	for {
		b, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for the ACK to PING: %v", err)
		}
		if r, ok := b.Reference(); ok && r == id {
			if b.TypeLine() != "ACK 600" {
				c.t.Fatalf("PING answered with %s", b)
			}
			return
		}
	}
}

// imipClient dials with the client library and logs in.
func imipClient(t testing.TB, addr, user, password string) *client.Client {
	t.Helper()
	c, err := client.Dial(testCtx(t), addr, client.Options{KeepAlive: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Login(testCtx(t), user, password); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// nextEvent returns the next event of type T, skipping others.
func nextEvent[T client.Event](t testing.TB, c *client.Client) T {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("events closed while waiting for %T: %v", *new(T), c.Err())
			}
			if got, isT := ev.(T); isT {
				return got
			}
			if d, isD := ev.(client.Disconnected); isD {
				t.Fatalf("disconnected while waiting for %T: %+v", *new(T), d)
			}
		case <-timeout:
			t.Fatalf("no %T", *new(T))
		}
	}
}

// noEvent checks that nothing but events of the skipped kinds arrives
// for a while.
func noEvent(t testing.TB, c *client.Client, d time.Duration) {
	t.Helper()
	select {
	case ev := <-c.Events():
		t.Fatalf("unexpected event %#v", ev)
	case <-time.After(d):
	}
}

// nextStatus waits for number's status to become want.
func nextStatus(t testing.TB, c *client.Client, number string, want wire.Status) client.Status {
	t.Helper()
	for {
		st := nextEvent[client.Status](t, c)
		if st.Number == number && st.Status == want {
			return st
		}
	}
}

// testEndpoint is a hub session of another protocol, for the checks that
// need statuses IMIP cannot set.
type testEndpoint struct{}

func (testEndpoint) Deliver(hub.Event) bool { return true }

func (e *testEnv) attach(t testing.TB, number uint32) *hub.Session {
	t.Helper()
	a, err := e.store.Account(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.hub.Attach(context.Background(), a, "test", testEndpoint{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Detach(context.Background()) })
	return s
}
