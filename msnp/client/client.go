// Package client is an MSN Messenger client library for protocol dialects
// MSNP2 to MSNP12 (MD5 login up to MSNP7, Passport 1.4 over HTTPS from
// MSNP8), written for bots and for the server's test suite. It talks to a notification server through a Client and to
// switchboard sessions (chats) through a Switchboard.
//
// # Requests and replies
//
// Every request method sends its command with the connection's next
// transaction id (TrID) and waits for the reply carrying the same TrID, or
// for a numeric error reply, which it returns as a *ServerError. A single
// reader goroutine per connection reads everything the server sends and
// routes replies by TrID to the waiting callers, so methods may be called
// from several goroutines at once. Waits end when the context is done; the
// reply that arrives later is then discarded.
//
// # Events
//
// What the server sends on its own (presence, RNG invitations, switchboard
// messages…) is delivered as Event values on the channel returned by
// Events. The channel is buffered (Options.EventBuffer, 1024 by default)
// and the reader never blocks on it: if it is full when an event arrives,
// the connection is dropped and the error is ErrEventOverflow, so a consumer
// that stops reading finds out instead of silently missing events or
// stalling every request. Consumers that do not care about events should
// drain the channel anyway, or use a large buffer for short sessions. The
// last event is Disconnected (Client) or Closed (Switchboard), after which
// the channel is closed.
//
// CHL challenges are answered automatically (QRY with the product id of the
// dialect's era: msmsgs@msnmsgr.com up to MSNP7, MSN 6's for MSNP8–10, MSN
// 7's and 7.5's for MSNP11–12) and never appear as events.
//
// # Lifetime
//
// Close (or Logout, Leave) ends a connection and waits for its reader
// goroutine, so no goroutine outlives it. Call Close even after the server
// has disconnected; it is safe to call more than once. A Switchboard is
// independent of the Client that opened it and must be closed on its own.
package client

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"

	"github.com/crosstalk-im/crosstalk/msnp/abch"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// DefaultVersions are the dialects Login offers when Options.Versions is
// empty, most preferred first.
var DefaultVersions = []string{"MSNP7", "MSNP6", "MSNP5", "MSNP4", "MSNP3", "MSNP2"}

// CVRInfo are the parameters Login sends in CVR between the TrID and the
// account name: locale, OS type and version, CPU, client name and version,
// and the literal MSMSGS, as MSN Messenger 4.7 on Windows XP sends them.
var CVRInfo = []string{"0x0409", "winnt", "5.1", "i386", "MSMSGS", "4.7.0105", "MSMSGS"}

// Presence statuses for SetStatus and Presence events.
const (
	StatusOnline  = "NLN"
	StatusBusy    = "BSY"
	StatusIdle    = "IDL"
	StatusBeRight = "BRB"
	StatusAway    = "AWY"
	StatusPhone   = "PHN"
	StatusLunch   = "LUN"
	StatusHidden  = "HDN" // appear offline
)

// List names for Add, Remove and List.
const (
	ListForward = "FL" // contacts whose presence I see
	ListAllow   = "AL" // allowed to see me and talk to me
	ListBlock   = "BL" // blocked
	ListReverse = "RL" // who has me on their FL; maintained by the server
)

// Privacy modes for SetPrivacy (BLP).
const (
	PrivacyAllowAll = "AL" // allow everyone not on BL
	PrivacyBlockAll = "BL" // block everyone not on AL
)

