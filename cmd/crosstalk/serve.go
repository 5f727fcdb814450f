package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	ggserver "github.com/crosstalk-im/crosstalk/gg/server"
	"github.com/crosstalk-im/crosstalk/hub"
	imipserver "github.com/crosstalk-im/crosstalk/imip/server"
	"github.com/crosstalk-im/crosstalk/internal/gctune"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/internal/service"
	msimserver "github.com/crosstalk-im/crosstalk/msim/server"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
	msnpserver "github.com/crosstalk-im/crosstalk/msnp/server"
	"github.com/crosstalk-im/crosstalk/node"
	sipserver "github.com/crosstalk-im/crosstalk/sip/server"
	sipwire "github.com/crosstalk-im/crosstalk/sip/wire"
	"github.com/crosstalk-im/crosstalk/store"
	"github.com/crosstalk-im/crosstalk/web"
	webchatserver "github.com/crosstalk-im/crosstalk/webchat/server"
)

type serveCmd struct {
	storeFlags
	Nats        string `help:"URL of an external NATS server or cluster; empty starts one inside the process."`
	BusReplicas int    `help:"With --nats: how many NATS servers keep each bucket of shared state (3 for a cluster that must outlive the loss of one)." default:"1"`
	Demo        bool   `help:"Create two demo accounts (if missing) and print their passwords."`

	MsnpAddr      string `help:"MSNP dispatch/notification listener, or 'off'." default:"0.0.0.0:1863" group:"addresses"`
	SbAddr        string `help:"MSNP switchboard listener." default:"0.0.0.0:1864" group:"addresses"`
	SbPublicAddr  string `help:"Switchboard address given to clients; empty: the address each client reached the server at." group:"addresses"`
	FtpAddr       string `help:"MSNFTP relay listener (files between MSN clients that cannot connect directly), or 'off'." default:"0.0.0.0:6891" group:"addresses"`
	FtpPublicAddr string `help:"Address clients reach this node's file ports at (behind NAT, the public one): the MSNFTP relay's and, by its host, the ports opened for single SIP file transfers (and MSN ones, with the relay on); empty: the address each client reached the server at, with the relay's port." group:"addresses"`
	RelayAlways   bool   `help:"Pass every file between two MSN clients through the MSNFTP relay." group:"msn"`
	NsRedirect    string `help:"Make the MSNP port a dispatch server referring logins (XFR NS) to this notification server address." group:"addresses"`
	GgAddr        string `help:"Gadu-Gadu listener, or 'off'." default:"0.0.0.0:8074" group:"addresses"`
	MsimAddr      string `help:"MySpaceIM listener of its own, or 'off'; empty shares the MSNP port." group:"addresses"`
	ImipAddr      string `help:"IMUnified (IMIP) listener, or 'off'." default:"0.0.0.0:11319" group:"addresses"`
	SipAddr       string `help:"SIP listener over TCP (Office Communicator, pidgin-sipe), or 'off'." default:"0.0.0.0:5060" group:"addresses"`
	SipTlsAddr    string `help:"SIP listener over TLS, opened when --sip-tls-cert and --sip-tls-key are given, or 'off'." default:"0.0.0.0:5061" group:"addresses"`
	SipTlsCert    string `help:"Certificate file (PEM) for SIP over TLS." type:"existingfile" group:"addresses"`
	SipTlsKey     string `help:"Key file (PEM) for SIP over TLS." type:"existingfile" group:"addresses"`
	HttpAddr      string `help:"HTTP listener (GG drive API, chat in the browser at /chat/, metrics, health), or 'off'." default:"0.0.0.0:8080" group:"addresses"`
	PublicUrl     string `help:"Base URL users reach the HTTP listener at (download links for MySpaceIM and IMIP users); empty: http(s)://<http-addr>." group:"addresses"`
	TlsCert       string `help:"Certificate file (PEM) for HTTPS on the HTTP listener." type:"existingfile" group:"addresses"`
	TlsKey        string `help:"Key file (PEM) for HTTPS on the HTTP listener." type:"existingfile" group:"addresses"`
	HttpsAddr     string `help:"HTTPS listener of the HTTP service with --tls-cert/--tls-key (port 443, where MSN's Passport host names point; see 'crosstalk tls ca'), or 'off'." default:"off" group:"addresses"`
	HttpsLegacy   bool   `help:"Let TLS 1.0 and Windows XP's cipher suites in on the HTTPS listener (MSN Messenger 5 to 7.5 need them)." default:"true" negatable:"" group:"addresses"`

	MsnpChallenge        bool          `help:"Send CHL challenges after MSNP login and require a correct QRY." group:"msn"`
	MsnpTicketLifetime   time.Duration `help:"How long a Passport ticket (MSNP8+ sign-in) stays valid." default:"24h" group:"msn"`
	MsnpRenewalLifetime  time.Duration `help:"How long the token of an MSNP12+ sign-in renews its expired Passport tickets without the password (Pidgin renews them)." default:"168h" group:"msn"`
	MsnpMaxPersonal      int           `help:"Largest MSNP11+ personal message and current media together." default:"1KiB" type:"size" group:"msn"`
	MsnpMaxPicture       int           `help:"Largest display picture the storage service (WLM 8.5/2009 roaming profile) keeps per account." default:"256KiB" type:"size" group:"msn"`
	MsnpTrace            bool          `help:"Log every MSNP line in and out (at log level trace)." group:"msn"`
	MsnpMaxLine          int           `help:"Longest MSNP command line." default:"1KiB" type:"size" group:"msn"`
	MsnpMaxMessage       int           `help:"Largest switchboard MSG payload." default:"1664" type:"size" group:"msn"`
	MsnpCommandRate      float64       `help:"Commands per second a client may send (sustained)." default:"20" group:"msn"`
	MsnpCommandBurst     int           `help:"Commands a client may send in a burst." default:"60" group:"msn"`
	MsnpP2pRate          float64       `help:"P2P messages (file and display picture chunks) per second read from a switchboard client; more are read more slowly." default:"500" group:"msn"`
	MsnpP2pBurst         int           `help:"P2P messages a switchboard client may send in a burst." default:"200" group:"msn"`
	MsnpHandshakeTimeout time.Duration `help:"Time allowed from connecting to a finished login." default:"60s" group:"msn"`
	MsnpIdleTimeout      time.Duration `help:"Close notification connections silent for this long." default:"30m" group:"msn"`
	MsnpSbIdleTimeout    time.Duration `help:"Close switchboard connections silent for this long." default:"15m" group:"msn"`
	GgTrace              bool          `help:"Log every GG packet in and out (at log level trace)." group:"gg"`
	GgMaxPacket          int           `help:"Largest GG packet body." default:"64KiB" type:"size" group:"gg"`
	GgPacketRate         float64       `help:"GG packets per second a client may send (sustained)." default:"20" group:"gg"`
	GgPacketBurst        int           `help:"GG packets a client may send in a burst." default:"100" group:"gg"`
	GgLoginTimeout       time.Duration `help:"Time allowed from connecting to a finished GG login." default:"30s" group:"gg"`
	GgIdleTimeout        time.Duration `help:"Close GG connections silent for this long." default:"5m" group:"gg"`
	MsimSniff            time.Duration `help:"On the shared MSNP port, how long a silent connection waits before it is greeted as MySpaceIM." default:"300ms" group:"msim"`
	MsimTrace            bool          `help:"Log every MySpaceIM message in and out (at log level trace)." group:"msim"`
	MsimMaxMessage       int           `help:"Largest MySpaceIM message." default:"64KiB" type:"size" group:"msim"`
	MsimLoginTimeout     time.Duration `help:"Time allowed from connecting to a finished MySpaceIM login." default:"60s" group:"msim"`
	MsimIdleTimeout      time.Duration `help:"Close MySpaceIM connections silent for this long (clients send no keep-alives)." default:"2h" group:"msim"`
	MsimMessageRate      float64       `help:"MySpaceIM messages per second a client may send (sustained); a faster client is slowed." default:"20" group:"msim"`
	MsimMessageBurst     int           `help:"MySpaceIM messages a client may send in a burst." default:"100" group:"msim"`
	ImipTrace            bool          `help:"Log every IMIP block in and out (at log level trace)." group:"imip"`
	ImipBlockRate        float64       `help:"IMIP blocks per second a client may send (sustained); a faster client is slowed." default:"20" group:"imip"`
	ImipBlockBurst       int           `help:"IMIP blocks a client may send in a burst." default:"100" group:"imip"`
	SipTrace             bool          `help:"Log every SIP message in and out (at log level trace; no passwords, signatures or message text)." group:"sip"`
	SipTargetName        string        `help:"The server's name in SIP sign-in (NTLM target name); empty: the host name." group:"sip"`
	SipKeepAlive         time.Duration `help:"Keep-alive interval SIP clients are told to use when otherwise silent." default:"5m" group:"sip"`
	SipRegisterExpires   time.Duration `help:"Lifetime of a SIP registration; clients renew it 30 seconds before." default:"2h" group:"sip"`
	SipLoginTimeout      time.Duration `help:"Time allowed from connecting to a finished SIP sign-in." default:"60s" group:"sip"`
	SipIdleTimeout       time.Duration `help:"Close signed-in SIP connections silent for this long." default:"15m" group:"sip"`
	SipRequestTimeout    time.Duration `help:"How long a SIP client may take to answer the server's request (a message brought to it) before it is taken for gone." default:"30s" group:"sip"`
	SipMaxMessage        int           `help:"Largest body of a SIP message from a client." default:"128KiB" type:"size" group:"sip"`
	SipMaxHeader         int           `help:"Largest header section of a SIP message from a client." default:"16KiB" type:"size" group:"sip"`
	SipMaxHeaders        int           `help:"Most header lines of a SIP message from a client." default:"64" group:"sip"`
	SipMaxSessions       int           `help:"Most IM sessions one SIP connection holds; the longest idle one ends to make room." default:"64" group:"sip"`
	SipMessageRate       float64       `help:"SIP requests per second a client may send (sustained)." default:"20" group:"sip"`
	SipMessageBurst      int           `help:"SIP requests a client may send in a burst." default:"100" group:"sip"`
	SipMaxFileTransfers  int           `help:"Most file invitations, both ways, one SIP connection has under way." default:"8" group:"sip"`
	SipFileAnswerTimeout time.Duration `help:"How long a file offer to or from a SIP user waits for its answer." default:"2m" group:"sip"`
	SipFileTimeout       time.Duration `help:"How long a SIP client may take to connect for a file, and for each step of the transfer." default:"30s" group:"sip"`
	WebchatTrace         bool          `help:"Log every web chat message in and out, by type and size (at log level trace)." group:"webchat"`
	WebchatMaxMessage    int           `help:"Largest web chat message (one JSON object) from a browser or bot." default:"128KiB" type:"size" group:"webchat"`
	WebchatMessageRate   float64       `help:"Web chat messages per second a client may send (sustained); a faster client is slowed." default:"20" group:"webchat"`
	WebchatMessageBurst  int           `help:"Web chat messages a client may send in a burst." default:"100" group:"webchat"`
	WebchatMaxPending    int           `help:"Output that may wait for a web chat client that stopped reading before it is dropped." default:"1MiB" type:"size" group:"webchat"`
	WebchatLoginTimeout  time.Duration `help:"Time allowed from opening the web chat socket to a finished login." default:"30s" group:"webchat"`
	WebchatIdleTimeout   time.Duration `help:"Close web chat sessions silent for this long (the page pings every minute)." default:"3m" group:"webchat"`
	WebchatFileAnswer    time.Duration `help:"How long a web chat file offer waits for a GG recipient's answer, and then for its upload." default:"2m" group:"webchat"`
	DriveMaxFile         int64         `help:"Largest file the drive takes." default:"100MiB" type:"size" group:"files"`
	DriveQuota           int64         `help:"Bytes of files one account may have in the drive (negative: no limit)." default:"1GiB" type:"size" group:"files"`
	DriveLifetime        time.Duration `help:"How long a file ticket lives." default:"7d" group:"files"`
	WebRegistration      string        `help:"Who may sign up on the web page: open, invite (with a code from 'crosstalk invite new' or the admin API) or closed." default:"closed" enum:"open,invite,closed" group:"web"`
	WebSignupsPerAddr    int           `help:"Most web sign-ups from one address (IPv6: one /64) within --web-signup-window (negative: no limit)." default:"3" group:"web"`
	WebSignupWindow      time.Duration `help:"The period --web-signups-per-addr counts over." default:"24h" group:"web"`
	WebMinPassword       int           `help:"Fewest characters of a password chosen on the web." default:"${min_password_length}" group:"web"`
	WebSessionLifetime   time.Duration `help:"How long a web sign-in (or admin API token) lasts." default:"7d" group:"web"`
	WebMaxSessions       int           `help:"Most web sign-ins (and API tokens) one account keeps; a new one ends the oldest." default:"20" group:"web"`
	WebChatTokenLifetime time.Duration `help:"How long the single-use token in a browser chat page served to a signed-in browser stays good." default:"1m" group:"web"`
	MaxContacts          int           `help:"Most entries on one contact list." default:"600"`
	MaxListRemovals      int           `help:"Removals from each account's contact lists kept for clients that fetch only what changed (WLM 8.5/2009 address book deltas); a client whose copy is older than the oldest kept fetches everything." default:"1000"`
	MailboxSize          int           `help:"Most offline messages kept for one account." default:"500"`
	MailboxPerSender     int           `help:"Most of those from any one sender, so no one can fill another's mailbox." default:"100"`
	NodeTimeout          time.Duration `help:"With several nodes on one bus: how long a node may go silent before the others take its users offline." default:"6s"`
	ShutdownTimeout      time.Duration `help:"How long to wait for clients to leave on shutdown." default:"10s"`
	SqlitePageCache      int           `help:"Most memory each of the five SQLite connections keeps of the database's pages (without --database); the system's file cache keeps the rest. Emptied while the server is quiet (see --gc-idle-percent): after 19,000 MSN logins, SQLite's default had held about 1 KiB of resident memory per session." default:"2000KiB" type:"size"`
	GcIdlePercent        int           `help:"Lowest GOGC while the server allocates little (idle sessions): resident memory about 1.4× the live heap instead of 2.2× at GOGC's 100, raised back to GOGC within a second when logins or messages come; lowering it also empties SQLite's page cache; 0 keeps GOGC and the cache as they are." default:"25"`
	GcCpuShare           float64       `help:"Share of the machine's CPU (GOMAXPROCS) that collections may take at a GOGC below GOGC's own, by what the last ones cost: the higher, the lower GOGC under load, and the less memory a burst of logins leaves behind in heap spans its garbage shared with the sessions' records." default:"0.05"`

	// Admission control, per listener, and the HTTP service's bounds
	// (README: "Exposing the server").
	MaxConns            int           `help:"Most connections one listener holds (negative: no cap)." default:"10000" group:"exposure"`
	MaxConnsPerAddr     int           `help:"Most connections one listener holds from one address (IPv6: one /64; negative: no cap)." default:"100" group:"exposure"`
	MaxPrelogin         int           `help:"Most connections one listener holds that have not logged in yet (negative: no cap)." default:"1000" group:"exposure"`
	MaxPreloginPerAddr  int           `help:"Most connections one listener holds from one address that have not logged in yet (negative: no cap)." default:"10" group:"exposure"`
	HttpMaxConnsPerAddr int           `help:"Most HTTP connections from one address (negative: no cap)." default:"20" group:"exposure"`
	HttpIdleTimeout     time.Duration `help:"Close HTTP keep-alive connections idle for this long." default:"2m" group:"exposure"`
	HttpHeaderTimeout   time.Duration `help:"Time allowed to send an HTTP request's headers." default:"10s" group:"exposure"`
	HttpMaxHeader       int           `help:"Largest HTTP request header." default:"64KiB" type:"size" group:"exposure"`
	HttpWriteTimeout    time.Duration `help:"Time allowed from an HTTP request's headers to its answer beginning." default:"1m" group:"exposure"`
	HttpStallTimeout    time.Duration `help:"Cut an HTTP upload or download that makes no progress for this long." default:"30s" group:"exposure"`

	// The login guard (internal/loginguard).
	LoginAddressFree   int           `help:"Failed logins from one address (IPv6: one /64) before each further one makes it wait." default:"5" group:"logins"`
	LoginAddressLockAt int           `help:"Failed logins from one address that lock it." default:"20" group:"logins"`
	LoginAddressLock   time.Duration `help:"How long a locked address may not log in." default:"15m" group:"logins"`
	LoginAccountFree   int           `help:"Failed logins to one account before logins to it from places it never logged in from must wait." default:"30" group:"logins"`
	LoginAccountLockAt int           `help:"Failed logins to one account that lock it for places it never logged in from." default:"60" group:"logins"`
	LoginAccountLock   time.Duration `help:"How long a locked account refuses places it never logged in from." default:"5m" group:"logins"`
	LoginDelay         time.Duration `help:"First wait after the free failed logins; each failure doubles it." default:"1s" group:"logins"`
	LoginMaxDelay      time.Duration `help:"Longest wait between failed logins, before the lock." default:"1m" group:"logins"`
	LoginForget        time.Duration `help:"Forget the failed logins of an address or account after this long without one." default:"1h" group:"logins"`
	LoginKnownFor      time.Duration `help:"How long a successful login lets its address past the account's lock." default:"30d" group:"logins"`
	LoginMaxTracked    int           `help:"Most addresses, accounts and known places the login guard tracks, each." default:"100000" group:"logins"`
	LoginLogRate       float64       `help:"Failed-login log lines per second, all protocols together (the others are counted in the next line)." default:"1" group:"logins"`
	LoginLogBurst      int           `help:"Failed-login log lines in a burst." default:"20" group:"logins"`
	LoginCacheTTL      time.Duration `help:"How long a node keeps an account's login record (its password sealed) for its next login. A change made through any node is seen at once; one made behind their backs (crosstalk user passwd on the database) within this. Negative: keep none." default:"10s" group:"logins"`
}

