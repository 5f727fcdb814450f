package service

import (
	"net"
	"net/netip"
	"testing"
)

// FuzzAddrKey: whatever address a client comes from, the per-address caps
// count it by a prefix that holds it: the whole IPv4 address, or an IPv6
// /64, an IPv4-mapped IPv6 address counting as its IPv4 address.
func FuzzAddrKey(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1}, "", uint16(1863))
	f.Add([]byte(net.ParseIP("2001:db8::1").To16()), "eth0", uint16(8074))
	f.Add([]byte(net.ParseIP("::ffff:10.0.0.7").To16()), "", uint16(1))
	f.Fuzz(func(t *testing.T, ip []byte, zone string, port uint16) {
		a := &net.TCPAddr{IP: ip, Zone: zone, Port: int(port)}
		p := addrKey(a)
		addr, ok := netip.AddrFromSlice(ip)
		if !ok {
			return // not an address: nothing to hold
		}
		addr = addr.Unmap()
		if !p.IsValid() || !p.Contains(addr) {
			t.Fatalf("addrKey(%v) = %v, which does not hold %v", a, p, addr)
		}
		if want := map[bool]int{true: 32, false: 64}[addr.Is4()]; p.Bits() != want {
			t.Fatalf("addrKey(%v) = %v, want a /%d", a, p, want)
		}
	})
}
