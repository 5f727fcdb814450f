package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/bufpool"
	"github.com/crosstalk-im/crosstalk/internal/connlog"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"github.com/crosstalk-im/crosstalk/internal/outbox"
	"github.com/crosstalk-im/crosstalk/internal/ratelimit"
	"github.com/crosstalk-im/crosstalk/internal/service"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/msnp/p2p"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

type role uint8

const (
	roleNotification role = iota
	roleSwitchboard
)

func (r role) String() string {
	if r == roleSwitchboard {
		return "sb"
	}
	return "ns"
}

// Error is a protocol error: the three-digit reply `code trid`. Fatal
// errors close the connection after the reply.
type Error struct {
	Code  int
	Fatal bool
}

func (e *Error) Error() string { return "msnp error " + strconv.Itoa(e.Code) }

func errCode(code int) error   { return &Error{Code: code} }
func fatalCode(code int) error { return &Error{Code: code, Fatal: true} }
func isCode(err error, code int) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.Code == code
}

// Error codes used by the service (spec §10).
const (
	errSyntax           = 200
	errInvalidParameter = 201
	errNoSuchNetwork    = 204 // a network the service does not reach
	errInvalidUser      = 205
	errAlreadyLoggedIn  = 207
	errInvalidUsername  = 208
	errInvalidName      = 209
	errListFull         = 210
	errAlreadyThere     = 215
	errNotOnList        = 216
	errNotOnline        = 217
	errAlreadyInMode    = 218
	errOppositeList     = 219
	errInvalidGroup     = 224
	errNotInGroup       = 225
	errGroupExists      = 228
	errGroupNameLong    = 229
	errGroupZero        = 230
	errSwitchboardFail  = 280
	errNotLoggedIn      = 302
	errInternal         = 500
	errDisabled         = 502
	errDatabase         = 501
	errServerBusy       = 600
	errChallenge        = 540
	errTooRapid         = 713
	errNotExpected      = 715
	errAuthFailed       = 911
	errNotWhileHidden   = 913
)

// errClose ends the read loop without an error reply.
var errClose = errors.New("close connection")

// handler is one role's state machine.
type handler interface {
	dispatch(ctx context.Context, cmd wire.Command) error
	loggedIn() bool
	end(ctx context.Context)
}

// conn is what the notification and switchboard roles share: the socket,
// its reader and outbox, rate limiting and logging.
type conn struct {
	srv  *Server
	nc   net.Conn
	role role
	// floods counts commands refused in a row for exceeding the rate.
	floods int32
	// logAs is what log says about the connection.
	logAs connlog.Conn
	rd    *wire.Reader
	out   *outbox.Outbox
	rate  ratelimit.Bucket
	// h is the role's state machine; ns the same for the notification
	// role, nil on switchboards.
	h  handler
	ns *nsConn
	// ctx is the context of the commands' calls. On a switchboard it ends
	// when the connection does, and so do the file transfers started
	// there. A notification connection starts no work that outlives a
	// command, and its ctx never ends (see service.CommandContext).
	ctx    context.Context
	cancel context.CancelFunc
	// loginBy ends the handshake: the client must have logged in by then,
	// in Unix nanoseconds (a time.Time would take two words more).
	loginBy int64
}

// log is the connection's logger. It is made for each use, not kept: an
// idle connection keeps only what its lines say about it (logAs).
func (c *conn) log() *slog.Logger { return c.logAs.Logger(c.srv.log) }

