package node

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/service"
)

// HTTPLimits bound the HTTP service (drive API, metrics, health). Zero
// fields take the defaults; negative ones mean no limit (MaxHeaderBytes:
// net/http's own, 1 MB).
type HTTPLimits struct {
	// IdleTimeout closes a keep-alive connection that waits this long for
	// its next request.
	IdleTimeout time.Duration
	// HeaderTimeout is the time allowed to read a request's headers;
	// MaxHeaderBytes caps their size.
	HeaderTimeout  time.Duration
	MaxHeaderBytes int
	// WriteTimeout is the time from a request's headers to its answer
	// beginning.
	WriteTimeout time.Duration
	// StallTimeout cuts a request body or an answer that makes no progress
	// for this long; one that keeps moving (a large upload) runs as long
	// as it needs.
	StallTimeout time.Duration
	// MaxConnsPerAddr caps the connections from one address; the total
	// is Options.Admission.MaxConns.
	MaxConnsPerAddr int
}

// Defaults of the zero HTTPLimits fields.
const (
	DefaultHTTPIdleTimeout     = 2 * time.Minute
	DefaultHTTPHeaderTimeout   = 10 * time.Second
	DefaultHTTPMaxHeaderBytes  = 64 << 10
	DefaultHTTPWriteTimeout    = time.Minute
	DefaultHTTPStallTimeout    = 30 * time.Second
	DefaultHTTPMaxConnsPerAddr = 20
)

func (h *HTTPLimits) defaults() {
	orDefault(&h.IdleTimeout, DefaultHTTPIdleTimeout)
	orDefault(&h.HeaderTimeout, DefaultHTTPHeaderTimeout)
	orDefault(&h.MaxHeaderBytes, DefaultHTTPMaxHeaderBytes)
	orDefault(&h.WriteTimeout, DefaultHTTPWriteTimeout)
	orDefault(&h.StallTimeout, DefaultHTTPStallTimeout)
	orDefault(&h.MaxConnsPerAddr, DefaultHTTPMaxConnsPerAddr)
}

func orDefault[T int | time.Duration](v *T, d T) {
	if *v == 0 {
		*v = d
	}
}

// listenerOptions caps the HTTP listener's connections in total as the
// protocols' are, and per address by its own setting.
func (h HTTPLimits) listenerOptions(log *slog.Logger, admission service.Limits) service.ListenerOptions {
	h.defaults()
	return service.ListenerOptions{
		Logger:  log,
		Limits:  service.Limits{MaxConns: admission.MaxConns, MaxConnsPerAddr: h.MaxConnsPerAddr},
		NoLogin: true,
	}
}

// server's own complaints (failed TLS handshakes, accept errors, a
// handler's panic) go to the node's structured log rather than to the
// standard logger's stderr; strangers cause most of them, so at Info.
func (h HTTPLimits) server(handler http.Handler, log *slog.Logger) *http.Server {
	h.defaults()
	return &http.Server{
		ErrorLog:          slog.NewLogLogger(log.With("listener", "http").Handler(), slog.LevelInfo),
		Handler:           boundTransfers(handler, h.StallTimeout),
		IdleTimeout:       h.IdleTimeout,
		ReadHeaderTimeout: h.HeaderTimeout,
		MaxHeaderBytes:    h.MaxHeaderBytes,
		WriteTimeout:      h.WriteTimeout,
	}
}

// boundTransfers gives each read of a request body and each write of an
// answer a deadline stall away: a transfer that keeps moving runs as long
// as it needs, one that stalls is cut (and the drive removes a partial
// upload when its read fails).
func boundTransfers(h http.Handler, stall time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &stallReader{ReadCloser: r.Body, rc: rc, stall: stall}
		}
		sw := &stallWriter{ResponseWriter: w, rc: rc, stall: stall}
		h.ServeHTTP(sw, r)
		// What the handler left buffered goes out after it returns, however
		// long a body it read before. A connection the handler took over
		// (the web chat's WebSocket, which outlives the handler) is its own.
		if !sw.hijacked {
			_ = rc.SetWriteDeadline(time.Now().Add(stall))
		}
	})
}

type stallReader struct {
	io.ReadCloser
	rc    *http.ResponseController
	stall time.Duration
}

func (r *stallReader) Read(p []byte) (int, error) {
	_ = r.rc.SetReadDeadline(time.Now().Add(r.stall))
	n, err := r.ReadCloser.Read(p)
	if err == io.EOF {
		// The body is in: the server's own watch on the connection takes
		// over, and must not see this deadline pass while the handler works.
		_ = r.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

type stallWriter struct {
	http.ResponseWriter
	rc       *http.ResponseController
	stall    time.Duration
	hijacked bool
}

// Hijack hands the connection over, with no deadline left on it.
func (w *stallWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := w.rc.Hijack()
	w.hijacked = err == nil
	return conn, brw, err
}

func (w *stallWriter) WriteHeader(code int) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.stall))
	w.ResponseWriter.WriteHeader(code)
}

func (w *stallWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.stall))
	return w.ResponseWriter.Write(p)
}

// stallChunk is the most of an answer that ReadFrom sends under one write
// deadline: io.Copy's own buffer size, as when every Write got a deadline,
// so that the least progress that keeps a download going is unchanged.
const stallChunk = 32 << 10

// ReadFrom lets io.Copy to the answer (http.ServeContent does it) reach
// the server's own ReadFrom, which sends a file with sendfile, stallChunk
// bytes per write deadline.
func (w *stallWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{w}, src)
	}
	// sendfile looks through one io.LimitedReader to the file, not two:
	// each chunk's limit replaces the caller's.
	left := int64(-1)
	if lr, ok := src.(*io.LimitedReader); ok {
		src, left = lr.R, lr.N
		defer func() { lr.N = left }()
	}
	var sent int64
	for left != 0 {
		chunk := int64(stallChunk)
		if left > 0 {
			chunk = min(chunk, left)
		}
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.stall))
		n, err := rf.ReadFrom(io.LimitReader(src, chunk))
		sent += n
		if left > 0 {
			left -= n
		}
		if err != nil || n < chunk {
			return sent, err
		}
	}
	return sent, nil
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// health is the /healthz answer.
type health struct {
	Status    string                            `json:"status"` // ok or failing
	Bus       string                            `json:"bus"`    // connected or disconnected
	Listeners map[string]service.ListenerStatus `json:"listeners"`
}

// healthz answers 200 while the bus is connected and every listener
// accepts, 503 otherwise, with each listener's state.
func (n *Node) healthz(w http.ResponseWriter) {
	h := n.health()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if h.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(h)
}

// health is the state of the node's bus connection and listeners.
func (n *Node) health() health {
	h := health{Status: "ok", Bus: "connected", Listeners: make(map[string]service.ListenerStatus, len(n.listeners))}
	if !n.Bus.Conn.IsConnected() {
		h.Status, h.Bus = "failing", "disconnected"
	}
	for _, l := range n.listeners {
		st := l.Status()
		h.Listeners[l.Name()] = st
		if st.State != service.StateServing {
			h.Status = "failing"
		}
	}
	return h
}
