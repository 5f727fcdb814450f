package server

import (
	"fmt"
	"slices"

	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// secretFields are dumped by size only: the login nonce and the login2
// response together let a reader try passwords offline, and message texts
// are private and carry the drive's download links, which anyone holding
// them may use.
var secretFields = []string{"nc", "response", "msg"}

// traceText is m as the wire dump (Config.Trace) shows it.
func traceText(m wire.Message) string {
	shown := slices.Clone(m)
	for i, f := range shown {
		if slices.Contains(secretFields, f.Key) {
			shown[i] = wire.Raw(f.Key, fmt.Sprintf("(%d bytes)", len(f.Value)))
		}
	}
	return shown.String()
}
