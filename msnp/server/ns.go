package server

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/eventgate"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/internal/mailbox"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// nsConn is a dispatch/notification connection.
type nsConn struct {
	*conn

	// Written by the reader goroutine only.
	dialect int
	// login is what the login's steps pass on, from USR … I until the
	// login ends, and from SYN to the first CHG; nil before, between and
	// after.
	login *nsLogin
	// challenge is the CHL the client has yet to answer, if any.
	challenge *pendingChallenge
	serial    uint32 // list serial after the last rename
	// machineGUID names this endpoint of an MSNP16+ login ("{…}"); its
	// other endpoints stay signed in.
	machineGUID string

	// Shared with hub event delivery.
	gate     eventgate.Gate
	mu       sync.Mutex
	session  *hub.Session
	status   hub.Status
	rereader mailbox.Rereader
	// signedIn: the first CHG has been answered, its ILNs sent, and the
	// mailbox is being read. The reader goroutine alone writes it, under
	// mu, and reads it without. The hub's news of the mailbox before that
	// waits for that read: a reread then would ring the client before its
	// CHG is answered.
	signedIn bool
	// statusText is the text contacts see (MSNP11+ personal message),
	// kept for the next CHG.
	statusText string
	// extras is nil until the client says something about itself
	// (MSNP8+), which most old clients never do.
	extras *msnExtras
	// oim is what an MSNP11+ client was told of the offline-IM service.
	oim oimNotices
	// senders are the contacts whose files are being offered to the
	// client, kept online toward it meanwhile.
	senders offerSenders
}

// nsLogin is what a login's steps pass on to the next, dropped once it
// ends: an idle session keeps none of it.
type nsLogin struct {
	name    string // from USR … I, lower-cased
	salt    string // what USR … S sent: the MD5 salt, or the Passport policy
	mspAuth string // the Passport token of an MSNP8+ login, for the profile
	// roster is the lists a SYN before the first CHG read, which the CHG
	// signs in with unless they changed meanwhile: one read of the lists
	// a login instead of two.
	roster *hub.Roster
}

// pendingChallenge is a CHL sent and not yet answered.
type pendingChallenge struct {
	text string
	by   time.Time
}

type nsCommand struct {
	run      func(*nsConn, context.Context, wire.Command) error
	needAuth bool
}

var nsCommands map[string]nsCommand

func init() {
	nsCommands = map[string]nsCommand{
		"VER": {run: (*nsConn).handleVER},
		"INF": {run: (*nsConn).handleINF},
		"CVR": {run: (*nsConn).handleCVR},
		"USR": {run: (*nsConn).handleUSR},
		"OUT": {run: (*nsConn).handleOUT},
		"SYN": {run: (*nsConn).handleSYN, needAuth: true},
		"LST": {run: (*nsConn).handleLST, needAuth: true},
		"CHG": {run: (*nsConn).handleCHG, needAuth: true},
		"ADD": {run: (*nsConn).handleADD, needAuth: true},
		"REM": {run: (*nsConn).handleREM, needAuth: true},
		"ADG": {run: (*nsConn).handleADG, needAuth: true},
		"RMG": {run: (*nsConn).handleRMG, needAuth: true},
		"REG": {run: (*nsConn).handleREG, needAuth: true},
		"GTC": {run: (*nsConn).handleGTC, needAuth: true},
		"BLP": {run: (*nsConn).handleBLP, needAuth: true},
		"REA": {run: (*nsConn).handleREA, needAuth: true},
		"URL": {run: (*nsConn).handleURL, needAuth: true},
		"SND": {run: (*nsConn).handleSND, needAuth: true},
		"FND": {run: (*nsConn).handleFND, needAuth: true},
		"XFR": {run: (*nsConn).handleXFR, needAuth: true},
		"QRY": {run: (*nsConn).handleQRY, needAuth: true},
		"UUX": {run: (*nsConn).handleUUX, needAuth: true},
		"ADC": {run: (*nsConn).handleADC, needAuth: true},
		"SBP": {run: (*nsConn).handleSBP, needAuth: true},
		"PRP": {run: (*nsConn).handlePRP, needAuth: true},
		"GCF": {run: (*nsConn).handleGCF, needAuth: true},
		"ADL": {run: (*nsConn).handleADL, needAuth: true},
		"RML": {run: (*nsConn).handleRML, needAuth: true},
		"FQY": {run: (*nsConn).handleFQY, needAuth: true},
		"UUN": {run: (*nsConn).handleUUN, needAuth: true},
		"UUM": {run: (*nsConn).handleUUM, needAuth: true},
	}
}

func (n *nsConn) sess() *hub.Session {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.session
}

func (n *nsConn) loggedIn() bool { return n.sess() != nil }

