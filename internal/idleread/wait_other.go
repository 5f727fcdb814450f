//go:build !unix

package idleread

import (
	"errors"
	"io"
	"syscall"
)

// WaitReadable cannot wait without reading on this system: it returns
// errors.ErrUnsupported, and Reader holds its buffer while it waits.
func WaitReadable(src io.Reader) error { return errors.ErrUnsupported }

// readSocket reads no socket directly on this system.
func readSocket(io.Reader) (buf *[BufferSize]byte, n int, err error) {
	return nil, 0, errors.ErrUnsupported
}

// readSocketNow reads no socket directly on this system.
func readSocketNow(io.Reader, syscall.RawConn) (buf *[BufferSize]byte, n int, err error) {
	return nil, 0, errors.ErrUnsupported
}

// keepRawConn is src: no socket is read directly on this system.
func keepRawConn(src io.Reader) io.Reader { return src }
