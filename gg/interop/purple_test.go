package interop

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/internal/cprog"
	"github.com/crosstalk-im/crosstalk/node"
)

// startNodeOn8074 starts a node whose GG service listens on port 8074 of a
// loopback address 127.0.0.X: Pidgin 2's gg plugin takes only an address
// (account option gg_server) and always dials port 8074 (then 443). X is
// picked at random in 2…254 and retried when that address is taken, so
// parallel test runs and a real GG server on 127.0.0.1 do not collide.
func startNodeOn8074(t *testing.T) (*node.Node, string) {
	t.Helper()
	for range 20 {
		host := fmt.Sprintf("127.0.0.%d", 2+rand.IntN(253))
		// Probe first: node.Start would need a whole new store otherwise.
		l, err := net.Listen("tcp", net.JoinHostPort(host, "8074"))
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			t.Fatalf("listening on %s:8074: %v", host, err)
		}
		_ = l.Close()
		n, err := node.Start(context.Background(), node.Options{
			DataDir:  t.TempDir(),
			MSNPAddr: node.Off, GGAddr: net.JoinHostPort(host, "8074"), HTTPAddr: node.Off,
		})
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				continue // lost a race for the address
			}
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := n.Shutdown(ctx); err != nil {
				t.Errorf("node shutdown: %v", err)
			}
		})
		return n, host
	}
	t.Fatal("no free 127.0.0.X:8074")
	return nil, ""
}

// startPurple builds testdata/purple_harness.c and signs in uin through
// libpurple's prpl-gg, with buddies on its buddy list.
func startPurple(t *testing.T, server string, uin uint32, password string, buddies ...uint32) *proc {
	t.Helper()
	requireTools(t, "purple")
	bin := cprog.BuildPurple(t, filepath.Join("testdata", "purple_harness.c"))
	plugins, err := exec.Command("pkg-config", "--variable=plugindir", "purple").Output()
	if err != nil {
		t.Fatalf("pkg-config --variable=plugindir purple: %v", err)
	}
	// The harness checks that prpl-gg (libgg.so, from libpurple0) loads.
	home := t.TempDir()
	args := []string{home, strings.TrimSpace(string(plugins)), server, strconv.FormatUint(uint64(uin), 10), password}
	for _, b := range buddies {
		args = append(args, strconv.FormatUint(uint64(b), 10))
	}
	return startProc(t, fmt.Sprintf("libpurple %d", uin), bin, []string{
		"PURPLE_HARNESS_LIFETIME=60",
		// Caches (GStreamer's registry, NSS) stay out of the real home.
		"HOME=" + home, "XDG_CACHE_HOME=" + home, "XDG_CONFIG_HOME=" + home,
		// No D-Bus session for libpurple's D-Bus API, and no autolaunch.
		"DBUS_SESSION_BUS_ADDRESS=disabled:",
		"DISPLAY=",
	}, args...)
}

// TestPurple signs in with Pidgin 2's gg plugin and exchanges messages
// with a contact logged in through gg/client.
func TestPurple(t *testing.T) {
	requireTools(t, "purple")
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	n, host := startNodeOn8074(t)
	alice := addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	bob := addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")

	b := loginGo(t, ctx, n, bob, "pb", wire.StatusAvailDescr, polish, alice.Number)
	start := time.Now()
	pp := startPurple(t, host, alice.Number, "pa", bob.Number)
	pp.Expect(ctx, "SIGNED_ON")
	t.Logf("libpurple signed on after %v", time.Since(start).Round(time.Millisecond))
	if m := pp.Expect(ctx, `BUDDY 1002 (\S+) (.*)`); m[1] != "available" || m[2] != polish {
		t.Fatalf("libpurple sees bob as %q %q", m[1], m[2])
	}
	if s := nextGG[ggclient.Status](t, ctx, b); s.UIN != alice.Number || wire.StatusBase(s.Status) != wire.StatusAvail {
		t.Fatalf("bob sees %+v", s)
	}

	pp.Do(ctx, "msg 1002 "+polish+" z Pidgina")
	if msg := nextGG[ggclient.Message](t, ctx, b); msg.From != alice.Number || msg.Text != polish+" z Pidgina" {
		t.Fatalf("bob got %+v", msg)
	}
	if _, err := b.SendMessage(ctx, alice.Number, polish); err != nil {
		t.Fatal(err)
	}
	if m := pp.Expect(ctx, `IM 1002 \d+ (.*)`); m[1] != polish {
		t.Fatalf("libpurple got %q, want %q", m[1], polish)
	}

	// Signing off, the plugin first repeats its current status and then
	// hangs up (gg_logoff): bob sees alice go.
	pp.Do(ctx, "quit")
	for {
		s := nextGG[ggclient.Status](t, ctx, b)
		if s.UIN != alice.Number {
			t.Fatalf("bob sees %+v", s)
		}
		if wire.StatusBase(s.Status) == wire.StatusNotAvail {
			break
		}
	}
	if err := pp.Wait(ctx); err != nil {
		t.Fatalf("libpurple harness exit: %v", err)
	}
}
