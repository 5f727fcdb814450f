package server

import (
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/imip/client"
	"github.com/crosstalk-im/crosstalk/imip/wire"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
)

// TestBeforeLogin: only HELO, LOGN and DISC work before login; the rest
// is ACK 812, and ACKs are never answered.
func TestBeforeLogin(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "Alice", "pa")
	c := dialRaw(t, env.addr)
	for _, typ := range []string{wire.TypePING, wire.TypeSTAT + " ONLINE", wire.TypeMESG, "LIST ADD 1001", "FOO"} {
		f := strings.Fields(typ)
		ack := c.expectAck(c.send(wire.NewBlock(f[0], f[1:]...)), wire.CodeNotLoggedIn)
		if len(ack.Body) == 0 {
			t.Fatalf("ACK 812 without text")
		}
	}
	c.send(wire.NewBlock(wire.TypeACK, "600"))
	// A repeated HELO gets the same salt.
	salt := string(c.hello().Body)
	if again := string(c.hello().Body); again != salt {
		t.Fatalf("second HELO salt %q, first %q", again, salt)
	}
	c.expectAck(c.send(wire.NewBlock(wire.TypeDISC)), wire.CodeOK)
	c.expectClosed()
}

// TestLoginErrors covers what the library cannot send.
func TestLoginErrors(t *testing.T) {
	// Long enough for the login steps on a loaded machine, short enough to
	// wait for in "never logs in".
	env := newTestEnv(t, func(c *Config) { c.LoginTimeout = 2 * time.Second })
	env.account(t, 1001, "Alice", "pa")
	t.Run("LOGN before HELO", func(t *testing.T) {
		c := dialRaw(t, env.addr)
		c.expectAck(c.logn("1001", "pa"), wire.CodeNoStatus)
		c.expectClosed()
	})
	t.Run("LOGN without user", func(t *testing.T) {
		c := dialRaw(t, env.addr)
		c.hello()
		c.expectAck(c.send(wire.NewBlock(wire.TypeLOGN)), wire.CodeNoStatus)
		c.expectClosed()
	})
	t.Run("other Auth-Type", func(t *testing.T) {
		c := dialRaw(t, env.addr)
		c.hello()
		b := wire.NewBlock(wire.TypeLOGN, "1001").Add(wire.HeaderAuthType, "plain")
		b.Body = []byte("pa")
		c.expectAck(c.send(b), wire.CodeBadStatus)
		c.expectClosed()
	})
	t.Run("upper-case hash without Auth-Type", func(t *testing.T) {
		c := dialRaw(t, env.addr)
		c.hello()
		b := wire.NewBlock(wire.TypeLOGN, "1001")
		b.Body = []byte(strings.ToUpper(wire.LoginHash(c.salt, "pa")))
		c.send(b)
		c.expect("LOGN 1001")
	})
	t.Run("hash for another salt", func(t *testing.T) {
		c := dialRaw(t, env.addr)
		c.hello()
		c.salt += "1"
		c.expectAck(c.logn("1001", "pa"), wire.CodeBadPassword)
		c.expectClosed()
	})
	t.Run("never logs in", func(t *testing.T) {
		c := dialRaw(t, env.addr)
		c.hello()
		if d := c.expect(wire.TypeDISC); string(d.Body) != "timeout" {
			t.Fatalf("DISC %q", d.Body)
		}
		c.expectClosed()
	})
}

