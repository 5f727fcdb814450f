package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/service"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/msnftp"
)

// The MSNFTP relay carries a file between two MSN clients through the
// server. It needs Config.FTPListener, and applies to a chat between
// exactly two MSN clients in three cases:
//
//   - The sender listens (only with Config.RelayAlways): its ACCEPT, which
//     says where it listens, is rewritten on its way to the receiver to
//     name the relay's port instead; the receiver connects there, and the
//     relay connects to the sender and passes the file through.
//   - Neither side can take a connection (always): the sender's INVITE
//     says Connectivity: N and the receiver answers with a plain ACCEPT,
//     without Sender-Connect (it cannot listen either, or is an MSN 4.x
//     client that does not know Sender-Connect). That ACCEPT reaches the
//     sender as one with Sender-Connect: TRUE naming a port the relay
//     opened for this transfer, and the receiver gets, as if from the
//     sender, an ACCEPT naming the relay's port. Both connect to the relay,
//     which pairs the two connections.
//   - The receiver listens, with Sender-Connect (only with RelayAlways):
//     its ACCEPT reaches the sender naming a port the relay opened for this
//     transfer, and the relay connects to the receiver's listener.
//
// Toward the sender the relay plays the receiver, toward the receiver the
// sender. On MSNFTP the file's receiver speaks first, whoever dialled, so
// the relay cannot tell a sender from a receiver on one shared port by
// reading; a sender therefore connects to a port of its own that takes one
// connection. That is a choice: operators must allow these ephemeral ports
// through their firewall, as for files from GG users to MSN clients.

// relayLifetime bounds how long a remembered invitation or a relay cookie
// waits to be used.
const relayLifetime = 2 * time.Minute

// relayInvite is a file INVITE seen passing between two MSN clients.
type relayInvite struct {
	sb         *switchboard
	from       *sbConn // the sender's switchboard connection
	size       int64
	noIncoming bool // Connectivity: N
	expires    time.Time
}

// relayTicket is a relay cookie handed to a receiver. The relay reaches
// the sender either by dialling addr or through leg.
type relayTicket struct {
	addr     string     // where the real sender listens
	leg      *senderLeg // where the sender's connection to the relay turns up
	auth     uint32     // the AuthCookie the relay presents to the sender
	receiver string     // the receiver's passport
	size     int64
	expires  time.Time
}

type relayTable struct {
	mu      sync.Mutex
	invites map[uint32]relayInvite
	tickets map[uint32]relayTicket
	used    int64 // transfers taken on, see RelayedFiles
}

func (t *relayTable) sweepLocked(now time.Time) {
	for k, v := range t.invites {
		if now.After(v.expires) {
			delete(t.invites, k)
		}
	}
	for k, v := range t.tickets {
		if now.After(v.expires) {
			delete(t.tickets, k)
		}
	}
}

// takeInvite removes and returns the INVITE that an ACCEPT in sb quotes,
// if want says it is the one.
func (t *relayTable) takeInvite(cookie uint32, sb *switchboard, want func(relayInvite) bool) (relayInvite, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ri, ok := t.invites[cookie]
	if !ok || ri.sb != sb || time.Now().After(ri.expires) || !want(ri) {
		return relayInvite{}, false
	}
	delete(t.invites, cookie)
	return ri, true
}

// issue stores a ticket under a cookie no other ticket has, and returns
// the cookie.
func (t *relayTable) issue(tk relayTicket) uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(time.Now())
	cookie := invite.NewCookie()
	for _, taken := t.tickets[cookie]; taken; _, taken = t.tickets[cookie] {
		cookie = invite.NewCookie()
	}
	t.tickets[cookie] = tk
	return cookie
}

// RelayedFiles reports how many transfers the relay has taken on: a
// receiver presented a valid cookie, or the relay reached a listening
// receiver.
func (s *Server) RelayedFiles() int64 {
	s.relay.mu.Lock()
	defer s.relay.mu.Unlock()
	return s.relay.used
}

