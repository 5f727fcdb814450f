// Package node assembles one Crosstalk server process: the store, the bus,
// the hub, every protocol's listeners and the HTTP service. The command line
// and the end-to-end tests start servers the same way, through Start.
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crosstalk-im/crosstalk/bus"
	"github.com/crosstalk-im/crosstalk/drive"
	ggserver "github.com/crosstalk-im/crosstalk/gg/server"
	"github.com/crosstalk-im/crosstalk/hub"
	imipserver "github.com/crosstalk-im/crosstalk/imip/server"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/internal/service"
	"github.com/crosstalk-im/crosstalk/internal/tlsca"
	"github.com/crosstalk-im/crosstalk/metrics"
	msimserver "github.com/crosstalk-im/crosstalk/msim/server"
	"github.com/crosstalk-im/crosstalk/msnp/abch"
	"github.com/crosstalk-im/crosstalk/msnp/oim"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
	msnpserver "github.com/crosstalk-im/crosstalk/msnp/server"
	"github.com/crosstalk-im/crosstalk/msnp/storage"
	sipserver "github.com/crosstalk-im/crosstalk/sip/server"
	"github.com/crosstalk-im/crosstalk/store"
	"github.com/crosstalk-im/crosstalk/web"
	"github.com/crosstalk-im/crosstalk/webchat"
	webchatserver "github.com/crosstalk-im/crosstalk/webchat/server"
)

// Off disables a listener when given as its address.
const Off = "off"

// Options configure a node. Addresses are host:port, or Off.
type Options struct {
	DataDir string
	// Database is empty for SQLite in DataDir, or the postgres:// URL of
	// a database that several nodes may share.
	Database string
	// Keys are the password and signing keys; what they leave out comes
	// from DataDir.
	Keys store.KeyConfig
	// LoginCacheTTL is how long the store keeps a login record between
	// logins (zero: store.DefaultLoginCacheTTL; negative: none).
	LoginCacheTTL time.Duration
	// SQLitePageCache is store.Config's.
	SQLitePageCache int
	NatsURL         string // empty: embedded NATS
	Logger          *slog.Logger

	MSNPAddr string
	SBAddr   string
	// SBPublicAddr is the switchboard address handed to clients. Empty
	// means: the address the client reached the notification server at,
	// with the switchboard's port.
	SBPublicAddr string
	// NSRedirect makes the MSNP port a dispatch server that refers logins
	// to this notification server address.
	NSRedirect string
	// FTPAddr is the MSNFTP relay's listener; empty or Off: no relay. It
	// carries files between two MSN clients that cannot connect to each
	// other. FTPPublicAddr is its address as clients are told it (empty:
	// the address the receiver reached the switchboard at, with FTPAddr's
	// port); its host is also where clients are told to reach the ports
	// opened for single SIP transfers, and MSN ones with the relay on
	// (behind NAT, the node's public address). RelayAlways passes every file between two MSN clients
	// through the relay.
	FTPAddr       string
	FTPPublicAddr string
	RelayAlways   bool
	GGAddr        string
	// MSIMAddr is MySpaceIM's own listener; empty shares MSNPAddr, where
	// a client that stays silent for MSIMSniff is greeted as MySpaceIM.
	MSIMAddr  string
	MSIMSniff time.Duration
	IMIPAddr  string
	// SIPAddr is SIP over TCP (Office Communicator, pidgin-sipe);
	// SIPTLSAddr SIP over TLS, opened only when SIPTLSCert and SIPTLSKey
	// (PEM files) are both set.
	SIPAddr, SIPTLSAddr   string
	SIPTLSCert, SIPTLSKey string
	HTTPAddr              string
	// PublicHTTPURL is the HTTP service's address as users reach it, such
	// as "https://files.example.net"; download links handed to users of
	// protocols without file transfer start with it. Empty means
	// "http://" (or "https://" with TLS) followed by the bound HTTPAddr.
	PublicHTTPURL string
	// TLSCert and TLSKey, when both set, make the HTTP service HTTPS (GG
	// clients reach the drive only over HTTPS).
	TLSCert, TLSKey string
	// HTTPSAddr, when set, is one more listener of the HTTP service, over
	// TLS with TLSCert and TLSKey: the address (port 443) that the host
	// names MSN clients reach over HTTPS point at (Passport's nexus and
	// login server; see `crosstalk tls ca`). HTTPSLegacy lets Windows XP's
	// TLS 1.0 and its cipher suites in, which MSN Messenger 5–7.5 need.
	HTTPSAddr   string
	HTTPSLegacy bool

	MSNP msnpserver.Config // limits and switches; wiring is filled in
	GG   ggserver.Config   // likewise
	MSIM msimserver.Config
	IMIP imipserver.Config
	SIP  sipserver.Config
	// Webchat is the browser chat's WebSocket service on the HTTP
	// listener (limits; wiring is filled in).
	Webchat        webchatserver.Config
	Drive          drive.Config // limits; wiring is filled in
	Web            web.Config   // sign-up and sessions; wiring is filled in
	MaxListEntries int
	// MaxListRemovals is how many removals from its lists each account
	// keeps (zero: store.DefaultMaxRemovals).
	MaxListRemovals int
	// Mailbox bounds each account's offline messages (zero: hub.DefaultMailbox).
	Mailbox hub.MailboxLimits
	// NodeTimeout is how long another node may go silent before this one
	// may take its sessions out of presence (zero: hub.DefaultNodeTimeout).
	NodeTimeout time.Duration
	// BusReplicas is how many NATS servers keep each shared bucket (zero:
	// one).
	BusReplicas int

	// Admission caps the connections of each protocol listener, each
	// counting its own; HTTP bounds the HTTP service.
	Admission service.Limits
	HTTP      HTTPLimits
	// LoginGuard slows password guessing on every protocol's logins, with
	// one count per address and account for them all.
	LoginGuard loginguard.Config
}

