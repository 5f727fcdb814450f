package server

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/msnftp"
	"github.com/crosstalk-im/crosstalk/msnp/secureftp"
	"github.com/crosstalk-im/crosstalk/sip/wire"
)

const (
	// fileDialTimeout bounds the connection to a client's file port.
	fileDialTimeout = 30 * time.Second
	// fileStoreTimeout bounds keeping a received file for good once its
	// last byte is in; pidgin-sipe waits 10 seconds for each read.
	fileStoreTimeout = 8 * time.Second
	// fileNoticeTimeout bounds withdrawing a drive ticket.
	fileNoticeTimeout = 10 * time.Second
	// handOverTimeout bounds offering one file to the client.
	handOverTimeout = 30 * time.Minute
	// rememberedFiles is how many of the files it handed to the drive a
	// connection remembers, to tell the client when a recipient refuses
	// one later.
	rememberedFiles = 16
)

// handedFile is a client's file the drive keeps for a contact.
type handedFile struct {
	ticket string
	cookie uint32
	peer   hub.Account
}

// transfer is one file invitation between the client and a contact: a
// file the client sends (fromClient), which the server receives for the
// contact, or one the server brings the client from the contact.
type transfer struct {
	cookie     uint32
	peer       hub.Account
	fromClient bool
	name       string
	size       int64

	secure    bool            // the client's INVITE asked for encryption (Encryption: R or S)
	keys      *secureftp.Keys // the ACCEPT's keys: the transfer is MSN_SECURE_FTP
	ticket    string          // the GG recipient's drive ticket
	running   bool            // the transfer has started
	stop      context.CancelFunc
	cancelled bool // the client cancelled: no CANCEL back

	// For a file to the client: its answer.
	answers chan invite.Invitation
}

// How the server takes files for a contact.
const (
	routeNone    = iota // it does not
	routeDeliver        // receives them into the drive, which hands them on
	routeDrive          // offers them as GG drive tickets
)

// handleInvitation takes a text/x-msmsgsinvite MESSAGE: a file offer, an
// answer, or a cancellation.
func (c *conn) handleInvitation(ctx context.Context, d *dialog, m *wire.Message) error {
	inv, err := invite.ParseBody(m.Body)
	if err != nil {
		c.respond(m, 400, "")
		return nil
	}
	c.respond(m, 200, "")
	switch inv.Command {
	case invite.Invite:
		c.fileOffered(ctx, d, inv)
	case invite.Accept:
		c.fileAnswered(d.peer, inv)
	case invite.Cancel:
		c.fileAnswered(d.peer, inv)
	}
	return nil
}

// fileOffered takes the client's offer of a file to the contact of d.
func (c *conn) fileOffered(ctx context.Context, d *dialog, inv invite.Invitation) {
	cancel := func(code string) {
		c.sendInvitation(d.peer, invite.Invitation{Command: invite.Cancel, Cookie: inv.Cookie, CancelCode: code})
	}
	files := c.srv.cfg.Files
	if files == nil || inv.AppGUID != invite.FileTransferGUID {
		cancel(invite.CancelRejectNotInstalled)
		return
	}
	if inv.FileSize < 0 || inv.FileSize > files.MaxFileBytes() {
		c.log().Info("file offer too large", "size", inv.FileSize, "max", files.MaxFileBytes())
		cancel(invite.CancelFail)
		return
	}
	route := c.fileRoute(ctx, d.peer.Number)
	if route == routeNone {
		cancel(invite.CancelRejectNotInstalled)
		return
	}
	t := &transfer{
		cookie: inv.Cookie, peer: d.peer, fromClient: true, name: inv.File, size: inv.FileSize,
		secure: inv.Encryption != "",
	}
	if !c.addTransfer(t) {
		cancel(invite.CancelReject)
		return
	}
	if route == routeDrive {
		c.bg.Go(func() { c.offerDrive(t) })
		return
	}
	c.acceptFile(t)
}