// relaying rewrites an invitation payload between two MSN clients when the
// relay applies (rewritten); otherwise it returns payload unchanged.
func (c *sbConn) relaying(others []member, payload []byte) (_ []byte, rewritten bool) {
	cfg := &c.srv.cfg
	if cfg.FTPListener == nil || len(others) != 1 {
		return payload, false
	}
	to, ok := others[0].(*sbConn)
	if !ok || !bytes.Contains(payload, []byte(invite.ContentType)) {
		return payload, false
	}
	inv, err := invite.Parse(payload)
	if err != nil {
		return payload, false
	}
	var out []byte
	switch inv.Command {
	case invite.Invite:
		noIncoming := strings.EqualFold(inv.Connectivity, "N")
		if !strings.EqualFold(inv.AppGUID, invite.FileTransferGUID) || inv.FileSize < 0 || !(cfg.RelayAlways || noIncoming) {
			return payload, false
		}
		t := &c.srv.relay
		now := time.Now()
		t.mu.Lock()
		t.sweepLocked(now)
		t.invites[inv.Cookie] = relayInvite{sb: c.sb, from: c, size: inv.FileSize, noIncoming: noIncoming, expires: now.Add(relayLifetime)}
		t.mu.Unlock()
	case invite.Accept:
		listens := inv.Port > 0 && inv.Port <= 65535 && inv.AuthCookie != 0
		switch {
		case inv.SenderConnect == "TRUE":
			if cfg.RelayAlways && listens {
				out = c.relayToReceiver(to, inv)
			}
		case listens:
			if cfg.RelayAlways {
				out = c.relayFromSender(to, inv)
			}
		default:
			out = c.relayBothWays(to, inv)
		}
	}
	if out == nil {
		return payload, false
	}
	return out, true
}

// relayFromSender rewrites the ACCEPT of a sender on c that says where it
// listens: the receiver on to connects to the relay, which dials the
// sender. It returns nil when the relay does not apply.
func (c *sbConn) relayFromSender(to *sbConn, inv invite.Invitation) []byte {
	s := c.srv
	// Dial the address the sender's switchboard connection came from, not
	// whatever IP-Address claims.
	ta, ok := c.nc.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return nil
	}
	host, port := s.relayAddr(to)
	if host == "" || port == 0 {
		return nil
	}
	ri, ok := s.relay.takeInvite(inv.Cookie, c.sb, func(ri relayInvite) bool { return ri.from == c })
	if !ok {
		return nil
	}
	cookie := s.relay.issue(relayTicket{
		addr: net.JoinHostPort(ta.IP.String(), strconv.Itoa(inv.Port)), auth: inv.AuthCookie,
		receiver: to.acct.Email, size: ri.size, expires: time.Now().Add(relayLifetime),
	})
	inv.IPAddress, inv.Port, inv.AuthCookie = host, port, cookie
	inv.IPAddressInternal, inv.PortX, inv.PortXInternal = "", 0, 0
	return inv.Payload()
}

// relayBothWays handles the plain ACCEPT of a receiver on c when the
// sender on to cannot listen either: both connect to the relay, the
// sender to a port of its own and the receiver to the shared one. It
// returns the ACCEPT for the sender, or nil when the relay does not apply.
func (c *sbConn) relayBothWays(to *sbConn, inv invite.Invitation) []byte {
	s := c.srv
	host, port := s.relayAddr(c)
	if host == "" || port == 0 {
		return nil
	}
	ri, ok := s.relay.takeInvite(inv.Cookie, c.sb, func(ri relayInvite) bool { return ri.from == to && ri.noIncoming })
	if !ok {
		return nil
	}
	l, lhost, err := s.legPort(to)
	if err != nil {
		s.log.Info("file relay: no port for the sender", "err", err)
		return nil
	}
	leg := s.newSenderLeg()
	auth := invite.NewCookie()
	ticket := s.relay.issue(relayTicket{
		leg: leg, auth: auth, receiver: c.acct.Email, size: ri.size, expires: time.Now().Add(relayLifetime),
	})
	// The switchboard connection is tracked, so the count is above zero.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.awaitSender(l, leg)
	}()
	// The receiver hears, as from the sender, where to connect. Writing to
	// a switchboard connection only queues, so no context is needed.
	c.relay(context.Background(), to.acct, invite.Invitation{
		Command: invite.Accept, Cookie: inv.Cookie,
		IPAddress: host, Port: port, AuthCookie: ticket,
		LaunchApplication: "FALSE", RequestData: "IP-Address:",
	}.Payload())
	return senderConnect(inv, l, lhost, auth)
}

