package server

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/msnftp"
)

// Files keeps files MSN clients send to contacts whose protocol has no file
// transfer; (*drive.Server) implements it.
type Files interface {
	Deposit(ctx context.Context, sender, recipient uint32, name string, size int64, r io.Reader) (drive.Ticket, error)
	LinkPath(t drive.Ticket) string
}

const (
	// fileDialTimeout bounds the connection to the sender's MSNFTP port.
	fileDialTimeout = 30 * time.Second
	// fileNoticeTimeout bounds sending the recipient the link.
	fileNoticeTimeout = 10 * time.Second
	// maxFileOffers bounds the offers one remote member keeps at once.
	maxFileOffers = 8
)

// fileOffer is a file an MSN client offered a remote member, which the
// server accepted on their behalf and receives once the sender says where.
type fileOffer struct {
	sender uint32
	name   string
	size   int64
	cancel context.CancelFunc // set once the transfer runs
}

// invitation answers a text/x-msmsgsinvite payload sent to a remote member.
func (r *remote) invitation(ctx context.Context, from hub.Account, payload []byte) {
	inv, err := invite.Parse(payload)
	if err != nil {
		return
	}
	switch inv.Command {
	case invite.Invite:
		if inv.AppGUID != invite.FileTransferGUID || !r.takesFiles(ctx) {
			r.answer(ctx, from, invite.Invitation{Command: invite.Cancel, Cookie: inv.Cookie, CancelCode: invite.CancelRejectNotInstalled})
			return
		}
		if inv.FileSize <= 0 || !r.addOffer(inv.Cookie, &fileOffer{sender: from.Number, name: inv.File, size: inv.FileSize}) {
			r.answer(ctx, from, invite.Invitation{Command: invite.Cancel, Cookie: inv.Cookie, CancelCode: invite.CancelReject})
			return
		}
		r.answer(ctx, from, invite.Invitation{
			Command: invite.Accept, Cookie: inv.Cookie,
			LaunchApplication: "FALSE", RequestData: "IP-Address:",
		})
	case invite.Accept:
		r.startReceive(ctx, from, inv)
	case invite.Cancel:
		r.mu.Lock()
		if o := r.offers[inv.Cookie]; o != nil && o.sender == from.Number {
			if o.cancel != nil {
				o.cancel()
			}
			delete(r.offers, inv.Cookie)
		}
		r.mu.Unlock()
	}
}

// takesFiles reports whether the server may receive files for this member:
// a drive is configured and the member is online through a protocol other
// than GG (which has a file flow of its own) and MSN.
func (r *remote) takesFiles(ctx context.Context) bool {
	if r.srv.cfg.Files == nil {
		return false
	}
	sessions, err := r.srv.cfg.Hub.Sessions(ctx, r.acct.Number)
	if err != nil {
		r.srv.log.Warn("file offer: sessions", "to", r.acct.Number, "err", err)
		return false
	}
	for p := range sessions {
		if p != drive.ProtocolGG && p != protocolName {
			return true
		}
	}
	return false
}

func (r *remote) addOffer(cookie uint32, o *fileOffer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.offers == nil {
		r.offers = make(map[uint32]*fileOffer)
	}
	if _, taken := r.offers[cookie]; taken || len(r.offers) >= maxFileOffers {
		return false
	}
	r.offers[cookie] = o
	return true
}

func (r *remote) dropOffer(cookie uint32, o *fileOffer) {
	r.mu.Lock()
	if r.offers[cookie] == o {
		delete(r.offers, cookie)
	}
	r.mu.Unlock()
}

// sender returns the MSN connection of an account in this member's session.
func (r *remote) sender(number uint32) *sbConn {
	if r.sb == nil {
		return nil
	}
	r.sb.mu.Lock()
	defer r.sb.mu.Unlock()
	return r.sb.client(number)
}

// answer sends an invitation message from this member to an MSN client.
func (r *remote) answer(ctx context.Context, to hub.Account, inv invite.Invitation) {
	if c := r.sender(to.Number); c != nil {
		c.relay(ctx, r.acct, inv.Payload())
	}
}