// online reports whether the client has sent its first CHG; until then it
// gets no presence, which ILN will bring.
func (n *nsConn) online() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.status != ""
}

func (n *nsConn) dispatch(ctx context.Context, cmd wire.Command) error {
	if cmd.Name == "PNG" {
		if msnObjects(n.dialect) {
			n.send("QNG", pingInterval)
		} else {
			n.send("QNG")
		}
		return nil
	}
	c, ok := nsCommands[cmd.Name]
	if !ok {
		return errCode(errSyntax)
	}
	if _, ok := cmd.TrID(); !ok && cmd.Name != "OUT" {
		return errCode(errSyntax)
	}
	if n.dialect == 0 && cmd.Name != "VER" && cmd.Name != "OUT" {
		return errCode(errNotExpected)
	}
	if c.needAuth && !n.loggedIn() {
		return errCode(errNotLoggedIn)
	}
	if n.challenge != nil && cmd.Name != "QRY" && time.Now().After(n.challenge.by) {
		return fatalCode(errChallenge)
	}
	return c.run(n, ctx, cmd)
}

// end leaves the hub: watchers see the account go offline.
func (n *nsConn) end(ctx context.Context) {
	n.rereader.Stop()
	if s := n.sess(); s != nil {
		n.gate.Discard(n.undelivered)
		s.Detach(ctx)
		n.announceEndpoints(s, false)
	}
}

// undelivered puts a message event the connection could not take back in
// the mailbox.
func (n *nsConn) undelivered(ev hub.Event) {
	n.sess().Undelivered(ev.From, *ev.Message)
}

// handleVER picks the highest dialect both sides speak and, up to MSNP7,
// echoes CVR0 when offered (aMSN gives up on a reply without it).
func (n *nsConn) handleVER(_ context.Context, cmd wire.Command) error {
	if n.dialect != 0 {
		return errCode(errNotExpected)
	}
	best, cvr0 := 0, false
	for _, v := range cmd.Args[1:] {
		if v == "CVR0" {
			cvr0 = true
			continue
		}
		d, err := strconv.Atoi(strings.TrimPrefix(v, "MSNP"))
		if err == nil && strings.HasPrefix(v, "MSNP") && d >= 2 && d <= n.srv.cfg.MaxDialect && d > best {
			best = d
		}
	}
	trid := cmd.Args[0]
	if best == 0 {
		n.closeWith("VER", trid, "0")
		return errClose
	}
	n.dialect = best
	reply := []string{trid, "MSNP" + strconv.Itoa(best)}
	// From MSNP8 the service answered with the dialect alone (the
	// captures on yellows111's version pages; Escargot does the same).
	if cvr0 && !passportLogin(best) {
		reply = append(reply, "CVR0")
	}
	n.send("VER", reply...)
	return nil
}

func (n *nsConn) handleINF(_ context.Context, cmd wire.Command) error {
	if passportLogin(n.dialect) {
		return errCode(errDisabled)
	}
	n.send("INF", cmd.Args[0], "MD5")
	return nil
}

// handleCVR echoes the client's own version as recommended and minimum, so
// no client is told to upgrade to a build that cannot be downloaded.
func (n *nsConn) handleCVR(_ context.Context, cmd wire.Command) error {
	if len(cmd.Args) < 7 {
		return errCode(errInvalidParameter)
	}
	ver := cmd.Args[6]
	n.send("CVR", cmd.Args[0], ver, ver, ver,
		"http://download.crosstalk.invalid/msn", "http://crosstalk.invalid/msn")
	return nil
}

func (n *nsConn) handleUSR(ctx context.Context, cmd wire.Command) error {
	if n.loggedIn() {
		return errCode(errAlreadyLoggedIn)
	}
	trid := cmd.Args[0]
	want := "MD5"
	switch {
	case singleSignOn(n.dialect):
		want = "SSO"
	case passportLogin(n.dialect):
		want = "TWN"
	}
	if len(cmd.Args) < 4 || cmd.Args[1] != want || len(cmd.Args) > 4 && (want != "SSO" || cmd.Args[2] != "S") {
		return errCode(errInvalidParameter)
	}
	switch cmd.Args[2] {
	case "I":
		if addr := n.srv.cfg.NotificationAddr; addr != "" {
			n.referTo(trid, addr)
			return errClose
		}
		n.login = &nsLogin{name: strings.ToLower(cmd.Args[3])}
		if addressBook(n.dialect) {
			n.sendPolicies()
		}
		switch want {
		case "SSO":
			n.login.salt = ssoNonce()
			n.send("USR", trid, want, "S", ssoPolicy, n.login.salt)
			return nil
		case "TWN":
			n.login.salt = passportPolicy()
		default:
			n.login.salt = fmt.Sprintf("%d.%s", time.Now().Unix(), randomDigits(9))
		}
		n.send("USR", trid, want, "S", n.login.salt)
		return nil
	case "S":
		if n.login == nil || n.login.salt == "" {
			return errCode(errNotExpected)
		}
		salt := n.login.salt
		n.login.salt = ""
		switch want {
		case "SSO":
			return n.finishSSOLogin(ctx, trid, salt, cmd.Args[3:])
		case "TWN":
			return n.finishPassportLogin(ctx, trid, cmd.Args[3])
		}
		return n.finishLogin(ctx, trid, salt, cmd.Args[3])
	}
	return errCode(errInvalidParameter)
}

