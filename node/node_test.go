package node

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"github.com/crosstalk-im/crosstalk/internal/pgtest"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.Main(m), goleak.IgnoreAnyFunction(offstack.WorkerFunction), goleak.IgnoreAnyFunction(offstack.PollerFunction),
		// nats.go's object store Put starts this goroutine on a JetStream
		// context of its own and clears the channel it waits on when it
		// returns; a quick Put clears it first, and the goroutine then
		// waits on a nil channel for good. Nodes on a shared bus keep
		// files in the object store, so a test's upload may leave one.
		goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"))
}

func startNode(t *testing.T, dir, natsURL string) *Node {
	t.Helper()
	return startNodeWith(t, Options{DataDir: dir, NatsURL: natsURL})
}

// startNodeWith starts a node with every listener on a loopback port 0.
func startNodeWith(t *testing.T, o Options) *Node {
	t.Helper()
	o.MSNPAddr, o.SBAddr, o.GGAddr, o.IMIPAddr, o.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	o.SIPAddr = "127.0.0.1:0"
	n, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return n
}

func addAccount(t *testing.T, n *Node, number uint32, email, name, password string) {
	t.Helper()
	if _, err := n.Store.CreateAccount(context.Background(), hub.Account{Number: number, Email: email, DisplayName: name}, password); err != nil {
		t.Fatal(err)
	}
}

func login(t testing.TB, ctx context.Context, addr, email, password string) *client.Client {
	t.Helper()
	c, err := client.Dial(ctx, addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, email, password); err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	if _, err := c.Sync(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.SetStatus(ctx, client.StatusOnline); err != nil {
		t.Fatal(err)
	}
	return c
}

// next returns the next event of type T, skipping others.
func next[T any](t *testing.T, ctx context.Context, events <-chan client.Event) T {
	t.Helper()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("events closed while waiting for %T", *new(T))
			}
			if v, ok := ev.(T); ok {
				return v
			}
		case <-ctx.Done():
			t.Fatalf("no %T: %v", *new(T), ctx.Err())
		}
	}
}

// chat runs a whole conversation between two logged-in clients: presence,
// a call, text both ways, typing and an invitation.
func chat(t *testing.T, ctx context.Context, alice, bob *client.Client) {
	if _, err := alice.Add(ctx, client.ListForward, "bob@example.com", "Bob", 0); err != nil {
		t.Fatal(err)
	}
	if p := next[client.Presence](t, ctx, alice.Events()); p.Email != "bob@example.com" || p.Status != client.StatusOnline {
		t.Fatalf("alice sees %+v", p)
	}
	if rl := next[client.ReverseAdded](t, ctx, bob.Events()); rl.Email != "alice@example.com" {
		t.Fatalf("bob's RL: %+v", rl)
	}
	if err := bob.SetStatus(ctx, client.StatusBusy); err != nil {
		t.Fatal(err)
	}
	for p := next[client.Presence](t, ctx, alice.Events()); p.Status != client.StatusBusy; p = next[client.Presence](t, ctx, alice.Events()) {
		if p.Email != "bob@example.com" || p.Status != client.StatusOnline {
			t.Fatalf("alice sees %+v", p)
		}
	}

	asb := call(ctx, t, alice, "bob@example.com")
	ring := next[client.Ring](t, ctx, bob.Events())
	bsb, err := bob.Answer(ctx, ring)
	if err != nil {
		t.Fatal(err)
	}
	defer bsb.Leave()
	next[client.Joined](t, ctx, asb.Events())

	if err := asb.SendText(ctx, "Zażółć gęślą jaźń"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, ctx, bsb.Events()); m.Text != "Zażółć gęślą jaźń" || m.From != "alice@example.com" {
		t.Fatalf("bob got %+v", m)
	}
	if err := bsb.SendTyping(ctx); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, ctx, asb.Events()); m.TypingUser != "bob@example.com" {
		t.Fatalf("alice got %+v", m)
	}
	if err := bsb.SendText(ctx, "hi alice"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, ctx, asb.Events()); m.Text != "hi alice" {
		t.Fatalf("alice got %+v", m)
	}
	inv := invite.Invitation{
		AppName: invite.FileTransferName, AppGUID: invite.FileTransferGUID, Command: invite.Invite,
		Cookie: 4242, File: "notes.txt", FileSize: 2046,
	}
	if err := asb.SendInvitation(ctx, inv); err != nil {
		t.Fatal(err)
	}
	m := next[client.Message](t, ctx, bsb.Events())
	if m.Invitation == nil || m.Invitation.Cookie != 4242 || m.Invitation.File != "notes.txt" {
		t.Fatalf("bob got invitation %+v", m.Invitation)
	}
}

func TestChatOneNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")
	alice := login(t, ctx, n.MSNPAddr, "alice@example.com", "pa")
	bob := login(t, ctx, n.MSNPAddr, "bob@example.com", "pb")
	chat(t, ctx, alice, bob)
}

// TestChatAcrossNodes runs two server processes' worth of nodes on one
// NATS server with JetStream and one database: alice on the first, bob on
// the second. Presence and the call cross the bus; the switchboard lives
// on alice's node and bob is sent there. The database is SQLite in a
// shared data directory, or PostgreSQL with a data directory per node and
// the password key given to both.
func TestChatAcrossNodes(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		testChatAcrossNodes(t, Options{DataDir: dir}, Options{DataDir: dir})
	})
	t.Run("postgres", func(t *testing.T) {
		url, keys := pgtest.URL(t), store.KeyConfig{Current: store.NewKey()}
		testChatAcrossNodes(t, Options{DataDir: t.TempDir(), Database: url, Keys: keys},
			Options{DataDir: t.TempDir(), Database: url, Keys: keys})
	})
}

func testChatAcrossNodes(t *testing.T, o1, o2 Options) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o1.NatsURL = testenv.NATS(t)
	o2.NatsURL = o1.NatsURL
	n1 := startNodeWith(t, o1)
	n2 := startNodeWith(t, o2)
	addAccount(t, n1, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n2, 1002, "bob@example.com", "Bob", "pb")
	alice := login(t, ctx, n1.MSNPAddr, "alice@example.com", "pa")
	bob := login(t, ctx, n2.MSNPAddr, "bob@example.com", "pb")
	chat(t, ctx, alice, bob)

	// A second login on the other node takes over: OUT OTH crosses too.
	again := login(t, ctx, n1.MSNPAddr, "bob@example.com", "pb")
	d := next[client.Disconnected](t, ctx, bob.Events())
	if d.Reason != "OTH" {
		t.Fatalf("old session ended with %+v", d)
	}
	if err := again.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWrongPasswordAndShutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	c, err := client.Dial(ctx, n.MSNPAddr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var se *client.ServerError
	if err := c.Login(ctx, "alice@example.com", "wrong"); !errors.As(err, &se) || se.Code != 911 {
		t.Fatalf("wrong password: %v", err)
	}
	alice := login(t, ctx, n.MSNPAddr, "alice@example.com", "pa")
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := next[client.Disconnected](t, ctx, alice.Events()); d.Reason != "SSD" {
		t.Fatalf("shutdown: %+v", d)
	}
	if _, err := net.DialTimeout("tcp", n.MSNPAddr, time.Second); err == nil {
		t.Fatal("still accepting")
	}
}

func TestMetricsEndpoint(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	for path, want := range map[string]string{"/metrics": "process_resident_memory_bytes", "/healthz": "ok"} {
		resp, err := hc.Get("http://" + n.HTTPAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("%s: %d %.300s", path, resp.StatusCode, body)
		}
	}
}

// A node that cannot start leaves nothing listening behind.
func TestStartFailureClosesListeners(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	_, err = Start(context.Background(), Options{
		DataDir: t.TempDir(), MSNPAddr: freeAddr, SBAddr: "127.0.0.1:0", GGAddr: busy.Addr().String(), HTTPAddr: Off,
	})
	if err == nil {
		t.Fatal("started on a port in use")
	}
	l, err := net.Listen("tcp", freeAddr)
	if err != nil {
		t.Fatalf("the MSNP port stayed open after the failed start: %v", err)
	}
	l.Close()
}