// relayToReceiver rewrites the Sender-Connect ACCEPT of a receiver on c
// that listens: the sender on to connects to a port of the relay, which
// dials the receiver. It returns nil when the relay does not apply.
func (c *sbConn) relayToReceiver(to *sbConn, inv invite.Invitation) []byte {
	s := c.srv
	// Dial the address the receiver's switchboard connection came from,
	// not whatever IP-Address claims.
	ra, ok := c.nc.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return nil
	}
	ri, ok := s.relay.takeInvite(inv.Cookie, c.sb, func(ri relayInvite) bool { return ri.from == to })
	if !ok {
		return nil
	}
	l, host, err := s.legPort(to)
	if err != nil {
		s.log.Info("file relay: no port for the sender", "err", err)
		return nil
	}
	auth := invite.NewCookie()
	addr := net.JoinHostPort(ra.IP.String(), strconv.Itoa(inv.Port))
	recv := msnftp.ReceiveOptions{Passport: c.acct.Email, AuthCookie: auth, MaxSize: ri.size}
	send := msnftp.SendOptions{AuthCookie: inv.AuthCookie, ExpectUser: c.acct.Email, Size: ri.size}
	// The switchboard connection is tracked, so the count is above zero.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.relayToListener(l, addr, recv, send)
	}()
	return senderConnect(inv, l, host, auth)
}

// senderConnect is inv turned into an ACCEPT that has the sender connect
// to the relay's port l, advertised as host, with the AuthCookie auth.
func senderConnect(inv invite.Invitation, l net.Listener, host string, auth uint32) []byte {
	inv.SenderConnect = "TRUE"
	inv.IPAddress, inv.Port, inv.AuthCookie = host, l.Addr().(*net.TCPAddr).Port, auth
	inv.IPAddressInternal, inv.PortX, inv.PortXInternal = "", 0, 0
	return inv.Payload()
}

// relayAddr is the relay's address as the receiver on c is told it.
func (s *Server) relayAddr(c *sbConn) (string, int) {
	host, port := "", 0
	if a, ok := s.cfg.FTPListener.Addr().(*net.TCPAddr); ok {
		port = a.Port
	}
	if s.cfg.FTPPublicAddr != "" {
		h, p, err := net.SplitHostPort(s.cfg.FTPPublicAddr)
		if err != nil {
			return "", 0
		}
		host = h
		if n, err := strconv.Atoi(p); err == nil && n > 0 && n <= 65535 {
			port = n
		}
	}
	if host == "" {
		if a, ok := c.nc.LocalAddr().(*net.TCPAddr); ok {
			host = a.IP.String()
		}
	}
	return host, port
}

// legPort opens a port for one transfer, where the sender on c connects to
// the relay, and returns it with the host the sender is told: the host of
// FTPPublicAddr, else the address the sender reached the switchboard at.
func (s *Server) legPort(c *sbConn) (net.Listener, string, error) {
	ta, ok := c.nc.LocalAddr().(*net.TCPAddr)
	if !ok {
		return nil, "", errors.New("the switchboard connection is not TCP")
	}
	host := ta.IP.String()
	if s.cfg.FTPPublicAddr != "" {
		h, _, err := net.SplitHostPort(s.cfg.FTPPublicAddr)
		if err != nil {
			return nil, "", err
		}
		if h != "" {
			host = h
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ta.IP.String(), "0"))
	if err != nil {
		return nil, "", err
	}
	return l, host, nil
}

// senderLeg is where the connection a sender makes to its per-transfer
// port is handed to the relay connection of the receiver.
type senderLeg struct {
	conns chan net.Conn // unbuffered: exactly one side owns the connection
	// ctx ends when either side gives up, and at shutdown.
	ctx     context.Context
	cancel  context.CancelFunc
	timeout time.Duration // for each wait, see Config.FileLegTimeout
}