// TestSessionErrors: error ACKs that leave the session up.
func TestSessionErrors(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "Alice", "pa")
	env.account(t, 1002, "Bob", "pb")
	c := dialRaw(t, env.addr)
	c.login("1001", "pa")
	bob := imipClient(t, env.addr, "1002", "pb")

	msg := func(to, ackType, body string) *wire.Block {
		b := wire.NewBlock(wire.TypeMESG)
		if to != "" {
			b.Add(wire.HeaderTo, to)
		}
		if ackType != "" {
			b.Add(wire.HeaderACKType, ackType)
		}
		b.Body = []byte(body)
		return b
	}
	list := func(args ...string) *wire.Block {
		return wire.NewBlock(wire.TypeLIST, args...).Add(wire.HeaderList, wire.ListBuddy)
	}
	for _, tt := range []struct {
		name  string
		block *wire.Block
		code  wire.Code
	}{
		{"STAT without status", wire.NewBlock(wire.TypeSTAT), wire.CodeNoStatus},
		{"STAT IDLE", wire.NewBlock(wire.TypeSTAT, "IDLE"), wire.CodeBadStatus},
		{"MESG without To", msg("", "", "hi"), wire.CodeNoStatus},
		{"MESG to a name", msg("bob", wire.AckTypeErrorsOnly, "hi"), wire.CodeUnknownUser},
		{"MESG to nobody", msg("1003", wire.AckTypeErrorsOnly, "hi"), wire.CodeUnknownUser},
		{"MESG without text", msg("1002", wire.AckTypeErrorsOnly, ""), wire.CodeNoStatus},
		{"MESG too long", msg("1002", wire.AckTypeErrorsOnly, strings.Repeat("x", hub.MaxMessageBytes+1)), wire.CodeBadStatus},
		{"MESG acknowledged", msg("1002", "", "hi"), wire.CodeOK},
		{"LIST", wire.NewBlock(wire.TypeLIST), wire.CodeNoStatus},
		{"LIST ADD without user", list("ADD"), wire.CodeNoStatus},
		{"LIST MOVE", list("MOVE", "1002"), wire.CodeBadStatus},
		{"LIST ADD on another list", wire.NewBlock(wire.TypeLIST, "ADD", "1002").Add(wire.HeaderList, "Invisible"), wire.CodeBadStatus},
		{"LIST ADD oneself", list("ADD", "1001"), wire.CodeBadStatus},
		{"LIST ADD nobody", list("ADD", "1003"), wire.CodeUnknownUser},
		{"LIST ACCEPT nobody", list("ACCEPT", "1003"), wire.CodeUnknownUser},
		{"HELO after login", wire.NewBlock(wire.TypeHELO), wire.CodeBadStatus},
		{"LOGN after login", wire.NewBlock(wire.TypeLOGN, "1001"), wire.CodeBadStatus},
		{"unknown block", wire.NewBlock("TYPN", "1002"), wire.CodeNoStatus},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.expectAck(c.send(tt.block), tt.code)
		})
	}
	c.t = t
	if m := nextEvent[client.Message](t, bob); m.Text != "hi" {
		t.Fatalf("Bob got %+v", m)
	}
	// Answers to nothing are not answered: the next block is PING's ACK.
	c.send(wire.NewBlock(wire.TypeACK, "811"))
	c.expectAck(c.send(wire.NewBlock(wire.TypePING)), wire.CodeOK)
	// Lower-case types and statuses are understood.
	c.expectAck(c.send(wire.NewBlock("stat", "away")), wire.CodeOK)
}

// TestWindows1252: text that is not UTF-8 is read as Windows-1252.
func TestWindows1252(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "Alice", "pa")
	env.account(t, 1002, "Bob", "pb")
	env.addToList(t, 1002, 1001, hub.Forward)
	bob := imipClient(t, env.addr, "1002", "pb")
	if err := bob.SetStatus(testCtx(t), wire.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, env.addr)
	c.login("1001", "pa")
	c.stat(wire.StatusAway, "Gr\xfc\xdfe")
	if st := nextStatus(t, bob, "1001", wire.StatusAway); st.Text != "Grüße" {
		t.Fatalf("status text %q", st.Text)
	}
	b := wire.NewBlock(wire.TypeMESG).Add(wire.HeaderTo, "1002").Add(wire.HeaderACKType, wire.AckTypeErrorsOnly)
	b.Body = []byte("\x80 5, \x93bitte\x94 \x81")
	c.send(b)
	if m := nextEvent[client.Message](t, bob); m.Text != "€ 5, “bitte” \u0081" {
		t.Fatalf("message %q", m.Text)
	}
}

// TestBadInput: framing errors end the connection with ACK 800, without
// hurting anyone else.
func TestBadInput(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.MaxBlockBytes = 4096 })
	env.account(t, 1001, "Alice", "pa")
	env.account(t, 1002, "Bob", "pb")
	bystander := dialRaw(t, env.addr)
	bystander.login("1002", "pb")

	for _, tt := range []struct {
		name     string
		input    string
		loggedIn bool
		ack      bool // an ACK 800 comes before the close
	}{
		{"length too long swallows the next block", "PING\r\n20\r\nID: 1003\r\nPING\r\n12\r\nID: 1004\r\n", true, true},
		{"length too short", "PING\r\n5\r\nID: 1003\r\n\r\n", true, true},
		{"length not a number", "PING\r\nten\r\nID: 1003\r\n\r\n", false, true},
		{"negative length", "PING\r\n-12\r\nID: 1003\r\n\r\n", false, true},
		{"oversized block", "MESG\r\n999999999\r\nID: 1003\r\n", true, true},
		{"huge length", "MESG\r\n99999999999999999999999\r\n", false, true},
		{"type line too long", strings.Repeat("A", 2000) + "\r\n", false, true},
		{"header without colon", "PING\r\n9\r\nID 1003\r\n", true, true},
		{"bare CR", "PI\rNG\r\n0\r\n", false, true},
		{"garbage", "\x00\x01\x02\x03\xff\xfe\r\n\x00\r\n", false, true},
		{"truncated block", "MESG\r\n100\r\nID: 1003\r\nTo: 1002\r\n", true, false},
		{"truncated length line", "MESG\r\n10", true, false},
		{"truncated type line", "MES", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, env.addr)
			if tt.loggedIn {
				c.login("1001", "pa")
			}
			c.write(tt.input)
			if !tt.ack {
				_ = c.nc.(*net.TCPConn).CloseWrite()
			}
			b, err := c.next()
			if tt.ack {
				if err != nil || b.TypeLine() != "ACK 800" {
					t.Fatalf("got %v, %v; want ACK 800", b, err)
				}
				if _, ok := b.Reference(); ok {
					t.Fatalf("ACK 800 with Reference %q", b.Get(wire.HeaderReference))
				}
			} else if err == nil {
				t.Fatalf("got %s, want the end", b)
			}
			c.expectClosed()
			_, _ = io.Copy(io.Discard, c.nc)
			bystander.t = t
			bystander.ping()
		})
	}
}

