package offstack

import (
	"container/heap"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/crosstalk-im/crosstalk/metrics"
)

// PollerFunction is the function the poller goroutine waits in, for leak
// checks that are to let it be (it lives as long as the process).
const PollerFunction = "github.com/crosstalk-im/crosstalk/internal/offstack.(*poller).wait"

// loop is a connection served without a goroutine of its own: while its
// client is idle, this record, in the poller's table and deadline heap, is
// all that stands for it besides the socket.
type loop struct {
	r  SocketReader
	rc syscall.RawConn
	d  Deadlines
	c  Conn
	id uint64
	// deadline is the one Arm last gave, in Unix nanoseconds (0: none),
	// which keeps the record small. The loop's worker writes it while the
	// loop is not armed; the poller reads it while it is.
	deadline int64
	// readyAt is when the poller found the socket readable, in Unix
	// nanoseconds (0: it ran for another reason); the poller writes it
	// before it hands the loop to a worker, which reads it.
	readyAt int64
	// Guarded by the poller's mu.
	heapAt int32 // index in the deadline heap, -1 when not in it
	armed  bool  // waiting: in epoll, and in the heap when it has a deadline
	added  bool  // its socket was added to the epoll set
	hup    bool  // an event told of the client's end (or an error): read to it
	// again is why it is to run again at once instead of waiting, learnt
	// while it was running: armWaits for nothing.
	again armResult
}

// poller waits on the sockets of every loop in one epoll set, edge by edge:
// a socket is added once, edge-triggered, and every arrival of bytes (or
// of the client's end) is one event, with no system call to arm it again
// after each frame (EPOLLONESHOT took one, five a login). Edges tell only
// of what comes after them, so a loop waits only once its reader has read
// all the socket held: not while its last read filled the buffer
// (MayHaveMore), nor once an event told of the client's end, which its
// reader reads first. An event for a loop that is running marks it
// pending: its worker looks again before it waits. An event may also come
// for bytes its worker read meanwhile, so a worker the poller woke reads
// without waiting first (ReadReady), and waits again when there was
// nothing. The sockets stay in Go's own poller as well,
// which a worker's read uses when a frame arrives in pieces. The epoll set
// is itself waited on in Go's poller (it is readable while it has events),
// with the earliest deadline as its read deadline: the poller goroutine
// parks as any reader does, holding no thread, and one runtime timer
// stands for every loop's deadline. An event-loop library (nbio, gnet,
// netpoll) would own the sockets and their reads and writes, and replace
// the outbox, the frame readers and the TLS path that this leaves as they
// are.
type poller struct {
	epfd  int
	epoll *os.File // epfd, for Go's poller
	rc    syscall.RawConn

	mu    sync.Mutex
	loops map[uint64]*loop
	// arming, armErr and armFd are arm's: the loop it puts in the epoll
	// set, what became of it, and the function that does it with the
	// loop's socket, made once, since a closure made on every arm costs
	// two allocations a message.
	arming     *loop
	armErr     error
	armFd      func(fd uintptr)
	lastID     uint64
	deadlines  deadlineHeap
	sleepUntil time.Time // the epoll set's read deadline; zero: none
}

var (
	pollerOnce sync.Once
	thePoller  *poller // nil where epoll could not be set up
)

func getPoller() *poller {
	pollerOnce.Do(func() {
		p, err := newPoller()
		if err != nil {
			return
		}
		thePoller = p
		go p.wait()
	})
	return thePoller
}

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return nil, err
	}
	// A non-blocking descriptor goes into Go's poller.
	epoll := os.NewFile(uintptr(epfd), "offstack-epoll")
	rc, err := epoll.SyscallConn()
	if err != nil {
		_ = epoll.Close()
		return nil, err
	}
	p := &poller{epfd: epfd, epoll: epoll, rc: rc, loops: make(map[uint64]*loop)}
	p.armFd = func(fd uintptr) { p.armErr = p.ctl(p.arming, int(fd)) }
	return p, nil
}

// watchable reports whether watch can take sock: a socket, and the poller
// runs.
func watchable(sock net.Conn) bool {
	_, ok := sock.(syscall.Conn)
	return ok && getPoller() != nil
}

