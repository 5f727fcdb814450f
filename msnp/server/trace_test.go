package server

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/crosstalk-im/crosstalk/internal/testenv"
)

// The wire dump shows the line a connection is closed with too: a
// dispatch server's referral and a refused VER are the whole exchange.
func TestTraceShowsClosingLine(t *testing.T) {
	var logs testenv.LogBuffer
	e := newTestEnv(t, func(c *Config) {
		c.Trace = true
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: LevelTrace}))
		c.NotificationAddr = "192.0.2.7:1863"
	})
	ds := dialRaw(t, e.nsAddr)
	ds.send("VER 1 MSNP7 CVR0\r\nUSR 2 MD5 I alice@example.com\r\n")
	ds.expect("VER 1 MSNP7 CVR0")
	ds.expect("XFR 2 NS 192.0.2.7:1863 0")
	ds.expectClosed()
	old := dialRaw(t, e.nsAddr)
	old.send("VER 1 MSNP1\r\n")
	old.expect("VER 1 0")
	old.expectClosed()

	got := logs.String()
	for _, want := range []string{`msg=>> `, `line="XFR 2 NS 192.0.2.7:1863 0"`, `line="VER 1 0"`} {
		if !strings.Contains(got, want) {
			t.Errorf("the trace lacks %s:\n%s", want, got)
		}
	}
}
