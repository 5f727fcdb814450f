package server

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(offstack.WorkerFunction), goleak.IgnoreAnyFunction(offstack.PollerFunction))
}

// rawClient speaks MSNP line by line for tests that need to misbehave.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

func (c *rawClient) line() (string, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	s, err := c.br.ReadString('\n')
	return strings.TrimRight(s, "\r\n"), err
}

func (c *rawClient) expect(want string) {
	c.t.Helper()
	got, err := c.line()
	if err != nil || got != want {
		c.t.Fatalf("got %q (%v), want %q", got, err, want)
	}
}

// expectClosed reads until the server closes, failing on a timeout.
func (c *rawClient) expectClosed() []string {
	c.t.Helper()
	var lines []string
	for {
		s, err := c.line()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("connection still open; read %q", lines)
			}
			return lines
		}
		lines = append(lines, s)
	}
}

// switchboard goes online and opens a switchboard session for the account
// logged in on c, whose address and friendly name are email and name, and
// returns the switchboard connection.
func (c *rawClient) switchboard(email, name string) *rawClient {
	c.t.Helper()
	c.send("CHG 4 NLN\r\nXFR 5 SB\r\n")
	c.expect("CHG 4 NLN")
	line, _ := c.line()
	var addr, cookie string
	fmt.Sscanf(line, "XFR 5 SB %s CKI %s", &addr, &cookie)
	sb := dialRaw(c.t, addr)
	sb.send("USR 1 " + email + " " + cookie + "\r\n")
	sb.expect("USR 1 OK " + email + " " + name)
	return sb
}

// login runs VER/USR MD5 and skips the profile message.
// login logs in with MSNP7 and returns the profile message's payload.
func (c *rawClient) login(email, password string) string {
	c.t.Helper()
	c.send("VER 1 MSNP7 CVR0\r\n")
	c.expect("VER 1 MSNP7 CVR0")
	c.send("USR 2 MD5 I " + email + "\r\n")
	s, err := c.line()
	if err != nil || !strings.HasPrefix(s, "USR 2 MD5 S ") {
		c.t.Fatalf("USR I: %q %v", s, err)
	}
	sum := md5.Sum([]byte(strings.TrimPrefix(s, "USR 2 MD5 S ") + password))
	c.send("USR 3 MD5 S " + hex.EncodeToString(sum[:]) + "\r\n")
	s, err = c.line()
	if err != nil || !strings.HasPrefix(s, "USR 3 OK ") {
		c.t.Fatalf("USR S: %q %v", s, err)
	}
	s, _ = c.line()
	var n int
	if _, err := fmt.Sscanf(s, "MSG Hotmail Hotmail %d", &n); err != nil {
		c.t.Fatalf("profile: %q", s)
	}
	profile := make([]byte, n)
	if _, err := io.ReadFull(c.br, profile); err != nil {
		c.t.Fatal(err)
	}
	return string(profile)
}

// stillFine checks a bystander's session works after someone else misbehaved.
func stillFine(t *testing.T, c *rawClient) {
	t.Helper()
	c.send("PNG\r\n")
	c.expect("QNG")
}

func TestBadInput(t *testing.T) {
	env := newTestEnv(t, func(c *Config) {
		c.HandshakeTimeout = 2 * time.Second
		c.CommandBurst = 20
		c.CommandsPerSecond = 5
	})
	env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	env.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	bystander := dialRaw(t, env.nsAddr)
	bystander.login("bob@example.com", "pb")

	t.Run("garbage bytes", func(t *testing.T) {
		c := dialRaw(t, env.nsAddr)
		c.send("\x00\x01\x02\xff\xfe garbage\r\n")
		c.expect("200 0")
		c.send(strings.Repeat("\xde\xad\xbe\xef", 400)) // no line end, longer than a line
		c.expectClosed()
		stillFine(t, bystander)
	})
	t.Run("oversize line", func(t *testing.T) {
		c := dialRaw(t, env.nsAddr)
		c.send("VER 1 " + strings.Repeat("MSNP7 ", 500) + "\r\n")
		c.expectClosed()
		stillFine(t, bystander)
	})
	t.Run("never finishes login", func(t *testing.T) {
		c := dialRaw(t, env.nsAddr)
		c.send("VER 1 MSNP7 CVR0\r\n")
		c.expect("VER 1 MSNP7 CVR0")
		start := time.Now()
		c.expectClosed()
		if time.Since(start) > 4*time.Second {
			t.Fatal("handshake timeout not applied")
		}
	})
	t.Run("command flood", func(t *testing.T) {
		c := dialRaw(t, env.nsAddr)
		c.login("alice@example.com", "pa")
		var flood strings.Builder
		for i := range 200 {
			fmt.Fprintf(&flood, "URL %d INBOX\r\n", i+10)
		}
		c.send(flood.String())
		lines := c.expectClosed()
		refused := 0
		for _, l := range lines {
			if strings.HasPrefix(l, "713 ") {
				refused++
			}
		}
		if refused == 0 || len(lines) >= 200 {
			t.Fatalf("flood of 200 commands: %d replies, %d refused with 713", len(lines), refused)
		}
		stillFine(t, bystander)
	})
}

