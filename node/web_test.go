package node

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/crosstalk-im/crosstalk/internal/tlsca"

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
		!slices.Contains(names, "rsi.hotmail.com") || !slices.Contains(names, "ows.messenger.msn.com") ||
		!slices.Contains(names, "contacts.msn.com") || !slices.Contains(names, "local-bay.contacts.msn.com") ||
		!slices.Contains(names, "storage.msn.com") || !slices.Contains(names, "login.live.com") {
		t.Fatalf("hosts names with HTTPS: %v", names)
	}
}

// TestMSNHostNamesEverywhere: every HTTPS name the web pages put on the
// hosts-file line is on the certificate `crosstalk tls ca` makes and on
// the README's hosts-file line.
func TestMSNHostNamesEverywhere(t *testing.T) {
	names := (&Node{HTTPSAddr: "0.0.0.0:443"}).msnHostsNames()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(readme), "\n") {
		if strings.Contains(l, "203.0.113.7  messenger.hotmail.com") {
			line = l
		}
	}
	readmeNames := strings.Fields(line)
	for _, name := range names {
		if !slices.Contains(readmeNames, name) {
			t.Errorf("%s is not on the README's hosts-file line %q", name, line)
		}
		if name == "messenger.hotmail.com" { // the dispatch server: MSNP, no TLS
			continue
		}
		if !slices.ContainsFunc(tlsca.MSNHostNames, func(pattern string) bool { return certNameMatches(pattern, name) }) {
			t.Errorf("%s is not on the certificate's names %v", name, tlsca.MSNHostNames)
		}
	}
}

// certNameMatches is how TLS clients match a certificate's name: a
// leading "*." stands for exactly one label.
func certNameMatches(pattern, name string) bool {
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		label, parent, found := strings.Cut(name, ".")
		return found && label != "" && parent == rest
	}
	return pattern == name
}
