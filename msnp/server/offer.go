package server

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/msnftp"
	"github.com/crosstalk-im/crosstalk/msnp/p2p"
)

// outgoingFile is a file the server offers an MSN client on behalf of a
// contact of another protocol (a GG user's drive upload).
type outgoingFile struct {
	from   uint32 // the remote member it comes from
	to     uint32 // the MSN client
	ticket drive.Ticket
	open   func() (io.ReadCloser, error)
	// invite is the MSNSLP INVITE of a file offered over P2P; nil for an
	// MSNFTP invitation.
	invite *p2p.SLP

	once sync.Once
	done chan error
}

func (o *outgoingFile) finish(err error) {
	o.once.Do(func() { o.done <- err })
}

// ErrNotOnline: the recipient has no MSN session on this server.
var ErrNotOnline = errors.New("msnp: the recipient is not online through MSN here")

// OfferFile offers a completed drive ticket's file to an MSN client: it
// rings the client into the private session with the sender as a remote
// member, sends a file-transfer INVITE from the sender and, once the
// client accepts, listens for its MSNFTP connection and sends the file.
// A client that speaks MSNSLP (MSN 6+) gets an MSNSLP INVITE instead and
// the file in P2P chunks in the session. It blocks until the transfer
// ends; a REJECT or 603 Decline gives drive.ErrDeclined.
func (s *Server) OfferFile(ctx context.Context, from hub.Account, to uint32, t drive.Ticket, open func() (io.ReadCloser, error)) error {
	n := s.nsFor(to)
	if n == nil {
		return ErrNotOnline
	}
	// The client sees the sender online until the offer ends (see holdSender).
	defer n.holdSender(ctx, from)()
	o := &outgoingFile{from: from.Number, to: to, ticket: t, open: open, done: make(chan error, 1)}
	var cookie uint32
	s.mu.Lock()
	for {
		cookie = invite.NewCookie()
		if _, taken := s.outgoing[cookie]; !taken && cookie != 0 {
			break
		}
	}
	s.outgoing[cookie] = o
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.outgoing[cookie] == o {
			delete(s.outgoing, cookie)
		}
		s.mu.Unlock()
	}()
	inv := invite.Invitation{
		Command: invite.Invite, Cookie: cookie,
		AppName: invite.FileTransferName, AppGUID: invite.FileTransferGUID,
		File: t.FileName, FileSize: t.FileSize,
	}
	offer := [][]byte{inv.Payload()}
	withdrawal := invite.Invitation{Command: invite.Cancel, Cookie: cookie, CancelCode: invite.CancelTimeout}.Payload()
	if s.speaksP2P(to) {
		s.mu.Lock()
		offer, withdrawal = s.offerP2P(from, n.sess().Account(), o)
		s.mu.Unlock()
	}
	for _, p := range offer {
		s.deliverPendingToClient(n, pendingMessage{from: from, payload: p}, nil)
	}

	// The answer must come within FileAnswerTimeout; the transfer, once
	// accepted, within ctx.
	wait, cancel := context.WithTimeout(ctx, s.cfg.FileAnswerTimeout)
	defer cancel()
	select {
	case err := <-o.done:
		return err
	case <-wait.Done():
	}
	s.mu.Lock()
	_, waiting := s.outgoing[cookie]
	delete(s.outgoing, cookie)
	s.mu.Unlock()
	if waiting {
		s.withdrawPending(n, from, offer, withdrawal)
		return errors.New("msnp: the recipient did not answer the file offer")
	}
	select { // accepted: the transfer runs
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handOverTimeout bounds offering one file handed over from another node.
const handOverTimeout = 30 * time.Minute

// handOver offers a GG user's file that another node's drive handed over
// because the recipient's MSN session is here, in the background. It is
// called for a tracked connection, so the wait group count is above zero.
func (s *Server) handOver(from hub.Account, to uint32, ticket string) {
	if s.cfg.Files == nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.relayCtx, handOverTimeout)
		defer cancel()
		err := s.cfg.Files.HandOver(ctx, ticket, func(t drive.Ticket, open func() (io.ReadCloser, error)) error {
			return s.OfferFile(ctx, from, to, t, open)
		})
		if err != nil {
			s.log.Info("file handed over from another node", "from", from.Number, "to", to, "ticket", ticket, "err", err)
		}
	}()
}