// fileRoute tells how the server may receive files for a contact: none
// without a drive or when the contact is offline; drive tickets when the
// contact is online only through GG (which answers files itself); else
// into the drive, which hands them on.
func (c *conn) fileRoute(ctx context.Context, contact uint32) int {
	sessions, err := c.srv.cfg.Hub.Sessions(ctx, contact)
	if err != nil {
		c.log().Warn("file offer: sessions", "to", contact, "err", err)
		return routeNone
	}
	route := routeNone
	for p := range sessions {
		if p != drive.ProtocolGG {
			return routeDeliver
		}
		route = routeDrive
	}
	return route
}

// offerDrive offers the client's file to a contact online only through
// GG as a drive ticket and waits for their answer: allowed, the server
// accepts the invitation for them; rejected or unanswered, the client
// gets CANCEL REJECT or TIMEOUT.
func (c *conn) offerDrive(t *transfer) {
	files := c.srv.cfg.Files
	ctx, stop := context.WithTimeout(c.filesContext(), c.srv.cfg.FileAnswerTimeout)
	defer stop()
	me := c.sess().Account()
	tk, err := files.Offer(ctx, me.Number, t.peer.Number, t.name, t.size)
	if err != nil {
		c.log().Info("file offer to GG", "to", t.peer.Number, "err", err)
		c.endTransfer(t, invite.CancelFail)
		return
	}
	c.mu.Lock()
	live := c.files[t.cookie] == t
	if live {
		t.ticket, t.stop = tk.ID, stop
	}
	c.mu.Unlock()
	if !live { // the client cancelled meanwhile
		c.withdraw(tk.ID)
		return
	}
	ack, err := files.AwaitAnswer(ctx, tk.ID)
	switch {
	case err == nil && ack == drive.AckAllowed:
		c.acceptFile(t)
	case err == nil:
		c.endTransfer(t, invite.CancelReject)
	case errors.Is(err, context.DeadlineExceeded) && c.filesContext().Err() == nil:
		c.endTransfer(t, invite.CancelTimeout)
	default: // the client cancelled or left, or the drive failed
		c.endTransfer(t, invite.CancelFail)
	}
}

// acceptFile accepts the client's file for the contact, with keys when
// the client asked for encryption, and gives it a port of ours to connect
// to (Sender-Connect), whether or not it said it cannot take connections:
// pidgin-sipe's sending socket is blocking when it listens itself, and it
// then waits, before every block, for the receiver to say something.
func (c *conn) acceptFile(t *transfer) {
	ctx, ok := c.startTransfer(t)
	if !ok {
		return
	}
	inv := invite.Invitation{Command: invite.Accept, Cookie: t.cookie, RequestData: "IP-Address:", SenderConnect: "TRUE"}
	if t.secure {
		keys := secureftp.NewKeys()
		t.keys = &keys
		inv.EncryptionKey, inv.HashKey = keys.Fields()
	}
	l, host, err := c.filePort()
	if err != nil {
		c.log().Info("file transfer: no port for the client", "err", err)
		c.endTransfer(t, invite.CancelFail)
		return
	}
	inv.IPAddress, inv.Port, inv.AuthCookie = host, l.Addr().(*net.TCPAddr).Port, invite.NewCookie()
	c.sendInvitation(t.peer, inv)
	c.bg.Go(func() {
		code := invite.CancelTimeout
		if nc, err := msnftp.AcceptFrom(ctx, l, c.srv.cfg.FileLegTimeout, c.clientIP()); err != nil {
			c.log().Info("file transfer: the client did not connect", "err", err)
		} else {
			code = c.receiveFile(ctx, t, nc, inv.AuthCookie)
		}
		c.endTransfer(t, code)
	})
}

// fileAnswered takes the client's ACCEPT or CANCEL of an invitation with
// a contact. The client's ACCEPT of its own file (its address, when it
// listens) is not needed: the server's ACCEPT gave it a port.
func (c *conn) fileAnswered(peer hub.Account, inv invite.Invitation) {
	c.mu.Lock()
	t := c.files[inv.Cookie]
	if t == nil || t.peer.Number != peer.Number {
		c.mu.Unlock()
		return
	}
	ticket := t.ticket
	if inv.Command == invite.Cancel {
		t.cancelled = true
		if t.stop != nil {
			t.stop()
		}
		if t.fromClient {
			delete(c.files, t.cookie)
		}
	}
	c.mu.Unlock()
	switch {
	case !t.fromClient:
		select {
		case t.answers <- inv:
		default: // an answer is waiting already
		}
	case inv.Command == invite.Cancel && ticket != "":
		c.withdraw(ticket)
	}
}