func (c *serveCmd) Run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	keys, err := c.keys()
	if err != nil {
		return err
	}
	n, err := node.Start(ctx, node.Options{
		DataDir:         c.Data,
		Database:        c.Database,
		Keys:            keys,
		LoginCacheTTL:   c.LoginCacheTTL,
		SQLitePageCache: c.SqlitePageCache,
		NatsURL:         c.Nats,
		Logger:          log,
		MSNPAddr:        c.MsnpAddr,
		SBAddr:          c.SbAddr,
		SBPublicAddr:    c.SbPublicAddr,
		NSRedirect:      c.NsRedirect,
		FTPAddr:         c.FtpAddr,
		FTPPublicAddr:   c.FtpPublicAddr,
		RelayAlways:     c.RelayAlways,
		GGAddr:          c.GgAddr,
		MSIMAddr:        c.MsimAddr,
		MSIMSniff:       c.MsimSniff,
		IMIPAddr:        c.ImipAddr,
		HTTPAddr:        c.HttpAddr,
		PublicHTTPURL:   c.PublicUrl,
		TLSCert:         c.TlsCert,
		TLSKey:          c.TlsKey,
		HTTPSAddr:       c.HttpsAddr,
		HTTPSLegacy:     c.HttpsLegacy,
		Drive:           drive.Config{MaxFileBytes: c.DriveMaxFile, QuotaBytes: c.DriveQuota, TicketLifetime: c.DriveLifetime},
		Web:             c.webConfig(),
		MSNP: msnpserver.Config{
			Trace:                  c.MsnpTrace,
			Challenge:              c.MsnpChallenge,
			Passport:               passport.Tickets{Lifetime: c.MsnpTicketLifetime, RenewalLifetime: c.MsnpRenewalLifetime},
			MaxPersonalStatus:      c.MsnpMaxPersonal,
			MaxProfilePicture:      c.MsnpMaxPicture,
			Limits:                 wireLimits(c.MsnpMaxLine),
			MaxMessageBytes:        c.MsnpMaxMessage,
			CommandsPerSecond:      c.MsnpCommandRate,
			CommandBurst:           c.MsnpCommandBurst,
			P2PChunksPerSecond:     c.MsnpP2pRate,
			P2PChunkBurst:          c.MsnpP2pBurst,
			HandshakeTimeout:       c.MsnpHandshakeTimeout,
			IdleTimeout:            c.MsnpIdleTimeout,
			SwitchboardIdleTimeout: c.MsnpSbIdleTimeout,
		},
		GG: ggserver.Config{
			Trace:            c.GgTrace,
			MaxPacketBytes:   c.GgMaxPacket,
			PacketsPerSecond: c.GgPacketRate,
			PacketBurst:      c.GgPacketBurst,
			LoginTimeout:     c.GgLoginTimeout,
			IdleTimeout:      c.GgIdleTimeout,
		},
		MSIM:            c.msimConfig(),
		IMIP:            c.imipConfig(),
		Webchat:         c.webchatConfig(),
		SIPAddr:         c.SipAddr,
		SIPTLSAddr:      c.SipTlsAddr,
		SIPTLSCert:      c.SipTlsCert,
		SIPTLSKey:       c.SipTlsKey,
		SIP:             c.sipConfig(),
		MaxListEntries:  c.MaxContacts,
		MaxListRemovals: c.MaxListRemovals,
		Mailbox:         hub.MailboxLimits{Total: c.MailboxSize, PerSender: c.MailboxPerSender},
		NodeTimeout:     c.NodeTimeout,
		BusReplicas:     c.BusReplicas,
		LoginGuard:      c.loginGuard(),
		Admission: service.Limits{
			MaxConns:           c.MaxConns,
			MaxConnsPerAddr:    c.MaxConnsPerAddr,
			MaxPreLogin:        c.MaxPrelogin,
			MaxPreLoginPerAddr: c.MaxPreloginPerAddr,
		},
		HTTP: node.HTTPLimits{
			IdleTimeout:     c.HttpIdleTimeout,
			HeaderTimeout:   c.HttpHeaderTimeout,
			MaxHeaderBytes:  c.HttpMaxHeader,
			WriteTimeout:    c.HttpWriteTimeout,
			StallTimeout:    c.HttpStallTimeout,
			MaxConnsPerAddr: c.HttpMaxConnsPerAddr,
		},
	})
	if err != nil {
		return flagError(err)
	}
	go gctune.Run(ctx, gctune.Config{IdlePercent: c.GcIdlePercent, CPUShare: c.GcCpuShare, Release: releaseStoreMemory(ctx, n.Store, log)}, log)
	var demos []demoAccount
	if c.Demo {
		if demos, err = createDemoAccounts(ctx, n.Store); err != nil {
			log.Error("demo accounts", "err", err)
		}
	}
	accounts, err := n.Store.Accounts(ctx)
	if err == nil && len(accounts) == 0 {
		where := "--data " + c.Data
		if c.Database != "" {
			where = "--database URL (with this node's keys)"
		}
		fmt.Fprintf(os.Stderr, "No accounts yet. Add one with:\n  crosstalk user add %s --email you@example.com --password SECRET --name \"Your Name\"\nor restart with --demo for two ready-made accounts.\n", where)
	}
	database := "sqlite" // the URL may hold a password: it is never logged
	if c.Database != "" {
		database = "postgresql"
	}
	log.Info("serving", "msnp", n.MSNPAddr, "switchboard", n.SBAddr, "msnftp-relay", n.FTPAddr, "gg", n.GGAddr, "msim", n.MSIMAddr, "imip", n.IMIPAddr, "sip", n.SIPAddr, "sip-tls", n.SIPTLSAddr, "http", n.HTTPAddr, "data", c.Data, "database", database)
	if c.Demo {
		printNextSteps(os.Stdout, n, demos)
	}
	<-ctx.Done()
	log.Info("shutting down: telling clients")
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	return n.Shutdown(sctx)
}

