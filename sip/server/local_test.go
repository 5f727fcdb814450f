package server

import (
	"net"
	"testing"
)

// The Via of our requests names the connection's local address as
// LocalAddr().String() does, written without it: over IPv4, IPv6, and
// IPv4 on a dual-stack listener (an IPv4-mapped address).
func TestAppendLocal(t *testing.T) {
	for _, c := range []struct{ network, listen, dial string }{
		{"tcp4", "127.0.0.1:0", "127.0.0.1"},
		{"tcp6", "[::1]:0", "::1"},
		{"tcp", ":0", "127.0.0.1"},
	} {
		ln, err := net.Listen(c.network, c.listen)
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		dialed, err := net.Dial("tcp", net.JoinHostPort(c.dial, port))
		if err != nil {
			t.Fatal(err)
		}
		accepted, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		for _, nc := range []net.Conn{dialed, accepted} {
			sc := &conn{nc: nc}
			if got, want := string(sc.appendLocal([]byte("x "))), "x "+nc.LocalAddr().String(); got != want {
				t.Errorf("%s %s: appendLocal = %q, want %q", c.network, c.listen, got, want)
			}
		}
		dialed.Close()
		accepted.Close()
		ln.Close()
	}
}
