package offstack

import (
	"container/heap"
	"fmt"
	"math"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// PollerFunction is the function the poller goroutine waits in, for leak
// checks that are to let it be (it lives as long as the process).
const PollerFunction = "github.com/crosstalk-im/crosstalk/internal/offstack.(*poller).wait"

// loop is a connection served without a goroutine of its own: while its
// client is idle, this record, in the poller's table and deadline heap, is
// all that stands for it besides the socket.
type loop struct {
	r  Reader
	rc syscall.RawConn
	d  Deadlines
	c  Conn
	id uint64
	// deadline is the one Arm last gave. The loop's worker writes it while
	// the loop is not armed; the poller reads it while it is.
	deadline time.Time
	// Guarded by the poller's mu.
	heapAt int  // index in the deadline heap, -1 when not in it
	armed  bool // waiting: in epoll, and in the heap when it has a deadline
	woken  bool // told to stop waiting while it was running
	added  bool // its socket was added to the epoll set
}

// poller waits on the sockets of every loop in one epoll set, edge by edge:
// EPOLLONESHOT hands a readable socket over once, and the worker that ran
// its frames arms it again. The sockets stay in Go's own poller as well,
// which a worker's read uses when a frame arrives in pieces.
type poller struct {
	epfd   int
	wakefd int // an eventfd in the set, written to cut a wait short

	mu         sync.Mutex
	loops      map[uint64]*loop
	lastID     uint64
	deadlines  deadlineHeap
	sleepUntil time.Time // when the current wait ends; zero: no deadline
}

// wakeID is the wake eventfd's epoll data; loops count from 1.
const wakeID = 0

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
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, err
	}
	return &poller{epfd: epfd, wakefd: wakefd, loops: make(map[uint64]*loop)}, nil
}

// watch starts serving c on the poller, if sock is a socket and the poller
// runs.
func watch(r Reader, sock net.Conn, d Deadlines, c Conn) bool {
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
	d.WakeReader(l.wake)
	l.deadline = c.Arm()
	p.arm(l)
	return true
}

// run handles what the client sent, on a worker: frames until none is
// buffered, then the loop waits again, or ends.
func (l *loop) run() {
	_ = l.d.SetReadDeadline(l.deadline)
	for {
		done, err := l.c.Next()
		if done {
			l.r.Release()
			thePoller.forget(l)
			l.c.End(err)
			return
		}
		l.deadline = l.c.Arm()
		_ = l.d.SetReadDeadline(l.deadline)
		if l.r.Buffered() == 0 {
			break
		}
	}
	// While waiting, the poller keeps the deadline: the socket keeps no
	// runtime timer, and the reader no buffer.
	l.r.Release()
	_ = l.d.SetReadDeadline(time.Time{})
	thePoller.arm(l)
}

// wake makes a waiting loop run at once, so that its read finds out what
// became of the connection; a running one runs again before it waits.
func (l *loop) wake() {
	p := thePoller
	p.mu.Lock()
	claimed := p.claim(l)
	if !claimed {
		l.woken = true
	}
	p.mu.Unlock()
	if claimed {
		Go(l.run)
	}
}

// arm makes l wait for its socket to be readable or its deadline, unless
// it was woken meanwhile. A socket epoll cannot take (closed meanwhile)
// runs at once: the read reports it.
func (p *poller) arm(l *loop) {
	p.mu.Lock()
	if l.woken {
		l.woken = false
		p.mu.Unlock()
		Go(l.run)
		return
	}
	var ctlErr error
	err := l.rc.Control(func(fd uintptr) { ctlErr = p.ctl(l, int(fd)) })
	if err != nil || ctlErr != nil {
		p.mu.Unlock()
		Go(l.run)
		return
	}
	l.armed = true
	var cutShort bool
	if !l.deadline.IsZero() {
		heap.Push(&p.deadlines, l)
		cutShort = l.heapAt == 0 && (p.sleepUntil.IsZero() || l.deadline.Before(p.sleepUntil))
		if cutShort {
			p.sleepUntil = l.deadline
		}
	}
	p.mu.Unlock()
	if cutShort {
		one := [8]byte{1}
		_, _ = unix.Write(p.wakefd, one[:])
	}
}

// ctl adds fd to the epoll set, or re-arms it there.
func (p *poller) ctl(l *loop, fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(uint32(l.id)), Pad: int32(uint32(l.id >> 32))}
	if l.added {
		return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return err
	}
	l.added = true
	return nil
}

// claim takes a waiting loop out of the wait, for the caller to run it;
// false when it was not waiting. p.mu is held.
func (p *poller) claim(l *loop) bool {
	if !l.armed {
		return false
	}
	l.armed = false
	if l.heapAt >= 0 {
		heap.Remove(&p.deadlines, l.heapAt)
	}
	return true
}

// forget drops a loop that ended.
func (p *poller) forget(l *loop) {
	p.mu.Lock()
	delete(p.loops, l.id)
	p.claim(l)
	if l.added {
		_ = l.rc.Control(func(fd uintptr) { _ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
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
	for {
		n, err := unix.EpollWait(p.epfd, events, p.sleepTime())
		if err != nil && err != unix.EINTR {
			panic(fmt.Sprintf("offstack: epoll_wait: %v", err))
		}
		now := time.Now()
		p.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == wakeID {
				var count [8]byte
				_, _ = unix.Read(p.wakefd, count[:])
				continue
			}
			if l := p.loops[id]; l != nil && p.claim(l) {
				ready = append(ready, l)
			}
		}
		for len(p.deadlines) > 0 && !p.deadlines[0].deadline.After(now) {
			l := p.deadlines[0]
			p.claim(l)
			ready = append(ready, l)
		}
		p.mu.Unlock()
		for i, l := range ready {
			Go(l.run)
			ready[i] = nil
		}
		ready = ready[:0]
	}
}

// sleepTime is how long the next wait may last, in epoll's milliseconds,
// rounded up: -1 while no loop has a deadline.
func (p *poller) sleepTime() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.deadlines) == 0 {
		p.sleepUntil = time.Time{}
		return -1
	}
	p.sleepUntil = p.deadlines[0].deadline
	wait := time.Until(p.sleepUntil)
	if wait <= 0 {
		return 0
	}
	return int(min((wait+time.Millisecond-1)/time.Millisecond, math.MaxInt32))
}

// deadlineHeap orders waiting loops by deadline (container/heap).
type deadlineHeap []*loop

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapAt = i
	h[j].heapAt = j
}
func (h *deadlineHeap) Push(x any) {
	l := x.(*loop)
	l.heapAt = len(*h)
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
