package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/client"
)

// --login-cache-ttl: a password changed behind the server's back (`user
// passwd` beside it) takes effect at the next login when the server keeps
// no login record (a negative TTL); with the default, the login before the
// change keeps the old password good for the TTL.
func TestLoginCacheTTLFlag(t *testing.T) {
	for _, tc := range []struct {
		ttl            string
		oldStillLogsIn bool
	}{{"10s", true}, {"-1s", false}} {
		t.Run(tc.ttl, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			t.Cleanup(cancel) // after the server's stop, registered later
			data := filepath.Join(t.TempDir(), "data")
			if stdout, stderr, code := crosstalk(t, "user", "add", "--data", data, "--email", "a@example.com", "--password", "first-password"); code != 0 {
				t.Fatalf("user add: exit %d, %s%s", code, stdout, stderr)
			}
			ports, err := freePorts(1)
			if err != nil {
				t.Fatal(err)
			}
			msn := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
			const any = "127.0.0.1:0"
			cmd := exec.CommandContext(ctx, os.Args[0], "serve", "--data", data, "--login-cache-ttl="+tc.ttl,
				"--msnp-addr", msn, "--sb-addr", any, "--ftp-addr", any, "--gg-addr", any, "--imip-addr", any, "--sip-addr", any, "--http-addr", any)
			cmd.Env = mainEnv()
			startServeCmd(t, ctx, cmd)
			login := func(password string) error {
				c, err := client.Dial(ctx, msn, client.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				return c.Login(ctx, "a@example.com", password)
			}
			if err := login("first-password"); err != nil {
				t.Fatalf("login before the change: %v", err)
			}
			if stdout, stderr, code := crosstalk(t, "user", "passwd", "--data", data, "a@example.com", "--password", "second-password"); code != 0 {
				t.Fatalf("user passwd: exit %d, %s%s", code, stdout, stderr)
			}
			if err := login("first-password"); (err == nil) != tc.oldStillLogsIn {
				t.Errorf("old password after the change: %v, want it to log in: %v", err, tc.oldStillLogsIn)
			}
			if !tc.oldStillLogsIn {
				if err := login("second-password"); err != nil {
					t.Errorf("new password after the change: %v", err)
				}
			}
		})
	}
}
