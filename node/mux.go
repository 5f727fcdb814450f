package node

import (
	"bufio"
	"net"
	"time"
)

// shareMSNPPort serves MSNP and MySpaceIM on one listener. MSNP clients
// speak first (VER), MySpaceIM clients wait for the server's greeting: a
// connection that sends something within sniff is MSNP, one that stays
// silent is greeted as MySpaceIM.
func shareMSNPPort(nc net.Conn, sniff time.Duration, msnp, msim func(net.Conn)) {
	br := bufio.NewReaderSize(nc, 1024)
	_ = nc.SetReadDeadline(time.Now().Add(sniff))
	_, err := br.Peek(1)
	_ = nc.SetReadDeadline(time.Time{})
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		msim(nc)
		return
	}
	if err != nil {
		_ = nc.Close()
		return
	}
	msnp(&peekedConn{Conn: nc, r: br})
}

// peekedConn replays the bytes read while deciding.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// NetConn returns the connection underneath (see service.LoggedIn).
func (c *peekedConn) NetConn() net.Conn { return c.Conn }