func TestSwitchboardBadInput(t *testing.T) {
	env := newTestEnv(t, nil)
	env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	env.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	a := dialRaw(t, env.nsAddr)
	a.login("alice@example.com", "pa")
	a.send("CHG 4 NLN\r\n")
	a.expect("CHG 4 NLN")

	openSB := func() *rawClient {
		a.send("XFR 5 SB\r\n")
		s, _ := a.line()
		f := strings.Fields(s)
		if len(f) != 6 {
			t.Fatalf("XFR reply %q", s)
		}
		sb := dialRaw(t, f[3])
		sb.send("USR 1 alice@example.com " + f[5] + "\r\n")
		sb.expect("USR 1 OK alice@example.com Alice")
		return sb
	}
	t.Run("message over the size limit", func(t *testing.T) {
		sb := openSB()
		sb.send(fmt.Sprintf("MSG 2 N %d\r\n%s", 1665, strings.Repeat("x", 1665)))
		sb.expectClosed()
	})
	t.Run("length that lies short", func(t *testing.T) {
		sb := openSB()
		sb.send("MSG 2 U 3\r\nhello world\r\n")
		sb.expect("200 0")
	})
	t.Run("length that lies long", func(t *testing.T) {
		sb := openSB()
		sb.send("MSG 2 U 500\r\nshort")
		sb.nc.(*net.TCPConn).CloseWrite()
		sb.expectClosed()
	})
	t.Run("bad cookie", func(t *testing.T) {
		sb := dialRaw(t, env.sbAddr)
		sb.send("USR 1 alice@example.com 12345.67890\r\n")
		sb.expect("911 1")
		sb.expectClosed()
	})
	t.Run("cookie of someone else", func(t *testing.T) {
		a.send("XFR 6 SB\r\n")
		s, _ := a.line()
		f := strings.Fields(s)
		sb := dialRaw(t, env.sbAddr)
		sb.send("USR 1 bob@example.com " + f[5] + "\r\n")
		sb.expect("911 1")
	})
	t.Run("commands before joining", func(t *testing.T) {
		sb := dialRaw(t, env.sbAddr)
		sb.send("CAL 1 bob@example.com\r\n")
		sb.expect("302 1")
		sb.send("MSG 2 U 2\r\nhi")
		sb.expect("302 2")
		sb.send("FOO 3\r\n")
		sb.expect("200 3")
	})
	stillFine(t, a)
}

func TestShutdownTellsClients(t *testing.T) {
	env := newTestEnv(t, nil)
	env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	c := dialRaw(t, env.nsAddr)
	c.login("alice@example.com", "pa")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := env.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.expect("OUT SSD")
	c.expectClosed()
	if _, err := net.DialTimeout("tcp", env.nsAddr, time.Second); err == nil {
		t.Fatal("listener still accepting after shutdown")
	}
}