// listenerFlags names the flag that sets each listener's address.
var listenerFlags = map[string]string{
	"msnp": "--msnp-addr", "msnp-sb": "--sb-addr", "msnp-ftp": "--ftp-addr", "msim": "--msim-addr",
	"gg": "--gg-addr", "imip": "--imip-addr", "sip": "--sip-addr", "sip-tls": "--sip-tls-addr", "http": "--http-addr", "https": "--https-addr",
}

// sipConfig is the SIP service's part of the flags.
func (c *serveCmd) sipConfig() sipserver.Config {
	return sipserver.Config{
		Trace:              c.SipTrace,
		TargetName:         c.SipTargetName,
		KeepAlive:          c.SipKeepAlive,
		RegisterExpires:    c.SipRegisterExpires,
		LoginTimeout:       c.SipLoginTimeout,
		IdleTimeout:        c.SipIdleTimeout,
		TransactionTimeout: c.SipRequestTimeout,
		MaxDialogs:         c.SipMaxSessions,
		Limits:             sipwire.Limits{MaxHeaders: c.SipMaxHeaders, MaxHeaderBytes: c.SipMaxHeader, MaxBodyBytes: c.SipMaxMessage},
		MessagesPerSecond:  c.SipMessageRate,
		MessageBurst:       c.SipMessageBurst,
		MaxFileTransfers:   c.SipMaxFileTransfers,
		FileAnswerTimeout:  c.SipFileAnswerTimeout,
		FileLegTimeout:     c.SipFileTimeout,
	}
}

