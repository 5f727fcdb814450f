package client

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// The client's debug log shows every message it sends and receives, but
// the login's nonce and response (together they let a reader try
// passwords offline) and message texts only by their sizes.
func TestDebugLogHidesSecrets(t *testing.T) {
	responses := make(chan string, 1)
	f := newFake(t, func(p *peer) {
		p.Send(seedGreeting, seedServerSettings(16339203))
		responses <- p.expectMsg().Raw("response")
		p.Send(seedLC2, seedServerSettings(16339206))
		serverSignOn(p, seedSessKey, 1)
		p.Send(`\bm\1\f\6221\msg\a private text\final\`)
		p.ExpectClose()
	})
	var logs bytes.Buffer // the handler writes one record at a time
	c := dial(t, f, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if _, err := c.Login(ctx(t), seedEmail, seedPassword); err != nil {
		t.Fatal(err)
	}
	next[PersistPush](t, c)
	next[PersistPush](t, c)
	if m := next[Message](t, c); m.Text != "a private text" {
		t.Fatalf("message %+v", m)
	}
	c.Close()
	next[Disconnected](t, c)
	out := logs.String()
	greeting, err := wire.Parse([]byte(seedGreeting))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{<-responses, greeting.Raw("nc"), "a private text"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log shows %q:\n%s", secret, out)
		}
	}
	for _, shown := range []string{`login2\\+196610.*\\+response\\+\(\d+ bytes\)`, `\\+nc\\+\(\d+ bytes\)`, `\\+msg\\+\(14 bytes\)`} {
		if !regexp.MustCompile(shown).MatchString(out) {
			t.Errorf("the log lacks %s:\n%s", shown, out)
		}
	}
}