func TestListLimitAndIdleTimeout(t *testing.T) {
	env := newTestEnvHub(t, func(c *Config) { c.IdleTimeout = 500 * time.Millisecond }, hub.Config{MaxListEntries: 2})
	env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	for i := range 3 {
		env.addAccount(t, uint32(2000+i), fmt.Sprintf("c%d@example.com", i), "C", "pw")
	}
	c := dialRaw(t, env.nsAddr)
	c.login("alice@example.com", "pa")
	c.send("ADD 4 FL c0@example.com C 0\r\nADD 5 FL c1@example.com C 0\r\nADD 6 FL c2@example.com C 0\r\n")
	c.expect("ADD 4 FL 1 c0@example.com C 0")
	c.expect("ADD 5 FL 2 c1@example.com C 0")
	c.expect("210 6")
	// Silent past the idle timeout: the server hangs up.
	start := time.Now()
	c.expectClosed()
	if d := time.Since(start); d < 300*time.Millisecond || d > 4*time.Second {
		t.Fatalf("closed after %s with a 500ms idle timeout", d)
	}
}

// writeLog records what each write to a connection carried.
type writeLog struct {
	net.Conn
	mu     sync.Mutex
	writes []string
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, string(p))
	w.mu.Unlock()
	return w.Conn.Write(p)
}

func (w *writeLog) NetConn() net.Conn { return w.Conn }

// The replies to one command leave in one write: after USR S, the USR OK
// and the profile message (and the challenge, when configured) together.
func TestRepliesOfACommandInOneWrite(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.Challenge = true })
	env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	l := listen(t)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := l.Accept()
		if err == nil {
			accepted <- nc
		}
		close(accepted)
	}()
	c := dialRaw(t, l.Addr().String())
	server := &writeLog{Conn: <-accepted}
	done := make(chan struct{})
	go func() { env.srv.ServeConn(server); close(done) }()
	c.login("alice@example.com", "pa")
	s, err := c.line()
	if err != nil || !strings.HasPrefix(s, "CHL 0 ") {
		t.Fatalf("after the profile: %q, %v", s, err)
	}
	c.nc.Close()
	<-done
	server.mu.Lock()
	defer server.mu.Unlock()
	for _, w := range server.writes {
		if strings.HasPrefix(w, "USR 3 OK ") {
			if !strings.Contains(w, "\r\nMSG Hotmail Hotmail ") || !strings.Contains(w, "\r\nCHL 0 ") {
				t.Errorf("USR OK left alone in a write: %q", w)
			}
			return
		}
	}
	t.Fatalf("no write starts with USR OK: %q", server.writes)
}

// The profile message after login tells the client its account and the
// address the server sees it at.
func TestProfile(t *testing.T) {
	env := newTestEnv(t, nil)
	env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	c := dialRaw(t, env.nsAddr)
	before := time.Now().Unix()
	msg, err := textproto.NewReader(bufio.NewReader(strings.NewReader(c.login("alice@example.com", "pa")))).ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(c.nc.LocalAddr().String())
	loginTime, _ := strconv.ParseInt(msg.Get("LoginTime"), 10, 64)
	for key, want := range map[string]string{
		"Content-Type": "text/x-msmsgsprofile; charset=UTF-8", "MemberIdLow": "1001", "MemberIdHigh": "0",
		"preferredEmail": "alice@example.com", "lang_preference": "1033", "Flags": "1027",
		"ClientIP": host, "ClientPort": port,
	} {
		if got := msg.Get(key); got != want {
			t.Errorf("%s: %q, want %q", key, got, want)
		}
	}
	if loginTime < before || loginTime > time.Now().Unix() {
		t.Errorf("LoginTime %q, not the time of the login", msg.Get("LoginTime"))
	}
}

// Salts, cookies and challenges are digits, the first never 0, each
// digit after it as likely as any other.
func TestRandomDigits(t *testing.T) {
	var counts [10]int
	const draws, length = 25000, 41
	for range draws {
		s := randomDigits(length)
		if len(s) != length || s[0] == '0' {
			t.Fatalf("randomDigits(%d) = %q", length, s)
		}
		for _, d := range s[1:] {
			if d < '0' || d > '9' {
				t.Fatalf("randomDigits(%d) = %q", length, s)
			}
			counts[d-'0']++
		}
	}
	// Each digit is expected 100,000 times, give or take 300: a digit
	// 4 % more likely than the others (256 byte values onto 10 digits)
	// stands out.
	for d, n := range counts {
		if n < 98_500 || n > 101_500 {
			t.Errorf("digit %d came %d times of %d", d, n, draws*(length-1))
		}
	}
}