// Node is a running server.
type Node struct {
	Store store.Store
	Bus   *bus.Bus
	Hub   *hub.Hub
	MSNP  *msnpserver.Server
	GG    *ggserver.Server
	MSIM  *msimserver.Server
	IMIP  *imipserver.Server
	SIP   *sipserver.Server
	// Webchat serves the browser chat under /chat/ of the HTTP service.
	Webchat *webchatserver.Server
	Drive   *drive.Server
	Web     *web.Server
	Guard   *loginguard.Guard

	// Bound addresses, for tests that listen on port 0.
	MSNPAddr, SBAddr, FTPAddr, GGAddr, MSIMAddr, IMIPAddr, SIPAddr, SIPTLSAddr, HTTPAddr, HTTPSAddr string

	log *slog.Logger
	// dataLock holds the data directory while the embedded bus runs.
	dataLock *os.File
	stop     context.CancelFunc // ends background work (the drive's sweeper)
	http     *http.Server
	shared   net.Listener // MSNP and MySpaceIM on one port
	// listeners are all the node's listeners, for /healthz.
	listeners []*service.Listener
	wg        sync.WaitGroup

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start opens everything and begins serving. On error, whatever was opened
// is closed again.
func Start(ctx context.Context, o Options) (n *Node, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	n = &Node{log: o.Logger, Guard: loginguard.New(o.LoginGuard)}
	started := n // the error returns below set n to nil
	// listen opens a protocol listener; busy, when set, is how its
	// protocol says "server busy".
	listen := func(name, addr string, busy func(net.Conn)) (*service.Listener, error) {
		return n.listen(name, addr, service.ListenerOptions{Logger: o.Logger, Limits: o.Admission, Busy: busy})
	}
	defer func() {
		if err != nil {
			for _, l := range started.listeners {
				_ = l.Close()
			}
			started.close()
		}
	}()
	if o.NatsURL == "" {
		if n.dataLock, err = lockDataDir(o.DataDir); err != nil {
			return nil, err
		}
	}
	if n.Store, err = store.Open(ctx, store.Config{DataDir: o.DataDir, Database: o.Database, Keys: o.Keys,
		MaxRemovals: o.MaxListRemovals, LoginCacheTTL: o.LoginCacheTTL, SQLitePageCache: o.SQLitePageCache}); err != nil {
		return nil, err
	}
	if n.Bus, err = bus.Open(ctx, bus.Options{URL: o.NatsURL, DataDir: o.DataDir, Logger: o.Logger}); err != nil {
		return nil, err
	}
	if n.Hub, err = hub.New(ctx, hub.Config{
		Store: n.Store, Conn: n.Bus.Conn, JS: n.Bus.JS, Logger: o.Logger, MaxListEntries: o.MaxListEntries,
		Mailbox: o.Mailbox, NodeTimeout: o.NodeTimeout, Replicas: o.BusReplicas, LocalBus: o.NatsURL == "",
	}); err != nil {
		return nil, err
	}
	var listeners []func()
	var msnpCfg *msnpserver.Config
	if o.MSIMAddr != Off {
		cfg := o.MSIM
		cfg.Hub = n.Hub
		cfg.Logger = o.Logger.With("protocol", "msim")
		cfg.Guard = n.Guard
		n.MSIM = msimserver.New(cfg)
	}
	if o.MSNPAddr != Off {
		if o.SBAddr == Off {
			return nil, errors.New("the MSNP service needs a switchboard address")
		}
		msnpBusy := func(nc net.Conn) { n.MSNP.Busy(nc) }
		nsBusy := msnpBusy
		sniff := o.MSIMSniff
		if sniff <= 0 {
			sniff = DefaultMSIMSniff
		}
		if n.MSIM != nil && o.MSIMAddr == "" {
			nsBusy = func(nc net.Conn) { shareMSNPPort(nc, sniff, msnpBusy, n.MSIM.Busy) }
		}
		nsL, err := listen("msnp", o.MSNPAddr, nsBusy)
		if err != nil {
			return nil, err
		}
		sbL, err := listen("msnp-sb", o.SBAddr, msnpBusy)
		if err != nil {
			return nil, err
		}
		n.MSNPAddr, n.SBAddr = nsL.Addr().String(), sbL.Addr().String()
		cfg := o.MSNP
		cfg.Hub = n.Hub
		cfg.Logger = o.Logger.With("protocol", "msnp")
		cfg.Guard = n.Guard
		cfg.NotificationAddr = o.NSRedirect
		cfg.SwitchboardAddr = o.SBPublicAddr
		// Every node verifies the Passport tickets any node issued.
		cfg.Passport.Key = n.Store.DeriveKey("msn passport")
		if cfg.SwitchboardAddr == "" {
			_, port, _ := net.SplitHostPort(n.SBAddr)
			cfg.SwitchboardAddr = ":" + port
		}
		if o.FTPAddr != "" && o.FTPAddr != Off {
			ftpL, err := listen("msnp-ftp", o.FTPAddr, nil)
			if err != nil {
				return nil, err
			}
			n.FTPAddr = ftpL.Addr().String()
			cfg.FTPListener = ftpL
			cfg.FTPPublicAddr = o.FTPPublicAddr
			cfg.RelayAlways = cfg.RelayAlways || o.RelayAlways
			listeners = append(listeners, func() { n.serve("msnp-ftp", n.MSNP.ServeFTP) })
		}
		msnpCfg = &cfg // the server is made once the drive it uses exists
		serveNS := func() error { return n.MSNP.ServeNotification(nsL) }
		if n.MSIM != nil && o.MSIMAddr == "" {
			n.shared, n.MSIMAddr = nsL, n.MSNPAddr
			serveNS = func() error { return n.serveShared(nsL, sniff) }
		}
		listeners = append(listeners,
			func() { n.serve("msnp", serveNS) },
			func() { n.serve("msnp-sb", func() error { return n.MSNP.ServeSwitchboard(sbL) }) })
	}
	if n.MSIM != nil && o.MSIMAddr != "" {
		l, err := listen("msim", o.MSIMAddr, n.MSIM.Busy)
		if err != nil {
			return nil, err
		}
		n.MSIMAddr = l.Addr().String()
		listeners = append(listeners, func() { n.serve("msim", func() error { return n.MSIM.Serve(l) }) })
	}
	if o.GGAddr != Off && o.GGAddr != "" {
		l, err := listen("gg", o.GGAddr, nil) // GG has no "busy" packet
		if err != nil {
			return nil, err
		}
		n.GGAddr = l.Addr().String()
		cfg := o.GG
		cfg.Hub = n.Hub
		cfg.Logger = o.Logger.With("protocol", "gg")
		cfg.Guard = n.Guard
		cfg.TokenKey = n.Store.DeriveKey("gg imtoken")
		n.GG = ggserver.New(cfg)
		listeners = append(listeners, func() { n.serve("gg", func() error { return n.GG.Serve(l) }) })
	}
	if o.IMIPAddr != Off && o.IMIPAddr != "" {
		l, err := listen("imip", o.IMIPAddr, func(nc net.Conn) { n.IMIP.Busy(nc) })
		if err != nil {
			return nil, err
		}
		n.IMIPAddr = l.Addr().String()
		cfg := o.IMIP
		cfg.Hub = n.Hub
		cfg.Logger = o.Logger.With("protocol", "imip")
		cfg.Guard = n.Guard
		n.IMIP = imipserver.New(cfg)
		listeners = append(listeners, func() { n.serve("imip", func() error { return n.IMIP.Serve(l) }) })
	}
	if o.HTTPAddr != Off && o.HTTPAddr != "" {
		l, err := n.listen("http", o.HTTPAddr, o.HTTP.listenerOptions(o.Logger, o.Admission))
		if err != nil {
			return nil, err
		}
		n.HTTPAddr = l.Addr().String()
		cfg := o.Drive
		cfg.Tickets, cfg.Hub, cfg.Dir, cfg.Logger = n.Store, n.Hub, o.DataDir, o.Logger.With("service", "drive")
		cfg.Key = n.Store.DeriveKey("drive")
		cfg.Tokens = noTokens{}
		cfg.PublicURL = o.PublicHTTPURL
		if cfg.PublicURL == "" {
			scheme := "http://"
			if o.TLSCert != "" && o.TLSKey != "" {
				scheme = "https://"
			}
			cfg.PublicURL = scheme + n.HTTPAddr
		}
		if msnpCfg != nil {
			cfg.MSN = msnOfferer{n}
		}
		if n.GG != nil {
			cfg.Tokens = n.GG
		}
		if o.NatsURL != "" {
			// Nodes sharing a bus share the drive's files through it.
			if cfg.Objects, err = drive.OpenObjects(ctx, n.Bus.JS, max(o.BusReplicas, 1)); err != nil {
				return nil, fmt.Errorf("drive: object store: %w", err)
			}
		}
		if n.Drive, err = drive.New(cfg); err != nil {
			return nil, err
		}
		wcfg := o.Webchat
		wcfg.Hub, wcfg.Guard, wcfg.Files = n.Hub, n.Guard, n.Drive
		wcfg.UploadKey = n.Store.DeriveKey("webchat upload")
		wcfg.Logger = o.Logger.With("protocol", "webchat")
		if u, err := url.Parse(cfg.PublicURL); err == nil && u.Host != "" {
			// Pages served under the public address may open the socket
			// when a proxy in front gives the node another Host.
			wcfg.OriginPatterns = append(wcfg.OriginPatterns, u.Host)
		}
		bg, stop := context.WithCancel(context.Background())
		n.stop = stop
		go n.Drive.RunSweeper(bg, time.Hour)
		var tl net.Listener
		if o.HTTPSAddr != "" && o.HTTPSAddr != Off {
			if tl, err = n.listenHTTPS(o); err != nil {
				return nil, err
			}
		}
		// The web pages tell clients about the listeners, HTTPS's included.
		if n.Web, err = n.startWeb(o); err != nil {
			return nil, err
		}
		// A browser signed in to the pages opens the chat with a chat token
		// of its web session (web.Server.ChatToken).
		wcfg.Tokens = webchatserver.TokenFunc(n.Web.ChatTokenOwner)
		n.Webchat = webchatserver.New(wcfg)
		n.http = o.HTTP.server(n.httpHandler(), n.log)
		serveHTTP := func() error { return n.http.Serve(l) }
		if o.TLSCert != "" && o.TLSKey != "" {
			serveHTTP = func() error { return n.http.ServeTLS(l, o.TLSCert, o.TLSKey) }
		}
		listeners = append(listeners, func() { n.serve("http", serveHTTP) })
		if tl != nil {
			listeners = append(listeners, func() { n.serve("https", func() error { return n.http.Serve(tl) }) })
		}
	} else if o.HTTPSAddr != "" && o.HTTPSAddr != Off {
		return nil, errors.New("the HTTPS listener is part of the HTTP service, which is off")
	}
	// SIP comes after the drive, which carries its files.
	if err := n.startSIP(o, listen, &listeners); err != nil {
		return nil, err
	}
	if msnpCfg != nil {
		if n.Drive != nil {
			msnpCfg.Files = n.Drive
		}
		n.MSNP = msnpserver.New(*msnpCfg)
	}
	for _, start := range listeners {
		start()
	}
	return n, nil
}

// listenHTTPS opens the HTTP service's TLS listener.
func (n *Node) listenHTTPS(o Options) (net.Listener, error) {
	if o.TLSCert == "" || o.TLSKey == "" {
		return nil, errors.New("the HTTPS listener needs a certificate and key (crosstalk tls ca makes them)")
	}
	cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("HTTPS certificate: %w", err)
	}
	l, err := n.listen("https", o.HTTPSAddr, o.HTTP.listenerOptions(o.Logger, o.Admission))
	if err != nil {
		return nil, err
	}
	n.HTTPSAddr = l.Addr().String()
	return tls.NewListener(l, tlsca.ServerConfig(cert, o.HTTPSLegacy)), nil
}

