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

const (
	// fileDialTimeout bounds the connection to the sender's MSNFTP port.
	fileDialTimeout = 30 * time.Second
	// fileNoticeTimeout bounds sending the recipient the link.
	fileNoticeTimeout = 10 * time.Second
	// fileStoreTimeout bounds keeping a received file for good (syncing and
	// recording it) once its last byte is in; the sender waits for BYE
	// meanwhile, and MSN clients give up after about 30 seconds.
	fileStoreTimeout = 20 * time.Second
	// maxFileOffers bounds the offers one remote member keeps at once.
	maxFileOffers = 8
)

// fileOffer is a file an MSN client offered a remote member, which the
// server accepted on their behalf and receives once the sender says where
// it listens, or once a sender behind NAT connects to the server.
type fileOffer struct {
	sender     uint32
	name       string
	size       int64
	noIncoming bool               // the sender said Connectivity: N: the server listens
	cancel     context.CancelFunc // set once the transfer runs

	// For a GG recipient: the drive ticket, the end of the wait for its
	// answer, and whether the server has sent the ACCEPT yet.
	ticket   string
	stop     context.CancelFunc
	accepted bool
}

// invitation answers a text/x-msmsgsinvite payload sent to a remote member.
func (r *remote) invitation(ctx context.Context, from hub.Account, payload []byte) {
	inv, err := invite.Parse(payload)
	if err != nil {
		return
	}
	switch inv.Command {
	case invite.Invite:
		route := routeNone
		if inv.AppGUID == invite.FileTransferGUID {
			route = r.fileRoute(ctx)
		}
		if route == routeNone {
			r.answer(ctx, from, invite.Invitation{Command: invite.Cancel, Cookie: inv.Cookie, CancelCode: invite.CancelRejectNotInstalled})
			return
		}
		o := &fileOffer{sender: from.Number, name: inv.File, size: inv.FileSize, accepted: route == routeLink,
			noIncoming: strings.EqualFold(inv.Connectivity, "N")}
		if inv.FileSize < 0 || !r.addOffer(inv.Cookie, o) {
			r.answer(ctx, from, invite.Invitation{Command: invite.Cancel, Cookie: inv.Cookie, CancelCode: invite.CancelReject})
			return
		}
		if route == routeDrive {
			r.offerDrive(ctx, from, inv.Cookie, o)
			return
		}
		r.accept(ctx, from, inv.Cookie, o)
	case invite.Accept:
		if o := r.srv.takeOutgoing(inv.Cookie, r.acct.Number, from.Number); o != nil {
			r.startSend(ctx, from, inv, o)
			return
		}
		r.startReceive(ctx, from, inv)
	case invite.Cancel:
		if o := r.srv.takeOutgoing(inv.Cookie, r.acct.Number, from.Number); o != nil {
			if inv.CancelCode == invite.CancelReject {
				o.finish(drive.ErrDeclined)
			} else {
				o.finish(errors.New("msnp: the recipient cancelled: " + inv.CancelCode))
			}
			return
		}
		r.mu.Lock()
		if o := r.offers[inv.Cookie]; o != nil && o.sender == from.Number {
			if o.stop != nil {
				o.stop()
			}
			if o.cancel != nil {
				o.cancel()
			}
			delete(r.offers, inv.Cookie)
		}
		r.mu.Unlock()
	}
}

// offerDrive offers a file to a member online only through GG as a drive
// ticket and, in the background, waits for their answer: allowed, the
// server accepts the invitation for them; rejected or unanswered, the
// sender gets CANCEL REJECT or TIMEOUT.
func (r *remote) offerDrive(ctx context.Context, from hub.Account, cookie uint32, o *fileOffer) {
	files := r.srv.cfg.Files
	t, err := files.Offer(ctx, from.Number, r.acct.Number, o.name, o.size)
	if err != nil {
		r.srv.log.Info("file offer to GG", "from", from.Number, "to", r.acct.Number, "err", err)
		r.dropOffer(cookie, o)
		r.answer(ctx, from, invite.Invitation{Command: invite.Cancel, Cookie: cookie, CancelCode: invite.CancelFail})
		return
	}
	wctx, stop := context.WithTimeout(ctx, r.srv.cfg.FileAnswerTimeout)
	r.mu.Lock()
	if r.offers[cookie] != o { // cancelled already
		r.mu.Unlock()
		stop()
		r.withdraw(ctx, t.ID)
		return
	}
	o.ticket, o.stop = t.ID, stop
	r.mu.Unlock()
	r.awaitGG(wctx, stop, t.ID, func(ack drive.Ack, err error) {
		if err == nil && ack == drive.AckAllowed {
			r.mu.Lock()
			live := r.offers[cookie] == o
			o.accepted = live
			r.mu.Unlock()
			if live {
				r.accept(ctx, from, cookie, o)
				return
			}
			err = context.Canceled
		}
		r.dropOffer(cookie, o)
		switch {
		case err == nil: // rejected
			r.answer(ctx, from, invite.Invitation{Command: invite.Cancel, Cookie: cookie, CancelCode: invite.CancelReject})
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			r.withdraw(ctx, t.ID)
			r.answer(ctx, from, invite.Invitation{Command: invite.Cancel, Cookie: cookie, CancelCode: invite.CancelTimeout})
		default: // the sender cancelled or left, or the drive failed
			r.withdraw(ctx, t.ID)
		}
	})
}

