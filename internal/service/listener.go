package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/crosstalk-im/crosstalk/metrics"
)

// Limits cap the connections one listener holds. A zero field takes its
// default; a negative one means no cap.
type Limits struct {
	// MaxConns caps open connections; MaxConnsPerAddr those from one
	// remote address (an IPv6 client's whole /64 counts as one address).
	MaxConns        int
	MaxConnsPerAddr int
	// MaxPreLogin and MaxPreLoginPerAddr are the tighter caps on
	// connections whose client has not logged in yet (see LoggedIn).
	MaxPreLogin        int
	MaxPreLoginPerAddr int
}

// Defaults of the zero Limits fields.
const (
	DefaultMaxConns           = 10000
	DefaultMaxConnsPerAddr    = 100
	DefaultMaxPreLogin        = 1000
	DefaultMaxPreLoginPerAddr = 10
)

// unlimited is what a listener handed to Serve without a Listener around
// it gets: the caps are the node's business, the backoff everyone's.
var unlimited = Limits{-1, -1, -1, -1}

func (l *Limits) defaults() {
	setDefault(&l.MaxConns, DefaultMaxConns)
	setDefault(&l.MaxConnsPerAddr, DefaultMaxConnsPerAddr)
	setDefault(&l.MaxPreLogin, DefaultMaxPreLogin)
	setDefault(&l.MaxPreLoginPerAddr, DefaultMaxPreLoginPerAddr)
}

func setDefault[T int | time.Duration](v *T, d T) {
	if *v == 0 {
		*v = d
	}
}

// over reports whether count has reached a cap (negative: none).
func over(count, limit int) bool { return limit >= 0 && count >= limit }

// ListenerOptions configure a Listener.
type ListenerOptions struct {
	// Name names the listener in logs, metrics and health ("gg").
	Name   string
	Logger *slog.Logger
	Limits Limits
	// NoLogin says the clients here never log in (HTTP): only MaxConns
	// and MaxConnsPerAddr apply.
	NoLogin bool
	// Busy, when set, tells a refused client in its protocol's terms that
	// the server is busy; the connection cannot outlive BusyTimeout
	// (default 5s) and is closed when Busy returns. At most MaxBusy
	// (default 64) answers run at once; beyond that, and without Busy,
	// refused connections are just closed.
	Busy        func(net.Conn)
	BusyTimeout time.Duration
	MaxBusy     int
}

// Accept errors back off from minBackoff, doubling to maxBackoff. A
// listener whose last failure is younger than failingFor reports itself
// failing: while the cause lasts, it fails at least every maxBackoff.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
	failingFor = 3 * maxBackoff
	// logEvery spaces the warnings of one listener, so that a flood
	// cannot flood the log as well.
	logEvery = 10 * time.Second
)

// Listener is a net.Listener that never gives up on its own and admits
// only the connections its Limits allow. Accept retries every error but
// the listener being closed (running out of descriptors, clients that
// hung up while queued), backing off, and reports it in a rate-limited
// warning, a metric and Status.
type Listener struct {
	net.Listener
	opt       ListenerOptions
	log       *slog.Logger
	busySlots chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	mu           sync.Mutex
	conns        int
	preLogin     int
	perAddr      map[netip.Prefix]*addrCount
	closed       bool
	failing      bool
	failingSince time.Time
	lastFailure  time.Time
	lastCause    string
	errLog       throttle
	refusalLog   throttle
}

// addrCount is what an address (or IPv6 /64) holds: its connections keep
// a pointer to it, which takes less room in each than the key.
type addrCount struct {
	key             netip.Prefix
	conns, preLogin int
}

// NewListener guards l.
func NewListener(l net.Listener, o ListenerOptions) *Listener {
	o.Limits.defaults()
	setDefault(&o.BusyTimeout, 5*time.Second)
	setDefault(&o.MaxBusy, 64)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Listener{
		Listener:  l,
		opt:       o,
		log:       o.Logger.With("listener", o.Name),
		busySlots: make(chan struct{}, o.MaxBusy),
		done:      make(chan struct{}),
		perAddr:   make(map[netip.Prefix]*addrCount),
	}
}

// Name is the listener's name from its options.
func (l *Listener) Name() string { return l.opt.Name }

// Close stops accepting.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		close(l.done)
	})
	return l.Listener.Close()
}

// Accept waits for the next connection the limits admit.
func (l *Listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			delay = min(max(2*delay, minBackoff), maxBackoff)
			l.acceptFailed(err, delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		delay = 0
		if c := l.admit(nc); c != nil {
			return c, nil
		}
	}
}