// startSIP opens the SIP listeners: TCP unless off, TLS when a
// certificate and key are given.
func (n *Node) startSIP(o Options, listen func(string, string, func(net.Conn)) (*service.Listener, error), listeners *[]func()) error {
	useTLS := o.SIPTLSCert != "" && o.SIPTLSKey != "" && o.SIPTLSAddr != Off && o.SIPTLSAddr != ""
	useTCP := o.SIPAddr != Off && o.SIPAddr != ""
	if !useTCP && !useTLS {
		return nil
	}
	cfg := o.SIP
	cfg.Hub = n.Hub
	cfg.Logger = o.Logger.With("protocol", "sip")
	cfg.Guard = n.Guard
	if n.Drive != nil {
		cfg.Files = n.Drive
	}
	if o.FTPPublicAddr != "" && cfg.FileHost == "" {
		host, _, err := net.SplitHostPort(o.FTPPublicAddr)
		if err != nil {
			return fmt.Errorf("public file address: %w", err)
		}
		cfg.FileHost = host
	}
	n.SIP = sipserver.New(cfg)
	if useTCP {
		l, err := listen("sip", o.SIPAddr, n.SIP.Busy)
		if err != nil {
			return err
		}
		n.SIPAddr = l.Addr().String()
		*listeners = append(*listeners, func() { n.serve("sip", func() error { return n.SIP.Serve(l) }) })
	}
	if useTLS {
		cert, err := tls.LoadX509KeyPair(o.SIPTLSCert, o.SIPTLSKey)
		if err != nil {
			return fmt.Errorf("SIP TLS certificate: %w", err)
		}
		tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		l, err := listen("sip-tls", o.SIPTLSAddr, func(nc net.Conn) { n.SIP.Busy(tls.Server(nc, tc)) })
		if err != nil {
			return err
		}
		n.SIPTLSAddr = l.Addr().String()
		tl := tls.NewListener(l, tc)
		*listeners = append(*listeners, func() { n.serve("sip-tls", func() error { return n.SIP.Serve(tl) }) })
	}
	return nil
}