// receiveFile runs the receiver's side on nc, into the GG contact's drive
// ticket or into the drive, which hands the file on. It returns the
// Cancel-Code for the client on failure.
func (c *conn) receiveFile(ctx context.Context, t *transfer, nc net.Conn, auth uint32) string {
	files := c.srv.cfg.Files
	log := c.log().With("to", t.peer.Number, "file", t.name, "size", t.size)
	// pidgin-sipe checks USR against the contact's address.
	opts := msnftp.ReceiveOptions{Passport: c.srv.user(t.peer), AuthCookie: auth, MaxSize: t.size, ExactSize: true,
		Secure: t.keys, StepTimeout: c.srv.cfg.FileLegTimeout}
	if t.ticket != "" {
		err := msnftp.ReceiveStored(ctx, nc, opts, fileStoreTimeout, func(sctx context.Context, r io.Reader) error {
			return files.Fill(sctx, t.ticket, r)
		})
		if err != nil {
			log.Info("file transfer to a drive ticket failed", "ticket", t.ticket, "err", err)
			return invite.CancelFail
		}
		log.Info("file received into a drive ticket", "ticket", t.ticket)
		return ""
	}
	me := c.sess().Account()
	var tk drive.Ticket
	err := msnftp.ReceiveStored(ctx, nc, opts, fileStoreTimeout, func(sctx context.Context, r io.Reader) (err error) {
		tk, err = files.Deposit(sctx, me.Number, t.peer.Number, t.name, t.size, r)
		return err
	})
	if err != nil {
		log.Info("file transfer failed", "err", err)
		return invite.CancelFail
	}
	// Remembered before the contact hears of it, so that a refusal as
	// quick as can be still finds it (see ticketChanged).
	c.mu.Lock()
	if len(c.handed) == rememberedFiles {
		c.handed = slices.Delete(c.handed, 0, 1)
	}
	c.handed = append(c.handed, handedFile{ticket: tk.ID, cookie: t.cookie, peer: t.peer})
	c.mu.Unlock()
	// The file is in; it goes on even if the client just left.
	if !files.Deliver(context.WithoutCancel(ctx), tk) {
		c.forgetHanded(tk.ID)
		log.Info("file transfer: the contact went away", "ticket", tk.ID)
		return invite.CancelFail
	}
	log.Info("file received for another protocol", "ticket", tk.ID)
	return ""
}

// ticketChanged tells the client, with CANCEL REJECT, that the contact
// refused a file of its the drive kept for them (an MSN or SIP recipient
// declines only once the file is in). The client's transfer is long over;
// pidgin-sipe ignores the CANCEL then.
func (c *conn) ticketChanged(n *hub.Notification) {
	id, ok := drive.RejectedAfterUpload(n)
	if !ok {
		return
	}
	if f, ok := c.forgetHanded(id); ok {
		c.sendInvitation(f.peer, invite.Invitation{Command: invite.Cancel, Cookie: f.cookie, CancelCode: invite.CancelReject})
	}
}

// forgetHanded takes the file of drive ticket id off the files handed on,
// and says whether it was there.
func (c *conn) forgetHanded(id string) (handedFile, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.IndexFunc(c.handed, func(f handedFile) bool { return f.ticket == id })
	if i < 0 {
		return handedFile{}, false
	}
	f := c.handed[i]
	c.handed = slices.Delete(c.handed, i, i+1)
	return f, true
}

// addTransfer records an invitation, unless its cookie is taken or the
// connection has as many as it may.
func (c *conn) addTransfer(t *transfer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, taken := c.files[t.cookie]; taken || t.cookie == 0 || len(c.files) >= c.srv.cfg.MaxFileTransfers {
		return false
	}
	if c.files == nil {
		c.files = make(map[uint32]*transfer) // made by the first: an idle session keeps none
	}
	c.files[t.cookie] = t
	return true
}

