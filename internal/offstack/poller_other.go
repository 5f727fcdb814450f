//go:build !linux

package offstack

import "net"

// PollerFunction is the function the poller goroutine waits in, for leak
// checks that are to let it be; there is no poller on this system.
const PollerFunction = "github.com/crosstalk-im/crosstalk/internal/offstack.(*poller).wait"

// watchable is false: see watch.
func watchable(net.Conn) bool { return false }

// watch cannot wait without a goroutine on this system: Serve runs the
// connection's ReadLoop on the caller's.
func watch(SocketReader, net.Conn, Deadlines, Conn) bool { return false }