// webConfig is the web service's part of the flags.
func (c *serveCmd) webConfig() web.Config {
	return web.Config{
		Registration:          web.Registration(c.WebRegistration),
		MaxSignUpsPerAddr:     c.WebSignupsPerAddr,
		SignUpWindow:          c.WebSignupWindow,
		MinPasswordLength:     c.WebMinPassword,
		SessionLifetime:       c.WebSessionLifetime,
		MaxSessionsPerAccount: c.WebMaxSessions,
		ChatTokenLifetime:     c.WebChatTokenLifetime,
	}
}

// msimConfig is the MySpaceIM server's part of the flags.
func (c *serveCmd) msimConfig() msimserver.Config {
	return msimserver.Config{
		Trace:             c.MsimTrace,
		MaxMessageBytes:   c.MsimMaxMessage,
		MessagesPerSecond: c.MsimMessageRate,
		MessageBurst:      c.MsimMessageBurst,
		LoginTimeout:      c.MsimLoginTimeout,
		IdleTimeout:       c.MsimIdleTimeout,
	}
}

// webchatConfig is the web chat server's part of the flags.
func (c *serveCmd) webchatConfig() webchatserver.Config {
	return webchatserver.Config{
		Trace:         c.WebchatTrace,
		MaxFrameBytes: c.WebchatMaxMessage, FramesPerSecond: c.WebchatMessageRate, FrameBurst: c.WebchatMessageBurst,
		MaxPendingBytes: c.WebchatMaxPending, LoginTimeout: c.WebchatLoginTimeout, IdleTimeout: c.WebchatIdleTimeout,
		FileAnswerTimeout: c.WebchatFileAnswer,
	}
}

