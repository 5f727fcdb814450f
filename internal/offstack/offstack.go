// Package offstack runs a connection's deep work (logins with their
// database queries, contact lists, cryptography) on a few shared worker
// goroutines. A goroutine's stack grows to the deepest call it ever made and
// shrinks only at garbage collection, never below four times what the
// waiting goroutine uses; a connection's goroutine that hands its deep calls
// over here keeps the small stack it started with through hours of waiting
// for its client.
package offstack

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Workers that wait for work longer than idleLife exit, and at most
// maxIdle wait at once: a burst of logins leaves no crowd behind.
const (
	idleLife = time.Second
	maxIdle  = 64
)

// WorkerFunction is the function idle workers wait in, for leak checks
// that are to let them be (goleak.IgnoreAnyFunction).
const WorkerFunction = "github.com/crosstalk-im/crosstalk/internal/offstack.work"

// task is f, or r's run: a connection's loop hands over itself, without
// the allocation that a method value (l.run) costs each time it runs.
type task struct {
	f    func()
	r    runner
	done chan struct{}
}

type runner interface{ run() }

var (
	// tasks is unbuffered: a send succeeds only when a waiting worker takes
	// it at once.
	tasks = make(chan task)
	idle  atomic.Int32
)

// doneChans holds the channels on which workers say a call is done, for
// reuse.
var doneChans = sync.Pool{New: func() any { return make(chan struct{}, 1) }}

// Run calls f on a worker goroutine and returns once f has returned. The
// caller waits meanwhile, so f may use what the caller owns as the caller
// would.
func Run(f func()) {
	t := task{f: f, done: doneChans.Get().(chan struct{})}
	start(t)
	<-t.done
	doneChans.Put(t.done)
}

// goRun calls r.run on a worker goroutine and returns at once.
func goRun(r runner) { start(task{r: r}) }

func start(t task) {
	select {
	case tasks <- t:
	default:
		go work(t)
	}
}

func work(t task) {
	var timer *time.Timer
	for {
		if t.r != nil {
			t.r.run()
		} else {
			t.f()
		}
		if t.done != nil {
			t.done <- struct{}{}
		}
		if idle.Add(1) > maxIdle {
			idle.Add(-1)
			return
		}
		if timer == nil {
			timer = time.NewTimer(idleLife)
		} else {
			timer.Reset(idleLife)
		}
		select {
		case t = <-tasks:
			idle.Add(-1)
			timer.Stop()
		case <-timer.C:
			idle.Add(-1)
			return
		}
	}
}

// Reader is a connection's buffered reader, as ReadLoop uses it.
type Reader interface {
	// Wait blocks until something may be read, holding no buffer meanwhile.
	Wait()
	// Buffered counts the bytes read and not yet consumed.
	Buffered() int
	// Release gives the reader's buffer back once it is done.
	Release()
}

// SocketReader is a Reader of a socket, as Serve uses it.
type SocketReader interface {
	Reader
	// ReadReady reads what the socket holds, when nothing is buffered,
	// without waiting for more: false when it holds nothing yet. The
	// poller's worker asks before its first frame, since the bytes that
	// made the socket readable may have been read meanwhile. It reads
	// through rc, the socket's RawConn, which the poller holds: asking the
	// connection for one would cost an allocation every time the client
	// sends.
	ReadReady(rc syscall.RawConn) bool
	// MayHaveMore reports whether the socket may hold bytes the last
	// read left there (it filled all the room it offered): the poller
	// tells only of bytes that come later, so the worker reads on before
	// the loop waits.
	MayHaveMore() bool
}

// ReadLoop is a connection's read loop for a goroutine that is to keep a
// small stack: only r.Wait runs on it. Everything else runs on workers:
// arm (which sets the read deadline for what comes next) first and after
// every frame, and next, which reads and handles one frame, for as long as
// r has bytes buffered, until next reports the end; then r is released and
// next's error returned.
func ReadLoop(r Reader, next func() (done bool, err error), arm func()) error {
	var done bool
	var err error
	frames := func() {
		for !done {
			if done, err = next(); !done {
				arm()
				if r.Buffered() == 0 {
					return
				}
			}
		}
	}
	Run(arm)
	for !done {
		r.Wait()
		Run(frames)
	}
	r.Release()
	return err
}