// referTo sends a dispatch server's XFR NS. MSNP2 referrals are bare;
// later ones add "0", as in the MSNP7 capture of seed 003, and MSNP8+ the
// address of the server the client is on.
func (n *nsConn) referTo(trid, addr string) {
	switch {
	case n.dialect == 2:
		n.closeWith("XFR", trid, "NS", addr)
	case passportLogin(n.dialect):
		n.closeWith("XFR", trid, "NS", addr, "0", n.nc.LocalAddr().String())
	default:
		n.closeWith("XFR", trid, "NS", addr, "0")
	}
}

// finishLogin checks an MD5 login's response against the password.
func (n *nsConn) finishLogin(ctx context.Context, trid, salt, response string) error {
	return n.authenticate(ctx, trid, true, func(_ hub.Account, password string) bool {
		sum := md5.Sum([]byte(salt + password))
		want := hex.EncodeToString(sum[:])
		return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(response))) == 1
	})
}

// authenticate runs a login's second step: the account named in USR … I,
// the login guard, then check, which says whether the client proved it is
// the account's owner. withPassword reads the account's password for check
// in the same query; check gets "" without it.
func (n *nsConn) authenticate(ctx context.Context, trid string, withPassword bool, check func(acct hub.Account, password string) bool) error {
	var (
		acct     hub.Account
		password string
		err      error
	)
	if store := n.srv.cfg.Hub.Store(); withPassword {
		acct, password, err = store.AccountWithPassword(ctx, n.login.name)
	} else {
		acct, err = store.AccountByEmail(ctx, n.login.name)
	}
	key := loginguard.Account(acct.Number)
	switch {
	case errors.Is(err, hub.ErrNotFound):
		key = loginguard.Name(n.login.name)
	case err != nil:
		return fmt.Errorf("login lookup: %w", err)
	}
	attempt := n.srv.cfg.Guard.Begin(protocolName, n.nc.RemoteAddr(), key)
	switch {
	case !attempt.Allowed():
		return n.refuse(ctx, attempt, loginguard.Locked)
	case err != nil:
		return n.refuse(ctx, attempt, loginguard.UnknownAccount)
	}
	if !check(acct, password) {
		return n.refuse(ctx, attempt, loginguard.BadPassword)
	}
	if acct.Disabled {
		return n.refuse(ctx, attempt, loginguard.Disabled)
	}
	attempt.Succeed()
	session, err := n.srv.cfg.Hub.AttachInstance(ctx, acct, protocolName, n.machineGUID, n)
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	login := n.login
	n.mu.Lock()
	n.session = session
	n.login = nil // its name holds on to the whole USR line
	n.mu.Unlock()
	n.logAs.Account.Store(acct.Number)
	n.log().Info("logged in", "dialect", n.dialect)

	reply := []string{trid, "OK", acct.Email}
	if !guidLists(n.dialect) {
		reply = append(reply, wire.EncodeName(acct.DisplayName))
	}
	if n.dialect >= 6 {
		reply = append(reply, "1")
	}
	if passportLogin(n.dialect) {
		reply = append(reply, "0")
	}
	n.send("USR", reply...)
	if personalStatus(n.dialect) {
		n.send("SBS", "0", "null")
	}
	n.sendPayload("MSG", n.profile(acct, login.mspAuth), "Hotmail", "Hotmail")
	if endpoints(n.dialect) {
		// The own status, empty until the client sets it: MPOP clients
		// wait for it.
		n.sendPayload("UBX", nil, n.handleArgs(acct.Email)...)
	}
	n.gate.Open(n.deliver, n.undelivered)
	if n.srv.cfg.Challenge {
		n.challenge = &pendingChallenge{text: randomDigits(20), by: time.Now().Add(n.srv.cfg.ChallengeTimeout)}
		n.send("CHL", "0", n.challenge.text)
	}
	return nil
}

// refuse answers a failed login with 911, the only failure MSN clients
// know, whatever the reason.
func (n *nsConn) refuse(ctx context.Context, attempt loginguard.Attempt, reason loginguard.Reason) error {
	attempt.Fail(ctx, n.log(), reason, "login", n.login.name)
	return fatalCode(errAuthFailed)
}