func (l *Listener) acceptFailed(err error, delay time.Duration) {
	cause := causeOf(err)
	metrics.AcceptErrors.WithLabelValues(l.opt.Name, cause).Inc()
	now := time.Now()
	l.mu.Lock()
	if !l.failing {
		l.failing, l.failingSince = true, now
	}
	l.lastFailure, l.lastCause = now, cause
	held, ok := l.errLog.pass(now)
	l.mu.Unlock()
	if ok {
		l.log.Warn("accept failed; retrying", "cause", cause, "err", err, "retry_in", delay, "failures_not_logged", held)
	}
}

// causeOf sorts accept errors into a few classes, for a bounded metric
// label.
func causeOf(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "descriptors"
	case errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.ECONNRESET):
		return "aborted"
	case errors.Is(err, syscall.ENOMEM), errors.Is(err, syscall.ENOBUFS):
		return "memory"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}

// addrKey is what the per-address caps count by: an IPv4 address, or an
// IPv6 client's /64, since one host is commonly given a whole /64.
func addrKey(a net.Addr) netip.Prefix {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}
	}
	ip := tcp.AddrPort().Addr().Unmap().WithZone("")
	bits := ip.BitLen()
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// admit counts nc in, or refuses it and returns nil.
func (l *Listener) admit(nc net.Conn) net.Conn {
	key := addrKey(nc.RemoteAddr())
	lim := l.opt.Limits
	l.mu.Lock()
	l.failing = false
	a := l.perAddr[key]
	if a == nil {
		a = &addrCount{key: key}
	}
	var reason string
	switch {
	case over(a.conns, lim.MaxConnsPerAddr):
		reason = "per_addr"
	case !l.opt.NoLogin && over(a.preLogin, lim.MaxPreLoginPerAddr):
		reason = "prelogin_per_addr"
	case over(l.conns, lim.MaxConns):
		reason = "total"
	case !l.opt.NoLogin && over(l.preLogin, lim.MaxPreLogin):
		reason = "prelogin"
	}
	if reason == "" {
		c := &admittedConn{Conn: nc, l: l, count: a}
		l.perAddr[key] = a
		a.conns++
		l.conns++
		if l.opt.NoLogin {
			c.loggedIn.Store(true)
		} else {
			a.preLogin++
			l.preLogin++
		}
		l.mu.Unlock()
		return c
	}
	held, logIt := l.refusalLog.pass(time.Now())
	l.mu.Unlock()
	metrics.Refused.WithLabelValues(l.opt.Name, reason).Inc()
	if logIt {
		l.log.Warn("refusing connections over a cap", "reason", reason, "remote", nc.RemoteAddr().String(), "refusals_not_logged", held)
	}
	l.refuse(nc)
	return nil
}

// refuse answers busy where the protocol can, in the background, and
// closes nc.
func (l *Listener) refuse(nc net.Conn) {
	if l.opt.Busy == nil {
		_ = nc.Close()
		return
	}
	select {
	case l.busySlots <- struct{}{}:
	default:
		_ = nc.Close()
		return
	}
	go func() {
		defer func() { <-l.busySlots }()
		until := time.Now().Add(l.opt.BusyTimeout)
		_ = nc.SetDeadline(until)
		l.opt.Busy(&boundedConn{Conn: nc, until: until})
		lingeringClose(nc)
	}()
}

// lingeringClose closes nc once the client has had the answer: it shuts
// the sending side and reads what the client still sends, since closing
// with unread input would reset the connection and could discard the
// answer before the client read it. nc's deadline bounds the wait.
func lingeringClose(nc net.Conn) {
	if hc, ok := nc.(interface{ CloseWrite() error }); ok && hc.CloseWrite() == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(nc, 64<<10))
	}
	_ = nc.Close()
}

// boundedConn keeps a busy answer from moving its deadlines past until.
type boundedConn struct {
	net.Conn
	until time.Time
}

func (c *boundedConn) bound(t time.Time) time.Time {
	if t.IsZero() || t.After(c.until) {
		return c.until
	}
	return t
}

func (c *boundedConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.bound(t)) }
func (c *boundedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.bound(t))
}
func (c *boundedConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.bound(t))
}

// SyscallConn offers the socket underneath, as admittedConn does.
func (c *boundedConn) SyscallConn() (syscall.RawConn, error) { return rawConn(c.Conn) }