// Options configure Dial. The zero value is usable.
type Options struct {
	// Versions are the dialects offered in VER, most preferred first
	// ("MSNP7"…); CVR0 is appended. Default DefaultVersions.
	Versions []string
	// NoCVR skips the CVR command that Login otherwise sends after INF
	// when the negotiated dialect is MSNP5 or later.
	NoCVR bool
	// Logger receives every command sent and received at Debug level,
	// and protocol oddities at Warn. Default: discard.
	Logger *slog.Logger
	// Dialer connects to the servers (notification and switchboard); set its LocalAddr to choose the
	// source address. Default: a zero net.Dialer.
	Dialer *net.Dialer
	// Limits bound what the reader accepts. Default wire.DefaultLimits.
	Limits wire.Limits
	// Passport is the HTTP client of the Passport 1.4 sign-in that MSNP8+
	// logins make; its transport decides which CAs are trusted and where
	// the Passport host names lead. Default: http.DefaultClient.
	Passport *http.Client
	// Nexus is the URL that sign-in starts at. Default
	// passport.DefaultNexus.
	Nexus string
	// TokenService, when set (passport.DefaultRST), makes MSNP12 logins
	// take their ticket from that security token service, as MSN
	// Messenger 7.5.0160 and later do, instead of from the nexus. MSNP13+
	// logins always use one: this, or passport.DefaultRST.
	TokenService string
	// AddressBook is the base URL of the address book services MSNP13+
	// load their lists from. Default DefaultAddressBook.
	AddressBook string
	// MachineGUID names this endpoint in MSNP16+ logins ("{…}"). Default:
	// a random one per Client.
	MachineGUID string
	// ExtendedCapabilities is the second half of MSNP16+ capabilities
	// (caps:extcaps).
	ExtendedCapabilities uint32
	// Capabilities is the client-capabilities number that CHG carries
	// from MSNP8 (the MSN client version in the top byte).
	Capabilities uint32
	// EventBuffer is the capacity of the Events channel of the Client and
	// of its Switchboards. Default 1024. See the package documentation
	// for what happens when it fills up.
	EventBuffer int
}

func (o Options) withDefaults() Options {
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{}
	}
	if len(o.Versions) == 0 {
		o.Versions = DefaultVersions
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Limits == (wire.Limits{}) {
		o.Limits = wire.DefaultLimits
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = 1024
	}
	if o.Passport == nil {
		o.Passport = http.DefaultClient
	}
	if o.Nexus == "" {
		o.Nexus = passport.DefaultNexus
	}
	return o
}

// maxRedirects bounds XFR NS hops during Login.
const maxRedirects = 3

// productID is the id a client of dialect names in QRY: the one its era's
// official client (or third-party clients, before MSNP8) used.
func productID(dialect int) string {
	switch {
	case dialect >= 18:
		return "PROD0120PW!CCV9@"
	case dialect >= 15:
		return "PROD0119GSJUC$18"
	case dialect >= 13:
		return "PROD01065C%ZFN6F"
	case dialect >= 12:
		return "PROD0101{0RM?UBW"
	case dialect == 11:
		return "PROD0090YUAUV{2B"
	case dialect >= 8:
		return "PROD0038W!61ZTF9"
	}
	return "msmsgs@msnmsgr.com"
}

// Client is a connection to a notification server (after Dial, possibly to
// a dispatch server that Login follows to a notification server).
type Client struct {
	opts   Options
	ev     *events
	ended  chan struct{} // closed with the Events channel
	finish sync.Once

	profileOnce  sync.Once
	profileReady chan struct{}

	mu          sync.Mutex
	conn        *conn
	redirecting bool
	closed      bool
	outReason   string
	endErr      error
	dialect     int
	email       string
	friendly    string
	verified    bool
	profile     textproto.MIMEHeader
	abTicket    string // the address book's ticket (MSNP13+)
	// book is the copy of the address book the last sync left (MSNP13+),
	// which SyncChanges brings up to date with deltas.
	book *abch.Book

	// guidOnce makes machineGUID when it is first asked for: only
	// MSNP16+ logins and MachineGUID need a random one.
	guidOnce    sync.Once
	machineGUID string
}

// Dial connects to a dispatch or notification server (host:port, normally
// port 1863). It does not log in yet; call Login. TrIDs start at 0 (VER)
// and continue across an XFR NS redirect, as in captured MSNP7 sessions.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	c := newClient(opts)
	cn, err := c.dial(ctx, addr, 0)
	if err != nil {
		return nil, err
	}
	c.conn = cn
	cn.start()
	return c, nil
}

func newClient(opts Options) *Client {
	c := &Client{opts: opts.withDefaults(), ended: make(chan struct{}), profileReady: make(chan struct{})}
	c.ev = newEvents(c.opts.EventBuffer)
	return c
}

func (c *Client) dial(ctx context.Context, addr string, firstTrID int) (*conn, error) {
	nc, err := c.opts.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.wrap(nc, addr, firstTrID), nil
}