// startReceive handles the sender's ACCEPT, which says where it listens:
// the server dials it and receives the file into the drive. The transfer
// lives no longer than the sender's switchboard connection.
func (r *remote) startReceive(ctx context.Context, from hub.Account, inv invite.Invitation) {
	c := r.sender(from.Number)
	r.mu.Lock()
	o := r.offers[inv.Cookie]
	if o == nil || o.sender != from.Number || o.cancel != nil || c == nil {
		r.mu.Unlock()
		return
	}
	tctx, cancel := context.WithCancel(ctx)
	o.cancel = cancel
	r.mu.Unlock()

	// Dial the address the sender's connection came from, not whatever
	// IP-Address claims: the server must not be made to connect elsewhere.
	host := ""
	if ta, ok := c.nc.RemoteAddr().(*net.TCPAddr); ok {
		host = ta.IP.String()
	}
	if host == "" || inv.Port <= 0 || inv.Port > 65535 || inv.AuthCookie == 0 {
		cancel()
		r.dropOffer(inv.Cookie, o)
		r.answer(ctx, from, invite.Invitation{Command: invite.Cancel, Cookie: inv.Cookie, CancelCode: invite.CancelFail})
		return
	}
	addr := net.JoinHostPort(host, strconv.Itoa(inv.Port))
	// The connection is tracked, so the count is above zero here and
	// Shutdown also waits for this transfer.
	r.srv.wg.Add(1)
	go func() {
		defer r.srv.wg.Done()
		defer cancel()
		defer r.dropOffer(inv.Cookie, o)
		code := r.receive(tctx, c, from, o, addr, inv.AuthCookie)
		if code != "" {
			r.answer(tctx, from, invite.Invitation{Command: invite.Cancel, Cookie: inv.Cookie, CancelCode: code})
		}
	}()
}

// receive runs one transfer into the drive and tells the recipient where
// to fetch the file. It returns the Cancel-Code for the sender on failure.
func (r *remote) receive(ctx context.Context, c *sbConn, from hub.Account, o *fileOffer, addr string, auth uint32) string {
	log := r.srv.log.With("from", from.Number, "to", r.acct.Number, "file", o.name, "size", o.size)
	dctx, dcancel := context.WithTimeout(ctx, fileDialTimeout)
	nc, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	dcancel()
	if err != nil {
		log.Info("file transfer: cannot reach the sender", "err", err)
		return invite.CancelFTTimeout
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := msnftp.Receive(ctx, nc, msnftp.ReceiveOptions{
			Passport: r.acct.Email, AuthCookie: auth, MaxSize: o.size,
		}, pw)
		if err == nil {
			pw.Close()
		} else {
			pw.CloseWithError(err)
		}
		done <- err
	}()
	t, err := r.srv.cfg.Files.Deposit(ctx, from.Number, r.acct.Number, o.name, o.size, pr)
	pr.CloseWithError(errors.New("deposit ended"))
	if rerr := <-done; rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		log.Info("file transfer failed", "err", err)
		return invite.CancelFail
	}
	link := r.srv.cfg.Files.LinkPath(t)
	if link == "" {
		return invite.CancelFail
	}
	name := from.DisplayName
	if name == "" {
		name = from.Email
	}
	text := name + " sent you a file: " + t.FileName + " (" + strconv.FormatInt(t.FileSize, 10) + " bytes): " +
		strings.TrimRight(r.srv.cfg.PublicURL, "/") + link
	// The file is in; the notice goes out even if the sender just left.
	nctx, ncancel := context.WithTimeout(context.WithoutCancel(ctx), fileNoticeTimeout)
	defer ncancel()
	if _, err := r.srv.cfg.Hub.SendMessage(nctx, from, r.acct.Number, hub.Message{Text: text}, ""); err != nil {
		log.Warn("file transfer: link message", "err", err)
		return invite.CancelFail
	}
	log.Info("file received for another protocol", "ticket", t.ID)
	return ""
}