// watch starts serving c on the poller, if sock is a socket and the poller
// runs.
func watch(r SocketReader, sock net.Conn, d Deadlines, c Conn) bool {
	sc, ok := sock.(syscall.Conn)
	if !ok {
		return false
	}
	p := getPoller()
	if p == nil {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	l := &loop{r: r, rc: rc, d: d, c: c, heapAt: -1}
	p.mu.Lock()
	p.lastID++
	l.id = p.lastID
	p.loops[l.id] = l
	p.mu.Unlock()
	d.WakeReader(l)
	l.setDeadline(c.Arm())
	if r.Buffered() > 0 || p.arm(l) != armWaits {
		// What came with the connection's handshake is not waited for.
		goRun(l)
	}
	return true
}

// run handles what the client sent, on a worker: frames until none is
// buffered, then the loop waits again, or ends. A loop whose socket
// became readable while it ran goes on without waiting, on this worker.
func (l *loop) run() {
	readable := l.readyAt != 0
	if readable {
		metrics.WakeupSeconds.Observe(time.Since(time.Unix(0, l.readyAt)).Seconds())
		l.readyAt = 0
	}
	for {
		if !readable || l.r.ReadReady(l.rc) {
			if l.frames() {
				return
			}
		}
		if l.r.MayHaveMore() {
			readable = true
			continue
		}
		// While waiting, the poller keeps the deadline: the socket keeps
		// no runtime timer, and the reader no buffer.
		switch thePoller.arm(l) {
		case armWaits:
			return
		case armPending:
			// It waited for no worker: this one ran it.
			metrics.WakeupSeconds.Observe(0)
			readable = true
		case armWoken:
			readable = false
		}
	}
}

// frames runs the loop's frames until none is buffered; true when the
// connection ended. The socket's read deadline is set only for a frame
// that Next is to read from the socket (not whole in the buffer, which
// is where a wake-up's first read leaves a small one): two runtime timer
// changes fewer a request.
func (l *loop) frames() (ended bool) {
	fb, _ := l.c.(FrameBufferer)
	deadlineSet := false
	for {
		if fb == nil || !fb.FrameBuffered() {
			_ = l.d.SetReadDeadline(l.due())
			deadlineSet = true
		}
		done, err := l.c.Next()
		if done {
			l.r.Release()
			l.c.End(err)
			// After End, which closes the socket and so takes it out of
			// the epoll set: no epoll_ctl for it.
			thePoller.forget(l)
			return true
		}
		l.setDeadline(l.c.Arm())
		if l.r.Buffered() == 0 {
			break
		}
	}
	l.r.Release()
	if deadlineSet {
		_ = l.d.SetReadDeadline(time.Time{})
	}
	return false
}

func (l *loop) setDeadline(t time.Time) {
	l.deadline = 0
	if !t.IsZero() {
		l.deadline = t.UnixNano()
	}
}

// due is the deadline Arm last gave, the zero time for none.
func (l *loop) due() time.Time {
	if l.deadline == 0 {
		return time.Time{}
	}
	return time.Unix(0, l.deadline)
}

// Wake makes a waiting loop run at once, so that its read finds out what
// became of the connection; a running one runs again before it waits.
func (l *loop) Wake() {
	p := thePoller
	p.mu.Lock()
	claimed := p.claim(l)
	if !claimed {
		l.again = armWoken
	}
	p.mu.Unlock()
	if claimed {
		goRun(l)
	}
}

// armResult is what arm made of a loop: waiting, or to run at once.
type armResult uint8

const (
	armWaits armResult = iota
	// armWoken: it was woken, or its socket cannot be waited on; its read
	// is to find out why.
	armWoken
	// armPending: its socket became readable while it ran.
	armPending
)

// arm makes l wait for its socket to be readable or its deadline, unless
// it was woken or became readable meanwhile: then the caller runs it. A
// socket epoll cannot take (closed meanwhile) runs at once: the read
// reports it.
func (p *poller) arm(l *loop) armResult {
	p.mu.Lock()
	if again := l.again; again != armWaits {
		l.again = armWaits
		p.mu.Unlock()
		return again
	}
	if l.hup {
		// The read finds the end at once.
		p.mu.Unlock()
		return armWoken
	}
	if !l.added {
		p.arming, p.armErr = l, nil
		err := l.rc.Control(p.armFd)
		ctlErr := p.armErr
		p.arming = nil
		if err != nil || ctlErr != nil {
			p.mu.Unlock()
			return armWoken
		}
		l.added = true
	}
	l.armed = true
	if l.deadline != 0 {
		heap.Push(&p.deadlines, l)
		if l.heapAt == 0 && (p.sleepUntil.IsZero() || l.due().Before(p.sleepUntil)) {
			p.setDeadline(l.due())
		}
	}
	p.mu.Unlock()
	return armWaits
}

// setDeadline makes the poller's wait end at t; p.mu is held.
func (p *poller) setDeadline(t time.Time) {
	p.sleepUntil = t
	_ = p.epoll.SetReadDeadline(t)
}

// ctl adds fd to the epoll set, edge-triggered.
func (p *poller) ctl(l *loop, fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(uint32(l.id)), Pad: int32(uint32(l.id >> 32))}
	return epollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

// claim takes a waiting loop out of the wait, for the caller to run it;
// false when it was not waiting. p.mu is held.
func (p *poller) claim(l *loop) bool {
	if !l.armed {
		return false
	}
	l.armed = false
	if l.heapAt >= 0 {
		heap.Remove(&p.deadlines, int(l.heapAt))
	}
	return true
}

// forget drops a loop that ended. Its socket leaves the epoll set here
// only if it is still open: closing it took it out.
func (p *poller) forget(l *loop) {
	p.mu.Lock()
	delete(p.loops, l.id)
	p.claim(l)
	if l.added {
		_ = l.rc.Control(func(fd uintptr) { _ = epollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	}
	p.mu.Unlock()
}

// wait is the poller goroutine: it hands each loop whose socket became
// readable or whose deadline passed to a worker. A loop whose deadline
// passed finds its read timing out at once (run sets the deadline, which
// is past), as if it had waited in Go's poller.
func (p *poller) wait() {
	events := make([]unix.EpollEvent, 256)
	var ready []*loop
	// dispatch hands over the loops whose sockets the epoll set holds
	// events for, without waiting, and returns false for Go's poller to
	// wait for more: one epoll_wait a wake-up, since the set is emptied
	// once one returns less than it could hold.
	dispatch := func(fd uintptr) bool {
		for {
			n, err := epollPoll(int(fd), events)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				panic(fmt.Sprintf("offstack: epoll_wait: %v", err))
			}
			readyAt := time.Now().UnixNano()
			p.mu.Lock()
			for _, ev := range events[:n] {
				id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
				l := p.loops[id]
				if l != nil && ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
					l.hup = true
				}
				switch {
				case l == nil:
				case p.claim(l):
					l.readyAt = readyAt
					ready = append(ready, l)
				case l.again == armWaits:
					l.again = armPending
				}
			}
			p.mu.Unlock()
			if n < len(events) {
				break
			}
		}
		for i, l := range ready {
			goRun(l)
			ready[i] = nil
		}
		ready = ready[:0]
		return false
	}
	for {
		// Read returns only when the earliest deadline passed.
		err := p.rc.Read(dispatch)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			panic(fmt.Sprintf("offstack: waiting on epoll: %v", err))
		}
		now := time.Now()
		p.mu.Lock()
		for len(p.deadlines) > 0 && !p.deadlines[0].due().After(now) {
			l := p.deadlines[0]
			p.claim(l)
			ready = append(ready, l)
		}
		var next time.Time
		if len(p.deadlines) > 0 {
			next = p.deadlines[0].due()
		}
		p.setDeadline(next)
		p.mu.Unlock()
		for i, l := range ready {
			goRun(l)
			ready[i] = nil
		}
		ready = ready[:0]
	}
}

// epollCtls counts epollCtl's calls, for tests of how few a connection
// takes.
var epollCtls atomic.Int64

// epollCtl and epollPoll are unix.EpollCtl and unix.EpollWait without a
// timeout, which never wait, made as rawio makes reads and writes: the
// goroutine keeps its processor.
func epollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	epollCtls.Add(1)
	_, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func epollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// deadlineHeap orders waiting loops by deadline (container/heap).
type deadlineHeap []*loop

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].deadline < h[j].deadline }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapAt = int32(i)
	h[j].heapAt = int32(j)
}
func (h *deadlineHeap) Push(x any) {
	l := x.(*loop)
	l.heapAt = int32(len(*h))
	*h = append(*h, l)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	l := old[len(old)-1]
	old[len(old)-1] = nil
	l.heapAt = -1
	*h = old[:len(old)-1]
	return l
}
