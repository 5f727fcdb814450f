package service

import (
	"errors"
	"net"
	"syscall"
)

// keepAliveListenConfig sets keep-alive on the listening socket, which
// Linux copies to every connection it accepts, and leaves it alone on the
// accepted ones.
func keepAliveListenConfig() *net.ListenConfig {
	return &net.ListenConfig{
		KeepAlive: -1,
		Control: func(_, _ string, c syscall.RawConn) error {
			var errs []error
			err := c.Control(func(fd uintptr) {
				for _, o := range [...]struct{ level, name, value int }{
					{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
					{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, keepAliveIdle},
					{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, keepAliveInterval},
					{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, keepAliveCount},
				} {
					errs = append(errs, syscall.SetsockoptInt(int(fd), o.level, o.name, o.value))
				}
			})
			return errors.Join(append(errs, err)...)
		},
	}
}