// listen opens one of the node's listeners, guarded by opt.
func (n *Node) listen(name, addr string, opt service.ListenerOptions) (*service.Listener, error) {
	l, err := service.ListenTCP(context.Background(), addr)
	if err != nil {
		return nil, &ListenError{Listener: name, Addr: addr, Err: err}
	}
	opt.Name = name
	g := service.NewListener(l, opt)
	n.listeners = append(n.listeners, g)
	return g, nil
}

// ListenError says which listener could not open its address.
type ListenError struct {
	Listener string // msnp, msnp-sb, msnp-ftp, msim, gg, imip, sip, sip-tls, http or https
	Addr     string
	Err      error
}

func (e *ListenError) Error() string { return e.Listener + " listener: " + e.Err.Error() }
func (e *ListenError) Unwrap() error { return e.Err }

func (n *Node) serve(name string, run func() error) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		err := run()
		if err != nil && !errors.Is(err, msnpserver.ErrServerClosed) && !errors.Is(err, ggserver.ErrServerClosed) &&
			!errors.Is(err, msimserver.ErrServerClosed) && !errors.Is(err, imipserver.ErrServerClosed) &&
			!errors.Is(err, sipserver.ErrServerClosed) && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("listener stopped", "listener", name, "err", err)
		}
	}()
}