// wrap makes a notification-server conn of nc; the caller starts it.
func (c *Client) wrap(nc net.Conn, addr string, firstTrID int) *conn {
	log := c.opts.Logger.With("conn", "ns", "addr", addr)
	return newConn(nc, c.opts.Limits, log, firstTrID, hooks{
		async:       c.handle,
		alwaysAsync: nsAsync,
		routeByName: nsRouteByName,
		closed:      c.connClosed,
	})
}

// nsRouteByName: MSNP8+ send the lines of a SYN reply without TrID.
var nsRouteByName = map[string]string{"PRP": "SYN", "BPR": "SYN", "GTC": "SYN", "BLP": "SYN", "LSG": "SYN", "LST": "SYN"}

// nsAsync are notification-server commands that never answer a request.
var nsAsync = map[string]bool{
	"ILN": true, "NLN": true, "FLN": true, "RNG": true, "CHL": true,
	"OUT": true, "MSG": true, "QNG": true, "UBX": true, "SBS": true, "UBN": true,
	"NOT": true,
}

func (c *Client) current() *conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// connClosed runs when a connection's reader ends. A dispatch connection
// closed for a redirect is not the end of the Client.
func (c *Client) connClosed(cn *conn, err error) {
	c.mu.Lock()
	current := c.conn == cn && !c.redirecting
	reason := c.outReason
	c.mu.Unlock()
	if current {
		c.end(reason, err)
	}
}

func (c *Client) end(reason string, err error) {
	c.finish.Do(func() {
		c.mu.Lock()
		c.endErr = err
		c.mu.Unlock()
		c.ev.Finish(Disconnected{Reason: reason, Err: err})
		close(c.ended)
	})
}

// Login authenticates: VER, then INF and MD5 up to MSNP7, CVR (MSNP5 and
// later, unless Options.NoCVR; always from MSNP8), USR … I. A dispatch
// server's XFR NS is followed: the connection is replaced by one to the
// named server and the exchange repeats there, TrIDs continuing. Then, up
// to MSNP7, USR MD5 S with the lowercase hex MD5 of salt+password; from
// MSNP8 the Passport 1.4 sign-in over HTTPS (Options.Passport, Nexus) and
// USR TWN S with its ticket; and USR OK. A wrong password is a
// *ServerError with Code 911 (the server then closes the connection; a
// refusal by the Passport login server gets the same error).
func (c *Client) Login(ctx context.Context, email, password string) error {
	for hops := 0; ; hops++ {
		cn := c.current()
		if err := c.negotiate(ctx, cn, email); err != nil {
			return err
		}
		dialect := c.Dialect()
		mech := "MD5"
		switch {
		case dialect >= 15:
			mech = "SSO"
		case dialect >= 8:
			mech = "TWN"
		}
		reply, err := cn.request(ctx, nil, "USR", mech, "I", email)
		if err != nil {
			return err
		}
		if reply.Name == "XFR" && reply.Arg(1) == "NS" {
			if hops >= maxRedirects {
				return fmt.Errorf("msnp client: too many XFR NS redirects (last to %s)", reply.Arg(2))
			}
			if err := c.redirect(ctx, cn, reply.Arg(2)); err != nil {
				return err
			}
			continue
		}
		if reply.Name == "USR" && reply.Arg(1) == mech && reply.Arg(2) == "S" {
			args := []string{mech, "S", md5hex(reply.Arg(3) + password)}
			switch mech {
			case "TWN":
				args[2], err = c.passportTicket(ctx, dialect, email, password, reply.Arg(3))
			case "SSO": // USR trid SSO S MBI_KEY_OLD nonce
				args, err = c.ssoAnswer(ctx, email, password, reply.Arg(3), reply.Arg(4))
			}
			if errors.Is(err, passport.ErrRefused) {
				return &ServerError{Code: 911, Command: "USR"}
			}
			if err != nil {
				return err
			}
			reply, err = cn.request(ctx, nil, "USR", args...)
			if err != nil {
				return err
			}
		}
		if reply.Name != "USR" || reply.Arg(1) != "OK" {
			return unexpected("USR", reply)
		}
		c.mu.Lock()
		c.email = reply.Arg(2)
		if dialect >= 10 {
			// The name comes with SYN (PRP MFN) from MSNP10.
			c.verified = reply.Arg(3) == "1"
		} else {
			c.friendly = wire.DecodeName(reply.Arg(3))
			c.verified = reply.Arg(4) == "1"
		}
		c.mu.Unlock()
		return nil
	}
}

