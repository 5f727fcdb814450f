package main

import (
	"bytes"
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
	"github.com/crosstalk-im/crosstalk/node"
)

// The client commands' tests run each command's code against a whole node
// on loopback ports, as a user runs them against `crosstalk serve`.

// startNode starts a node with every listener, the MSNFTP relay included,
// on a loopback port.
func startNode(t *testing.T, tweak func(*node.Options)) *node.Node {
	t.Helper()
	o := node.Options{DataDir: t.TempDir(), Logger: testLogger(t)}
	o.MSNPAddr, o.SBAddr, o.FTPAddr, o.GGAddr, o.IMIPAddr, o.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
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

func addAccount(t *testing.T, n *node.Node, number uint32, email, password string) {
	t.Helper()
	if _, err := n.Store.CreateAccount(context.Background(), hub.Account{Number: number, Email: email, DisplayName: email}, password); err != nil {
		t.Fatal(err)
	}
}

// testLogger logs to the test's output, shown when it fails.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// syncBuffer is a bytes.Buffer that several goroutines may write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testConsole is a console that is not a terminal, and what it got.
func testConsole() (con *console, out, errOut *syncBuffer) {
	out, errOut = &syncBuffer{}, &syncBuffer{}
	return &console{out: out, err: errOut}, out, errOut
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
func testContext(t *testing.T) context.Context {
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
