package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/mailbox"
	"github.com/crosstalk-im/crosstalk/internal/outbox"
	"github.com/crosstalk-im/crosstalk/internal/ratelimit"
	"github.com/crosstalk-im/crosstalk/internal/service"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/webchat/wire"
)

// conn is one web chat session.
type conn struct {
	srv    *Server
	ws     *websocket.Conn
	frames *frames
	out    *outbox.Outbox
	rate   ratelimit.Bucket
	remote net.Addr
	// id names the connection in its log lines, and account its account
	// once logged in: read without the lock, as lines are logged under it.
	id      uint32
	account atomic.Uint32
	// Used by the reader only: when the client's next message is due (the
	// zero time: never), first the end of its time to log in.
	due time.Time
	// ctx ends when the connection does: it stops background work (file
	// offers waiting for an answer).
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	number   uint32 // the account's, set before it is attached
	presence presenceMode
	// silenced: the client was told "bye" for its silence. The reader's
	// own, beside the fields above to keep the connection small.
	silenced bool
	session  *hub.Session
	held     []hub.Event // presence events that came during the snapshot
	offers   map[string]*offer
	bg       service.Workers
	rereader mailbox.Rereader
}

// presenceMode says what becomes of a contact's presence change.
type presenceMode uint8

const (
	presenceHold presenceMode = iota // the contact list is being read: send it after
	presenceLive                     // send it
)

// errClose ends the read loop after the handler queued its last message.
var errClose = errors.New("close connection")

