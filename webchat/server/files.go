package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/webchat/wire"
)

// maxFileOffers bounds the file offers one session keeps open at once.
const maxFileOffers = 8

// upload is a file offer waiting for its bytes at a one-time URL.
type upload struct {
	conn      *conn
	offer     string // the client's id of the offer
	from      hub.Account
	recipient uint32
	name      string
	size      int64
	ticket    string // a GG recipient's allowed ticket, to fill; "" to deposit
	expires   time.Time
}

// handleFileOffer checks an offer and, depending on how the recipient is
// online, hands out the upload URL now or once a GG recipient allowed it.
func (c *conn) handleFileOffer(ctx context.Context, m *wire.FileOffer, id string) error {
	files := c.srv.cfg.Files
	if files == nil {
		c.fail(id, wire.CodeUnavailable, "this server has no file transfer")
		return nil
	}
	if m.Size > files.MaxFileBytes() {
		c.fail(id, wire.CodeTooLarge, "the file is larger than "+strconv.FormatInt(files.MaxFileBytes(), 10)+" bytes")
		return nil
	}
	to, err := c.lookup(ctx, id, m.To)
	if err != nil || to.Number == 0 {
		return err
	}
	me := c.sess().Account()
	rel, err := c.srv.cfg.Hub.Store().Relation(ctx, to.Number, me.Number)
	if err != nil {
		return err
	}
	if !rel.Allows() {
		c.fail(id, wire.CodeRefused, "the recipient does not accept your files")
		return nil
	}
	sessions, err := c.srv.cfg.Hub.Sessions(ctx, to.Number)
	if err != nil {
		return err
	}
	gg := false
	if st, ok := sessions[drive.ProtocolGG]; ok && st.Visible() != hub.StatusOffline {
		gg = true
	} else if !files.Bridges(sessions) {
		c.fail(id, wire.CodeOffline, "the recipient is not online through a protocol that takes files")
		return nil
	}
	if !c.takeOffer(id) {
		c.fail(id, wire.CodeBadRequest, "an offer with this id is open, or too many are")
		return nil
	}
	u := &upload{conn: c, offer: id, from: me, recipient: to.Number, name: m.Name, size: m.Size}
	if !gg {
		c.srv.await(u)
		return nil
	}
	// GG clients answer a drive ticket first.
	t, err := files.Offer(ctx, me.Number, to.Number, m.Name, m.Size)
	if err != nil {
		c.dropOffer(id)
		c.log().Info("file offer to GG", "to", to.Number, "err", err)
		c.fail(id, wire.CodeRefused, "the drive refused the file")
		return nil
	}
	c.bg.Go(func() { c.awaitAnswer(u, t.ID) })
	return nil
}

// awaitAnswer waits for a GG recipient's answer to a ticket: allowed, the
// sender gets its upload URL; refused, "declined"; unanswered (or the
// session ended), the ticket is withdrawn.
func (c *conn) awaitAnswer(u *upload, ticket string) {
	ctx, cancel := context.WithTimeout(c.ctx, c.srv.cfg.FileAnswerTimeout)
	defer cancel()
	ack, err := c.srv.cfg.Files.AwaitAnswer(ctx, ticket)
	if err == nil && ack == drive.AckAllowed {
		u.ticket = ticket
		c.srv.await(u)
		return
	}
	c.dropOffer(u.offer)
	if err == nil {
		_ = c.send(wire.FileStatus{Type: wire.TypeFileStatus, ID: u.offer, Status: wire.FileDeclined, Ticket: ticket})
		return
	}
	wctx, wcancel := context.WithTimeout(context.Background(), c.srv.cfg.WriteTimeout)
	defer wcancel()
	if err := c.srv.cfg.Files.Withdraw(wctx, ticket); err != nil {
		c.log().Warn("file offer: withdraw", "ticket", ticket, "err", err)
	}
	_ = c.send(wire.FileStatus{Type: wire.TypeFileStatus, ID: u.offer, Status: wire.FileCancelled, Ticket: ticket})
}