// fileNotDelivered tells the client on n that a file of its user's the
// drive kept was not delivered (declined, or its hand-over failed): in
// a message from the recipient, as their transfer is long over and MSN
// clients ignore a CANCEL for a finished invitation. It reads the ticket
// so only its sender hears of it.
func (s *Server) fileNotDelivered(n *nsConn, id string) {
	if s.cfg.Files == nil {
		return
	}
	me := n.sess().Account().Number
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.relayCtx, s.cfg.WriteTimeout)
		defer cancel()
		t, err := s.cfg.Files.Ticket(ctx, id)
		if err != nil || t.Sender != me {
			return
		}
		to, err := s.cfg.Hub.Store().Account(ctx, t.Recipient)
		if err != nil {
			s.log.Warn("file not delivered: recipient", "ticket", id, "err", err)
			return
		}
		name := to.DisplayName
		if name == "" {
			name = to.Email
		}
		text := "Your file " + t.FileName + " (" + strconv.FormatInt(t.FileSize, 10) + " bytes) was not delivered to " + name + "."
		s.deliverToClient(n, to, hub.Message{Text: text, Sent: time.Now()})
	}()
}

// nsFor returns a logged-in notification connection of an account.
func (s *Server) nsFor(number uint32) *nsConn {
	s.mu.Lock()
	var all []*nsConn
	for c := range s.conns {
		if c.ns != nil {
			all = append(all, c.ns)
		}
	}
	s.mu.Unlock()
	for _, n := range all {
		if sess := n.sess(); sess != nil && sess.Account().Number == number {
			return n
		}
	}
	return nil
}

// takeOutgoing removes and returns the outgoing file of a cookie when it
// goes from the remote member from to the MSN client to.
func (s *Server) takeOutgoing(cookie, from, to uint32) *outgoingFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.outgoing[cookie]
	if o == nil || o.invite != nil || o.from != from || o.to != to {
		return nil
	}
	delete(s.outgoing, cookie)
	return o
}

// startSend answers the MSN client's ACCEPT with where the server listens
// for its MSNFTP connection, and sends the file over it.
func (r *remote) startSend(ctx context.Context, to hub.Account, inv invite.Invitation, o *outgoingFile) {
	c := r.sender(to.Number)
	var ip net.IP
	if c != nil {
		if ta, ok := c.nc.LocalAddr().(*net.TCPAddr); ok {
			ip = ta.IP
		}
	}
	if ip == nil {
		o.finish(errors.New("msnp: no switchboard connection to send the file over"))
		return
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		r.answer(ctx, to, invite.Invitation{Command: invite.Cancel, Cookie: inv.Cookie, CancelCode: invite.CancelFail})
		o.finish(err)
		return
	}
	auth := invite.NewCookie()
	port := l.Addr().(*net.TCPAddr).Port
	r.answer(ctx, to, invite.Invitation{
		Command: invite.Accept, Cookie: inv.Cookie,
		IPAddress: ip.String(), Port: port, AuthCookie: auth,
		LaunchApplication: "FALSE", RequestData: "IP-Address:",
	})
	// The connection is tracked, so the count is above zero here.
	r.srv.wg.Add(1)
	go func() {
		defer r.srv.wg.Done()
		o.finish(r.send(ctx, l, to, o, auth))
	}()
}

// send accepts one connection on l (closing l after it, or after a
// timeout) and sends the file over MSNFTP.
func (r *remote) send(ctx context.Context, l net.Listener, to hub.Account, o *outgoingFile, auth uint32) error {
	actx, cancel := context.WithTimeout(ctx, fileDialTimeout)
	stop := context.AfterFunc(actx, func() { l.Close() })
	nc, err := l.Accept()
	stop()
	cancel()
	l.Close()
	if err != nil {
		return errors.New("msnp: the recipient did not connect for the file: " + err.Error())
	}
	f, err := o.open()
	if err != nil {
		nc.Close()
		return err
	}
	defer f.Close()
	err = msnftp.Send(ctx, nc, msnftp.SendOptions{AuthCookie: auth, ExpectUser: to.Email, Size: o.ticket.FileSize}, f)
	log := r.srv.log.With("from", o.from, "to", to.Number, "ticket", o.ticket.ID, "size", strconv.FormatInt(o.ticket.FileSize, 10))
	if err != nil {
		log.Info("file transfer to MSN failed", "err", err)
		return err
	}
	log.Info("file sent to MSN")
	return nil
}