// open sets a connection up, or closes it and returns nil when the server
// is shutting down.
func (s *Server) open(ws *websocket.Conn, in *slimReader, out *batchWriter, remoteAddr string) *conn {
	remote := addr(remoteAddr)
	f := &frames{ws: ws, in: in, out: out, remote: remote, closed: make(chan struct{})}
	c := &conn{
		srv:    s,
		ws:     ws,
		frames: f,
		out:    outbox.New(f, s.cfg.MaxPendingBytes, s.cfg.WriteTimeout),
		rate:   ratelimit.New(s.cfg.FramesPerSecond, s.cfg.FrameBurst),
		remote: remote,
		id:     mathrand.Uint32(),
		due:    time.Now().Add(s.cfg.LoginTimeout),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if !s.tracker.Track(c) {
		f.closeWith(websocket.StatusGoingAway, "server shutting down")
		<-f.closed
		return nil
	}
	metrics.Connections.WithLabelValues(protocolName, "client").Inc()
	return c
}

// log is the connection's logger, with the account once logged in. It is
// made for each use, not kept: a session idle for hours logs nothing, and
// a kept logger would hold its formatted attributes all that time.
func (c *conn) log() *slog.Logger {
	l := c.srv.log.With("conn", fmt.Sprintf("%08x", c.id), "remote", c.remote.String())
	if n := c.account.Load(); n != 0 {
		l = l.With("account", n)
	}
	return l
}

func (c *conn) sess() *hub.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// Arm runs before the first message and after each: the client has until
// the end of its time to log in (due as open set it), then IdleTimeout for
// each message; once told "bye" for its silence, until the connection
// closes.
func (c *conn) Arm() time.Time {
	switch {
	case c.silenced:
		c.due = time.Time{}
	case c.sess() != nil:
		c.due = time.Now().Add(c.srv.cfg.IdleTimeout)
	}
	return c.due
}

// Next handles one message, or says "bye" to a client whose time ran out
// (offstack runs it once the deadline Arm gave has passed); done says the
// session is over.
func (c *conn) Next() (done bool, err error) {
	if !c.due.IsZero() && !time.Now().Before(c.due) {
		c.silence()
		return false, nil
	}
	typ, data, err := c.ws.Read(context.Background())
	if err != nil {
		if !c.silenced && errors.Is(err, os.ErrDeadlineExceeded) {
			// Where the read itself waits for the client (TLS), the
			// deadline ends it.
			c.silence()
			return false, nil
		}
		return true, err
	}
	if c.silenced {
		return true, errClose // the bye is on its way
	}
	if typ != websocket.MessageText {
		c.frames.closeWith(websocket.StatusUnsupportedData, "text messages only")
		return true, errClose
	}
	// A fast sender is slowed to its allowance; TCP pushes back on it.
	time.Sleep(c.rate.Reserve(time.Now()))
	c.out.Hold()
	err = c.handle(service.CommandContext, data)
	c.out.Release()
	if errors.Is(err, errClose) {
		return true, nil
	}
	if err != nil {
		// The store or the bus failed: say so, and end the session.
		c.fail("", wire.CodeInternal, "the server failed; try again")
		c.out.CloseAfter(nil)
		return true, err
	}
	return false, nil
}

// silence says "bye" to a client whose time ran out.
func (c *conn) silence() {
	reason := "idle timeout"
	if c.sess() == nil {
		reason = "login timeout"
	}
	c.log().Info("dropping silent connection", "reason", reason)
	c.silenced = true
	c.bye(reason)
}

// End ends the session once its last message was handled.
func (c *conn) End(err error) { c.close(err) }

// handle decodes one message and runs it; malformed ones are answered
// with an error.
func (c *conn) handle(ctx context.Context, data []byte) error {
	msg, id, err := wire.Decode(data, c.srv.cfg.MaxFrameBytes)
	if c.srv.cfg.Trace {
		typ := "malformed"
		if msg != nil {
			typ = msg.RequestType()
		}
		c.log().Log(ctx, LevelTrace, "<<", "type", typ, "id", id, "bytes", len(data))
	}
	if err != nil {
		code := wire.CodeBadRequest
		if errors.Is(err, wire.ErrUnknownType) {
			code = wire.CodeUnknownType
		}
		metrics.Commands.WithLabelValues(protocolName, "invalid").Inc()
		c.fail(id, code, err.Error())
		return nil
	}
	return c.dispatch(ctx, msg, id)
}

// close ends the session, then the connection.
func (c *conn) close(err error) {
	switch {
	case err == nil, errors.Is(err, errClose), errors.Is(err, io.EOF):
	case websocket.CloseStatus(err) != -1:
		c.log().Debug("client closed", "status", websocket.CloseStatus(err))
	default:
		c.log().Info("dropping connection", "err", err)
	}
	c.cancel()
	endCtx, endCancel := context.WithTimeout(context.Background(), c.srv.cfg.WriteTimeout)
	c.bg.Stop()
	c.rereader.Stop()
	c.withdrawAll()
	if s := c.sess(); s != nil {
		s.Detach(endCtx)
	}
	endCancel()
	c.out.Finish(c.log(), protocolName)
	<-c.frames.closed
	metrics.Connections.WithLabelValues(protocolName, "client").Dec()
	c.srv.tracker.Untrack(c)
}

// send queues a message for the client. An error means it will not reach
// the client.
func (c *conn) send(v any) error { return c.sendTracked(v, nil) }

// sendTracked queues v; receipt, if any, learns whether it was written.
func (c *conn) sendTracked(v any, receipt outbox.Receipt) error {
	enc, err := wire.Encode(v)
	if err != nil {
		c.log().Error("encode", "err", err) // every value is built here: a bug
		return err
	}
	if c.srv.cfg.Trace {
		c.log().Log(context.Background(), LevelTrace, ">>", "message", fmt.Sprintf("%T", v), "bytes", len(enc))
	}
	return c.out.WriteTracked(append(enc, '\n'), receipt)
}

// fail answers request id with an error.
func (c *conn) fail(id, code, text string) {
	metrics.Errors.WithLabelValues(protocolName, code).Inc()
	_ = c.send(wire.Error{Type: wire.TypeError, ID: id, Code: code, Text: text})
}

// ack answers request id.
func (c *conn) ack(id, result string) {
	_ = c.send(wire.Ack{Type: wire.TypeAck, ID: id, Result: result})
}

// bye queues "bye" as the last message and closes the connection after it.
func (c *conn) bye(reason string) {
	enc, _ := wire.Encode(wire.Bye{Type: wire.TypeBye, Reason: reason})
	c.out.CloseAfter(append(enc, '\n'))
}

// Goodbye tells the client the server is going away, then closes.
func (c *conn) Goodbye() {
	c.frames.setClose(websocket.StatusGoingAway, "server shutting down")
	c.bye("server shutting down")
}

// Close drops the connection.
func (c *conn) Close() { c.out.Close() }

// frames lets the outbox write to a WebSocket: each line it is given (a
// JSON message and its newline) goes out as one text message. The outbox
// coalesces what is queued while a command runs into one Write; the lines
// stay one message each, and leave in one write to the socket (out).
// Reads are the session loop's own (ws.Read).
type frames struct {
	ws     *websocket.Conn
	in     *slimReader
	out    *batchWriter
	remote net.Addr

	mu       sync.Mutex
	deadline int64 // Unix nanoseconds, 0 for none: a smaller record
	code     websocket.StatusCode
	reason   string
	once     sync.Once
	closed   chan struct{} // closed once the closing handshake is over
}

func (f *frames) Write(p []byte) (int, error) {
	f.mu.Lock()
	var deadline time.Time
	if f.deadline != 0 {
		deadline = time.Unix(0, f.deadline)
	}
	f.mu.Unlock()
	// The deadline is the socket's, for the whole batch (see batchWriter):
	// a context would stay with the WebSocket's writer until the next
	// write, kept by an idle session.
	ctx := context.Background()
	f.out.begin(deadline)
	n := 0
	for len(p) > n {
		line := p[n:]
		end := bytes.IndexByte(line, '\n')
		if end >= 0 {
			line = line[:end]
		}
		if len(line) > 0 {
			if err := f.ws.Write(ctx, websocket.MessageText, line); err != nil {
				// The lines before went out if what was gathered did.
				if f.out.end() != nil {
					n = 0
				}
				return n, err
			}
		}
		n += len(line)
		if end >= 0 {
			n++
		}
	}
	if err := f.out.end(); err != nil {
		// Whatever part of the batch reached the client, none is sure to.
		return 0, err
	}
	return n, nil
}

func (f *frames) SetWriteDeadline(t time.Time) error {
	f.mu.Lock()
	f.deadline = 0
	if !t.IsZero() {
		f.deadline = t.UnixNano()
	}
	f.mu.Unlock()
	return nil
}

// setClose chooses the status the connection closes with (normal by default).
func (f *frames) setClose(code websocket.StatusCode, reason string) {
	f.mu.Lock()
	f.code, f.reason = code, reason
	f.mu.Unlock()
}

// closeWith closes the connection with a status now.
func (f *frames) closeWith(code websocket.StatusCode, reason string) {
	f.setClose(code, reason)
	_ = f.Close()
}

// Close runs the closing handshake on a goroutine of its own: the outbox
// calls it holding its lock, and the handshake waits for the client's
// answer. The session's handler waits for it to end (closed). The
// handshake reads the client's answer holding in.closing (see
// slimReader).
func (f *frames) Close() error {
	f.once.Do(func() {
		f.mu.Lock()
		code, reason := f.code, f.reason
		f.mu.Unlock()
		if code == 0 {
			code = websocket.StatusNormalClosure
		}
		go func() {
			defer close(f.closed)
			f.in.closing.Lock()
			defer f.in.closing.Unlock()
			_ = f.ws.Close(code, reason)
		}()
	})
	return nil
}

// The rest of net.Conn: the outbox only reads to linger after a
// half-close, which a WebSocket does not have.
func (f *frames) Read([]byte) (int, error)        { return 0, io.EOF }
func (f *frames) LocalAddr() net.Addr             { return f.remote }
func (f *frames) RemoteAddr() net.Addr            { return f.remote }
func (f *frames) SetDeadline(t time.Time) error   { return f.SetWriteDeadline(t) }
func (f *frames) SetReadDeadline(time.Time) error { return nil }

// addr is a remote address as the HTTP server gave it.
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }

// Deliver turns hub events into messages. It runs on the hub's dispatch
// goroutine and only queues output; what needs the store runs on a
// goroutine of its own.
func (c *conn) Deliver(ev hub.Event) bool {
	switch ev.Kind {
	case hub.EventKick:
		c.bye(ev.Reason.String())
	case hub.EventPresence:
		c.mu.Lock()
		defer c.mu.Unlock()
		if ev.From.Number == c.number {
			return true
		}
		if c.presence == presenceHold {
			if len(c.held) >= 4*c.srv.cfg.Hub.MaxListEntries() {
				return false
			}
			c.held = append(c.held, ev)
			return true
		}
		return c.send(presenceMessage(ev.From, ev.Status, ev.Text)) == nil
	case hub.EventMessage:
		if ev.Message == nil {
			return true
		}
		c.mu.Lock()
		me := c.number
		c.mu.Unlock()
		msg := *ev.Message
		return c.sendTracked(messageOf(ev.From, msg), func(written bool) {
			if !written {
				c.srv.cfg.Hub.Undelivered(me, ev.From, msg, protocolName)
			}
		}) == nil
	case hub.EventTyping:
		return c.send(wire.TypingNotice{Type: wire.TypeTyping, From: accountOf(ev.From), Typing: ev.Typing > 0}) == nil
	case hub.EventMailbox:
		// Before the session is set, the login's own read is still to come.
		if c.sess() != nil {
			c.rereader.Reread(c.srv.cfg.WriteTimeout, c.log(), c.deliverOffline)
		}
	case hub.EventReverseAdded:
		c.request(ev.From)
	case hub.EventFile:
		if ev.Protocol == protocolName {
			c.fileArrived(ev.From, ev.File)
		}
	case hub.EventNotify:
		if id, ok := drive.RejectedAfterUpload(ev.Notification); ok {
			c.fileNotDelivered(id)
		}
	}
	return true
}