// profile is the text/x-msmsgsprofile message sent after login. Clients
// read ClientIP/ClientPort to learn their address as the server sees it,
// which decides whether they can accept file transfers.
func (n *nsConn) profile(acct hub.Account, mspAuth string) []byte {
	ip, port := "", ""
	if host, p, err := net.SplitHostPort(n.nc.RemoteAddr().String()); err == nil {
		ip, port = host, p
	}
	b := make([]byte, 0, 512)
	b = append(b, "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsprofile; charset=UTF-8\r\nLoginTime: "...)
	b = strconv.AppendInt(b, time.Now().Unix(), 10)
	b = append(b, "\r\nEmailEnabled: 0\r\nMemberIdHigh: 0\r\nMemberIdLow: "...)
	b = strconv.AppendUint(b, uint64(acct.Number), 10)
	b = append(b, "\r\nlang_preference: 1033\r\npreferredEmail: "...)
	b = append(b, acct.Email...)
	b = append(b, "\r\ncountry: \r\nPostalCode: \r\nGender: \r\nKid: 0\r\nAge: \r\nBDayPre: \r\nBirthday: \r\nWallet: \r\nFlags: 1027\r\n"...)
	b = append(b, "sid: 507\r\nMSPAuth: "...)
	if mspAuth != "" {
		b = append(b, mspAuth...)
	} else {
		b = append(b, '0')
	}
	b = append(b, "\r\nClientIP: "...)
	b = append(b, ip...)
	b = append(b, "\r\nClientPort: "...)
	b = append(b, port...)
	if addressBook(n.dialect) {
		b = append(b, "\r\nABCHMigrated: 1"...)
	}
	if endpoints(n.dialect) {
		b = append(b, "\r\nMPOPEnabled: 1"...)
	}
	return append(b, "\r\n\r\n"...)
}

func (n *nsConn) handleOUT(context.Context, wire.Command) error {
	n.closeWith("OUT")
	return errClose
}

// Deliver turns hub events into notification-server commands, once the
// client has its USR OK. It runs on the hub's dispatch goroutine and only
// queues output.
func (n *nsConn) Deliver(ev hub.Event) bool { return n.gate.Deliver(ev, n.deliver) }

func (n *nsConn) deliver(ev hub.Event) bool {
	switch ev.Kind {
	case hub.EventKick:
		// OTH is "signed in at another location" to every client; any
		// other end is a plain OUT, as the service sent for a disconnection
		// it gave no reason for.
		if ev.Reason == hub.KickNewerLogin {
			n.closeWith("OUT", "OTH")
		} else {
			n.closeWith("OUT")
		}
	case hub.EventNotify:
		return n.deliverNotification(ev.Notification)
	case hub.EventPresence:
		if !n.online() {
			return true // ILN at the first CHG will cover it
		}
		return n.presenceChanged(hub.Presence{Contact: ev.From, Status: ev.Status, Text: ev.Text})
	case hub.EventReverseAdded:
		if addressBook(n.dialect) {
			return n.sendReverse("ADL", ev.From, wire.EncodeName(ev.From.DisplayName))
		}
		if guidLists(n.dialect) {
			return n.send("ADC", "0", "RL", "N="+ev.From.Email, "F="+wire.EncodeName(ev.From.DisplayName))
		}
		return n.send("ADD", "0", "RL", serial(ev.Serial), ev.From.Email, wire.EncodeName(ev.From.DisplayName))
	case hub.EventReverseRemoved:
		if addressBook(n.dialect) {
			return n.sendReverse("RML", ev.From, "")
		}
		if guidLists(n.dialect) {
			return n.send("REM", "0", "RL", "N="+ev.From.Email)
		}
		return n.send("REM", "0", "RL", serial(ev.Serial), ev.From.Email)
	case hub.EventMessage:
		if ev.Message != nil {
			return n.srv.deliverPendingToClient(n, pendingMessage{from: ev.From, msg: *ev.Message}, ev.Batch)
		}
	case hub.EventMailbox:
		n.rereadMailbox()
	case hub.EventListsChanged:
		if addressBook(n.dialect) {
			n.sendAddressBookChanged(time.Now())
		}
	case hub.EventTyping:
		if ev.Typing > 0 {
			n.srv.typingToClient(n.sess().Account().Number, ev.From)
		}
	case hub.EventInvite:
		inv := ev.Invite
		if inv == nil || inv.Protocol != protocolName {
			return true
		}
		rng := []string{inv.Conversation, n.switchboardAddr(inv.Addr), "CKI", inv.Cookie, ev.From.Email, wire.EncodeName(ev.From.DisplayName)}
		return n.send("RNG", append(rng, authDomain(n.dialect, "messenger.hotmail.com")...)...)
	case hub.EventFile:
		if ev.Protocol == protocolName && ev.File != "" {
			n.srv.handOver(ev.From, n.sess().Account().Number, ev.File)
		}
	}
	return true
}