// DefaultMSIMSniff is how long a connection on the shared MSNP port may stay
// silent before it is greeted as MySpaceIM. MSNP clients send VER at once.
const DefaultMSIMSniff = 300 * time.Millisecond

// serveShared accepts on the port MSNP and MySpaceIM share; each
// connection is told apart in its own goroutine.
func (n *Node) serveShared(l net.Listener, sniff time.Duration) error {
	err := service.Serve(l, func(nc net.Conn) { shareMSNPPort(nc, sniff, n.MSNP.ServeConn, n.MSIM.ServeConn) })
	if errors.Is(err, net.ErrClosed) {
		return msnpserver.ErrServerClosed
	}
	return err
}

// httpHandler serves MSN's Passport, address book, offline-IM and storage paths,
// metrics and health, the browser chat below /chat/ (its page, WebSocket
// and uploads), the web pages and API under /web/ and /api/, and the GG
// drive API on every other path. The drive reads escaped paths itself (its
// file references contain %2C), so no ServeMux, which would clean them,
// stands before it.
func (n *Node) httpHandler() http.Handler {
	metricsHandler := promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{})
	driveHandler := n.Drive.Handler()
	chatHandler := http.StripPrefix(chatPrefix, webchat.Handler(n.Webchat.Handler(), n.Web.ChatToken))
	webHandler := n.Web.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.EscapedPath()
		switch {
		case passport.Handles(path) || abch.Handles(path) || oim.Handles(path) || storage.Handles(path):
			if n.MSNP == nil {
				http.NotFound(w, r)
				return
			}
			n.msnHandler(path).ServeHTTP(w, r)
		case path == "/metrics":
			metricsHandler.ServeHTTP(w, r)
		case path == "/healthz":
			n.healthz(w)
		case path == chatPrefix || strings.HasPrefix(path, chatPrefix+"/"):
			chatHandler.ServeHTTP(w, r)
		case path == "/" || strings.HasPrefix(path, "/web/") || strings.HasPrefix(path, "/api/"):
			webHandler.ServeHTTP(w, r)
		default:
			driveHandler.ServeHTTP(w, r)
		}
	})
}