// RemoteAddr is the client's address, shown with its hub session.
func (c *conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// handle runs a connection: set up (off this goroutine's stack where it
// would wait for the client: see offstack.Setup), then served by
// offstack, which holds no goroutine for it while its client is idle.
func (s *Server) handle(nc net.Conn, role role) {
	var c *conn
	offstack.Setup(nc, func() { c = s.open(nc, role) })
	if c != nil {
		offstack.Serve(c.rd, c.nc, c.out, c)
	}
}

// open sets a connection up, or closes it and returns nil when the server
// is shutting down.
func (s *Server) open(nc net.Conn, role role) *conn {
	c := &conn{
		srv:     s,
		nc:      nc,
		role:    role,
		rd:      wire.NewReader(nc, s.cfg.Limits, clientPayloadCommands...),
		out:     outbox.New(nc, s.cfg.MaxPendingBytes, s.cfg.WriteTimeout),
		rate:    ratelimit.New(s.cfg.CommandsPerSecond, s.cfg.CommandBurst),
		ctx:     service.CommandContext,
		cancel:  func() {},
		loginBy: time.Now().Add(s.cfg.HandshakeTimeout).UnixNano(),
	}
	c.logAs = connlog.Conn{ID: connlog.NewID(), Role: role.String(), Remote: nc.RemoteAddr()}
	if role == roleSwitchboard {
		c.ctx, c.cancel = context.WithCancel(c.ctx)
	}
	if !s.track(c) {
		_ = nc.Close()
		return nil
	}
	metrics.Connections.WithLabelValues("msnp", role.String()).Inc()
	if role == roleSwitchboard {
		c.h = &sbConn{conn: c, p2pRate: ratelimit.New(s.cfg.P2PChunksPerSecond, s.cfg.P2PChunkBurst)}
	} else {
		n := &nsConn{conn: c}
		c.h = n
		s.mu.Lock()
		c.ns = n
		s.mu.Unlock()
	}
	c.log().Debug("connected")
	return c
}

// End ends the session, then the connection; err is why the loop ended.
func (c *conn) End(err error) {
	// Leaving must not hang on a bus that is down.
	endCtx, endCancel := context.WithTimeout(c.ctx, c.srv.cfg.WriteTimeout)
	c.h.end(endCtx)
	endCancel()
	if err != nil {
		c.log().Debug("disconnected", "reason", err)
	}
	// Whatever was queued still goes out (the last errors a flooding client
	// earned, say); the outbox's write timeout bounds the wait.
	c.out.Finish(c.log(), protocolName)
	c.cancel()
	metrics.Connections.WithLabelValues("msnp", c.role.String()).Dec()
	c.srv.untrack(c)
}

// Arm runs before the first command and after each: the replies to the
// last command, and the events that came while it ran, leave in one
// write (on a switchboard, once the messages the client sent at once are
// all relayed: see sbConn.batch), and the client has until the end of the handshake to log in,
// then the idle timeout for each command.
func (c *conn) Arm() time.Time {
	sc, onSwitchboard := c.h.(*sbConn)
	if onSwitchboard && sc.endBatch(true) {
		// The next command waits whole in the buffer, and its read sets
		// no deadline (see FrameBuffered): idle from when this one was
		// read serves, and spares a clock read for every message a
		// client sent at once.
		return sc.readAt.Add(c.srv.cfg.SwitchboardIdleTimeout)
	}
	c.out.Release()
	idle := c.srv.cfg.IdleTimeout
	if c.role == roleSwitchboard {
		idle = c.srv.cfg.SwitchboardIdleTimeout
	}
	return service.ReadDeadline(c.nc, c.h.loggedIn(), time.Unix(0, c.loginBy), idle)
}

// FrameBuffered reports whether the next command waits whole in the read
// buffer (offstack.FrameBufferer): the commands of a batch then leave the
// read deadline where it is.
func (c *conn) FrameBuffered() bool { return c.rd.CommandBuffered() }

var _ offstack.FrameBufferer = (*conn)(nil)

// Next reads and dispatches one command until the client leaves, breaks
// the protocol, or a handler ends the session (a nil result); done says
// the loop is over.
func (c *conn) Next() (done bool, err error) {
	cmd, err := c.rd.ReadCommand()
	if errors.Is(err, wire.ErrEmptyLine) {
		return false, nil
	}
	if err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			c.log().Info("dropping connection", "err", err)
		}
		return true, err
	}
	now := time.Now()
	if c.srv.cfg.Trace {
		c.traceIn(c.ctx, cmd.Name, cmd.Args, len(cmd.Payload))
	}
	commandsCounted.Of(commandLabel(cmd.Name)).Inc()
	sc, onSwitchboard := c.h.(*sbConn)
	if onSwitchboard {
		sc.readAt = now
		sc.msg = parsedMessage{}
		if cmd.Name == "MSG" {
			sc.msg, _ = parsePayload(cmd.Payload)
		}
	}
	if onSwitchboard && sc.msg.contentType == p2p.ContentType {
		// A file moves in many P2P chunks: they are slowed, not refused.
		time.Sleep(sc.p2pRate.Reserve(now))
	} else if !c.rate.Allow(now) {
		c.floods++
		if int(c.floods) > c.srv.cfg.CommandBurst {
			return true, errors.New("command flood")
		}
		c.replyError(cmd, errTooRapid)
		return false, nil
	}
	c.floods = 0
	c.out.Hold()
	err = c.h.dispatch(c.ctx, cmd)
	if err == nil {
		return false, nil
	}
	if errors.Is(err, errClose) {
		return true, nil
	}
	var pe *Error
	if !errors.As(err, &pe) {
		c.log().Error("command failed", "command", cmd.Name, "err", err)
		pe = &Error{Code: errInternal}
	}
	c.replyError(cmd, pe.Code)
	return pe.Fatal, nil
}