// rereadMailbox reads the mailbox again when the hub says it holds
// messages no session has, once the client's first CHG has read it.
func (n *nsConn) rereadMailbox() {
	n.mu.Lock()
	read := n.signedIn
	n.mu.Unlock()
	if !read {
		return
	}
	n.rereader.Reread(n.srv.cfg.WriteTimeout, n.log(), func(ctx context.Context) error {
		return n.deliverOffline(ctx, false)
	})
}

// deliverOffline claims what waits in the mailbox and brings it to the
// client: up to MSNP10, which had no offline messages, as chats; from
// MSNP11 as the Mail-Data notification the client fetches them by from
// the offline-IM service. initial says it is the login's first look.
func (n *nsConn) deliverOffline(ctx context.Context, initial bool) error {
	if offlineIMs(n.dialect) {
		return n.notifyOfflineIMs(ctx, initial)
	}
	waiting, err := n.sess().OfflineMessages(ctx)
	if err != nil {
		return err
	}
	for _, m := range waiting {
		n.srv.deliverToClient(n, m.From, m.Message)
	}
	return nil
}

// switchboardAddr completes a switchboard address given without a host
// (":1864") with the address this client reached us at, so one setting
// works on loopback, a LAN and the internet alike.
func (n *nsConn) switchboardAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" {
		return addr
	}
	local, _, err := net.SplitHostPort(n.nc.LocalAddr().String())
	if err != nil {
		return addr
	}
	return net.JoinHostPort(local, port)
}