// chatPrefix is where the browser chat lives on the HTTP service.
const chatPrefix = "/chat"

// msnHandler is the MSN service answering path: Passport, the address
// book, the offline-IM services or the storage service and its pictures.
func (n *Node) msnHandler(path string) http.Handler {
	switch {
	case abch.Handles(path):
		return n.MSNP.AddressBookHandler()
	case oim.Handles(path):
		return n.MSNP.OfflineMessageHandler()
	case storage.Handles(path):
		return n.MSNP.StorageHandler()
	}
	return n.MSNP.PassportHandler()
}

// msnOfferer hands the drive's files for MSN users to the MSNP server,
// which is made after the drive.
type msnOfferer struct{ n *Node }

func (m msnOfferer) OfferFile(ctx context.Context, from hub.Account, to uint32, t drive.Ticket, open func() (io.ReadCloser, error)) error {
	if m.n.MSNP == nil {
		return errors.New("no MSNP service")
	}
	err := m.n.MSNP.OfferFile(ctx, from, to, t, open)
	if errors.Is(err, msnpserver.ErrNotOnline) {
		return drive.ErrElsewhere
	}
	return err
}

// noTokens stands in for the GG service when it is off: no drive sign-in
// succeeds.
type noTokens struct{}

func (noTokens) TokenOwner(context.Context, string) (uint32, bool) { return 0, false }

// Shutdown tells connected clients the server is going down, waits for them
// to leave (or ctx to expire), and closes everything. Later calls return the
// first one's result.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shutdownOnce.Do(func() { n.shutdownErr = n.shutdown(ctx) })
	return n.shutdownErr
}

func (n *Node) shutdown(ctx context.Context) error {
	var errs []error
	if n.shared != nil {
		_ = n.shared.Close()
	}
	if n.MSNP != nil {
		errs = append(errs, n.MSNP.Shutdown(ctx))
	}
	if n.GG != nil {
		errs = append(errs, n.GG.Shutdown(ctx))
	}
	if n.MSIM != nil {
		errs = append(errs, n.MSIM.Shutdown(ctx))
	}
	if n.IMIP != nil {
		errs = append(errs, n.IMIP.Shutdown(ctx))
	}
	if n.SIP != nil {
		errs = append(errs, n.SIP.Shutdown(ctx))
	}
	if n.Webchat != nil {
		// Its sockets are hijacked: the HTTP server's shutdown does not
		// see them.
		errs = append(errs, n.Webchat.Shutdown(ctx))
	}
	if n.http != nil {
		errs = append(errs, n.http.Shutdown(ctx))
	}
	if n.Drive != nil {
		n.Drive.Close()
	}
	n.wg.Wait()
	n.close()
	return errors.Join(errs...)
}

func (n *Node) close() {
	if n.stop != nil {
		n.stop()
	}
	if n.Hub != nil {
		n.Hub.Close()
	}
	if n.Bus != nil {
		n.Bus.Close()
	}
	if n.Store != nil {
		_ = n.Store.Close()
	}
	if n.dataLock != nil {
		_ = n.dataLock.Close() // last: everything in the directory is closed
	}
}