// clientPayloadCommands are the commands from clients that carry a
// payload; one slice shared by every connection's reader.
var clientPayloadCommands = []string{"MSG", "QRY", "UUX", "ADL", "RML", "FQY", "UUN", "UUM"}

// knownCommands keeps the command metric's label set bounded.
var knownCommands = map[string]bool{
	"VER": true, "INF": true, "CVR": true, "USR": true, "SYN": true, "LST": true, "CHG": true,
	"ADD": true, "REM": true, "ADG": true, "RMG": true, "REG": true, "GTC": true, "BLP": true,
	"REA": true, "URL": true, "SND": true, "FND": true, "XFR": true, "QRY": true, "PNG": true,
	"OUT": true, "ANS": true, "CAL": true, "MSG": true, "ADC": true, "SBP": true, "PRP": true,
	"UUX": true, "GCF": true, "ADL": true, "RML": true, "FQY": true, "UUN": true, "UUM": true,
}

func commandLabel(name string) string {
	if knownCommands[name] {
		return name
	}
	return "unknown"
}

func (c *conn) replyError(cmd wire.Command, code int) {
	trid, ok := cmd.TrID()
	if !ok {
		trid = "0"
	}
	metrics.Errors.WithLabelValues("msnp", strconv.Itoa(code)).Inc()
	c.send(strconv.Itoa(code), trid)
}

func (c *conn) send(name string, args ...string) bool {
	return c.writeFrame(nil, func(b []byte) []byte { return wire.AppendCommand(b, name, args...) })
}

func (c *conn) sendPayload(name string, payload []byte, args ...string) {
	c.writeFrame(nil, func(b []byte) []byte { return wire.AppendPayloadCommand(b, name, payload, args...) })
}

// frames are buffers to build commands in: the outbox copies what it does
// not write at once, so a buffer is free again when the write returns (an
// allocation fewer for every ACK and relayed message).
var frames = bufpool.Pool{Max: 4 << 10}

// writeFrame builds a command with build in a pooled buffer and writes it
// as writeTracked does.
func (c *conn) writeFrame(receipt outbox.Receipt, build func([]byte) []byte) bool {
	b := frames.Get()
	*b = build(*b)
	taken := c.writeTracked(*b, receipt)
	frames.Put(b)
	return taken
}

func (c *conn) write(b []byte) bool { return c.writeTracked(b, nil) }

// writeTracked queues b and reports whether the outbox took it; receipt,
// if any, learns whether it was written (see outbox.WriteTracked).
func (c *conn) writeTracked(b []byte, receipt outbox.Receipt) bool {
	if c.srv.cfg.Trace {
		c.traceOut(b)
	}
	return c.out.WriteTracked(b, receipt) == nil
}

// closeWith sends one last command and closes once it is written.
func (c *conn) closeWith(name string, args ...string) {
	b := wire.AppendCommand(nil, name, args...)
	if c.srv.cfg.Trace {
		c.traceOut(b)
	}
	c.out.CloseAfter(b)
}
