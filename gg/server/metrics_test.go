package server

import (
	"testing"

	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/metrics"
)

// ggCommandSeries counts the series of the command metric for GG.
func ggCommandSeries(t *testing.T) int {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		if f.GetName() != "crosstalk_commands_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "protocol" && l.GetValue() == protocolName {
					n++
				}
			}
		}
	}
	return n
}

// A flood of packet types nobody knows adds no metric series: they all
// count as "unknown".
func TestUnknownPacketTypesAddNoMetricSeries(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.PacketsPerSecond, c.PacketBurst = 1e6, 1<<20 })
	env.account(t, 1001, "a@example.com", "pw")
	c := dial(t, env.addr)
	c.login(1001, "pw", wire.StatusAvail, "")
	ping := func() {
		c.send(wire.TypePing, nil)
		c.expectProto(wire.TypePong110, &ggpb.GG110Pong{})
	}
	c.send(0xfff0, nil) // the "unknown" series, made once
	ping()
	before := ggCommandSeries(t)
	for typ := uint32(0x1000); typ < 0x1000+5000; typ++ {
		if !wire.KnownType(typ) {
			c.send(typ, []byte{1, 2, 3})
		}
	}
	ping() // every packet before it has been counted
	if after := ggCommandSeries(t); after != before {
		t.Fatalf("%d GG command series after the flood, %d before", after, before)
	}
}

// ggCounter is the value of a counter of the metric named name whose
// labels include protocol="gg" and want.
func ggCounter(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["protocol"] != protocolName {
				continue
			}
			for k, v := range want {
				if labels[k] != v {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// Every packet counts in its type's series, and every message taken in the
// messages metric, however the counters are kept.
func TestPacketsAndMessagesCounted(t *testing.T) {
	a, b := newTestEnv(t, nil).pair(t)
	pings := func() float64 {
		return ggCounter(t, "crosstalk_commands_total", map[string]string{"command": "GG_PING"})
	}
	sends := func() float64 {
		return ggCounter(t, "crosstalk_commands_total", map[string]string{"command": "GG_SEND_MSG110"})
	}
	messages := func() float64 { return ggCounter(t, "crosstalk_messages_total", nil) }
	pingsBefore, sendsBefore, messagesBefore := pings(), sends(), messages()
	for range 3 {
		a.send(wire.TypePing, nil)
		a.expectProto(wire.TypePong110, &ggpb.GG110Pong{})
	}
	for seq := uint32(1); seq <= 2; seq++ {
		a.sendMessage(1002, seq, "hi", "")
		a.expect(wire.TypeSendMsgAck110)
		b.expect(wire.TypeRecvMsg110)
	}
	if got := pings() - pingsBefore; got != 3 {
		t.Errorf("%v pings counted, want 3", got)
	}
	if got := sends() - sendsBefore; got != 2 {
		t.Errorf("%v message packets counted, want 2", got)
	}
	if got := messages() - messagesBefore; got != 2 {
		t.Errorf("%v messages counted, want 2", got)
	}
}
