//go:build unix

package idleread

import (
	"errors"
	"io"
	"syscall"
)

// WaitReadable blocks until src has bytes to read, has reached its end or
// failed, without reading anything: the wait holds no buffer. src must be
// a socket offering syscall.Conn (as *net.TCPConn does, and wrappers that
// buffer nothing themselves); for anything else it returns
// errors.ErrUnsupported at once. The socket's read deadline applies.
func WaitReadable(src io.Reader) error {
	sc, ok := src.(syscall.Conn)
	if !ok {
		return errors.ErrUnsupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var peeked [1]byte
	var recvErr error
	err = rc.Read(func(fd uintptr) bool {
		// The socket is non-blocking: EAGAIN means nothing to read yet,
		// and the runtime's poller waits for more before calling again.
		for {
			_, _, recvErr = syscall.Recvfrom(int(fd), peeked[:], syscall.MSG_PEEK)
			if recvErr != syscall.EINTR {
				return recvErr != syscall.EAGAIN
			}
		}
	})
	if err != nil {
		return err
	}
	return recvErr
}