// passportTicket signs in at Passport for USR TWN S: at the nexus and
// login server, or for MSNP12 with Options.TokenService at the security
// token service, asking for the messenger.msn.com ticket with the policy.
func (c *Client) passportTicket(ctx context.Context, dialect int, email, password, policy string) (string, error) {
	if dialect < 12 || dialect == 12 && c.opts.TokenService == "" {
		return passport.SignIn(ctx, c.opts.Passport, c.opts.Nexus, email, password, policy)
	}
	resp, err := c.requestTickets(ctx, email, password, messengerService, "?"+policy)
	if err != nil {
		return "", err
	}
	return resp.Tickets[messengerService], nil
}

// negotiate runs VER, INF and CVR on one connection.
func (c *Client) negotiate(ctx context.Context, cn *conn, email string) error {
	offer := append([]string(nil), c.opts.Versions...)
	hasCVR0 := false
	for _, v := range offer {
		hasCVR0 = hasCVR0 || v == "CVR0"
	}
	if !hasCVR0 {
		offer = append(offer, "CVR0")
	}
	reply, err := cn.request(ctx, nil, "VER", offer...)
	if err != nil {
		return err
	}
	if reply.Name != "VER" {
		return unexpected("VER", reply)
	}
	dialect := 0
	for _, a := range reply.Args[1:] {
		if a == "0" {
			break
		}
		if n, ok := parseDialect(a); ok && offered(c.opts.Versions, a) {
			dialect = n
			break
		}
	}
	if dialect == 0 {
		return fmt.Errorf("%w: server answered %q", ErrNoDialect, reply.String())
	}
	c.mu.Lock()
	c.dialect = dialect
	c.mu.Unlock()
	if dialect >= 8 {
		// INF is gone and CVR required from MSNP8.
		return c.sendCVR(ctx, cn, email)
	}

	reply, err = cn.request(ctx, nil, "INF")
	if err != nil {
		return err
	}
	if reply.Name != "INF" {
		return unexpected("INF", reply)
	}
	md5ok := false
	for _, a := range reply.Args[1:] {
		for _, p := range strings.Split(a, ",") {
			md5ok = md5ok || strings.EqualFold(p, "MD5")
		}
	}
	if !md5ok {
		return fmt.Errorf("%w: %q", ErrNoMD5, reply.String())
	}

	if dialect >= 5 && !c.opts.NoCVR {
		return c.sendCVR(ctx, cn, email)
	}
	return nil
}

func (c *Client) sendCVR(ctx context.Context, cn *conn, email string) error {
	reply, err := cn.request(ctx, nil, "CVR", append(append([]string(nil), CVRInfo...), email)...)
	if err != nil {
		return err
	}
	if reply.Name != "CVR" {
		return unexpected("CVR", reply)
	}
	return nil
}

// redirect replaces the dispatch connection by one to addr.
func (c *Client) redirect(ctx context.Context, old *conn, addr string) error {
	c.mu.Lock()
	c.redirecting = true
	c.mu.Unlock()
	next := old.nextTrID()
	old.close()
	cn, err := c.dial(ctx, addr, next)

	c.mu.Lock()
	c.redirecting = false
	closed := c.closed
	if err == nil && !closed {
		c.conn = cn
		cn.start()
	}
	c.mu.Unlock()
	switch {
	case err != nil:
		c.end("", err)
		return fmt.Errorf("msnp client: following XFR NS to %s: %w", addr, err)
	case closed:
		cn.start()
		cn.close()
		c.end("", ErrClosed)
		return ErrClosed
	}
	return nil
}

func parseDialect(s string) (int, bool) {
	if !strings.HasPrefix(s, "MSNP") {
		return 0, false
	}
	n, err := strconv.Atoi(s[4:])
	return n, err == nil && n > 0
}

func offered(versions []string, v string) bool {
	for _, o := range versions {
		if o == v {
			return true
		}
	}
	return false
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Dialect returns the negotiated protocol version (7 for MSNP7), or 0
// before VER succeeded.
func (c *Client) Dialect() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dialect
}