// awaitGG waits in the background, until wctx ends, for a GG member's
// answer to the drive ticket id, and hands it to decide; then it calls
// stop. It is called for a tracked connection, so the wait group count is
// above zero.
func (r *remote) awaitGG(wctx context.Context, stop context.CancelFunc, id string, decide func(drive.Ack, error)) {
	r.srv.wg.Add(1)
	go func() {
		defer r.srv.wg.Done()
		defer stop()
		decide(r.srv.cfg.Files.AwaitAnswer(wctx, id))
	}()
}

// withdraw ends a drive ticket that will not be filled, even if ctx is done.
func (r *remote) withdraw(ctx context.Context, id string) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fileNoticeTimeout)
	defer cancel()
	if err := r.srv.cfg.Files.Withdraw(wctx, id); err != nil {
		r.srv.log.Warn("file offer to GG: withdraw", "ticket", id, "err", err)
	}
}

// How the server takes files for a member.
const (
	routeNone   = iota // it does not
	routeLink          // receives them and sends a download link
	routeDrive         // offers them as GG drive tickets
	routeMSNFTP        // offers them to an MSN client without MSNSLP over MSNFTP
)

// fileRoute tells how the server may receive files for this member: none
// without a drive; drive tickets when the member is online only through GG
// (which has a file flow of its own); else download links, for members
// online through another protocol than GG and MSN.
func (r *remote) fileRoute(ctx context.Context) int {
	if r.oldClient != nil {
		return routeMSNFTP
	}
	if r.srv.cfg.Files == nil {
		return routeNone
	}
	sessions, err := r.srv.cfg.Hub.Sessions(ctx, r.acct.Number)
	if err != nil {
		r.srv.log.Warn("file offer: sessions", "to", r.acct.Number, "err", err)
		return routeNone
	}
	gg := false
	for p := range sessions {
		switch p {
		case drive.ProtocolGG:
			gg = true
		case protocolName:
		default:
			return routeLink
		}
	}
	if gg {
		return routeDrive
	}
	return routeNone
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

// accept accepts a file offer for this member. Usually the sender then
// says where it listens (see startReceive); a sender that cannot take
// connections is told to connect to a port the server opens for the
// transfer instead (Sender-Connect), where the server plays the receiver.
func (r *remote) accept(ctx context.Context, from hub.Account, cookie uint32, o *fileOffer) {
	if !o.noIncoming {
		r.answer(ctx, from, invite.Invitation{
			Command: invite.Accept, Cookie: cookie,
			LaunchApplication: "FALSE", RequestData: "IP-Address:",
		})
		return
	}
	c := r.sender(from.Number)
	tctx, cancel, ok := r.startTransfer(ctx, cookie, o, c)
	if !ok {
		return
	}
	l, host, err := r.srv.legPort(c)
	if err != nil {
		r.srv.log.Info("file transfer: no port for the sender", "err", err)
		cancel()
		r.failTransfer(ctx, from, cookie, o, invite.CancelFail)
		return
	}
	auth := invite.NewCookie()
	r.answer(ctx, from, invite.Invitation{
		Command: invite.Accept, Cookie: cookie, SenderConnect: "TRUE",
		IPAddress: host, Port: l.Addr().(*net.TCPAddr).Port, AuthCookie: auth,
		LaunchApplication: "FALSE", RequestData: "IP-Address:",
	})
	// The connection is tracked, so the count is above zero here.
	r.srv.wg.Add(1)
	go func() {
		defer r.srv.wg.Done()
		defer cancel()
		defer r.dropOffer(cookie, o)
		code := invite.CancelTimeout
		if nc, err := msnftp.AcceptOne(tctx, l, r.srv.cfg.FileLegTimeout); err != nil {
			r.srv.log.Info("file transfer: the sender did not connect", "from", from.Number, "err", err)
		} else {
			code = r.receive(tctx, from, o, nc, auth)
		}
		if code != "" {
			r.failTransfer(tctx, from, cookie, o, code)
		}
	}()
}

// startTransfer marks an accepted offer as running, unless it is not
// (or no longer) waiting for its transfer.
func (r *remote) startTransfer(ctx context.Context, cookie uint32, o *fileOffer, c *sbConn) (context.Context, context.CancelFunc, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.offers[cookie] != o || !o.accepted || o.cancel != nil || c == nil {
		return nil, nil, false
	}
	tctx, cancel := context.WithCancel(ctx)
	o.cancel = cancel
	return tctx, cancel, true
}

// failTransfer drops an offer, withdraws its drive ticket and sends the
// sender CANCEL with code.
func (r *remote) failTransfer(ctx context.Context, from hub.Account, cookie uint32, o *fileOffer, code string) {
	r.dropOffer(cookie, o)
	if o.ticket != "" {
		r.withdraw(ctx, o.ticket)
	}
	r.answer(ctx, from, invite.Invitation{Command: invite.Cancel, Cookie: cookie, CancelCode: code})
}

// startReceive handles the sender's ACCEPT, which says where it listens:
// the server dials it and receives the file into the drive. The transfer
// lives no longer than the sender's switchboard connection.
func (r *remote) startReceive(ctx context.Context, from hub.Account, inv invite.Invitation) {
	c := r.sender(from.Number)
	r.mu.Lock()
	o := r.offers[inv.Cookie]
	r.mu.Unlock()
	if o == nil || o.sender != from.Number || o.noIncoming {
		return
	}
	tctx, cancel, ok := r.startTransfer(ctx, inv.Cookie, o, c)
	if !ok {
		return
	}

	// Dial the address the sender's connection came from, not whatever
	// IP-Address claims: the server must not be made to connect elsewhere.
	host := ""
	if ta, ok := c.nc.RemoteAddr().(*net.TCPAddr); ok {
		host = ta.IP.String()
	}
	if host == "" || inv.Port <= 0 || inv.Port > 65535 || inv.AuthCookie == 0 {
		cancel()
		r.failTransfer(ctx, from, inv.Cookie, o, invite.CancelFail)
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
		dctx, dcancel := context.WithTimeout(tctx, fileDialTimeout)
		nc, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
		dcancel()
		code := invite.CancelFTTimeout
		if err != nil {
			r.srv.log.Info("file transfer: cannot reach the sender", "from", from.Number, "err", err)
		} else {
			code = r.receive(tctx, from, o, nc, inv.AuthCookie)
		}
		if code != "" {
			r.failTransfer(tctx, from, inv.Cookie, o, code)
		}
	}()
}

// receive runs one transfer on nc into the drive, which hands the file on
// to the recipient (an offer over SIP, a download link). It returns the
// Cancel-Code for the sender on failure.
func (r *remote) receive(ctx context.Context, from hub.Account, o *fileOffer, nc net.Conn, auth uint32) string {
	log := r.srv.log.With("from", from.Number, "to", r.acct.Number, "file", o.name, "size", o.size)
	if o.ticket != "" {
		return r.fill(ctx, nc, o, auth)
	}
	var t drive.Ticket
	err := r.receiveStored(ctx, nc, o, auth, func(sctx context.Context, pr io.Reader) (err error) {
		t, err = r.srv.cfg.Files.Deposit(sctx, from.Number, r.acct.Number, o.name, o.size, pr)
		return err
	})
	if err != nil {
		log.Info("file transfer failed", "err", err)
		return invite.CancelFail
	}
	// The file is in; it goes on even if the sender just left.
	if !r.srv.cfg.Files.Deliver(context.WithoutCancel(ctx), t) {
		log.Info("file transfer: the recipient went away", "ticket", t.ID)
		return invite.CancelFail
	}
	log.Info("file received for another protocol", "ticket", t.ID)
	return ""
}

// deliver hands the file t, kept in the drive, on to this member (a
// download link, or an offer through their protocol's file transfer); it
// goes on even if the sender just left.
func (r *remote) deliver(ctx context.Context, t drive.Ticket) error {
	if !r.srv.cfg.Files.Deliver(context.WithoutCancel(ctx), t) {
		return errors.New("msnp: the recipient went away")
	}
	return nil
}

// fill receives a file for a GG member into their drive ticket; the drive
// tells them it is in.
func (r *remote) fill(ctx context.Context, nc net.Conn, o *fileOffer, auth uint32) string {
	err := r.receiveStored(ctx, nc, o, auth, func(sctx context.Context, pr io.Reader) error {
		return r.srv.cfg.Files.Fill(sctx, o.ticket, pr)
	})
	if err != nil {
		r.srv.log.Info("file transfer to a drive ticket failed", "to", r.acct.Number, "ticket", o.ticket, "err", err)
		return invite.CancelFail
	}
	r.srv.log.Info("file received into a drive ticket", "to", r.acct.Number, "ticket", o.ticket)
	return ""
}

// receiveStored runs the MSNFTP receiver on nc for the file of o, which
// store keeps.
func (r *remote) receiveStored(ctx context.Context, nc net.Conn, o *fileOffer, auth uint32, store func(context.Context, io.Reader) error) error {
	return msnftp.ReceiveStored(ctx, nc, msnftp.ReceiveOptions{
		Passport: r.acct.Email, AuthCookie: auth, MaxSize: o.size, ExactSize: true,
	}, fileStoreTimeout, store)
}
