package fakeserver

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps the errors reported to it, so that
// a test can check what the server reports without failing itself.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs) > 0
}

// wantError checks that exactly one error was reported and that it holds
// want.
func (r *recorder) wantError(t *testing.T, want string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], want) {
		t.Fatalf("errors %q, want one holding %q", r.errs, want)
	}
}

func self(p *Peer) *Peer { return p }

// dial connects to s, failing t on error.
func dial(t *testing.T, s *Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(Timeout))
	return c
}

func TestScripts(t *testing.T) {
	s := New(t, self, func(p *Peer) {
		p.Expect("hello")
		p.Send("wor", "ld")
		p.ExpectEOF()
	}, func(p *Peer) {
		p.Expect("again")
		p.ExpectClose()
	})
	for _, step := range []struct{ send, want string }{{"hello", "world"}, {"again", ""}} {
		c := dial(t, s)
		if _, err := io.WriteString(c, step.send); err != nil {
			t.Fatal(err)
		}
		if step.want != "" {
			got := make([]byte, len(step.want))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != step.want {
				t.Fatalf("read %q, %v; want %q", got, err, step.want)
			}
		}
		c.Close()
	}
}

func TestAbort(t *testing.T) {
	rec := &recorder{TB: t}
	ran := make(chan bool, 1)
	s := New(rec, self, func(p *Peer) {
		p.Expect("a")
		ran <- true
	})
	c := dial(t, s)
	io.WriteString(c, "b")
	// The server hangs up once the script is aborted.
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read %d, %v; want EOF", n, err)
	}
	s.Stop()
	rec.wantError(t, `fake: got "b", <nil>`)
	if len(ran) > 0 {
		t.Fatal("script went on after a failed expectation")
	}
}

func TestExtraConnection(t *testing.T) {
	rec := &recorder{TB: t}
	s := New[*Peer](rec, self)
	c := dial(t, s)
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read %d, %v; want EOF", n, err)
	}
	s.Stop()
	rec.wantError(t, "unexpected extra connection")
}

func TestNeverMade(t *testing.T) {
	rec := &recorder{TB: t}
	s := New(rec, self, func(*Peer) {}, func(*Peer) {})
	s.Stop()
	rec.wantError(t, "2 scripted connection(s) never made")
}

func TestFeed(t *testing.T) {
	c, wait := Feed([]byte("server says"))
	defer c.Close()
	// The feed's end takes writes while it is being fed.
	go io.WriteString(c, "ignored")
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "server says" {
		t.Fatalf("read %q, %v", got, err)
	}
	wait()
}

// parked stands for a client goroutine that outlives its test.
func parked(started, release chan struct{}) {
	close(started)
	<-release
}

func TestLeaked(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	go parked(started, release)
	<-started
	got := leaked("fakeserver.parked", 50*time.Millisecond)
	close(release)
	if !strings.Contains(got, "fakeserver.parked") {
		t.Fatalf("leaked = %q, want the parked goroutine", got)
	}
	if got := leaked("fakeserver.parked", Timeout); got != "" {
		t.Fatalf("leaked after release = %q", got)
	}
}

func TestWatchdogStopped(t *testing.T) {
	stop := Watchdog(10 * time.Millisecond)
	stop()
	time.Sleep(50 * time.Millisecond) // past d: a watchdog still running would crash the test binary
}
