package node

import (
	"net"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/idleread"
)

// shareMSNPPort serves MSNP and MySpaceIM on one listener. MSNP clients
// speak first (VER), MySpaceIM clients wait for the server's greeting: a
// connection that has something to read within sniff is MSNP, one that
// stays silent is greeted as MySpaceIM. Nothing is read while deciding, so
// the protocol's own reader gets the connection as it came.
func shareMSNPPort(nc net.Conn, sniff time.Duration, msnp, msim func(net.Conn)) {
	_ = nc.SetReadDeadline(time.Now().Add(sniff))
	err := idleread.WaitReadable(nc)
	_ = nc.SetReadDeadline(time.Time{})
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		msim(nc)
		return
	}
	if err != nil {
		_ = nc.Close()
		return
	}
	msnp(nc)
}
