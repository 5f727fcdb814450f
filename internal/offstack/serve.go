package offstack

import (
	"net"
	"time"
)

// Conn is a connection's protocol side, as Serve runs it.
type Conn interface {
	// Next reads and handles one frame; done says the connection is over,
	// err why.
	Next() (done bool, err error)
	// Arm runs first and after every frame (to flush the replies, say) and
	// returns when the next read is to give up; the zero time: never.
	Arm() time.Time
	// End runs once, after the last frame, with Next's last error: the
	// connection's cleanup.
	End(err error)
}

// FrameBufferer is what a Conn may also offer: whether its next frame
// waits whole in the reader's buffer, so that Next will not read the
// socket and the read deadline need not move for it (a runtime timer
// reset fewer for each frame of a batch that arrived at once).
type FrameBufferer interface {
	FrameBuffered() bool
}

// Deadlines is what Serve needs of the connection's outbox.
type Deadlines interface {
	// SetReadDeadline sets the socket's read deadline, or an earlier one
	// when the reader is to stop now.
	SetReadDeadline(t time.Time) error
	// WakeReader has w woken whenever the reader is to stop waiting
	// for the client: the connection was closed, or its reads were told
	// to end. A reader parked in Go's poller notices that by itself; one
	// that waits with no goroutine (see Serve) must be woken.
	WakeReader(w Waker)
}

// Waker is a reader waiting with no goroutine, which Wake makes stop
// waiting: the loop itself, so that no closure is kept for it.
type Waker = interface{ Wake() }

// Setup runs f, which sets up a connection on sock for Serve: on the
// calling goroutine where Serve will hand sock to the poller and return,
// so that the goroutine ends soon and its stack with it (a hand-over to a
// worker and back, two switches between goroutines, fewer for every
// connection); on a worker, as Run, where Serve will keep the calling
// goroutine for the connection's life.
func Setup(sock net.Conn, f func()) {
	if watchable(sock) {
		f()
		return
	}
	Run(f)
}

// Serve runs c over r, which reads from sock, until Next says it is done;
// then End. On Linux, where sock is a socket (offers syscall.Conn), it
// returns at once: between frames the connection holds no goroutine and no
// runtime timer. One poller goroutine waits on every such socket with
// epoll and keeps their deadlines, and hands a connection to a worker when
// its client sends something, its deadline passes or d wakes it; the worker
// runs its frames (with the read deadline set, for a frame that arrives in
// pieces) and hands it back. Elsewhere, and for a sock that cannot be
// waited on without reading (a TLS connection, a pipe), Serve runs ReadLoop
// on the caller's goroutine and returns after End.
func Serve(r SocketReader, sock net.Conn, d Deadlines, c Conn) {
	if watch(r, sock, d, c) {
		return
	}
	c.End(ReadLoop(r, c.Next, func() { _ = d.SetReadDeadline(c.Arm()) }))
}
