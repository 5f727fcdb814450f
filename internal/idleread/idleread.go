// Package idleread buffers a connection's input without holding a buffer
// while the connection is idle. An idle client may stay connected for hours;
// a bufio.Reader would keep its buffer, kilobytes per connection, all that
// time. Reader waits until the connection is readable with no buffer, takes
// one from a shared pool for as long as it holds unread bytes, and gives it
// back once they are all read.
package idleread

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
	"syscall"
)

// BufferSize is the size of the pooled buffers: the most a Reader holds.
const BufferSize = 4096

var buffers = sync.Pool{New: func() any { return new([BufferSize]byte) }}

// maxEmptyReads bounds reads that return neither bytes nor an error.
const maxEmptyReads = 100

// Reader is a buffered reader with bufio.Reader's ReadSlice, Peek and Read.
// Between reads it holds a buffer only while bytes it read wait to be
// consumed, so a connection idle between frames holds none.
type Reader struct {
	src  io.Reader
	buf  *[BufferSize]byte // nil while nothing is buffered
	r, w int32             // unread bytes are buf[r:w]; 32 bits keep the record a size class smaller
	err  error             // from src, returned once buf is consumed
	full bool              // the last read from src filled the room offered
}

// NewReader reads from src; see WaitReadable for the sources it waits on
// without a buffer. A src that is a Reader already is handed back, as
// bufio.NewReader does, so that nothing is buffered twice. A src that is
// a *net.TCPConn itself, as net.Dial makes it, has its RawConn kept for
// its reads (see dialedSocket).
func NewReader(src io.Reader) *Reader {
	if r, ok := src.(*Reader); ok {
		return r
	}
	return &Reader{src: keepRawConn(src)}
}

// Within is NewReader for a Reader kept inside a frame reader's record:
// src itself when it is a Reader already, else own, set up to read src.
// One allocation less for each connection, and one record fewer to be
// strewn among a login's garbage.
func Within(own *Reader, src io.Reader) *Reader {
	if r, ok := src.(*Reader); ok {
		return r
	}
	*own = Reader{src: keepRawConn(src)}
	return own
}

// Buffered returns the number of bytes that can be read without reading src.
func (b *Reader) Buffered() int { return int(b.w - b.r) }

func (b *Reader) unread() []byte {
	if b.buf == nil {
		return nil
	}
	return b.buf[b.r:b.w]
}

func (b *Reader) readErr() error {
	err := b.err
	b.err = nil
	return err
}

// Wait blocks until the reader has bytes to give: at once when some are
// buffered, else once src is readable (see WaitReadable), holding no buffer
// meanwhile. A src that cannot be waited on without reading (a TLS
// connection, whose own buffers may hold what comes next; a pipe) is read
// here instead, one byte, so that the wait stays on the caller's goroutine
// and holds no buffer either. A failed wait or read is reported by the
// next read, so Wait returns nothing: a caller waits, then reads.
func (b *Reader) Wait() {
	if b.r == b.w && b.err == nil {
		b.Release()
		if errors.Is(WaitReadable(b.src), errors.ErrUnsupported) {
			b.readFirst()
		}
	}
}

// readFirst reads one byte from src and buffers it.
func (b *Reader) readFirst() {
	var first [1]byte
	for range maxEmptyReads {
		n, err := b.src.Read(first[:])
		if n > 0 {
			b.buf = buffers.Get().(*[BufferSize]byte)
			b.buf[0] = first[0]
			b.r, b.w = 0, 1
		}
		if n > 0 || err != nil {
			b.err = err
			return
		}
	}
	b.err = io.ErrNoProgress
}

