package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/node"
)

// The client commands' tests run each command's code against a whole node
// on loopback ports, as a user runs them against `crosstalk serve`.

// startNode starts a node with every listener, the MSNFTP relay included,
// on a loopback port (MySpaceIM shares MSN's).
func startNode(t testing.TB, tweak func(*node.Options)) *node.Node {
	t.Helper()
	o := node.Options{DataDir: t.TempDir(), Logger: testLogger(t)}
	o.MSNPAddr, o.SBAddr, o.FTPAddr, o.GGAddr, o.IMIPAddr, o.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	o.SIPAddr = "127.0.0.1:0"
	if tweak != nil {
		tweak(&o)
	}
	n, err := node.Start(context.Background(), o)
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

// startTLSNode makes a CA and certificate with `crosstalk tls ca` and
// starts a node serving HTTPS with them; it returns the CA's file.
func startTLSNode(t *testing.T, tweak func(*node.Options)) (*node.Node, string) {
	t.Helper()
	data := t.TempDir()
	if err := (&tlsCaCmd{Data: data}).Run(); err != nil {
		t.Fatal(err)
	}
	tlsDir := filepath.Join(data, "tls")
	n := startNode(t, func(o *node.Options) {
		o.HTTPSAddr = "127.0.0.1:0"
		o.TLSCert, o.TLSKey = filepath.Join(tlsDir, "cert.pem"), filepath.Join(tlsDir, "key.pem")
		if tweak != nil {
			tweak(o)
		}
	})
	return n, filepath.Join(tlsDir, "ca.pem")
}

func addAccount(t *testing.T, n *node.Node, number uint32, email, password string) {
	t.Helper()
	if _, err := n.Store.CreateAccount(context.Background(), hub.Account{Number: number, Email: email, DisplayName: email}, password); err != nil {
		t.Fatal(err)
	}
}

// msnAs, ggAs, sipAs, msimAs and imipAs are the login flags of a command run as an account.
func msnAs(n *node.Node, email, password string) msnLogin {
	return msnLogin{Server: n.MSNPAddr, Login: email, Password: password, Timeout: 10 * time.Second}
}

func ggAs(n *node.Node, number uint32, password string) ggLogin {
	return ggLogin{Server: n.GGAddr, Number: number, Password: password, Timeout: 10 * time.Second}
}

func sipAs(n *node.Node, email, password string) sipLogin {
	return sipLogin{Server: n.SIPAddr, Login: email, Password: password, Timeout: 10 * time.Second}
}

func msimAs(n *node.Node, email, password string) msimLogin {
	return msimLogin{Server: n.MSIMAddr, Login: email, Password: password, Timeout: 10 * time.Second}
}

func imipAs(n *node.Node, number uint32, password string) imipLogin {
	return imipLogin{Server: n.IMIPAddr, Number: number, Password: password, Timeout: 10 * time.Second}
}

// testLogger logs to the test's output, shown when it fails.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// ran is what a command said, on its output and its error output, and
// what it returned.
type ran struct {
	out, errOut *testenv.LogBuffer
	err         error
}

// run runs a command to its end, on a console that is not a terminal.
func (cmd command) run(t *testing.T, ctx context.Context) ran {
	t.Helper()
	r := ran{out: &testenv.LogBuffer{}, errOut: &testenv.LogBuffer{}}
	r.err = cmd(ctx, testLogger(t), &console{out: r.out, err: r.errOut})
	return r
}

// started is a command running in the background.
type started struct {
	ran
	stop   context.CancelFunc
	result func() error // waits for the command's end
}

// start runs a command in the background and waits until it says ready
// on its error output. It stops with the test.
func (cmd command) start(t *testing.T, ctx context.Context, ready string) *started {
	t.Helper()
	ctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	s := &started{ran: ran{out: &testenv.LogBuffer{}, errOut: &testenv.LogBuffer{}}, stop: stop,
		result: sync.OnceValue(func() error { return <-done })}
	go func() { done <- cmd(ctx, testLogger(t), &console{out: s.out, err: s.errOut}) }()
	t.Cleanup(func() { stop(); s.result() })
	waitFor(t, ctx, ready, func() bool { return strings.Contains(s.errOut.String(), ready) })
	return s
}

// wait waits for the command to end by itself and returns what it did.
func (s *started) wait() ran {
	s.err = s.result()
	return s.ran
}

// interrupt stops the command as Ctrl-C does and returns what it did.
func (s *started) interrupt() ran {
	s.stop()
	return s.wait()
}

// testFile writes size random bytes to a file named name.
func testFile(t *testing.T, name string, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// testContext is bounded well below the test timeout.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
