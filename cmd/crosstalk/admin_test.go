package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/node"
	"github.com/crosstalk-im/crosstalk/store"
	"github.com/crosstalk-im/crosstalk/web"
)

// startHTTPNode runs a node with only its HTTP service, on a data
// directory the commands under test may share.
func startHTTPNode(t *testing.T) (*node.Node, string) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	n, err := node.Start(context.Background(), node.Options{
		DataDir: data, HTTPAddr: "127.0.0.1:0",
		MSNPAddr: node.Off, GGAddr: node.Off, MSIMAddr: node.Off, IMIPAddr: node.Off, SIPAddr: node.Off, SIPTLSAddr: node.Off,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n, data
}

// Admin rights come from user add --admin and user admin, and the admin
// commands use them against a running server, signed in for one command
// or with a token from signin.
func TestAdminCommands(t *testing.T) {
	n, data := startHTTPNode(t)
	url := "http://" + n.HTTPAddr
	ok := func(args ...string) string {
		t.Helper()
		stdout, stderr, code := crosstalk(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d, %s%s", args, code, stdout, stderr)
		}
		return stdout
	}
	if out := ok("user", "add", "--data", data, "--email", "root@example.com", "--password", "root-secret", "--admin"); !strings.Contains(out, "with admin rights") {
		t.Fatalf("user add --admin: %q", out)
	}
	ok("user", "add", "--data", data, "--email", "bob@example.com", "--password", "bob-secret")
	as := []string{"--url", url, "--login", "root@example.com", "--password", "root-secret"}

	var accounts []struct {
		Number uint32 `json:"number"`
		Admin  bool   `json:"admin"`
	}
	if err := json.Unmarshal([]byte(ok(append([]string{"admin", "accounts", "bob"}, as...)...)), &accounts); err != nil || len(accounts) != 1 || accounts[0].Number != 1002 || accounts[0].Admin {
		t.Fatalf("admin accounts bob: %+v, %v", accounts, err)
	}
	token := strings.TrimSpace(ok(append([]string{"admin", "signin"}, as...)...))
	if len(token) < 40 {
		t.Fatalf("token %q", token)
	}
	withToken := []string{"--url", url, "--token", token}
	ok(append([]string{"admin", "disable", "1002"}, withToken...)...)
	if a, err := n.Store.Account(context.Background(), 1002); err != nil || !a.Disabled {
		t.Fatalf("bob after admin disable: %+v, %v", a, err)
	}
	ok(append([]string{"admin", "enable", "1002"}, withToken...)...)
	var reset struct{ Password string }
	if err := json.Unmarshal([]byte(ok(append([]string{"admin", "reset-password", "1002"}, withToken...)...)), &reset); err != nil || len(reset.Password) < 16 {
		t.Fatalf("reset-password: %+v, %v", reset, err)
	}
	if got, _ := n.Store.Password(context.Background(), 1002); got != reset.Password {
		t.Fatal("the printed password is not bob's")
	}
	for _, cmd := range []string{"sessions", "transfers", "mailboxes", "health", "metrics"} {
		var v any
		if err := json.Unmarshal([]byte(ok(append([]string{"admin", cmd}, withToken...)...)), &v); err != nil {
			t.Fatalf("admin %s: %v", cmd, err)
		}
	}
	var inv struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal([]byte(ok(append([]string{"admin", "invite", "--uses", "2"}, withToken...)...)), &inv); err != nil || inv.Code == "" {
		t.Fatalf("admin invite: %+v, %v", inv, err)
	}
	if _, stderr, code := crosstalk(t, append([]string{"admin", "kick", "nobody"}, withToken...)...); code == 0 || !strings.Contains(stderr, "no such session") {
		t.Fatalf("kick of no session: exit %d, %s", code, stderr)
	}
	ok(append([]string{"admin", "signout"}, withToken...)...)
	if _, stderr, code := crosstalk(t, append([]string{"admin", "sessions"}, withToken...)...); code == 0 || !strings.Contains(stderr, "not signed in") {
		t.Fatalf("token after signout: exit %d, %s", code, stderr)
	}

	// Taking the rights away: bob has none, then has them, then not.
	bob := []string{"--url", url, "--login", "1002", "--password", reset.Password}
	if _, stderr, code := crosstalk(t, append([]string{"admin", "sessions"}, bob...)...); code == 0 || !strings.Contains(stderr, "no admin rights") {
		t.Fatalf("bob without rights: exit %d, %s", code, stderr)
	}
	ok("user", "admin", "--data", data, "bob@example.com")
	ok(append([]string{"admin", "sessions"}, bob...)...)
	ok("user", "admin", "--data", data, "1002", "--revoke")
	if ok, _ := n.Store.IsAdmin(context.Background(), 1002); ok {
		t.Fatal("bob still an admin")
	}
	if _, _, code := crosstalk(t, "admin", "sessions", "--url", url); code == 0 {
		t.Fatal("admin without --token or --login succeeded")
	}
}

// invite new makes a code on the data directory that the sign-up takes.
func TestInviteNew(t *testing.T) {
	n, data := startHTTPNode(t)
	stdout, stderr, code := crosstalk(t, "invite", "new", "--data", data, "--uses", "1", "--valid-for", "1h")
	if code != 0 {
		t.Fatalf("invite new: exit %d, %s", code, stderr)
	}
	inv, _, _ := strings.Cut(stdout, "\n")
	sum := sha256.Sum256([]byte(inv))
	rules := store.SignUpRules{Invite: sum[:]}
	if _, err := n.Store.SignUp(context.Background(), hub.Account{Email: "a@example.com"}, "good-secret", rules); err != nil {
		t.Fatalf("sign-up with the code: %v", err)
	}
	if _, err := n.Store.SignUp(context.Background(), hub.Account{Email: "b@example.com"}, "good-secret", rules); !errors.Is(err, store.ErrBadInvite) {
		t.Fatalf("second sign-up with a one-use code: %v", err)
	}
}

// The web flags default to the web service's defaults and reach it.
func TestWebFlags(t *testing.T) {
	c, _, err := parse(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	got := c.Serve.webConfig()
	if got.Registration != web.RegistrationClosed || got.MaxSignUpsPerAddr != web.DefaultMaxSignUpsPerAddr ||
		got.SignUpWindow != web.DefaultSignUpWindow || got.MinPasswordLength != web.DefaultMinPasswordLength ||
		got.SessionLifetime != web.DefaultSessionLifetime || got.MaxSessionsPerAccount != web.DefaultMaxSessions ||
		got.ChatTokenLifetime != web.DefaultChatTokenLifetime {
		t.Errorf("flag defaults %+v differ from the service's", got)
	}
	t.Setenv("CROSSTALK_WEB_REGISTRATION", "invite")
	if c, _, err = parse(t, "serve", "--web-signups-per-addr=-1", "--web-min-password", "12", "--web-session-lifetime", "1h", "--web-max-sessions", "3",
		"--web-chat-token-lifetime", "20s"); err != nil {
		t.Fatal(err)
	}
	got = c.Serve.webConfig()
	if got.Registration != web.RegistrationInvite || got.MaxSignUpsPerAddr != -1 || got.MinPasswordLength != 12 || got.SessionLifetime != time.Hour || got.MaxSessionsPerAccount != 3 ||
		got.ChatTokenLifetime != 20*time.Second {
		t.Errorf("settings not passed on: %+v", got)
	}
	if _, _, err := parse(t, "serve", "--web-registration", "sometimes"); err == nil {
		t.Error("a registration mode that does not exist was taken")
	}
}
