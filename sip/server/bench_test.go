package server

import (
	"testing"

	"github.com/crosstalk-im/crosstalk/sip/client"
	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// BenchmarkSignIn measures complete SIP sign-ins on loopback: connect, the
// three REGISTERs with NTLM, then sign-out (REGISTER with Expires: 0).
func BenchmarkSignIn(b *testing.B) {
	env := newTestEnv(b, nil)
	env.account(b, 1001, "Alice", "pa")
	b.ReportAllocs()
	for b.Loop() {
		c := dialRawSIP(b, env.addr)
		c.signIn("user1001@example.com", "pa")
		out := c.register("").Add(wire.HeaderExpires, "0")
		if res := c.roundTrip(out, true); res.StatusCode != 200 {
			b.Fatalf("sign-out: %s", res.FirstLine())
		}
		c.nc.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkMessage measures one message from a to r in an IM session:
// a's MESSAGE answered 200 once the hub delivered it, r's client shown
// it and answering our MESSAGE.
func BenchmarkMessage(b *testing.B) {
	env := newTestEnv(b, func(c *Config) { c.MessagesPerSecond = 1e9; c.MessageBurst = 1 << 30 })
	alice := env.account(b, 1001, "Alice", "pa")
	bob := env.account(b, 1002, "Bob", "pb")
	a, r := env.signIn(b, alice, "pa"), env.signIn(b, bob, "pb")
	ctx := testCtx(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.SendMessage(ctx, bob.Email, "benchmark message"); err != nil {
			b.Fatal(err)
		}
		next[client.Message](b, r)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
