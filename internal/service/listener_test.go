package service

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/idleread"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/metrics"
)

// lineServer serves a small protocol over a guarded listener: it greets
// with "hello", answers "login" by logging the client in (through a
// wrapper, as protocol servers hold connections) and "ping" with "pong".
// Refused clients hear "busy".
func lineServer(t *testing.T, name string, lim Limits) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := NewListener(l, ListenerOptions{Name: name, Limits: lim, Busy: func(nc net.Conn) {
		_, _ = io.WriteString(nc, "busy\n")
	}})
	served := make(chan error, 1)
	go func() {
		served <- Serve(g, func(nc net.Conn) {
			defer nc.Close()
			wc := wrapped{nc}
			_, _ = io.WriteString(nc, "hello\n")
			sc := bufio.NewScanner(nc)
			for sc.Scan() {
				switch sc.Text() {
				case "login":
					LoggedIn(wc)
					_, _ = io.WriteString(nc, "ok\n")
				case "ping":
					_, _ = io.WriteString(nc, "pong\n")
				}
			}
		})
	}()
	t.Cleanup(func() {
		g.Close()
		if err := <-served; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve = %v", err)
		}
	})
	return l.Addr().String()
}

type wrapped struct{ net.Conn }

func (w wrapped) NetConn() net.Conn { return w.Conn }

type lineClient struct {
	net.Conn
	r *bufio.Reader
}

// dialFrom connects from a loopback address of the test's choice
// (127.0.0.0/8 is all loopback), so that several "addresses" can be
// tried from one machine.
func dialFrom(t *testing.T, from, addr string) *lineClient {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &lineClient{Conn: nc, r: bufio.NewReader(nc)}
}

func (c *lineClient) line(t *testing.T) string {
	t.Helper()
	s, err := c.r.ReadString('\n')
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSuffix(s, "\n")
}