func (s *Server) newSenderLeg() *senderLeg {
	ctx, cancel := context.WithCancel(s.relayCtx)
	return &senderLeg{conns: make(chan net.Conn), ctx: ctx, cancel: cancel, timeout: s.cfg.FileLegTimeout}
}

// awaitSender takes the sender's connection on l and hands it over to the
// receiver's side, waiting for it at most leg.timeout.
func (s *Server) awaitSender(l net.Listener, leg *senderLeg) {
	defer leg.cancel()
	sc, err := msnftp.AcceptOne(leg.ctx, l, leg.timeout)
	if err != nil {
		s.log.Info("file relay: the sender did not connect", "err", err)
		return
	}
	t := time.NewTimer(leg.timeout)
	defer t.Stop()
	select {
	case leg.conns <- sc:
	case <-t.C:
		s.log.Info("file relay: the receiver did not connect")
		sc.Close()
	case <-leg.ctx.Done():
		sc.Close()
	}
}

// meet waits for the sender's connection while the receiver on nc, read
// through br, waits for FIL. The receiver has nothing to say meanwhile,
// so its hanging up or speaking (CCL) ends the wait, as do
// leg.timeout, the sender's port giving up, and shutdown.
func (leg *senderLeg) meet(nc net.Conn, br *bufio.Reader) (net.Conn, error) {
	spoke := make(chan struct{})
	go func() {
		defer close(spoke)
		br.Peek(1)
	}()
	t := time.NewTimer(leg.timeout)
	defer t.Stop()
	var sc net.Conn
	var err error
	watching := true
	select {
	case sc = <-leg.conns:
	case <-spoke:
		watching = false
		err = errors.New("the receiver hung up or cancelled")
	case <-t.C:
		err = errors.New("the sender did not connect in time")
	case <-leg.ctx.Done():
		err = errors.New("the sender's port gave up")
	}
	if watching {
		// Stop the watcher; what it may have read stays in br.
		nc.SetReadDeadline(time.Unix(1, 0))
		<-spoke
		nc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		leg.cancel()
		return nil, err
	}
	return sc, nil
}

// relayToListener takes the sender's connection on l, dials the listening
// receiver at addr and passes the file through.
func (s *Server) relayToListener(l net.Listener, addr string, recv msnftp.ReceiveOptions, send msnftp.SendOptions) {
	log := s.log.With("receiver", recv.Passport, "size", send.Size)
	sc, err := msnftp.AcceptOne(s.relayCtx, l, s.cfg.FileLegTimeout)
	if err != nil {
		log.Info("file relay: the sender did not connect", "err", err)
		return
	}
	dctx, dcancel := context.WithTimeout(s.relayCtx, fileDialTimeout)
	rc, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	dcancel()
	if err != nil {
		log.Info("file relay: cannot reach the receiver", "err", err)
		sc.Close()
		return
	}
	s.relay.mu.Lock()
	s.relay.used++
	s.relay.mu.Unlock()
	s.pipe(log, sc, rc, recv, send)
}