// Email returns the account name as the server confirmed it in USR OK.
func (c *Client) Email() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.email
}

// Friendly returns the current friendly name (from USR OK, updated by Rename).
func (c *Client) Friendly() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.friendly
}

// Verified reports the MSNP6+ "verified" flag of USR OK.
func (c *Client) Verified() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.verified
}

// Events returns the channel of asynchronous notification-server events.
// It is closed after the final Disconnected event.
func (c *Client) Events() <-chan Event { return c.ev.C() }

// Err returns why the connection ended, or nil while it is up.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endErr
}

// Profile returns the headers of the profile message the server sends after
// login (MSG Hotmail Hotmail, text/x-msmsgsprofile), waiting for it if it
// has not arrived yet. Useful keys: ClientIP, ClientPort, LoginTime,
// MSPAuth. Servers for old dialects may never send one; bound the wait with
// ctx.
func (c *Client) Profile(ctx context.Context) (textproto.MIMEHeader, error) {
	select {
	case <-c.profileReady:
	case <-c.ended:
		select {
		case <-c.profileReady:
		default:
			return nil, ErrClosed
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.profile, nil
}

// handle receives everything that is not a reply, in the reader goroutine.
func (c *Client) handle(cn *conn, cmd wire.Command) {
	var ev Event
	switch cmd.Name {
	case "ILN": // ILN trid status email [network] friendly [caps [msnobj]]
		ev = presence(c.Dialect(), cmd.Args[min(1, len(cmd.Args)):], true)
	case "NLN": // NLN status email friendly [caps [msnobj]]
		ev = presence(c.Dialect(), cmd.Args, false)
	case "UBX": // UBX email [network] len, payload <Data><PSM>…
		if _, ps, _, err := wire.ParseUUX(cmd.Payload); err == nil {
			email, _ := contactArgs(c.Dialect(), cmd.Args)
			ev = PersonalStatus{Email: email, PSM: ps.PSM, CurrentMedia: ps.CurrentMedia}
		}
	case "ADL", "RML": // ADL 0 len, <ml><d n=…><c n=… l="8" …/></d></ml> (MSNP13+)
		ev = reverseChange(cmd)
	case "ADC": // ADC 0 RL N=email F=friendly (MSNP10+)
		if cmd.Arg(1) == ListReverse {
			ev = ReverseAdded{Email: strings.TrimPrefix(cmd.Arg(2), "N="), Friendly: wire.DecodeName(strings.TrimPrefix(cmd.Arg(3), "F="))}
		}
	case "FLN": // FLN email [network caps]
		email, _ := contactArgs(c.Dialect(), cmd.Args)
		ev = Offline{Email: email}
	case "ADD": // ADD 0 RL serial email friendly
		if cmd.Arg(1) != ListReverse {
			break
		}
		serial, _ := strconv.Atoi(cmd.Arg(2))
		ev = ReverseAdded{Email: cmd.Arg(3), Friendly: wire.DecodeName(cmd.Arg(4)), Serial: serial}
	case "REM": // REM 0 RL serial email; MSNP10+ REM 0 RL N=email
		if cmd.Arg(1) != ListReverse {
			break
		}
		if email, ok := strings.CutPrefix(cmd.Arg(2), "N="); ok {
			ev = ReverseRemoved{Email: email}
			break
		}
		serial, _ := strconv.Atoi(cmd.Arg(2))
		ev = ReverseRemoved{Email: cmd.Arg(3), Serial: serial}
	case "NOT": // NOT len, payload <NOTIFICATION …> (MSNP13+: the address book's)
		if n, err := abch.ParseNotification(cmd.Payload); err == nil {
			ev = AddressBookChanged{Changed: n.Changed, HasNewItem: n.HasNewItem}
		}
	case "RNG": // RNG sid addr CKI cookie caller caller-name
		ev = Ring{SessionID: cmd.Arg(0), Addr: cmd.Arg(1), Cookie: cmd.Arg(3), Caller: cmd.Arg(4),
			CallerName: wire.DecodeName(cmd.Arg(5))}
	case "CHL": // CHL 0 challenge
		c.answerChallenge(cn, cmd.Arg(1))
	case "QNG":
		cn.pong()
	case "OUT": // OUT [OTH|SSD]
		c.mu.Lock()
		c.outReason = cmd.Arg(0)
		c.mu.Unlock()
		cn.fail(ErrSignedOut)
	case "MSG": // MSG Hotmail Hotmail len
		p := wire.ParsePayload(cmd.Payload)
		h := p.Headers()
		sm := SystemMessage{ContentType: p.ContentType(), Header: h, Body: p.Body, Fields: wire.ParsePayload(p.Body).Headers(), Payload: cmd.Payload}
		if sm.ContentType == "text/x-msmsgsprofile" {
			c.profileOnce.Do(func() {
				c.mu.Lock()
				c.profile = h
				c.mu.Unlock()
				close(c.profileReady)
			})
		}
		ev = sm
	}
	if ev == nil {
		if _, isErr := errorCode(cmd.Name); !isErr {
			cn.log.Debug("msnp: ignored", "cmd", cmd.String())
		}
		return
	}
	if !c.ev.Emit(ev) {
		cn.fail(ErrEventOverflow)
	}
}

// presence reads the fields of ILN (after its TrID) and NLN: status,
// e-mail, name, then from MSNP8 the capabilities and from MSNP9 the MSN
// object.
func presence(dialect int, args []string, initial bool) Presence {
	if len(args) == 0 {
		return Presence{Initial: initial}
	}
	email, rest := contactArgs(dialect, args[1:])
	at := func(i int) string {
		if i < len(rest) {
			return rest[i]
		}
		return ""
	}
	p := Presence{Status: args[0], Email: email, Friendly: wire.DecodeName(at(0)), Initial: initial, Capabilities: at(1)}
	if obj := at(2); obj != "" && obj != "0" {
		p.MSNObject = obj
	}
	return p
}

// reverseChange reads a server's ADL 0 or RML 0 (MSNP13+): someone added
// or removed the account; nil for anything else.
func reverseChange(cmd wire.Command) Event {
	ml, err := wire.ParseML(cmd.Payload)
	if err != nil || len(ml.Contacts) != 1 || ml.Contacts[0].Lists&wire.ListReverse == 0 {
		return nil
	}
	ct := ml.Contacts[0]
	if cmd.Name == "RML" {
		return ReverseRemoved{Email: ct.Email}
	}
	return ReverseAdded{Email: ct.Email, Friendly: wire.DecodeName(ct.Friendly)}
}

// answerChallenge sends QRY for a CHL, without waiting: the QRY reply (or a
// 540 error) is consumed by the reader.
func (c *Client) answerChallenge(cn *conn, challenge string) {
	dialect := c.Dialect()
	id := productID(dialect)
	answer := wire.ChallengeAnswer(dialect, challenge, id, wire.ProductKeys[id])
	cl := &call{name: "QRY", onDone: func(err error) {
		if err != nil {
			cn.log.Warn("msnp: challenge answer refused", "err", err)
		}
	}}
	if _, err := cn.send(context.Background(), cl, "QRY", []byte(answer), true, id); err != nil {
		cn.log.Warn("msnp: cannot answer challenge", "err", err)
	}
}

// Do sends an arbitrary command with the next TrID and returns the first
// line the server answers with that TrID. It is the escape hatch for
// commands this package has no method for (SND, FND…) and for testing a
// server's error handling. Multi-line replies are not collected.
func (c *Client) Do(ctx context.Context, name string, args ...string) (wire.Command, error) {
	return c.current().request(ctx, nil, name, args...)
}

// Ping sends PNG and waits for QNG.
func (c *Client) Ping(ctx context.Context) error {
	return c.current().ping(ctx)
}

// Logout sends OUT, gives the server a moment to close the connection, and
// closes it. It always ends the Client.
func (c *Client) Logout() error {
	c.mu.Lock()
	c.closed = true
	cn := c.conn
	c.mu.Unlock()
	cn.quit()
	c.end("", ErrClosed)
	return nil
}

// Close closes the connection immediately (without OUT) and waits for the
// reader goroutine to finish. Open Switchboards are not affected.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	cn := c.conn
	c.mu.Unlock()
	cn.close()
	c.end("", ErrClosed)
	return nil
}