// rawConn is nc's socket, for wrappers that buffer nothing themselves.
func rawConn(nc net.Conn) (syscall.RawConn, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// admittedConn is counted by its listener until it is closed.
type admittedConn struct {
	net.Conn
	l        *Listener
	count    *addrCount // guarded by l.mu
	loggedIn atomic.Bool
	released bool // guarded by l.mu
}

// NetConn returns the connection underneath, as crypto/tls's does.
func (c *admittedConn) NetConn() net.Conn { return c.Conn }

// ReadFrom passes io.Copy to the connection on to the one underneath, so
// that a file goes out with sendfile when that is a TCP connection.
func (c *admittedConn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }

// SyscallConn offers the socket underneath: the wrapper buffers nothing, so
// a reader may wait on the socket for input (see idleread.WaitReadable).
func (c *admittedConn) SyscallConn() (syscall.RawConn, error) { return rawConn(c.Conn) }

func (c *admittedConn) Close() error {
	l := c.l
	l.mu.Lock()
	if !c.released {
		c.released = true
		a := c.count
		a.conns--
		l.conns--
		if !c.loggedIn.Load() {
			a.preLogin--
			l.preLogin--
		}
		if a.conns == 0 {
			delete(l.perAddr, a.key)
		}
	}
	l.mu.Unlock()
	return c.Conn.Close()
}

func (c *admittedConn) markLoggedIn() {
	if c.loggedIn.Load() {
		return
	}
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.released || c.loggedIn.Load() {
		return
	}
	c.loggedIn.Store(true)
	c.count.preLogin--
	l.preLogin--
}

// LoggedIn tells the Listener that accepted nc that its client has logged
// in, so that it no longer counts against the pre-login caps. It looks
// through connections wrapped around nc that offer NetConn, as
// crypto/tls's do; a connection from elsewhere is ignored. Calling it
// again costs little.
func LoggedIn(nc net.Conn) {
	for {
		if c, ok := nc.(*admittedConn); ok {
			c.markLoggedIn()
			return
		}
		w, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return
		}
		nc = w.NetConn()
	}
}

// CommandContext is the context a connection's commands run under, one
// that never ends: a command is handled to the end whatever becomes of its
// connection meanwhile, and a context that could end would keep what the
// command's calls derive from it (a Done channel, a map of children) for
// as long as the connection lasts, some 450 bytes per idle session.
var CommandContext = context.Background()

// ReadDeadline is when a connection's next read is to give up: loginBy
// while its client has not logged in, then idle from now. It tells the
// listener of a logged-in client so (see LoggedIn).
func ReadDeadline(nc net.Conn, loggedIn bool, loginBy time.Time, idle time.Duration) time.Time {
	if !loggedIn {
		return loginBy
	}
	LoggedIn(nc)
	return time.Now().Add(idle)
}

// Listener states in Status.
const (
	StateServing = "serving"
	StateFailing = "failing" // accepting fails; retrying
	StateClosed  = "closed"
)

// ListenerStatus is a listener's health.
type ListenerStatus struct {
	State string `json:"state"`
	// Cause is the class of the last accept error and Since when the
	// failures began, while failing.
	Cause string    `json:"cause,omitempty"`
	Since time.Time `json:"since,omitzero"`
}

// Status reports whether the listener is accepting.
func (l *Listener) Status() ListenerStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return ListenerStatus{State: StateClosed}
	case l.failing && time.Since(l.lastFailure) < failingFor:
		return ListenerStatus{State: StateFailing, Cause: l.lastCause, Since: l.failingSince}
	}
	return ListenerStatus{State: StateServing}
}

// Serve accepts on l and runs handle for each connection in its own
// goroutine until l is closed, and returns the error that ended it. A
// listener that is not a Listener gets one without caps, so every accept
// loop retries the same way.
func Serve(l net.Listener, handle func(net.Conn)) error {
	g, ok := l.(*Listener)
	if !ok {
		g = NewListener(l, ListenerOptions{Name: "unnamed", Limits: unlimited})
	}
	for {
		nc, err := g.Accept()
		if err != nil {
			return err
		}
		go handle(nc)
	}
}

// throttle passes one event per logEvery and counts those it holds back.
type throttle struct {
	next time.Time
	held int
}

func (t *throttle) pass(now time.Time) (held int, ok bool) {
	if now.Before(t.next) {
		t.held++
		return 0, false
	}
	held, t.held = t.held, 0
	t.next = now.Add(logEvery)
	return held, true
}