// ServeFTP accepts MSNFTP relay connections on Config.FTPListener until
// the listener closes.
func (s *Server) ServeFTP() error {
	l := s.cfg.FTPListener
	if l == nil {
		return errors.New("msnp: no FTP listener configured")
	}
	if !s.addListener(l) {
		l.Close()
		return ErrServerClosed
	}
	err := service.Serve(l, func(nc net.Conn) {
		s.mu.Lock()
		if s.shutdown {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()
		s.relayConn(nc)
	})
	if s.closed() {
		return ErrServerClosed
	}
	return err
}

// relayConn serves one receiver connected to the relay.
func (s *Server) relayConn(nc net.Conn) {
	ctx := s.relayCtx
	// Until the file flows, shutting down just hangs up.
	hangUp := context.AfterFunc(ctx, func() { nc.Close() })
	drop := func() {
		hangUp()
		nc.Close()
	}
	nc.SetDeadline(time.Now().Add(fileDialTimeout))
	br := bufio.NewReaderSize(nc, msnftp.MaxLine)
	ver, err := readFTPLine(br)
	// The ticket must go only to a handshake msnftp.Send will take.
	if err != nil || !msnftp.IsVerMSNFTP(strings.Fields(string(ver))) {
		drop()
		return
	}
	const verReply = "VER MSNFTP\r\n"
	if _, err := io.WriteString(nc, verReply); err != nil {
		drop()
		return
	}
	usr, err := readFTPLine(br)
	f := strings.Fields(string(usr))
	if err != nil || len(f) != 3 || f[0] != "USR" {
		drop()
		return
	}
	cookie, err := strconv.ParseUint(f[2], 10, 32)
	t := &s.relay
	t.mu.Lock()
	tk, ok := t.tickets[uint32(cookie)]
	if ok && err == nil && time.Now().Before(tk.expires) && strings.EqualFold(f[1], tk.receiver) {
		delete(t.tickets, uint32(cookie))
		t.used++
	} else {
		ok = false
	}
	t.mu.Unlock()
	if !ok {
		drop()
		return
	}
	service.LoggedIn(nc) // the cookie shows a real transfer
	nc.SetDeadline(time.Time{})
	log := s.log.With("receiver", tk.receiver, "size", tk.size)

	var sc net.Conn
	if tk.leg != nil {
		sc, err = tk.leg.meet(nc, br)
	} else {
		dctx, dcancel := context.WithTimeout(ctx, fileDialTimeout)
		sc, err = (&net.Dialer{}).DialContext(dctx, "tcp", tk.addr)
		dcancel()
	}
	if err == nil && !hangUp() {
		sc.Close()
		err = ctx.Err()
	}
	if err != nil {
		log.Info("file relay: no connection to the sender", "err", err)
		drop()
		return
	}
	// msnftp.Send runs the handshake itself: it reads again the lines read
	// here, and its VER answer, already sent, is swallowed.
	rc := &replayConn{Conn: nc, r: io.MultiReader(bytes.NewReader(append(ver, usr...)), br), skip: len(verReply)}
	s.pipe(log, sc, rc,
		msnftp.ReceiveOptions{Passport: tk.receiver, AuthCookie: tk.auth, MaxSize: tk.size},
		msnftp.SendOptions{AuthCookie: uint32(cookie), ExpectUser: tk.receiver, Size: tk.size})
}

// pipe receives the file from the sender on sc and sends it on to the
// receiver on rc. A failure on one side reaches the other in MSNFTP's own
// terms: through the pipe as a cancel block for the receiver, and as CCL
// for the sender.
func (s *Server) pipe(log *slog.Logger, sc, rc net.Conn, recv msnftp.ReceiveOptions, send msnftp.SendOptions) {
	recv.ExactSize = true // the receiver was promised the invitation's size
	pr, pw := io.Pipe()
	verdict := make(chan error, 1)
	done := make(chan error, 1)
	rctx, stopReceive := context.WithCancel(s.relayCtx)
	defer stopReceive()
	// The sender hears BYE success only once the real receiver has said
	// it; a failure verdict fails the commit.
	recv.Commit = func() error { return <-verdict }
	go func() {
		_, err := msnftp.Receive(rctx, sc, recv, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	err := msnftp.Send(s.relayCtx, rc, send, pr)
	verdict <- err
	if err != nil {
		stopReceive()
	}
	pr.CloseWithError(errors.New("relay: receiver side ended"))
	rerr := <-done
	if err != nil || rerr != nil {
		log.Info("file relay failed", "send", err, "receive", rerr)
		return
	}
	log.Info("file relayed")
}

// readFTPLine reads one non-blank line, with its line end.
func readFTPLine(br *bufio.Reader) ([]byte, error) {
	for range 8 {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) > 0 {
			return append([]byte(nil), line...), nil
		}
	}
	return nil, errors.New("relay: too many blank lines")
}

// replayConn hands msnftp.Send a connection whose first lines were already
// read: reads come from r, and the first skip bytes written are dropped.
type replayConn struct {
	net.Conn
	r    io.Reader
	mu   sync.Mutex
	skip int
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *replayConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	skip := min(c.skip, len(p))
	c.skip -= skip
	c.mu.Unlock()
	if skip == len(p) {
		return len(p), nil
	}
	n, err := c.Conn.Write(p[skip:])
	return n + skip, err
}

func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
