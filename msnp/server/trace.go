package server

import (
	"bytes"
	"context"
	"strings"
)

// The wire dump (Config.Trace) shows command lines, with the arguments that
// would let a reader log in or walk into a conversation replaced, and
// payloads (messages, invitations with their MSNFTP cookies) by size only.

// redacted stands for a secret in the wire dump.
const redacted = "[redacted]"

// traceIn logs a command line read from the client.
func (c *conn) traceIn(ctx context.Context, name string, args []string, payload int) {
	c.log.Log(ctx, LevelTrace, "<<", "line", traceLine(name, args), "payload", payload)
}

// traceOut logs one encoded command written to the client.
func (c *conn) traceOut(b []byte) {
	line, payload, _ := bytes.Cut(b, []byte("\r\n"))
	fields := strings.Fields(string(line))
	if len(fields) == 0 {
		return
	}
	c.log.Log(context.Background(), LevelTrace, ">>", "line", traceLine(fields[0], fields[1:]), "payload", len(payload))
}

// traceLine is a command line with its secret argument redacted: the MD5
// salt or response of USR MD5 S (the Passport ticket of USR TWN S), the cookie of XFR SB and RNG (after CKI),
// and the cookie a client presents to a switchboard in USR and ANS.
func traceLine(name string, args []string) string {
	secret := -1
	switch name {
	case "USR":
		switch {
		case len(args) == 4 && (args[1] == "MD5" || args[1] == "TWN") && args[2] == "S":
			secret = 3
		case len(args) == 3: // USR trid email cookie, on a switchboard
			secret = 2
		}
	case "ANS": // ANS trid email cookie session
		if len(args) == 4 {
			secret = 2
		}
	case "XFR", "RNG":
		for i, a := range args {
			if a == "CKI" && i+1 < len(args) {
				secret = i + 1
			}
		}
	}
	out := append([]string{name}, args...)
	if secret >= 0 {
		out[secret+1] = redacted
	}
	return strings.Join(out, " ")
}
