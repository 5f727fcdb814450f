package node

import (
	"slices"
	"testing"

	"github.com/crosstalk-im/crosstalk/web"
)

// The clients the web pages describe: those whose listeners are open, and
// the names MSN clients need in the hosts file, Passport's once there is
// an HTTPS listener for them.
func TestClientSettings(t *testing.T) {
	n := &Node{MSNPAddr: "0.0.0.0:1863", GGAddr: "0.0.0.0:8074"}
	got := n.ClientSettings()
	if len(got) != 2 || got[0].Login != web.LoginEmail || got[1].Login != web.LoginNumber || got[1].Addr != "0.0.0.0:8074" {
		t.Fatalf("settings %+v", got)
	}
	if !slices.Equal(got[0].HostsNames, []string{"messenger.hotmail.com"}) || got[1].HostsNames != nil {
		t.Fatalf("hosts names without HTTPS: %v, %v", got[0].HostsNames, got[1].HostsNames)
	}
	n.HTTPSAddr = "0.0.0.0:443"
	if names := n.ClientSettings()[0].HostsNames; !slices.Contains(names, "nexus.passport.com") || !slices.Contains(names, "login.passport.com") ||
		!slices.Contains(names, "rsi.hotmail.com") || !slices.Contains(names, "ows.messenger.msn.com") {
		t.Fatalf("hosts names with HTTPS: %v", names)
	}
}