// Hub statuses a contact may be shown with are the wire's, by design.
func presenceMessage(from hub.Account, st hub.Status, text string) wire.Presence {
	st = st.Visible()
	if st == hub.StatusOffline {
		text = ""
	}
	return wire.Presence{Type: wire.TypePresence, From: accountOf(from), Status: string(st), Text: text}
}

func messageOf(from hub.Account, m hub.Message) wire.Message {
	return wire.Message{Type: wire.TypeMessage, From: accountOf(from), Text: m.Text, Sent: m.Sent.UTC(), Offline: m.Offline != 0}
}

func accountOf(a hub.Account) wire.Account {
	return wire.Account{Number: a.Number, Email: a.Email, Nick: a.Nick, Name: a.DisplayName}
}

// request shows "request" from someone who put the account on their list,
// unless the account answered them before (they are on its allow or
// block list), which takes a store lookup Deliver may not wait for.
func (c *conn) request(from hub.Account) {
	c.background(func(ctx context.Context, me uint32) {
		rel, err := c.srv.cfg.Hub.Store().Relation(ctx, me, from.Number)
		if err != nil {
			c.log().Warn("contact request", "from", from.Number, "err", err)
			return
		}
		if !rel.OnAllow && !rel.OnBlock {
			_ = c.send(wire.Request{Type: wire.TypeRequest, From: accountOf(from)})
		}
	})
}

// background runs work for the account off the hub's dispatcher, bounded
// by WriteTimeout and by the connection's end.
func (c *conn) background(work func(ctx context.Context, me uint32)) {
	c.mu.Lock()
	me := c.number
	c.mu.Unlock()
	c.bg.Go(func() {
		ctx, cancel := context.WithTimeout(c.ctx, c.srv.cfg.WriteTimeout)
		defer cancel()
		work(ctx, me)
	})
}

// deliverOffline claims what was kept while the account was away and
// sends it; each message leaves the mailbox once written to the socket.
func (c *conn) deliverOffline(ctx context.Context) error {
	s := c.sess()
	waiting, err := s.OfflineMessages(ctx)
	if err != nil {
		return err
	}
	return mailbox.WriteUnacknowledged(ctx, s, c.out, waiting, func(m hub.OfflineMessage, receipt outbox.Receipt) bool {
		return c.sendTracked(messageOf(m.From, m.Message), receipt) == nil
	})
}
