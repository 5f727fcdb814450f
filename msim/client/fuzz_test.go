package client

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// FuzzServerInput feeds arbitrary server output to a client that logs in,
// signs on and then sends, looks up and lists: nothing may panic, every
// call must return, and Close must finish.
func FuzzServerInput(f *testing.F) {
	login := seedGreeting + seedLC2 + persistr(257, 4, 5, 1, seedOwnProfile) + persistr(257, 1, 4, 2, seedSettings) +
		persistr(257, 0, 1, 3, seedContacts)
	f.Add([]byte(login))
	f.Add([]byte(login + persistr(257, 4, 3, 4, dict("UserID=6221", "UserName=tom")) + persistr(257, 0, 1, 5, "") +
		`\bm\1\f\777\msg\x\final\` + persistr(257, 4, 3, 6, "") + `\error\\err\6\fatal\\final\`))
	f.Add([]byte(seedGreeting + `\error\\err\260\errmsg\x\fatal\\final\`))
	f.Add([]byte(seedGreeting1 + seedLC2First + `\bm\121\f\1\msg\%typing%\final\\ka\\final\`))
	f.Add([]byte(`\lc\1\nc\AAAA\final\`))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer fakeserver.Watchdog(10 * time.Second)()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		a, fed := fakeserver.Feed(data)
		lookup := strings.Contains(string(data), "777")
		c := newClient(a, Options{EventBuffer: 8, MaxMessage: 4096, LookupSenders: lookup, MailCheck: lookup})
		go c.readLoop()
		events := make(chan struct{})
		go func() {
			defer close(events)
			for range c.Events() {
			}
		}()
		if _, err := c.Login(ctx, "a@b.c", "pw"); err == nil {
			c.SendIM(ctx, 2, "y")
			c.Profile(ctx, 6221)
			c.ContactList(ctx)
			c.AddBuddy(ctx, 3, "g")
			c.SetStatus(ctx, wire.StatusAway, "z")
		}
		c.Close()
		<-events
		fed()
	})
}
