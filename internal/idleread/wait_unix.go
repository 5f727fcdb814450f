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
// errors.ErrUnsupported at once. The socket's read deadline applies. A
// socket that failed counts as readable: the read that follows reports it.
func WaitReadable(src io.Reader) error {
	sc, ok := src.(syscall.Conn)
	if !ok {
		return errors.ErrUnsupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Read(readable)
}

// peeked receives the byte readable peeks at. Nothing reads it, so the
// sockets of every goroutine share it and the wait allocates nothing.
var peeked [1]byte

// readable reports whether a read on fd would not block. The socket is
// non-blocking: EAGAIN means nothing to read yet, and the runtime's poller
// waits for more before asking again.
func readable(fd uintptr) bool {
	for {
		_, _, err := syscall.Recvfrom(int(fd), peeked[:], syscall.MSG_PEEK)
		if err != syscall.EINTR {
			return err != syscall.EAGAIN
		}
	}
}
