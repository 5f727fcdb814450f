// Package connlog gives a connection a logger that works out its
// attributes (the connection's name, the client's address, the account)
// only when a line is logged. slog's Logger.With formats them into a copy
// of the handler at once: a few hundred bytes that an idle connection
// would keep for as long as it lasts, for lines it may never log. A
// connection keeps only its Conn and makes the logger when it logs
// (Conn.Logger): two small allocations per use, none kept.
package connlog

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync/atomic"
)

// Source adds a connection's attributes to each line it logs.
type Source interface {
	LogAttrs(r *slog.Record)
}

// Conn is what a connection's lines say about it: conn=ID (eight hex
// digits), role=Role (when set), remote=Remote and, once Account is set,
// account=Account. The ID is kept as a number and written out only when a
// line is logged: a name string would be one more allocation an idle
// connection keeps.
type Conn struct {
	ID      uint32
	Account atomic.Uint32
	Role    string
	Remote  net.Addr
}

// NewID returns a random ID, to tell a connection's lines from others'.
func NewID() uint32 { return rand.Uint32() }

// name is the ID as the lines write it.
func (c *Conn) name() string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], c.ID)
	return hex.EncodeToString(b[:])
}

// LogAttrs adds the connection's attributes to r.
func (c *Conn) LogAttrs(r *slog.Record) {
	r.AddAttrs(slog.String("conn", c.name()))
	if c.Role != "" {
		r.AddAttrs(slog.String("role", c.Role))
	}
	r.AddAttrs(slog.String("remote", c.Remote.String()))
	if n := c.Account.Load(); n != 0 {
		r.AddAttrs(slog.Any("account", n))
	}
}

// Logger is New(parent, c): the connection's logger, for one use.
func (c *Conn) Logger(parent *slog.Logger) *slog.Logger { return New(parent, c) }

// New returns a logger that logs to parent what parent.With(attrs...)
// would, where attrs are what src adds when the line is logged.
func New(parent *slog.Logger, src Source) *slog.Logger {
	return slog.New(&handler{parent: parent.Handler(), src: src})
}

type handler struct {
	parent slog.Handler
	src    Source
}

func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.parent.Enabled(ctx, level)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	h.src.LogAttrs(&out)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return h.parent.Handle(ctx, out)
}

// attrs are the source's attributes as of now.
func (h *handler) attrs() []slog.Attr {
	var r slog.Record
	h.src.LogAttrs(&r)
	as := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		as = append(as, a)
		return true
	})
	return as
}

// WithAttrs and WithGroup fix the source's attributes as they are now, as
// With would have.
func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return h.parent.WithAttrs(append(h.attrs(), as...))
}

func (h *handler) WithGroup(name string) slog.Handler {
	return h.parent.WithAttrs(h.attrs()).WithGroup(name)
}
