package server

import (
	"net"
	"testing"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msim/client"
)

// BenchmarkLogin measures a MySpaceIM login on loopback: greeting, login2
// (SHA-1, RC4) and the success reply, then hang up.
func BenchmarkLogin(b *testing.B) {
	env := newTestEnv(b, nil)
	env.account(b, hub.Account{Number: 1001, Email: "tom@example.com", Nick: "tom"}, "pt")
	b.ReportAllocs()
	for b.Loop() {
		nc, err := net.Dial("tcp", env.addr)
		if err != nil {
			b.Fatal(err)
		}
		rawLogin(b, nc, "tom@example.com", "pt")
		nc.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkMessage measures one IM from tom to ann, delivered.
func BenchmarkMessage(b *testing.B) {
	env := newTestEnv(b, func(c *Config) { c.MessagesPerSecond = 1e9; c.MessageBurst = 1 << 30 })
	env.account(b, hub.Account{Number: 1001, Email: "tom@example.com", Nick: "tom"}, "pt")
	env.account(b, hub.Account{Number: 1002, Email: "ann@example.com", Nick: "ann"}, "pa")
	tom, _ := login(b, env.addr, "tom@example.com", "pt", client.Options{})
	ann, _ := login(b, env.addr, "ann@example.com", "pa", client.Options{})
	ctx := ctxFor(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := tom.SendIM(ctx, 1002, "benchmark message"); err != nil {
			b.Fatal(err)
		}
		next[client.Message](b, ann)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
