package server

import (
	"testing"

	"github.com/crosstalk-im/crosstalk/imip/wire"
)

// BenchmarkLogin measures complete IMIP logins on loopback: connect, HELO
// both ways, LOGN and its echo, then DISC and its ACK.
func BenchmarkLogin(b *testing.B) {
	env := newTestEnv(b, nil)
	env.account(b, 1001, "Alice", "pa")
	b.ReportAllocs()
	for b.Loop() {
		c := dialRaw(b, env.addr)
		c.login("1001", "pa")
		c.expectAck(c.send(wire.NewBlock(wire.TypeDISC)), wire.CodeOK)
		c.nc.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkMessage measures one message from a to r: sent without
// ACK-Type, acknowledged to a, delivered to r.
func BenchmarkMessage(b *testing.B) {
	env := newTestEnv(b, func(c *Config) { c.BlocksPerSecond = 1e9; c.BlockBurst = 1 << 30 })
	env.account(b, 1001, "Alice", "pa")
	env.account(b, 1002, "Bob", "pb")
	a, r := dialRaw(b, env.addr), dialRaw(b, env.addr)
	a.login("1001", "pa")
	r.login("1002", "pb")
	b.ReportAllocs()
	for b.Loop() {
		m := wire.NewBlock(wire.TypeMESG).Add(wire.HeaderTo, "1002").Add(wire.HeaderFrom, "1001")
		m.Body = []byte("benchmark message")
		a.expectAck(a.send(m), wire.CodeOK)
		r.expect(wire.TypeMESG)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