// fill reads once more from src. When nothing is buffered it first gives
// the buffer back: a socket is read with a buffer taken only once it has
// bytes (see readSocket), anything else after waiting for it to be
// readable; slices handed out earlier are no longer valid from here, as
// with bufio.
func (b *Reader) fill() {
	if b.r == b.w {
		b.Release()
		if buf, n, err := readSocket(b.src); err != errors.ErrUnsupported {
			b.buf, b.w, b.err = buf, int32(n), err
			b.full = n == BufferSize
			return
		}
		// A failed wait (deadline, closed connection) is reported by the
		// read that follows, as if there had been no wait.
		_ = WaitReadable(b.src)
		b.buf = buffers.Get().(*[BufferSize]byte)
	} else if b.r > 0 {
		copy(b.buf[:], b.buf[b.r:b.w])
		b.w -= b.r
		b.r = 0
	}
	for range maxEmptyReads {
		room := BufferSize - int(b.w)
		n, err := b.src.Read(b.buf[b.w:])
		b.full = n == room
		b.w += int32(n)
		if err != nil {
			b.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	b.err = io.ErrNoProgress
}

// ReadReady reads what the socket holds, when nothing is buffered, without
// waiting for more: false when it holds nothing yet, and then no buffer is
// held. True when bytes, or the socket's end or failure, wait for the next
// read; for a source that is no socket it reads nothing and returns true,
// and the next read waits as it would have. It reads through rc, the
// socket's RawConn, when the caller holds it (asking the source for one
// costs an allocation each time); nil: ask the source.
func (b *Reader) ReadReady(rc syscall.RawConn) bool {
	if b.r != b.w || b.err != nil {
		return true
	}
	buf, n, err := readSocketNow(b.src, rc)
	switch err {
	case errNothingYet:
		b.full = false
		return false
	case errors.ErrUnsupported:
		return true
	}
	b.Release()
	b.buf, b.w, b.err = buf, int32(n), err
	b.full = n == BufferSize
	return true
}

// MayHaveMore reports whether the socket may hold bytes the reader left
// there: its last read filled all the room it offered. A reader that
// waits for the socket's next event to say bytes came, and so only for
// bytes that came after its last read, reads on first while this holds.
func (b *Reader) MayHaveMore() bool { return b.full }

// errNothingYet is readSocketNow's word that the socket has nothing yet.
var errNothingYet = errors.New("idleread: nothing to read yet")

// Release gives the buffer back to the pool, dropping what it holds, for a
// reader that is done: the next read starts afresh.
func (b *Reader) Release() {
	if b.buf != nil {
		buffers.Put(b.buf)
		b.buf = nil
	}
	b.r, b.w = 0, 0
}

// ReadSlice reads until the first occurrence of delim, as
// bufio.Reader.ReadSlice does: the bytes stop being valid at the next read,
// and a line longer than BufferSize returns a full buffer with
// bufio.ErrBufferFull.
func (b *Reader) ReadSlice(delim byte) ([]byte, error) {
	searched := 0
	for {
		if i := bytes.IndexByte(b.unread()[searched:], delim); i >= 0 {
			line := b.buf[b.r : int(b.r)+searched+i+1]
			b.r += int32(searched + i + 1)
			return line, nil
		}
		if b.err != nil {
			line := b.unread()
			b.r = b.w
			return line, b.readErr()
		}
		if b.Buffered() == BufferSize {
			line := b.unread()
			b.r = b.w
			return line, bufio.ErrBufferFull
		}
		searched = b.Buffered()
		b.fill()
	}
}

// Peek returns the next n bytes without consuming them, as
// bufio.Reader.Peek does.
func (b *Reader) Peek(n int) ([]byte, error) {
	for b.Buffered() < min(n, BufferSize) && b.err == nil {
		b.fill()
	}
	if n > BufferSize {
		return b.unread(), bufio.ErrBufferFull
	}
	if b.Buffered() < n {
		return b.unread(), b.readErr()
	}
	return b.unread()[:n], nil
}

// Discard consumes the next n bytes, which Peek showed the caller; n must
// not exceed Buffered.
func (b *Reader) Discard(n int) {
	if n > b.Buffered() {
		panic("idleread: Discard beyond the buffered bytes")
	}
	b.r += int32(n)
}

// Read reads into p. Once the buffer is empty, reads of at least
// BufferSize go straight from src into p.
func (b *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		if b.Buffered() > 0 {
			return 0, nil
		}
		return 0, b.readErr()
	}
	if b.r == b.w {
		if b.err != nil {
			return 0, b.readErr()
		}
		if len(p) >= BufferSize {
			b.Release()
			n, err := b.src.Read(p)
			b.full = n == len(p)
			return n, err
		}
		b.fill()
		if b.r == b.w {
			return 0, b.readErr()
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += int32(n)
	return n, nil
}
