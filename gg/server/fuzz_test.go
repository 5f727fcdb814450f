package server

import (
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	"github.com/crosstalk-im/crosstalk/gg/wire"
)

// FuzzSession sends random packets to a fresh connection and to a logged-in
// one. The server must not panic, must finish with the connection, and
// must keep serving a bystander.
func FuzzSession(f *testing.F) {
	seeds := [][]byte{
		wire.AppendPacket(nil, wire.TypePing, nil),
		wire.AppendPacket(nil, wire.TypeNotify105Last, wire.AppendNotifyEntry(nil, wire.Contact{UIN: 2, Type: wire.UserNormal})),
		wire.AppendPacket(nil, wire.TypeNewStatus80, wire.AppendNewStatus(nil, wire.NewStatus{Status: wire.StatusBusyDescr, Description: "x"})),
		wire.AppendPacket(nil, wire.TypeTypingNotify, wire.AppendTyping(nil, wire.Typing{Length: 3, UIN: 2})),
		wire.AppendPacket(nil, wire.TypeUserlist100Request, wire.AppendUserlist100(nil, wire.Userlist100{Type: wire.UserlistGet})),
		wire.AppendPacket(nil, wire.TypeAddNotify105, []byte{0, 1, '2', 4}),
		wire.AppendPacket(nil, wire.TypeSendMsg110, []byte{0x0a, 0x03, 0x01, 0x01, '2', 0x10, 0x08, 0x18, 0x01, 0x2a, 0x02, 'h', 'i', 0x32, 0x00}),
		{0x83, 0, 0, 0, 0xff, 0xff, 0, 0},
	}
	for _, s := range seeds {
		f.Add(false, s)
		f.Add(true, s)
	}
	env := newTestEnv(f, func(c *Config) { c.LoginTimeout = time.Second; c.PacketsPerSecond = 1e6 })
	env.account(f, 1, "fuzz@example.com", "pw")
	env.account(f, 2, "other@example.com", "pw")
	bystander := dial(f, env.addr)
	bystander.login(2, "pw", wire.StatusAvail, "")

	f.Fuzz(func(t *testing.T, loggedIn bool, data []byte) {
		c := dial(t, env.addr)
		if loggedIn {
			c.login(1, "pw", wire.StatusAvail, "")
		}
		_, _ = c.nc.Write(data)
		_ = c.nc.(*net.TCPConn).CloseWrite()
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c.nc); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("server did not finish with the connection")
			}
		}
		c.nc.Close()
		bystander.t = t
		bystander.send(wire.TypePing, nil)
		for {
			p, err := bystander.next()
			if err != nil {
				t.Fatalf("bystander lost its session: %v", err)
			}
			if p.Type == wire.TypePong110 {
				var pong ggpb.GG110Pong
				if err := proto.Unmarshal(p.Body, &pong); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
	})
}