// startTransfer marks an invitation as running, unless it is not (or no
// longer) waiting for its transfer, and returns the transfer's context.
func (c *conn) startTransfer(t *transfer) (context.Context, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files[t.cookie] != t || t.running || c.filesContextLocked().Err() != nil {
		return nil, false
	}
	t.running = true
	ctx, stop := context.WithCancel(c.filesContextLocked())
	if t.stop != nil {
		t.stop()
	}
	t.stop = stop
	return ctx, true
}

// endTransfer forgets an invitation and, on failure (code not empty),
// withdraws its drive ticket and tells the client, unless it cancelled.
func (c *conn) endTransfer(t *transfer, code string) {
	c.mu.Lock()
	if c.files[t.cookie] == t {
		delete(c.files, t.cookie)
	}
	if t.stop != nil {
		t.stop()
	}
	cancelled, ticket := t.cancelled, t.ticket
	c.mu.Unlock()
	if code == "" {
		return
	}
	if ticket != "" {
		c.withdraw(ticket)
	}
	if !cancelled {
		c.sendInvitation(t.peer, invite.Invitation{Command: invite.Cancel, Cookie: t.cookie, CancelCode: code})
	}
}

// withdraw ends a drive ticket that will not be filled.
func (c *conn) withdraw(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), fileNoticeTimeout)
	defer cancel()
	if err := c.srv.cfg.Files.Withdraw(ctx, id); err != nil {
		c.log().Warn("file offer to GG: withdraw", "ticket", id, "err", err)
	}
}

// sendInvitation sends the client an invitation message from a contact,
// in their IM session.
func (c *conn) sendInvitation(from hub.Account, inv invite.Invitation) bool {
	return c.deliverMessage(outgoing{from: from, invitation: inv.Body()})
}

// clientIP is the address the client's SIP connection comes from: the
// only one its file connections may come from, or go to.
func (c *conn) clientIP() net.IP {
	if ta, ok := c.nc.RemoteAddr().(*net.TCPAddr); ok {
		return ta.IP
	}
	return nil
}

// filePort opens a port for one transfer and returns it with the host
// the client is told: Config.FileHost, with the port listening on every
// address, else the address the client reached the server at, where it
// listens.
func (c *conn) filePort() (net.Listener, string, error) {
	ta, ok := c.nc.LocalAddr().(*net.TCPAddr)
	if !ok {
		return nil, "", errors.New("the SIP connection is not TCP")
	}
	bind, host := ta.IP.String(), ta.IP.String()
	if h := c.srv.cfg.FileHost; h != "" {
		bind, host = "", h
	}
	l, err := net.Listen("tcp", net.JoinHostPort(bind, "0"))
	if err != nil {
		return nil, "", err
	}
	return l, host, nil
}

// handOver offers the client a file the drive keeps for it, in the
// background.
func (c *conn) handOver(from hub.Account, id string) {
	files := c.srv.cfg.Files
	if files == nil {
		return
	}
	c.bg.Go(func() {
		ctx, cancel := context.WithTimeout(c.filesContext(), handOverTimeout)
		defer cancel()
		err := files.HandOver(ctx, id, func(t drive.Ticket, open func() (io.ReadCloser, error)) error {
			return c.offerFile(ctx, from, t, open)
		})
		if err != nil {
			c.log().Info("file to the client", "from", from.Number, "ticket", id, "err", err)
		}
	})
}

// errNoAnswer: the client did not answer a file offer in time.
var errNoAnswer = errors.New("sip: the recipient did not answer the file offer")

