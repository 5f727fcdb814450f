package server

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/msim/client"
	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// FuzzSession sends random bytes to a fresh connection and to a logged-in
// one (after a real login2). The server must not panic, must finish with
// the connection, and must keep serving a bystander.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		`\persist\1\sesskey\1\cmd\1\dsn\0\lid\1\rid\4\body\\final\`,
		`\persist\1\sesskey\1\cmd\514\dsn\0\lid\9\rid\5\body\ContactID=2` + "\x1c" + `GroupName=x\final\`,
		`\bm\1\sesskey\1\t\2\cv\697\msg\<f s='1'>hi</f>\final\`,
		`\bm\121\sesskey\1\t\2\msg\!!!ZAP_SEND!!!=RTE_BTN_ZAPS_3\final\`,
		`\status\5\sesskey\1\statstring\away\locstring\\final\`,
		`\blocklist\\sesskey\1\idlist\w1|c0|b+|2|a-|2\final\`,
		`\addbuddy\\sesskey\1\newprofileid\2\reason\\final\`, `\logout\\sesskey\1\final\`,
		`\login2\196610\username\x\response\AAAA\final\`, `garbage`, `\a\b\c\final\`,
	} {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	// The fuzzer's own failed logins must not lock the harness's logins
	// out of 127.0.0.1: the guard has tests of its own.
	unguarded := loginguard.Policy{Free: 1e6, LockAfter: 1e6}
	env := newTestEnv(f, func(c *Config) {
		c.LoginTimeout, c.MessagesPerSecond = time.Second, 1e6
		c.Guard = loginguard.New(loginguard.Config{Address: unguarded, Account: unguarded})
	})
	env.account(f, hub.Account{Number: 1, Email: "fuzz@example.com", Nick: "fuzz"}, "pw")
	env.account(f, hub.Account{Number: 2, Email: "other@example.com", Nick: "other"}, "pw")
	bystander, _ := login(f, env.addr, "other@example.com", "pw", client.Options{})
	// Inputs send the bystander messages too: it reads them all, or its
	// client ends the connection once its event buffer is full.
	go func() {
		for range bystander.Events() {
		}
	}()

	f.Fuzz(func(t *testing.T, loggedIn bool, data []byte) {
		nc, err := net.Dial("tcp", env.addr)
		if err != nil {
			t.Fatal(err)
		}
		if loggedIn {
			rawLogin(t, nc, "fuzz@example.com", "pw")
		}
		defer nc.Close()
		_, _ = nc.Write(data)
		_ = nc.(*net.TCPConn).CloseWrite()
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, nc); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("server did not finish with the connection")
			}
		}
		if _, err := bystander.Profile(ctxFor(t), 1); err != nil {
			t.Fatalf("bystander lost its session: %v", err)
		}
	})
}

// rawLogin logs in over nc without a client library, so that what follows
// on nc is up to the test. Requests without a sesskey pass the server's
// check, so the fuzzer needs no key.
func rawLogin(t testing.TB, nc net.Conn, email, password string) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	rd := wire.NewReader(nc)
	greeting, err := rd.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := greeting.Bytes("nc")
	if err != nil {
		t.Fatal(err)
	}
	response, err := wire.Login2Response(nonce, email, password)
	if err != nil {
		t.Fatal(err)
	}
	login := wire.Message{wire.Int(wire.TypeLogin2, wire.AuthAlgorithm), wire.Str("username", email), wire.Raw("response", response)}
	if _, err := nc.Write(wire.Append(nil, login)); err != nil {
		t.Fatal(err)
	}
	if ok, err := rd.ReadMessage(); err != nil || ok.Type() != wire.TypeLoginChallenge || ok.Raw(wire.TypeLoginChallenge) != "2" {
		t.Fatalf("login: %v %v", ok, err)
	}
	_ = nc.SetReadDeadline(time.Time{})
}
