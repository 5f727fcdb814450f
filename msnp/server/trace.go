package server

import (
	"bytes"
	"context"
	"strings"

	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// The wire dump (Config.Trace) shows command lines, with the arguments that
// would let a reader log in or walk into a conversation replaced, and
// payloads (messages, invitations with their MSNFTP cookies) by size only.

// traceIn logs a command line read from the client.
func (c *conn) traceIn(ctx context.Context, name string, args []string, payload int) {
	c.log().Log(ctx, LevelTrace, "<<", "line", wire.Redacted(name, args), "payload", payload)
}

// traceOut logs one encoded command written to the client.
func (c *conn) traceOut(b []byte) {
	line, payload, _ := bytes.Cut(b, []byte("\r\n"))
	fields := strings.Fields(string(line))
	if len(fields) == 0 {
		return
	}
	c.log().Log(context.Background(), LevelTrace, ">>", "line", wire.Redacted(fields[0], fields[1:]), "payload", len(payload))
}
