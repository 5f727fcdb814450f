package server

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/bufpool"
	"github.com/crosstalk-im/crosstalk/internal/idleread"
	"github.com/crosstalk-im/crosstalk/internal/outbox"
)

// An idle web chat session should cost little more than its socket, as
// the other protocols' sessions do. Left to itself, a WebSocket accepted
// from net/http keeps the HTTP connection's 4 KiB read and write buffers
// for its life (the handler's goroutine, which holds them, runs the
// session), and the WebSocket buffers both ways through them. Instead the
// upgrade hijacks the connection into slimHijacker's buffers: a 16-byte
// bufio pair that the WebSocket frames go through, input read through an
// idleread.Reader (a pooled buffer only while bytes wait) and output
// gathered per batch by a batchWriter (a pooled buffer only while a batch
// is written). The session is then served by offstack, off net/http's
// handler, which returns and lets its connection state go: between
// messages it holds no goroutine.

// slimBufferSize is the bufio size the WebSocket is given, bufio's least:
// frame headers pass through it; payloads mostly go around it.
const slimBufferSize = 16

// slimHijacker is the ResponseWriter the WebSocket is accepted on: its
// Hijack hands out the connection with small buffers.
type slimHijacker struct {
	http.ResponseWriter
	// Set by Hijack.
	out  *batchWriter
	in   *slimReader
	sock net.Conn
}

func (h *slimHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// What the client sent after its handshake, already in net/http's
	// buffer, is read first, before conn.
	left, _ := brw.Reader.Peek(brw.Reader.Buffered())
	sc := &slimConn{Conn: conn, in: idleread.NewReader(conn), left: bytes.Clone(left)}
	// The WebSocket reads sc through ws, whose buffer is all it keeps of
	// its input between messages.
	ws := bufio.NewReaderSize(sc, slimBufferSize)
	h.in, h.out, h.sock = &slimReader{ws: ws, sc: sc}, &batchWriter{conn: conn}, conn
	return sc, bufio.NewReadWriter(ws, bufio.NewWriterSize(h.out, slimBufferSize)), nil
}

// Unwrap lets http.ResponseController reach the server's writer.
func (h *slimHijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// slimConn reads what was left of the handshake, then the hijacked
// connection through an idleread.Reader: it waits for input holding no
// buffer.
type slimConn struct {
	net.Conn
	in   *idleread.Reader
	left []byte
}

func (c *slimConn) Read(p []byte) (int, error) {
	if len(c.left) > 0 {
		n := copy(p, c.left)
		if c.left = c.left[n:]; len(c.left) == 0 {
			c.left = nil
		}
		return n, nil
	}
	c.in.Wait()
	return c.in.Read(p)
}

// slimReader is the session's input as offstack sees it: the bytes read
// and not yet taken are in the WebSocket's buffer (ws), what is left of
// the handshake, and the idleread.Reader's. Two goroutines read: the
// session's (in Next) and the closing handshake's (frames.Close), one at
// a time under the WebSocket's read lock. What offstack does with the
// buffers between the session's reads (Buffered, Release) takes closing,
// which the handshake holds while it reads.
type slimReader struct {
	ws      *bufio.Reader
	sc      *slimConn
	closing sync.Mutex
}

// Wait waits for the socket to be readable, holding no buffer; where that
// cannot be done without reading (TLS), it returns at once, and the
// session's read waits in Next.
func (r *slimReader) Wait() {
	if r.Buffered() == 0 {
		_ = idleread.WaitReadable(r.sc.Conn)
	}
}

// ReadReady reads what the socket holds without waiting for more: false
// when it holds nothing yet.
func (r *slimReader) ReadReady(rc syscall.RawConn) bool {
	if r.Buffered() > 0 {
		return true
	}
	r.closing.Lock()
	defer r.closing.Unlock()
	return r.sc.in.ReadReady(rc)
}

// MayHaveMore reports whether the socket may hold bytes the last read
// left there.
func (r *slimReader) MayHaveMore() bool {
	r.closing.Lock()
	defer r.closing.Unlock()
	return r.sc.in.MayHaveMore()
}

func (r *slimReader) Buffered() int {
	r.closing.Lock()
	defer r.closing.Unlock()
	return r.ws.Buffered() + len(r.sc.left) + r.sc.in.Buffered()
}

func (r *slimReader) Release() {
	r.closing.Lock()
	r.sc.in.Release()
	r.closing.Unlock()
}

// socketDeadlines gives offstack the socket's read deadline, and the
// outbox's word when the session's reads are to end.
type socketDeadlines struct {
	sock net.Conn
	out  *outbox.Outbox
}

func (d socketDeadlines) SetReadDeadline(t time.Time) error { return d.sock.SetReadDeadline(t) }

func (d socketDeadlines) WakeReader(w outbox.Waker) { d.out.WakeReader(w) }

// batchWriter is where the WebSocket's frames go. Between begin and end
// (the outbox writing its queue) they gather in a pooled buffer and leave
// in one write; otherwise (the WebSocket answering a ping, closing) they
// go straight out.
type batchWriter struct {
	conn net.Conn

	mu       sync.Mutex
	batching bool
	buf      *[]byte // from batchBuffers while batching
}

// maxBatch is the most a batch gathers before it is written out: the
// pooled buffers stay small.
const maxBatch = 64 << 10

var batchBuffers = bufpool.Pool{Max: maxBatch}

func (w *batchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.batching {
		return w.conn.Write(p)
	}
	if len(*w.buf)+len(p) > maxBatch {
		if err := w.flush(); err != nil {
			return 0, err
		}
		if len(p) > maxBatch {
			return w.conn.Write(p)
		}
	}
	*w.buf = append(*w.buf, p...)
	return len(p), nil
}

// begin starts gathering frames, to be written by deadline unless it is
// zero.
func (w *batchWriter) begin(deadline time.Time) {
	w.mu.Lock()
	_ = w.conn.SetWriteDeadline(deadline)
	w.batching = true
	w.buf = batchBuffers.Get()
	w.mu.Unlock()
}

// end writes what was gathered, by the deadline begin set, and gives the
// buffer back.
func (w *batchWriter) end() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.flush()
	_ = w.conn.SetWriteDeadline(time.Time{})
	w.batching = false
	batchBuffers.Put(w.buf)
	w.buf = nil
	return err
}

// flush writes what was gathered.
func (w *batchWriter) flush() error {
	if len(*w.buf) == 0 {
		return nil
	}
	_, err := w.conn.Write(*w.buf)
	*w.buf = (*w.buf)[:0]
	return err
}
