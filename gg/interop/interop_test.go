package interop

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/cprog"
	"github.com/crosstalk-im/crosstalk/node"
)

// requireTools skips the test when the C toolchain or a pkg-config package
// is missing, except in CI (see cprog.Require).
func requireTools(t *testing.T, pkgs ...string) {
	t.Helper()
	cprog.Require(t, "Debian: apt-get install gcc pkg-config libgadu-dev libpurple-dev", pkgs...)
}

// buildC compiles testdata/src against pkg-config packages.
func buildC(t *testing.T, src string, pkgs ...string) string {
	t.Helper()
	return cprog.Build(t, filepath.Join("testdata", src), pkgs...)
}

// proc is a client program the test talks to (see cprog.Proc).
type proc = cprog.Proc

func startProc(t *testing.T, name, path string, env []string, args ...string) *proc {
	t.Helper()
	return cprog.Start(t, name, path, env, args...)
}

// startNode runs a whole Crosstalk node with GG on ggAddr and MSNP on
// loopback ports; it is shut down when the test ends, after the client
// processes (cleanups run in reverse order).
func startNode(t *testing.T, ggAddr string) *node.Node {
	t.Helper()
	n, err := node.Start(context.Background(), node.Options{
		DataDir:  t.TempDir(),
		MSNPAddr: "127.0.0.1:0", SBAddr: "127.0.0.1:0",
		GGAddr:   ggAddr,
		HTTPAddr: node.Off,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("node shutdown: %v", err)
		}
	})
	return n
}

func addAccount(t *testing.T, n *node.Node, number uint32, email, name, password string) hub.Account {
	t.Helper()
	a := hub.Account{Number: number, Email: email, DisplayName: name}
	if _, err := n.Store.CreateAccount(context.Background(), a, password); err != nil {
		t.Fatal(err)
	}
	return a
}
