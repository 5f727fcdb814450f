package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/store"
)

// ggOfflineWindow is the GG server's bound on stored messages written and
// not yet acknowledged: what a crash may deliver twice.
const ggOfflineWindow = 32

// TestKillDuringStoredDelivery kills the server (SIGKILL) while a GG client
// takes 300 stored messages, starts it again on the same data directory,
// and logs the client in again: no message is lost, and at most the ones
// in flight at the kill arrive twice.
func TestKillDuringStoredDelivery(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []hub.Account{{Number: 1001, Email: "sender@example.com"}, {Number: 1002, Email: "reader@example.com"}} {
		if _, err := st.CreateAccount(ctx, a, "password"); err != nil {
			t.Fatal(err)
		}
	}
	const stored = 300
	for i := range stored {
		if _, err := st.QueueOffline(ctx, 1002, 1001, hub.Message{Text: fmt.Sprintf("stored %03d", i), Sent: time.Now()}, hub.MailboxLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	ggAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	serve := func() *exec.Cmd {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe, "--log-level", "warn", "serve", "--data", dir,
			"--msnp-addr", "off", "--msim-addr", "off", "--ftp-addr", "off", "--imip-addr", "off", "--sip-addr", "off", "--http-addr", "off",
			"--gg-addr", ggAddr)
		cmd.Env = mainEnv()
		cmd.Stderr = &testenv.LogBuffer{}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	seen := map[string]int{}
	// receive logs the client in and takes messages until until says so,
	// then calls then before the client hangs up.
	receive := func(until func() bool, then func()) {
		t.Helper()
		var c *ggclient.Client
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if c, err = ggclient.Dial(ctx, ggAddr, ggclient.Options{}); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("server not up: %v", err)
			}
		}
		defer c.Close()
		if err := c.Login(ctx, 1002, "password", wire.StatusAvail, ""); err != nil {
			t.Fatal(err)
		}
		defer then()
		for !until() {
			select {
			case ev, ok := <-c.Events():
				if !ok {
					return // the server is gone
				}
				if m, ok := ev.(ggclient.Message); ok {
					seen[m.Text]++
				}
			case <-ctx.Done():
				t.Fatalf("%d distinct messages received", len(seen))
			}
		}
	}

	first := serve()
	receive(func() bool { return len(seen) >= stored/3 }, func() {
		if err := first.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = first.Wait()
	})
	beforeKill := len(seen)

	serve()
	receive(func() bool { return len(seen) == stored }, func() {})
	twice := 0
	for _, n := range seen {
		twice += n - 1
	}
	if twice > ggOfflineWindow {
		t.Fatalf("%d messages arrived twice, more than the %d that can be in flight", twice, ggOfflineWindow)
	}
	t.Logf("%d of %d arrived before the kill; none lost, %d twice", beforeKill, stored, twice)
}
