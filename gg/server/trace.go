package server

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/crosstalk-im/crosstalk/gg/wire"
)

// secretPackets are dumped by size only: the seed and the login hash
// together let a reader try passwords offline, and the IMToken signs in to
// the drive.
var secretPackets = map[uint32]bool{
	wire.TypeWelcome:  true,
	wire.TypeLogin105: true,
	wire.TypeIMToken:  true,
}

// trace logs one packet of the wire dump (Config.Trace) going dir.
func (c *conn) trace(ctx context.Context, dir string, typ uint32, body []byte) {
	dump := hex.EncodeToString(body)
	if secretPackets[typ] {
		dump = fmt.Sprintf("[redacted %d bytes]", len(body))
	}
	c.log().Log(ctx, LevelTrace, dir, "packet", wire.TypeName(typ), "bytes", len(body), "body", dump)
}

// packetLabel is a packet type as the metrics name it: every type libgadu
// does not know is "unknown", so a client cannot make new series.
func packetLabel(typ uint32) string {
	if wire.KnownType(typ) {
		return wire.TypeName(typ)
	}
	return "unknown"
}