func (c *lineClient) say(t *testing.T, what, want string) {
	t.Helper()
	if _, err := io.WriteString(c, what+"\n"); err != nil {
		t.Fatal(err)
	}
	if got := c.line(t); got != want {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// expect reads the greeting, then, for a refused client, the end.
func (c *lineClient) expect(t *testing.T, greeting string) {
	t.Helper()
	if got := c.line(t); got != greeting {
		t.Fatalf("greeting %q, want %q", got, greeting)
	}
	if greeting == "busy" {
		if _, err := c.r.ReadByte(); err != io.EOF {
			t.Fatalf("refused connection not closed: %v", err)
		}
	}
}

// admitWhenFree dials until the listener admits the client: a closed
// connection leaves the count when the server has seen it go.
func admitWhenFree(t *testing.T, from, addr string) *lineClient {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialFrom(t, from, addr)
		if got := c.line(t); got == "hello" {
			return c
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("a freed place was not given to a new connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func refused(t *testing.T, name, reason string) float64 {
	return metrics.Value(metrics.Refused.WithLabelValues(name, reason))
}

func TestCapsPerAddressAndTotal(t *testing.T) {
	const name = "test-caps"
	addr := lineServer(t, name, Limits{MaxConns: 3, MaxConnsPerAddr: 2, MaxPreLogin: -1, MaxPreLoginPerAddr: -1})

	perAddr, total := refused(t, name, "per_addr"), refused(t, name, "total")
	first := dialFrom(t, "127.0.0.1", addr)
	first.expect(t, "hello")
	dialFrom(t, "127.0.0.1", addr).expect(t, "hello")
	dialFrom(t, "127.0.0.1", addr).expect(t, "busy")
	if n := refused(t, name, "per_addr") - perAddr; n != 1 {
		t.Fatalf("per_addr refusals counted: %v", n)
	}
	dialFrom(t, "127.0.0.2", addr).expect(t, "hello")
	dialFrom(t, "127.0.0.3", addr).expect(t, "busy")
	if n := refused(t, name, "total") - total; n != 1 {
		t.Fatalf("total refusals counted: %v", n)
	}
	first.say(t, "ping", "pong")

	first.Close()
	admitWhenFree(t, "127.0.0.1", addr).say(t, "ping", "pong")
}

// Clients that have logged in leave the tighter pre-login caps, so a
// crowd of connections that never log in shuts out newcomers but not the
// users already in.
func TestPreLoginCaps(t *testing.T) {
	const name = "test-prelogin"
	addr := lineServer(t, name, Limits{MaxPreLogin: 2, MaxPreLoginPerAddr: 1})

	perAddr, total := refused(t, name, "prelogin_per_addr"), refused(t, name, "prelogin")
	bystander := dialFrom(t, "127.0.0.1", addr)
	bystander.expect(t, "hello")
	bystander.say(t, "login", "ok")
	pending := dialFrom(t, "127.0.0.1", addr)
	pending.expect(t, "hello")
	dialFrom(t, "127.0.0.1", addr).expect(t, "busy")
	if n := refused(t, name, "prelogin_per_addr") - perAddr; n != 1 {
		t.Fatalf("prelogin_per_addr refusals counted: %v", n)
	}
	dialFrom(t, "127.0.0.2", addr).expect(t, "hello")
	dialFrom(t, "127.0.0.3", addr).expect(t, "busy")
	if n := refused(t, name, "prelogin") - total; n != 1 {
		t.Fatalf("prelogin refusals counted: %v", n)
	}
	bystander.say(t, "ping", "pong")

	pending.say(t, "login", "ok")
	dialFrom(t, "127.0.0.1", addr).expect(t, "hello")
}

// A busy answer cannot hold its connection past BusyTimeout, whatever
// deadline it sets.
func TestBusyAnswerBounded(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := NewListener(l, ListenerOptions{Name: "test-busy", Limits: Limits{MaxPreLoginPerAddr: 1}, BusyTimeout: 50 * time.Millisecond,
		Busy: func(nc net.Conn) {
			_ = nc.SetDeadline(time.Time{})
			_, _ = io.Copy(io.Discard, nc)
		}})
	done := make(chan error, 1)
	go func() {
		done <- Serve(g, func(nc net.Conn) {
			_, _ = io.Copy(io.Discard, nc)
			nc.Close()
		})
	}()
	first := dialFrom(t, "127.0.0.1", l.Addr().String())
	refused := dialFrom(t, "127.0.0.1", l.Addr().String())
	if _, err := refused.r.ReadByte(); err != io.EOF {
		t.Fatalf("the busy answer held on: %v", err)
	}
	first.Close()
	g.Close()
	<-done
}

// Admitted and busy connections both offer their socket, so that a reader
// can wait for input without a buffer (idleread.WaitReadable), and the wait
// leaves the bytes in place.
func TestConnsOfferTheirSocket(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	waitAndEcho := func(nc net.Conn) {
		if err := idleread.WaitReadable(nc); err != nil {
			_, _ = io.WriteString(nc, "wait: "+err.Error()+"\n")
			return
		}
		line, _ := bufio.NewReader(nc).ReadString('\n')
		_, _ = io.WriteString(nc, "got "+line)
	}
	g := NewListener(l, ListenerOptions{Name: "test-socket", Limits: Limits{MaxPreLoginPerAddr: 1}, Busy: waitAndEcho})
	done := make(chan error, 1)
	go func() {
		done <- Serve(g, func(nc net.Conn) {
			defer nc.Close()
			waitAndEcho(nc)
		})
	}()
	admitted := dialFrom(t, "127.0.0.1", l.Addr().String())
	busy := dialFrom(t, "127.0.0.1", l.Addr().String())
	admitted.say(t, "hi", "got hi")
	busy.say(t, "hey", "got hey")
	admitted.Close()
	busy.Close()
	g.Close()
	<-done
}

// flakyListener fails its accepts as a process out of descriptors does
// until healed.
type flakyListener struct {
	net.Listener
	mu     sync.Mutex
	broken bool
}

func (f *flakyListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	broken := f.broken
	f.mu.Unlock()
	if broken {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return f.Listener.Accept()
}

func (f *flakyListener) heal() {
	f.mu.Lock()
	f.broken = false
	f.mu.Unlock()
}

// Accept errors are retried, counted, logged once per interval and shown
// in Status; once accepting works again, so does the listener.
func TestAcceptErrorsRetried(t *testing.T) {
	const name = "test-flaky"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.LogBuffer
	f := &flakyListener{Listener: l, broken: true}
	g := NewListener(f, ListenerOptions{Name: name, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Limits: unlimited})
	done := make(chan error, 1)
	go func() {
		done <- Serve(g, func(nc net.Conn) {
			_, _ = io.WriteString(nc, "hello\n")
			nc.Close()
		})
	}()
	before := metrics.Value(metrics.AcceptErrors.WithLabelValues(name, "descriptors"))
	failures := func() float64 {
		return metrics.Value(metrics.AcceptErrors.WithLabelValues(name, "descriptors")) - before
	}
	deadline := time.Now().Add(10 * time.Second)
	for failures() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("accept was not retried")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := g.Status(); st.State != StateFailing || st.Cause != "descriptors" || st.Since.IsZero() {
		t.Fatalf("status while failing: %+v", st)
	}
	if n := strings.Count(logs.String(), "accept failed"); n != 1 {
		t.Fatalf("%d warnings for a burst of failures:\n%s", n, logs.String())
	}
	f.heal()
	dialFrom(t, "127.0.0.1", l.Addr().String()).expect(t, "hello")
	if st := g.Status(); st.State != StateServing {
		t.Fatalf("status after recovery: %+v", st)
	}
	g.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve = %v", err)
	}
	if st := g.Status(); st.State != StateClosed {
		t.Fatalf("status after close: %+v", st)
	}
}

func TestAddrKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:1863":             "192.0.2.7/32",
		"[::ffff:192.0.2.7]:1863":    "192.0.2.7/32",
		"[2001:db8:1:2:3:4:5:6]:80":  "2001:db8:1:2::/64",
		"[2001:db8:1:2:ff::1]:8074":  "2001:db8:1:2::/64",
		"[fe80::1%eth0]:8074":        "fe80::/64",
		"[2001:db8:1:3::1]:8074":     "2001:db8:1:3::/64",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
	} {
		ap := netip.MustParseAddrPort(addr)
		if got := addrKey(net.TCPAddrFromAddrPort(ap)).String(); got != want {
			t.Errorf("%s: key %s, want %s", addr, got, want)
		}
	}
}

// copyCountingListener hands out connections that count the io.Copy calls
// that reach their own ReadFrom.
type copyCountingListener struct {
	net.Listener
	copies *atomic.Int64
}

func (l copyCountingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return copyCountingConn{nc.(*net.TCPConn), l.copies}, nil
}

type copyCountingConn struct {
	*net.TCPConn
	copies *atomic.Int64
}

func (c copyCountingConn) ReadFrom(r io.Reader) (int64, error) {
	c.copies.Add(1)
	return c.TCPConn.ReadFrom(r)
}

// A file copied to an admitted connection reaches the TCP connection's
// ReadFrom, which sends it with sendfile.
func TestCopyReachesTheConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var copies atomic.Int64
	g := NewListener(copyCountingListener{l, &copies}, ListenerOptions{Name: "copy", Limits: Limits{}})
	defer g.Close()
	data := strings.Repeat("file ", 20000)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	c := dialFrom(t, "127.0.0.1", l.Addr().String())
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	nc, err := g.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := io.Copy(nc, io.LimitReader(f, int64(len(data))))
	nc.Close()
	if err != nil || n != int64(len(data)) || <-got != data {
		t.Fatalf("copied %d bytes: %v", n, err)
	}
	if copies.Load() != 1 {
		t.Fatalf("%d copies reached the connection, want 1", copies.Load())
	}
}

// A read waits for the login until loginBy, and once logged in for idle;
// the listener then stops counting the client as not logged in.
func TestReadDeadline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := NewListener(l, ListenerOptions{Name: "test-deadline"})
	defer g.Close()
	client := dialFrom(t, "127.0.0.1", l.Addr().String())
	defer client.Close()
	nc, err := g.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	preLogin := func() int {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.preLogin
	}
	loginBy := time.Now().Add(time.Hour)
	if d := ReadDeadline(nc, false, loginBy, time.Minute); !d.Equal(loginBy) || preLogin() != 1 {
		t.Fatalf("before login: deadline %v, want %v; %d not logged in, want 1", d, loginBy, preLogin())
	}
	from := time.Now().Add(time.Minute)
	d := ReadDeadline(nc, true, loginBy, time.Minute)
	if d.Before(from) || d.After(time.Now().Add(time.Minute)) || preLogin() != 0 {
		t.Fatalf("logged in: deadline %v, want a minute from now; %d not logged in, want 0", d, preLogin())
	}
}