func serial(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// statusCode maps a canonical status to MSNP's; ok is false for offline.
func statusCode(s hub.Status) (string, bool) {
	for code, st := range statusCodes {
		if st == s {
			return code, true
		}
	}
	return "", false
}

var statusCodes = map[string]hub.Status{
	"NLN": hub.StatusOnline,
	"BSY": hub.StatusBusy,
	"IDL": hub.StatusIdle,
	"BRB": hub.StatusBeRightBack,
	"AWY": hub.StatusAway,
	"PHN": hub.StatusOnThePhone,
	"LUN": hub.StatusOutToLunch,
	"HDN": hub.StatusInvisible,
}

func (n *nsConn) handleXFR(ctx context.Context, cmd wire.Command) error {
	if cmd.Arg(1) != "SB" {
		return errCode(errInvalidParameter)
	}
	n.mu.Lock()
	st := n.status
	n.mu.Unlock()
	if st == hub.StatusInvisible || st == "" {
		return errCode(errNotWhileHidden)
	}
	cookie := n.srv.cookies.issue(cookie{
		account: n.sess().Account().Number,
		expires: time.Now().Add(n.srv.cfg.CookieLifetime),
	})
	xfr := []string{cmd.Args[0], "SB", n.switchboardAddr(n.srv.cfg.SwitchboardAddr), "CKI", cookie}
	n.send("XFR", append(xfr, authDomain(n.dialect, "messenger.msn.com")...)...)
	return nil
}

// authDomain is what MSNP13+ add to XFR SB and RNG: "U" and the domain
// the cookie is for, and from MSNP14 a "1".
func authDomain(d int, domain string) []string {
	switch {
	case networkIDs(d):
		return []string{"U", domain, "1"}
	case addressBook(d):
		return []string{"U", domain}
	}
	return nil
}

func (n *nsConn) handleURL(_ context.Context, cmd wire.Command) error {
	if cmd.Arg(1) == "" {
		return errCode(errInvalidParameter)
	}
	n.send("URL", cmd.Args[0], "/unused1", "/unused2", "1")
	return nil
}

// handleSND acknowledges an e-mail invitation request; Crosstalk sends no
// e-mail.
func (n *nsConn) handleSND(_ context.Context, cmd wire.Command) error {
	if !strings.Contains(cmd.Arg(1), "@") {
		return errCode(errInvalidParameter)
	}
	n.send("SND", cmd.Args[0], "OK")
	return nil
}

// handleFND answers the member-directory search. The directory is empty,
// but the request is checked as the service did: first and last name are
// required.
func (n *nsConn) handleFND(_ context.Context, cmd wire.Command) error {
	fields := map[string]string{}
	for _, a := range cmd.Args[1:] {
		if k, v, ok := strings.Cut(a, "="); ok {
			fields[k] = v
		}
	}
	for _, k := range []string{"fname", "lname"} {
		if v := fields[k]; v == "" || v == "*" {
			return errCode(errInvalidParameter)
		}
	}
	n.send("FND", cmd.Args[0], "0", "0")
	return nil
}

func (n *nsConn) handleGTC(ctx context.Context, cmd wire.Command) error {
	if addressBook(n.dialect) {
		return errCode(errSyntax)
	}
	v := cmd.Arg(1)
	if v != "A" && v != "N" {
		return errCode(errInvalidParameter)
	}
	ser, err := n.sess().SetPromptOnAdd(ctx, v == "A")
	if err != nil {
		return listError(err)
	}
	n.sendSetting("GTC", cmd.Args[0], ser, v)
	return nil
}

func (n *nsConn) handleBLP(ctx context.Context, cmd wire.Command) error {
	v := hub.Privacy(cmd.Arg(1))
	if v != hub.AllowUnlisted && v != hub.BlockUnlisted {
		return errCode(errInvalidParameter)
	}
	ser, err := n.sess().SetPrivacy(ctx, v)
	if errors.Is(err, hub.ErrUnchanged) && addressBook(n.dialect) {
		// MSNP13+ clients send BLP at every login, Pidgin twice: the
		// mode they ask for is the mode they have.
		err = nil
	}
	if err != nil {
		return listError(err)
	}
	n.sendSetting("BLP", cmd.Args[0], ser, string(v))
	return nil
}

// sendSetting answers GTC or BLP: with the new list version up to MSNP9,
// without from MSNP10, where versions gave way to time stamps.
func (n *nsConn) sendSetting(name, trid string, ser uint32, value string) {
	if guidLists(n.dialect) {
		n.send(name, trid, value)
		return
	}
	n.send(name, trid, serial(ser), value)
}

// maxEncodedName is the longest %-encoded friendly name the service took.
const maxEncodedName = 387

func (n *nsConn) handleREA(ctx context.Context, cmd wire.Command) error {
	if len(cmd.Args) < 3 {
		return errCode(errInvalidParameter)
	}
	me := n.sess().Account()
	if !strings.EqualFold(cmd.Args[1], me.Email) {
		return n.contactName(ctx, cmd.Args[0], cmd.Args[1])
	}
	name, err := n.rename(ctx, cmd.Args[2])
	if err != nil {
		return err
	}
	n.send("REA", cmd.Args[0], serial(n.serial), me.Email, wire.EncodeName(name))
	return nil
}

// contactName answers REA for a contact, which MSNP2–9 clients send to
// bring the name their list keeps for someone up to date (MSN Messenger
// after an NLN; msnp.py to ask for the name). The list keeps no names of
// its own here, only each account's: the answer is the contact's name.
// Someone on none of the lists gets 216, as from the old service.
func (n *nsConn) contactName(ctx context.Context, trid, email string) error {
	if guidLists(n.dialect) {
		return errCode(errInvalidParameter) // MSNP10 replaced REA with PRP MFN
	}
	r, err := n.sess().Roster(ctx)
	if err != nil {
		return listError(err)
	}
	for _, e := range r.Entries {
		if strings.EqualFold(e.Contact.Email, email) {
			n.send("REA", trid, serial(r.Settings.Serial), e.Contact.Email, wire.EncodeName(e.Contact.DisplayName))
			return nil
		}
	}
	return errCode(errNotOnList)
}

// rename sets the friendly name from its %-encoded form (REA, PRP MFN).
func (n *nsConn) rename(ctx context.Context, encoded string) (string, error) {
	name := wire.DecodeName(encoded)
	if len(encoded) > maxEncodedName || strings.TrimSpace(name) == "" {
		return "", errCode(errInvalidName)
	}
	ser, err := n.sess().Rename(ctx, name)
	if errors.Is(err, hub.ErrInvalid) {
		return "", errCode(errInvalidName)
	}
	if err != nil {
		return "", listError(err)
	}
	n.serial = ser
	return name, nil
}

// listError maps hub and store errors to MSNP codes.
func listError(err error) error {
	for _, m := range []struct {
		err  error
		code int
	}{
		{hub.ErrNotFound, errInvalidUser},
		{hub.ErrAlreadyOnList, errAlreadyThere},
		{hub.ErrNotOnList, errNotOnList},
		{hub.ErrInOppositeList, errOppositeList},
		{hub.ErrListFull, errListFull},
		{hub.ErrNoSuchGroup, errInvalidGroup},
		{hub.ErrGroupExists, errGroupExists},
		{hub.ErrGroupNameTooLong, errGroupNameLong},
		{hub.ErrDefaultGroup, errGroupZero},
		{hub.ErrTooManyGroups, errListFull},
		{hub.ErrUnchanged, errAlreadyInMode},
		{hub.ErrInvalid, errInvalidParameter},
	} {
		if errors.Is(err, m.err) {
			return errCode(m.code)
		}
	}
	if err != nil {
		return &Error{Code: errDatabase}
	}
	return nil
}

// groupsSupported: groups arrived with MSNP7.
func (n *nsConn) groupsSupported() bool { return n.dialect >= 7 }

var errNoGroup = errCode(errInvalidParameter)

// parseGroup reads a group named in RMG or REG: a GUID from MSNP10, a
// number before.
func (n *nsConn) parseGroup(s string) (int, error) {
	if guidLists(n.dialect) {
		id, ok := parseGroupGUID(s)
		if !ok {
			return 0, errCode(errInvalidGroup)
		}
		return id, nil
	}
	return parseGroup(s)
}

func parseGroup(s string) (int, error) {
	id, err := strconv.Atoi(s)
	if err != nil || id < 0 {
		return 0, errCode(errInvalidGroup)
	}
	return id, nil
}

func (n *nsConn) handleADG(ctx context.Context, cmd wire.Command) error {
	if !n.groupsSupported() {
		return errCode(errSyntax)
	}
	if len(cmd.Args) < 2 {
		return errNoGroup
	}
	name := wire.DecodeName(cmd.Args[1])
	g, ser, err := n.sess().AddGroup(ctx, name)
	if err != nil {
		return listError(err)
	}
	if guidLists(n.dialect) {
		n.send("ADG", cmd.Args[0], wire.EncodeName(g.Name), groupGUID(g.ID), "0")
		return nil
	}
	n.send("ADG", cmd.Args[0], serial(ser), wire.EncodeName(g.Name), strconv.Itoa(g.ID), "0")
	return nil
}

func (n *nsConn) handleRMG(ctx context.Context, cmd wire.Command) error {
	if !n.groupsSupported() {
		return errCode(errSyntax)
	}
	id, err := n.parseGroup(cmd.Arg(1))
	if err != nil {
		return err
	}
	ser, err := n.sess().RemoveGroup(ctx, id)
	if err != nil {
		return listError(err)
	}
	if guidLists(n.dialect) {
		n.send("RMG", cmd.Args[0], "1", groupGUID(id))
		return nil
	}
	n.send("RMG", cmd.Args[0], serial(ser), strconv.Itoa(id))
	return nil
}

func (n *nsConn) handleREG(ctx context.Context, cmd wire.Command) error {
	if !n.groupsSupported() {
		return errCode(errSyntax)
	}
	id, err := n.parseGroup(cmd.Arg(1))
	if err != nil {
		return err
	}
	if len(cmd.Args) < 3 {
		return errNoGroup
	}
	name := wire.DecodeName(cmd.Args[2])
	ser, err := n.sess().RenameGroup(ctx, id, name)
	if err != nil {
		return listError(err)
	}
	if guidLists(n.dialect) {
		n.send("REG", cmd.Args[0], "1", wire.EncodeName(name), groupGUID(id), "0")
		return nil
	}
	n.send("REG", cmd.Args[0], serial(ser), strconv.Itoa(id), wire.EncodeName(name), "0")
	return nil
}

// lookupContact resolves a passport given in ADD/REM; 201 for something
// that is not an address, 205 for an address with no account.
func (n *nsConn) lookupContact(ctx context.Context, email string) (hub.Account, error) {
	if !validPassport(email) {
		return hub.Account{}, errCode(errInvalidParameter)
	}
	acct, err := n.srv.cfg.Hub.Store().AccountByEmail(ctx, email)
	if errors.Is(err, hub.ErrNotFound) {
		return acct, errCode(errInvalidUser)
	}
	return acct, err
}

func validPassport(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && at < len(s)-1 && len(s) <= 129 && !strings.ContainsAny(s, " \t")
}

func parseList(s string) (hub.List, bool) {
	l := hub.List(s)
	return l, l == hub.Forward || l == hub.Allow || l == hub.Block
}

func (n *nsConn) handleADD(ctx context.Context, cmd wire.Command) error {
	if len(cmd.Args) < 3 {
		return errCode(errInvalidParameter)
	}
	l, ok := parseList(cmd.Args[1])
	if !ok {
		return errCode(errInvalidParameter)
	}
	group := -1
	if l == hub.Forward {
		group = 0
		if len(cmd.Args) > 4 && n.groupsSupported() {
			var err error
			if group, err = parseGroup(cmd.Args[4]); err != nil {
				return err
			}
		}
	}
	contact, err := n.lookupContact(ctx, cmd.Args[2])
	if err != nil {
		return err
	}
	change, seen, err := n.sess().AddContact(ctx, l, contact.Number, group)
	if err != nil {
		return listError(err)
	}
	reply := []string{cmd.Args[0], string(l), serial(change.OwnerSerial), contact.Email, wire.EncodeName(contact.DisplayName)}
	if l == hub.Forward && n.groupsSupported() {
		reply = append(reply, strconv.Itoa(group))
	}
	n.send("ADD", reply...)
	if seen.Status != hub.StatusOffline && seen.Status != "" && n.online() {
		n.sendPresence("", seen)
	}
	return nil
}

func (n *nsConn) handleREM(ctx context.Context, cmd wire.Command) error {
	if len(cmd.Args) < 3 {
		return errCode(errInvalidParameter)
	}
	l, ok := parseList(cmd.Args[1])
	if !ok {
		return errCode(errInvalidParameter)
	}
	if guidLists(n.dialect) {
		return n.remGUID(ctx, cmd, l)
	}
	group := -1
	if l == hub.Forward && len(cmd.Args) > 3 && n.groupsSupported() {
		var err error
		if group, err = parseGroup(cmd.Args[3]); err != nil {
			return err
		}
	}
	contact, err := n.lookupContact(ctx, cmd.Args[2])
	if isCode(err, errInvalidUser) {
		return errCode(errNotOnList)
	}
	if err != nil {
		return err
	}
	change, err := n.sess().RemoveContact(ctx, l, contact.Number, group)
	if errors.Is(err, hub.ErrNotOnList) && group >= 0 {
		return errCode(errNotInGroup)
	}
	if err != nil {
		return listError(err)
	}
	reply := []string{cmd.Args[0], string(l), serial(change.OwnerSerial), contact.Email}
	if group >= 0 {
		reply = append(reply, strconv.Itoa(group))
	}
	n.send("REM", reply...)
	return nil
}

// handleSYN sends the lists when the client's cached version is stale.
func (n *nsConn) handleSYN(ctx context.Context, cmd wire.Command) error {
	if addressBook(n.dialect) {
		return errCode(errSyntax) // the address book replaced it
	}
	trid := cmd.Args[0]
	have, err := strconv.ParseUint(cmd.Arg(1), 10, 32)
	if guidLists(n.dialect) {
		// SYN trid <stamp> <stamp>: always everything (see guidSyncStamp).
		if cmd.Arg(1) == "" || cmd.Arg(2) == "" {
			return errCode(errInvalidParameter)
		}
		err = nil
	}
	if err != nil {
		return errCode(errInvalidParameter)
	}
	r, err := n.sess().Roster(ctx)
	if err != nil {
		return listError(err)
	}
	if !n.signedIn {
		n.login = &nsLogin{roster: r}
	}
	ver := serial(r.Settings.Serial)
	switch {
	case guidLists(n.dialect):
		n.syncAll(trid, r, []string{guidSyncStamp, guidSyncStamp})
		return nil
	case have != 0 && uint32(have) == r.Settings.Serial:
		// 0 is what a client without a cached list sends, so a new
		// account (version 0 too) still gets its groups and settings.
		n.send("SYN", trid, ver)
		return nil
	case passportLogin(n.dialect):
		n.syncAll(trid, r, []string{ver})
		return nil
	}
	n.send("SYN", trid, ver)
	gtc := "N"
	if r.Settings.PromptOnAdd {
		gtc = "A"
	}
	n.send("GTC", trid, ver, gtc)
	n.send("BLP", trid, ver, string(r.Settings.Privacy))
	if n.groupsSupported() {
		for i, g := range r.Groups {
			n.send("LSG", trid, ver, strconv.Itoa(i+1), strconv.Itoa(len(r.Groups)), strconv.Itoa(g.ID), wire.EncodeName(g.Name), "0")
		}
	}
	for _, l := range []hub.List{hub.Forward, hub.Allow, hub.Block, hub.Reverse} {
		n.sendList(trid, ver, l, r.Of(l))
	}
	return nil
}

// handleLST answers the MSNP2-era request for one list.
func (n *nsConn) handleLST(ctx context.Context, cmd wire.Command) error {
	l := hub.List(cmd.Arg(1))
	if !l.Valid() {
		return errCode(errInvalidParameter)
	}
	r, err := n.sess().Roster(ctx)
	if err != nil {
		return listError(err)
	}
	n.sendList(cmd.Args[0], serial(r.Settings.Serial), l, r.Of(l))
	return nil
}

func (n *nsConn) sendList(trid, ver string, l hub.List, entries []hub.Entry) {
	if len(entries) == 0 {
		n.send("LST", trid, string(l), ver, "0", "0")
		return
	}
	total := strconv.Itoa(len(entries))
	for i, e := range entries {
		args := []string{trid, string(l), ver, strconv.Itoa(i + 1), total, e.Contact.Email, wire.EncodeName(e.Contact.DisplayName)}
		if l == hub.Forward && n.groupsSupported() {
			groups := slices.Clone(e.Groups)
			if len(groups) == 0 {
				groups = []int{0}
			}
			ids := make([]string, len(groups))
			for j, g := range groups {
				ids[j] = strconv.Itoa(g)
			}
			args = append(args, strings.Join(ids, ","))
		}
		n.send("LST", args...)
	}
}
