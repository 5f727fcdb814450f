package connlog

import (
	"bytes"
	"log/slog"
	"net"
	"testing"
)

// A connection's logger writes what a logger made with With would, the
// attributes as they are when each line is logged, through With and
// WithGroup too; one made for each use (Conn.Logger) the same.
func TestSameLinesAsWith(t *testing.T) {
	var got, want bytes.Buffer
	opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	parent := slog.New(slog.NewTextHandler(&got, opts)).With("listener", "msnp")
	reference := slog.New(slog.NewTextHandler(&want, opts)).With("listener", "msnp")

	c := &Conn{ID: 0x1234, Role: "ns", Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5000}}
	lazy := New(parent, c)
	lazy.Info("connected", "dialect", 7)
	reference.With("conn", "00001234", "role", "ns", "remote", "127.0.0.2:5000").Info("connected", "dialect", 7)
	lazy.Debug("not logged")

	c.Account.Store(42)
	c.Logger(parent).Warn("logged in")
	lazy.With("ticket", 7).WithGroup("file").Info("offer", "size", 9)
	signedIn := reference.With("conn", "00001234", "role", "ns", "remote", "127.0.0.2:5000", "account", uint32(42))
	signedIn.Warn("logged in")
	signedIn.With("ticket", 7).WithGroup("file").Info("offer", "size", 9)

	// Without a role, there is no role attribute.
	New(parent, &Conn{ID: 0xabcdef78, Remote: c.Remote}).Info("connected")
	reference.With("conn", "abcdef78", "remote", "127.0.0.2:5000").Info("connected")

	if got.String() != want.String() {
		t.Fatalf("logged:\n%s\nwant:\n%s", got.String(), want.String())
	}
}