// offerFile offers the client a file from a contact and, once it
// accepts, sends it: to where the client listens, or over a port of ours
// it connects to. MSN_SECURE_FTP is used when the ACCEPT carries keys
// (pidgin-sipe's always do). It blocks until the transfer ends; a REJECT
// gives drive.ErrDeclined.
func (c *conn) offerFile(ctx context.Context, from hub.Account, tk drive.Ticket, open func() (io.ReadCloser, error)) error {
	t := &transfer{peer: from, name: tk.FileName, size: tk.FileSize, answers: make(chan invite.Invitation, 1)}
	for {
		t.cookie = invite.NewCookie()
		if c.addTransfer(t) {
			break
		}
		if c.transferCount() >= c.srv.cfg.MaxFileTransfers {
			return errors.New("sip: too many file transfers on the connection")
		}
	}
	defer c.endTransfer(t, "")
	failed := make(chan struct{})
	var once sync.Once
	offer := invite.Invitation{
		Command: invite.Invite, Cookie: t.cookie, AppName: invite.FileTransferName, AppGUID: invite.FileTransferGUID,
		File: tk.FileName, FileSize: tk.FileSize, Encryption: "R",
	}
	if !c.deliverMessage(outgoing{from: from, invitation: offer.Body(), failed: func() { once.Do(func() { close(failed) }) }}) {
		return errors.New("sip: the recipient's connection is closing")
	}
	cancelWith := func(code string) {
		c.sendInvitation(from, invite.Invitation{Command: invite.Cancel, Cookie: t.cookie, CancelCode: code})
	}
	wait, stop := context.WithTimeout(ctx, c.srv.cfg.FileAnswerTimeout)
	defer stop()
	var answer invite.Invitation
	select {
	case answer = <-t.answers:
	case <-failed:
		return errors.New("sip: the client did not take the file offer")
	case <-wait.Done():
		if ctx.Err() == nil {
			cancelWith(invite.CancelTimeout)
			return errNoAnswer
		}
		return ctx.Err()
	}
	if answer.Command == invite.Cancel {
		if answer.CancelCode == invite.CancelReject {
			return drive.ErrDeclined
		}
		return errors.New("sip: the recipient cancelled: " + answer.CancelCode)
	}
	tctx, ok := c.startTransfer(t)
	if !ok {
		return errors.New("sip: the connection ended")
	}
	if answer.EncryptionKey != "" || answer.HashKey != "" {
		keys, err := secureftp.ParseKeys(answer.EncryptionKey, answer.HashKey)
		if err != nil {
			cancelWith(invite.CancelFail)
			return err
		}
		t.keys = &keys
	}
	nc, auth, err := c.fileLeg(tctx, from, answer)
	if err != nil {
		cancelWith(invite.CancelFTTimeout)
		return err
	}
	f, err := open()
	if err != nil {
		nc.Close()
		cancelWith(invite.CancelFail)
		return err
	}
	defer f.Close()
	me := c.sess().Account()
	err = msnftp.Send(tctx, nc, msnftp.SendOptions{AuthCookie: auth, ExpectUser: c.srv.user(me), Size: tk.FileSize,
		Secure: t.keys, StepTimeout: c.srv.cfg.FileLegTimeout}, f)
	log := c.log().With("from", from.Number, "ticket", tk.ID, "size", tk.FileSize)
	if err != nil {
		log.Info("file transfer to SIP failed", "err", err)
		return err
	}
	log.Info("file sent to SIP")
	return nil
}

// fileLeg makes the connection of a file to the client: to the port its
// ACCEPT names (on the address its SIP connection comes from), or, when
// it names none, on a port of ours the client is told in our ACCEPT. It
// returns the AuthCookie the client's USR must carry.
func (c *conn) fileLeg(ctx context.Context, from hub.Account, answer invite.Invitation) (net.Conn, uint32, error) {
	if answer.Port != 0 {
		ip := c.clientIP()
		if ip == nil {
			return nil, 0, errors.New("the SIP connection is not TCP")
		}
		dctx, cancel := context.WithTimeout(ctx, fileDialTimeout)
		defer cancel()
		nc, err := (&net.Dialer{}).DialContext(dctx, "tcp", net.JoinHostPort(ip.String(), strconv.Itoa(answer.Port)))
		return nc, answer.AuthCookie, err
	}
	l, host, err := c.filePort()
	if err != nil {
		return nil, 0, err
	}
	auth := invite.NewCookie()
	c.sendInvitation(from, invite.Invitation{
		Command: invite.Accept, Cookie: answer.Cookie,
		IPAddress: host, Port: l.Addr().(*net.TCPAddr).Port, AuthCookie: auth,
	})
	nc, err := msnftp.AcceptFrom(ctx, l, c.srv.cfg.FileLegTimeout, c.clientIP())
	return nc, auth, err
}

func (c *conn) transferCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.files)
}
