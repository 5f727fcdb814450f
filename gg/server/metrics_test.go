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
