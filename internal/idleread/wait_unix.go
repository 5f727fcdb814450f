//go:build unix

package idleread

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"

	"github.com/crosstalk-im/crosstalk/internal/rawio"
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

// readSocket reads what src's socket holds, as src.Read would, into a
// buffer from the pool that it takes only once the socket has bytes (or
// its end) to give: one system call when the socket is readable, where a
// wait (WaitReadable) and then a read took two, and no buffer held while
// it waits. buf is nil when nothing was read. For src that is no socket
// (see WaitReadable) it does nothing and returns errors.ErrUnsupported.
func readSocket(src io.Reader) (buf *[BufferSize]byte, n int, err error) {
	return readSocketAs(src, nil, true)
}

// readSocketNow is readSocket without the wait: errNothingYet when the
// socket has nothing to give yet. rc is src's RawConn when the caller
// holds it, nil to ask src for it.
func readSocketNow(src io.Reader, rc syscall.RawConn) (buf *[BufferSize]byte, n int, err error) {
	return readSocketAs(src, rc, false)
}

func readSocketAs(src io.Reader, rc syscall.RawConn, wait bool) (buf *[BufferSize]byte, n int, err error) {
	if rc == nil {
		// SyscallConn makes a RawConn each time: an allocation a read.
		sc, ok := src.(syscall.Conn)
		if !ok {
			return nil, 0, errors.ErrUnsupported
		}
		if rc, err = sc.SyscallConn(); err != nil {
			return nil, 0, errors.ErrUnsupported
		}
	}
	op := socketReads.Get().(*socketRead)
	if wait {
		err = rc.Read(op.read)
	} else {
		err = rc.Control(op.readOnce)
	}
	buf, n, errno := op.buf, op.n, op.errno
	op.buf, op.n, op.errno = nil, 0, nil
	socketReads.Put(op)
	switch {
	case err != nil: // the deadline passed, or the connection was closed
		return nil, 0, readError(src, err)
	case buf == nil:
		return nil, 0, errNothingYet
	case errno != nil:
		buffers.Put(buf)
		return nil, 0, readError(src, os.NewSyscallError("read", errno))
	case n == 0:
		buffers.Put(buf)
		return nil, 0, io.EOF
	}
	return buf, n, nil
}

// socketRead is one readSocket's read, with its function made once: a
// closure per read would be an allocation.
type socketRead struct {
	read     func(fd uintptr) bool
	readOnce func(fd uintptr)
	buf      *[BufferSize]byte
	n        int
	errno    error
}

var socketReads = sync.Pool{New: func() any {
	op := new(socketRead)
	op.read = op.readFd
	op.readOnce = func(fd uintptr) { op.readFd(fd) }
	return op
}}

// readFd reads from the non-blocking socket fd, keeping the goroutine's
// processor (see rawio); false (the buffer given back) when it has nothing
// yet, for the runtime's poller to wait.
func (op *socketRead) readFd(fd uintptr) bool {
	buf := buffers.Get().(*[BufferSize]byte)
	for {
		n, err := rawio.Read(fd, buf[:])
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			buffers.Put(buf)
			return false
		}
		op.buf, op.n, op.errno = buf, max(n, 0), err
		return true
	}
}

// dialedSocket is a connection as net.Dial makes it (a client's), with
// its RawConn made once: SyscallConn makes one on every call, an
// allocation for every read. A server's connections come wrapped by their
// listener (service.Listener) and are not kept so: a session idle for
// hours would hold the RawConn all that time, where its poller holds one
// already (see Reader.ReadReadyFrom).
type dialedSocket struct {
	*net.TCPConn
	rc syscall.RawConn
}

func (s *dialedSocket) SyscallConn() (syscall.RawConn, error) { return s.rc, nil }

// keepRawConn is src, or a dialedSocket over it when it is a
// *net.TCPConn.
func keepRawConn(src io.Reader) io.Reader {
	tc, ok := src.(*net.TCPConn)
	if !ok {
		return src
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return src
	}
	return &dialedSocket{TCPConn: tc, rc: rc}
}

// readError is err as net.Conn's Read reports it, naming the connection.
func readError(src io.Reader, err error) error {
	c, ok := src.(net.Conn)
	if !ok {
		return err
	}
	return &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
