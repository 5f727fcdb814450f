package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/msnftp"
)

// The MSNFTP relay carries a file between two MSN clients through the
// server: the sender's ACCEPT, which says where it listens, is rewritten on
// its way to the receiver to name the relay instead; the receiver connects
// to the relay, which connects to the sender and passes the file through.
//
// It applies when Config.RelayAlways is set (and Config.FTPListener too),
// for a chat between exactly two MSN clients. Not handled: a sender that
// cannot listen (Connectivity: N) facing a receiver that cannot either; the
// sender then gives up as it would without the relay.

// relayLifetime bounds how long a remembered invitation or a relay cookie
// waits to be used.
const relayLifetime = 2 * time.Minute

// relayInvite is a file INVITE seen passing between two MSN clients.
type relayInvite struct {
	sb      *switchboard
	sender  uint32
	size    int64
	expires time.Time
}

// relayTicket is a relay cookie handed to a receiver.
type relayTicket struct {
	addr     string // where the real sender listens
	auth     uint32 // the sender's AuthCookie
	receiver string // the receiver's passport
	size     int64
	expires  time.Time
}

type relayTable struct {
	mu      sync.Mutex
	invites map[uint32]relayInvite
	tickets map[uint32]relayTicket
	used    int64 // relay connections that presented a valid cookie
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

// RelayedFiles reports how many MSNFTP connections the relay has taken
// with a valid cookie.
func (s *Server) RelayedFiles() int64 {
	s.relay.mu.Lock()
	defer s.relay.mu.Unlock()
	return s.relay.used
}

// relaying rewrites an invitation payload between two MSN clients when the
// relay applies; otherwise it returns payload unchanged.
func (c *sbConn) relaying(others []member, payload []byte) []byte {
	cfg := &c.srv.cfg
	if cfg.FTPListener == nil || !cfg.RelayAlways || len(others) != 1 {
		return payload
	}
	to, ok := others[0].(*sbConn)
	if !ok || !bytes.Contains(payload, []byte(invite.ContentType)) {
		return payload
	}
	inv, err := invite.Parse(payload)
	if err != nil {
		return payload
	}
	t := &c.srv.relay
	now := time.Now()
	switch inv.Command {
	case invite.Invite:
		if !strings.EqualFold(inv.AppGUID, invite.FileTransferGUID) || inv.FileSize < 0 {
			return payload
		}
		t.mu.Lock()
		t.sweepLocked(now)
		t.invites[inv.Cookie] = relayInvite{sb: c.sb, sender: c.acct.Number, size: inv.FileSize, expires: now.Add(relayLifetime)}
		t.mu.Unlock()
		return payload
	case invite.Accept:
		if inv.SenderConnect == "TRUE" || inv.Port <= 0 || inv.Port > 65535 || inv.AuthCookie == 0 {
			return payload
		}
	default:
		return payload
	}
	// The sender's ACCEPT with where it listens: dial the address its
	// switchboard connection came from, not whatever IP-Address claims.
	ta, ok := c.nc.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return payload
	}
	host, port := c.srv.relayAddr(to)
	if host == "" || port == 0 {
		return payload
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ri, ok := t.invites[inv.Cookie]
	if !ok || ri.sb != c.sb || ri.sender != c.acct.Number || now.After(ri.expires) {
		return payload
	}
	delete(t.invites, inv.Cookie)
	cookie := invite.NewCookie()
	for _, taken := t.tickets[cookie]; taken; _, taken = t.tickets[cookie] {
		cookie = invite.NewCookie()
	}
	t.tickets[cookie] = relayTicket{
		addr: net.JoinHostPort(ta.IP.String(), strconv.Itoa(inv.Port)), auth: inv.AuthCookie,
		receiver: to.acct.Email, size: ri.size, expires: now.Add(relayLifetime),
	}
	inv.IPAddress, inv.Port, inv.AuthCookie = host, port, cookie
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

// ServeFTP accepts MSNFTP relay connections on Config.FTPListener until
// the listener closes.
func (s *Server) ServeFTP() error {
	l := s.cfg.FTPListener
	if l == nil {
		return errors.New("msnp: no FTP listener configured")
	}
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.shutdown
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.mu.Lock()
		if s.shutdown {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.relayConn(nc)
		}()
	}
}

// relayConn serves one receiver connected to the relay.
func (s *Server) relayConn(nc net.Conn) {
	ctx := s.relayCtx
	nc.SetDeadline(time.Now().Add(fileDialTimeout))
	br := bufio.NewReaderSize(nc, msnftp.MaxLine)
	ver, err := readFTPLine(br)
	if err != nil || !hasField(ver, "MSNFTP") || !strings.HasPrefix(string(ver), "VER") {
		nc.Close()
		return
	}
	const verReply = "VER MSNFTP\r\n"
	if _, err := io.WriteString(nc, verReply); err != nil {
		nc.Close()
		return
	}
	usr, err := readFTPLine(br)
	f := strings.Fields(string(usr))
	if err != nil || len(f) != 3 || f[0] != "USR" {
		nc.Close()
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
		nc.Close()
		return
	}
	nc.SetDeadline(time.Time{})
	log := s.log.With("receiver", tk.receiver, "size", tk.size)

	dctx, dcancel := context.WithTimeout(ctx, fileDialTimeout)
	sc, err := (&net.Dialer{}).DialContext(dctx, "tcp", tk.addr)
	dcancel()
	if err != nil {
		log.Info("file relay: cannot reach the sender", "err", err)
		nc.Close()
		return
	}
	// msnftp.Send runs the handshake itself: it reads again the lines read
	// here, and its VER answer, already sent, is swallowed.
	rc := &replayConn{Conn: nc, r: io.MultiReader(bytes.NewReader(append(ver, usr...)), br), skip: len(verReply)}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := msnftp.Receive(ctx, sc, msnftp.ReceiveOptions{Passport: tk.receiver, AuthCookie: tk.auth, MaxSize: tk.size}, pw)
		if err == nil {
			pw.Close()
		} else {
			pw.CloseWithError(err)
		}
		done <- err
	}()
	err = msnftp.Send(ctx, rc, msnftp.SendOptions{AuthCookie: uint32(cookie), ExpectUser: tk.receiver, Size: tk.size}, pr)
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

func hasField(line []byte, f string) bool {
	for _, x := range strings.Fields(string(line)) {
		if x == f {
			return true
		}
	}
	return false
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
