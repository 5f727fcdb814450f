package server

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	"github.com/crosstalk-im/crosstalk/gg/wire"
)

// BenchmarkLogin measures complete GG11 logins on loopback: connect,
// welcome, login, login OK, IMToken, empty notify list, then hang up.
func BenchmarkLogin(b *testing.B) {
	env := newTestEnv(b, nil)
	env.account(b, 1001, "a@example.com", "pa")
	b.ReportAllocs()
	for b.Loop() {
		c := dial(b, env.addr)
		c.login(1001, "pa", wire.StatusAvail, "")
		c.send(wire.TypeNewStatus80, wire.AppendNewStatus(nil, wire.NewStatus{Status: wire.StatusNotAvail}))
		c.expect(wire.TypeDisconnectAck)
		c.nc.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkMessage measures one message from a to b: sent, acked to a,
// delivered to b and acked by b.
func BenchmarkMessage(b *testing.B) {
	env := newTestEnv(b, func(c *Config) { c.PacketsPerSecond = 1e9; c.PacketBurst = 1 << 30 })
	env.account(b, 1001, "a@example.com", "pa")
	env.account(b, 1002, "b@example.com", "pb")
	a, r := dial(b, env.addr), dial(b, env.addr)
	a.login(1001, "pa", wire.StatusAvail, "")
	r.login(1002, "pb", wire.StatusAvail, "")
	b.ReportAllocs()
	seq := uint32(0)
	for b.Loop() {
		seq++
		a.sendMessage(1002, seq, "benchmark message", "")
		a.expect(wire.TypeSendMsgAck110)
		var got ggpb.GG110RecvMessage
		r.expectProto(wire.TypeRecvMsg110, &got)
		r.sendProto(wire.TypeAck110, &ggpb.GG110Ack{Type: ggpb.GG110Ack_MSG.Enum(), Seq: proto.Uint32(got.GetSeq()), Dummy1: proto.Uint32(1)})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