// TestIdleTimeout: a logged-in client silent for IdleTimeout is dropped
// with a DISC; one that keeps pinging is not.
func TestIdleTimeout(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.KeepAlive = time.Second; c.IdleTimeout = time.Second })
	env.account(t, 1001, "Alice", "pa")
	env.account(t, 1002, "Bob", "pb")
	c := dialRaw(t, env.addr)
	h := c.hello()
	if v := h.Get(wire.HeaderKeepAlive); v != "1" {
		t.Fatalf("Keep-Alive %q", v)
	}
	c.logn("1001", "pa")
	c.expect("LOGN 1001")
	busy := dialRaw(t, env.addr)
	busy.login("1002", "pb")
	for range 8 {
		time.Sleep(200 * time.Millisecond)
		busy.ping()
	}
	if d := c.expect(wire.TypeDISC); string(d.Body) != "timeout" {
		t.Fatalf("DISC %q", d.Body)
	}
	c.expectClosed()
	busy.ping()
}

// TestFastSenderIsThrottled: a client over its allowance is slowed down,
// not dropped: every block is still answered, in order.
func TestFastSenderIsThrottled(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.BlocksPerSecond = 100; c.BlockBurst = 5 })
	env.account(t, 1001, "Alice", "pa")
	c := dialRaw(t, env.addr)
	c.login("1001", "pa")
	const n = 40
	var ids []uint32
	for range n {
		ids = append(ids, c.send(wire.NewBlock(wire.TypePING)))
	}
	start := time.Now()
	for _, id := range ids {
		c.expectAck(id, wire.CodeOK)
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Fatalf("%d PINGs answered in %s: not throttled", n, time.Since(start))
	}
}

// TestEchoComesFirst: while messages stream in for an account that is
// online elsewhere, an IMIP login still sees its LOGN echo first.
func TestEchoComesFirst(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, 1001, "Alice", "pa")
	bob := env.account(t, 1002, "Bob", "pb")
	ctx := testCtx(t)
	if err := env.attach(t, 1001).SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = env.hub.SendMessage(ctx, bob, 1001, hub.Message{Text: "psst"}, "")
			time.Sleep(200 * time.Microsecond)
		}
	}()
	defer func() { close(stop); <-done }()
	for range 20 {
		c := dialRaw(t, env.addr)
		c.login("1001", "pa")
		c.expect(wire.TypeMESG)
		c.nc.Close()
	}
}

// TestTrace: the block dump shows blocks both ways but neither login
// hashes nor message texts.
func TestTrace(t *testing.T) {
	var logs testenv.LogBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: LevelTrace}))
	env := newTestEnv(t, func(c *Config) { c.Trace = true; c.Logger = logger })
	env.account(t, 1001, "Alice", "pa")
	env.account(t, 1002, "Bob", "pb")
	a := dialRaw(t, env.addr)
	a.login("1001", "pa")
	b := imipClient(t, env.addr, "1002", "pb")
	if _, err := b.SendMessage(testCtx(t), "1001", "secret text"); err != nil {
		t.Fatal(err)
	}
	a.expect(wire.TypeMESG)
	a.ping()
	out := logs.String()
	for _, want := range []string{"<<", ">>", "LOGN 1001", "MESG", "account=1001"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	if strings.Contains(out, "secret text") || strings.Contains(out, wire.LoginHash(a.salt, "pa")) {
		t.Errorf("trace shows a message or a login hash:\n%s", out)
	}
}

// A user id is an account number written the one way decimal writes it.
func TestParseUser(t *testing.T) {
	for _, ok := range []string{"1", "1001", "4294967295"} {
		if n, good := parseUser(ok); !good || strconv.FormatUint(uint64(n), 10) != ok {
			t.Errorf("parseUser(%q) = %d, %v", ok, n, good)
		}
	}
	for _, bad := range []string{"", "0", "01", "+1", "-1", "1_000", " 1", "1 ", "4294967296", "0x10", "1e3"} {
		if n, good := parseUser(bad); good {
			t.Errorf("parseUser(%q) = %d", bad, n)
		}
	}
}
