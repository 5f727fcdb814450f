package node

import (
	"strings"

	"github.com/crosstalk-im/crosstalk/msnp/abch"
	"github.com/crosstalk-im/crosstalk/msnp/oim"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
	"github.com/crosstalk-im/crosstalk/msnp/storage"
	"github.com/crosstalk-im/crosstalk/web"
)

// ClientSettings lists the clients this node serves, with their
// listeners; those whose listener is off are left out.
func (n *Node) ClientSettings() []web.ClientSetting {
	var out []web.ClientSetting
	for _, c := range []web.ClientSetting{
		{Client: "MSN Messenger, aMSN, Pidgin (MSN)", Addr: n.MSNPAddr, Login: web.LoginEmail, HostsNames: n.msnHostsNames()},
		{Client: "Gadu-Gadu (Pidgin: GG server)", Addr: n.GGAddr, Login: web.LoginNumber},
		{Client: "MySpaceIM (Pidgin: server, port)", Addr: n.MSIMAddr, Login: web.LoginEmail},
		{Client: "IMIP", Addr: n.IMIPAddr, Login: web.LoginNumber},
		{Client: "Office Communicator (Pidgin: TCP)", Addr: n.SIPAddr, Login: web.LoginEmail},
		{Client: "Office Communicator (Pidgin: TLS)", Addr: n.SIPTLSAddr, Login: web.LoginEmail},
	} {
		if c.Addr != "" {
			out = append(out, c)
		}
	}
	return out
}

// msnHostsNames are the names MSN clients find by themselves: the
// dispatch server, and with the HTTPS listener Passport's sign-in servers
// (MSN Messenger 5 to 7.5; README: Passport over HTTPS), and the token,
// address book, offline-IM and storage services (Windows Live Messenger).
func (n *Node) msnHostsNames() []string {
	names := []string{"messenger.hotmail.com"}
	if n.HTTPSAddr != "" {
		names = append(names, "nexus.passport.com", passport.LoginHost, passport.TokenHost)
		names = append(names, abch.Hosts...)
		names = append(names, oim.RSIHost, oim.StoreHost, storage.Host, storage.RedirectHost)
	}
	return names
}

// startWeb makes the web pages and API of the HTTP service.
func (n *Node) startWeb(o Options) (*web.Server, error) {
	cfg := o.Web
	cfg.Store, cfg.Hub, cfg.Guard = n.Store, n.Hub, n.Guard
	cfg.Logger = o.Logger.With("service", "web")
	cfg.Key = n.Store.DeriveKey("web")
	// Behind a proxy that ends TLS, the public URL says the browser's
	// side is HTTPS.
	cfg.Secure = cfg.Secure || o.TLSCert != "" && o.TLSKey != "" || strings.HasPrefix(o.PublicHTTPURL, "https://")
	cfg.Health = func() any { return n.health() }
	cfg.Clients = n.ClientSettings()
	return web.New(cfg)
}