// imipConfig is the IMIP server's part of the flags.
func (c *serveCmd) imipConfig() imipserver.Config {
	return imipserver.Config{Trace: c.ImipTrace, BlocksPerSecond: c.ImipBlockRate, BlockBurst: c.ImipBlockBurst}
}

// loginGuard is the login guard's part of the flags.
func (c *serveCmd) loginGuard() loginguard.Config {
	return loginguard.Config{
		Address:              loginguard.Policy{Free: c.LoginAddressFree, LockAfter: c.LoginAddressLockAt, LockFor: c.LoginAddressLock},
		Account:              loginguard.Policy{Free: c.LoginAccountFree, LockAfter: c.LoginAccountLockAt, LockFor: c.LoginAccountLock},
		Delay:                c.LoginDelay,
		MaxDelay:             c.LoginMaxDelay,
		Forget:               c.LoginForget,
		KnownFor:             c.LoginKnownFor,
		MaxTracked:           c.LoginMaxTracked,
		FailureLogsPerSecond: c.LoginLogRate,
		FailureLogBurst:      c.LoginLogBurst,
	}
}

// releaseStoreMemory is what gctune runs when the server goes quiet: the
// store gives back the caches it keeps in this process, if it keeps any.
func releaseStoreMemory(ctx context.Context, st store.Store, log *slog.Logger) func() {
	r, ok := st.(store.MemoryReleaser)
	if !ok {
		return nil
	}
	return func() {
		if err := r.ReleaseMemory(ctx); err != nil && ctx.Err() == nil {
			log.Warn("store: giving back memory", "err", err)
		}
	}
}

// flagError puts a listener that cannot open in the operator's terms:
// "--gg-addr 0.0.0.0:8074: address already in use".
func flagError(err error) error {
	var le *node.ListenError
	if !errors.As(err, &le) {
		return err
	}
	cause := le.Err
	var errno syscall.Errno
	if errors.As(cause, &errno) {
		cause = errno
	}
	return fmt.Errorf("%s %s: %w", listenerFlags[le.Listener], le.Addr, cause)
}