func (c *conn) takeOffer(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.offers == nil {
		c.offers = make(map[string]bool)
	}
	if c.offers[id] || len(c.offers) >= maxFileOffers {
		return false
	}
	c.offers[id] = true
	return true
}

func (c *conn) dropOffer(id string) {
	c.mu.Lock()
	delete(c.offers, id)
	c.mu.Unlock()
}

// await gives an offer its upload URL and tells the sender.
func (s *Server) await(u *upload) {
	secret := randomID(16)
	u.expires = time.Now().Add(s.cfg.FileAnswerTimeout)
	s.mu.Lock()
	for k, old := range s.uploads { // few: at most maxFileOffers a session
		if time.Now().After(old.expires) {
			delete(s.uploads, k)
			old.conn.dropOffer(old.offer)
		}
	}
	s.uploads[secret] = u
	s.mu.Unlock()
	_ = u.conn.send(wire.FileUpload{Type: wire.TypeFileUpload, ID: u.offer, URL: "upload/" + secret})
}

// takeUpload returns and forgets the offer of a secret.
func (s *Server) takeUpload(secret string) *upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.uploads[secret]
	delete(s.uploads, secret)
	if u == nil || time.Now().After(u.expires) {
		return nil
	}
	return u
}

// dropUploads forgets a closing session's offers.
func (s *Server) dropUploads(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, u := range s.uploads {
		if u.conn == c {
			delete(s.uploads, k)
		}
	}
}

// serveUpload takes the bytes of an offer: PUT with exactly the offered
// size. The secret in the URL is the authority, handed out over the
// session's own WebSocket and good for one upload.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request, secret string) {
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", http.MethodPut)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	u := s.takeUpload(secret)
	if u == nil {
		http.Error(w, "no such upload", http.StatusNotFound)
		return
	}
	c := u.conn
	defer c.dropOffer(u.offer)
	if r.ContentLength >= 0 && r.ContentLength != u.size {
		c.fileStatus(u, wire.FileFailed, "")
		http.Error(w, "the body must be exactly the offered size", http.StatusBadRequest)
		return
	}
	files := s.cfg.Files
	ctx := r.Context()
	var (
		ticket string
		err    error
	)
	if u.ticket != "" {
		ticket, err = u.ticket, files.Fill(ctx, u.ticket, r.Body)
	} else {
		var t drive.Ticket
		if t, err = files.Deposit(ctx, u.from.Number, u.recipient, u.name, u.size, r.Body); err == nil {
			ticket = t.ID
			if !files.Bridge(context.WithoutCancel(ctx), t) {
				err = errors.New("the recipient went offline")
			}
		}
	}
	if err != nil {
		c.log().Info("file upload failed", "to", u.recipient, "err", err)
		c.fileStatus(u, wire.FileFailed, ticket)
		http.Error(w, "upload failed", http.StatusBadRequest)
		return
	}
	c.log().Info("file sent", "to", u.recipient, "ticket", ticket, "size", u.size)
	c.fileStatus(u, wire.FileSent, ticket)
	w.WriteHeader(http.StatusNoContent)
}

func (c *conn) fileStatus(u *upload, status, ticket string) {
	_ = c.send(wire.FileStatus{Type: wire.TypeFileStatus, ID: u.offer, Status: status, Ticket: ticket})
}

// fileArrived tells the client of a file in the drive for it, with its
// download link; the ticket lookup runs off the hub's dispatcher.
func (c *conn) fileArrived(from hub.Account, ticket string) {
	files := c.srv.cfg.Files
	if files == nil {
		return
	}
	c.background(func(ctx context.Context, me uint32) {
		t, url, err := files.Link(ctx, ticket, me)
		if err != nil {
			c.log().Warn("file for the client", "ticket", ticket, "err", err)
			return
		}
		_ = c.send(wire.File{Type: wire.TypeFile, From: accountOf(from), Ticket: t.ID, Name: t.FileName, Size: t.FileSize, URL: url})
	})
}
