package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/webchat/wire"
)

// maxFileOffers bounds the file offers one session keeps open at once.
const maxFileOffers = 8

// offer is a file offer of this session waiting for its upload.
type offer struct {
	ticket string
	expiry *time.Timer // withdraws the ticket when the upload did not come
}

// handleFileOffer checks an offer and makes its drive ticket: one the
// recipient answers first when they are online through GG, one allowed at
// once when the drive can bridge the file to them. The upload URL comes
// once the ticket is allowed.
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
		c.pruneOffers(ctx)
		if !c.takeOffer(id) {
			c.fail(id, wire.CodeBadRequest, "an offer with this id is open, or too many are")
			return nil
		}
	}
	me := c.sess().Account().Number
	create := files.Reserve
	if gg {
		create = files.Offer // GG clients answer a drive ticket first
	}
	t, err := create(ctx, me, to.Number, m.Name, m.Size)
	if err != nil {
		c.dropOffer(id)
		switch {
		case errors.Is(err, drive.ErrNotAllowed):
			c.fail(id, wire.CodeRefused, "the recipient does not accept your files")
		case errors.Is(err, drive.ErrQuota):
			c.fail(id, wire.CodeQuota, "your files in the drive take all your room")
		default:
			return err
		}
		return nil
	}
	c.setOfferTicket(id, t.ID)
	if gg {
		c.bg.Go(func() { c.awaitAnswer(id, t.ID) })
		return nil
	}
	c.sendUpload(id, t.ID, true)
	return nil
}

// awaitAnswer waits for a GG recipient's answer to a ticket: allowed, the
// sender gets its upload URL; refused, "declined"; unanswered (or the
// session ended), the ticket is withdrawn and the offer "cancelled".
func (c *conn) awaitAnswer(id, ticket string) {
	ctx, cancel := context.WithTimeout(c.ctx, c.srv.cfg.FileAnswerTimeout)
	defer cancel()
	ack, err := c.srv.cfg.Files.AwaitAnswer(ctx, ticket)
	switch {
	case err == nil && ack == drive.AckAllowed:
		c.sendUpload(id, ticket, false)
	case err == nil:
		c.dropOffer(id)
		_ = c.send(wire.FileStatus{Type: wire.TypeFileStatus, ID: id, Status: wire.FileDeclined, Ticket: ticket})
	default:
		c.withdraw(id)
		_ = c.send(wire.FileStatus{Type: wire.TypeFileStatus, ID: id, Status: wire.FileCancelled, Ticket: ticket})
	}
}

// sendUpload hands out an offer's upload URL, good for FileAnswerTimeout;
// then an offer whose file did not come is withdrawn. bridge says the
// file goes on to the recipient through Bridge once uploaded.
func (c *conn) sendUpload(id, ticket string, bridge bool) {
	expires := time.Now().Add(c.srv.cfg.FileAnswerTimeout)
	token := c.srv.signUpload(uploadClaim{Offer: id, Ticket: ticket, Sender: c.sess().Account().Number, Bridge: bridge, Expires: expires.Unix()})
	c.mu.Lock()
	if o := c.offers[id]; o != nil {
		o.expiry = time.AfterFunc(c.srv.cfg.FileAnswerTimeout, func() { c.withdraw(id) })
	}
	c.mu.Unlock()
	_ = c.send(wire.FileUpload{Type: wire.TypeFileUpload, ID: id, URL: "upload/" + token})
}

func (c *conn) takeOffer(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.offers == nil {
		c.offers = make(map[string]*offer)
	}
	if c.offers[id] != nil || len(c.offers) >= maxFileOffers {
		return false
	}
	c.offers[id] = &offer{}
	return true
}

// pruneOffers forgets the offers whose upload is over: the upload may
// have gone to another node, which cannot tell this one.
func (c *conn) pruneOffers(ctx context.Context) {
	c.mu.Lock()
	open := make(map[string]string, len(c.offers))
	for id, o := range c.offers {
		if o.ticket != "" {
			open[id] = o.ticket
		}
	}
	c.mu.Unlock()
	for id, ticket := range open {
		t, err := c.srv.cfg.Files.Ticket(ctx, ticket)
		if errors.Is(err, drive.ErrNoTicket) || err == nil && (t.Status != drive.StatusInProgress || t.Ack == drive.AckRejected) {
			c.dropOffer(id)
		}
	}
}

func (c *conn) setOfferTicket(id, ticket string) {
	c.mu.Lock()
	if o := c.offers[id]; o != nil {
		o.ticket = ticket
	}
	c.mu.Unlock()
}

func (c *conn) dropOffer(id string) *offer {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.offers[id]
	delete(c.offers, id)
	if o != nil && o.expiry != nil {
		o.expiry.Stop()
	}
	return o
}

// withdraw ends an offer: its ticket, unless its file came meanwhile, is
// marked rejected (which frees the sender's drive quota).
func (c *conn) withdraw(id string) {
	o := c.dropOffer(id)
	if o == nil || o.ticket == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.WriteTimeout)
	defer cancel()
	if err := c.srv.cfg.Files.Withdraw(ctx, o.ticket); err != nil {
		c.log().Warn("file offer: withdraw", "ticket", o.ticket, "err", err)
	}
}

// withdrawAll ends the session's open offers.
func (c *conn) withdrawAll() {
	c.mu.Lock()
	ids := make([]string, 0, len(c.offers))
	for id := range c.offers {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.withdraw(id)
	}
}

// uploadClaim is what an upload URL stands for. The URL carries it
// signed, so that the node that takes the upload (behind a load balancer,
// any node sharing the drive and the key) needs nothing else.
type uploadClaim struct {
	Offer   string `json:"o"`
	Ticket  string `json:"t"`
	Sender  uint32 `json:"s"`
	Bridge  bool   `json:"b,omitempty"`
	Expires int64  `json:"e"` // Unix seconds
}

func (s *Server) signUpload(cl uploadClaim) string {
	payload, _ := json.Marshal(cl) // fields of plain types
	mac := hmac.New(sha256.New, s.uploadKey)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// verifyUpload returns the claim of a token that this service signed and
// that has not expired.
func (s *Server) verifyUpload(token string) (uploadClaim, bool) {
	p, sig, ok := strings.Cut(token, ".")
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err1 != nil || err2 != nil {
		return uploadClaim{}, false
	}
	mac := hmac.New(sha256.New, s.uploadKey)
	mac.Write(payload)
	var cl uploadClaim
	if !hmac.Equal(got, mac.Sum(nil)) || json.Unmarshal(payload, &cl) != nil || time.Now().Unix() > cl.Expires {
		return uploadClaim{}, false
	}
	return cl, true
}

// serveUpload takes the bytes of an offer: PUT with exactly the offered
// size, answered with the offer's "file_status" as JSON. The signed token
// in the URL is the authority, handed out over the sender's own
// WebSocket; the ticket, which only an upload in progress can fill, makes
// it good for one file. A failed upload may be tried again while the
// token lasts.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request, token string) {
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", http.MethodPut)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	cl, ok := s.verifyUpload(token)
	if !ok || s.cfg.Files == nil {
		http.Error(w, "no such upload", http.StatusNotFound)
		return
	}
	answer := func(code int, status string) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(wire.FileStatus{Type: wire.TypeFileStatus, ID: cl.Offer, Status: status, Ticket: cl.Ticket})
	}
	files, ctx := s.cfg.Files, r.Context()
	t, err := files.Ticket(ctx, cl.Ticket)
	switch {
	case errors.Is(err, drive.ErrNoTicket) || err == nil && (t.Sender != cl.Sender || t.Status != drive.StatusInProgress || t.Ack != drive.AckAllowed):
		http.Error(w, "no such upload", http.StatusNotFound)
		return
	case err != nil:
		s.log.Warn("file upload: ticket", "ticket", cl.Ticket, "err", err)
		answer(http.StatusInternalServerError, wire.FileFailed)
		return
	case r.ContentLength >= 0 && r.ContentLength != t.FileSize:
		answer(http.StatusBadRequest, wire.FileFailed)
		return
	}
	if err := files.Fill(ctx, t.ID, r.Body); err != nil {
		s.log.Info("file upload failed", "from", t.Sender, "to", t.Recipient, "ticket", t.ID, "err", err)
		answer(http.StatusBadRequest, wire.FileFailed)
		return
	}
	if cl.Bridge {
		if t, err = files.Ticket(ctx, t.ID); err != nil || !files.Bridge(context.WithoutCancel(ctx), t) {
			s.log.Info("file upload: the recipient is no longer reachable", "to", t.Recipient, "ticket", t.ID, "err", err)
			answer(http.StatusConflict, wire.FileFailed)
			return
		}
	}
	s.log.Info("file sent", "from", t.Sender, "to", t.Recipient, "ticket", t.ID, "size", t.FileSize)
	answer(http.StatusOK, wire.FileSent)
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

// fileNotDelivered tells the client that a file of its user's the drive
// kept was refused afterwards (or handing it over failed, which the
// drive does not tell apart): a file status "declined" with no offer id,
// as the upload that answered the offer is over. It reads the ticket so
// only its sender hears of it.
func (c *conn) fileNotDelivered(id string) {
	files := c.srv.cfg.Files
	if files == nil {
		return
	}
	c.background(func(ctx context.Context, me uint32) {
		if t, err := files.Ticket(ctx, id); err == nil && t.Sender == me {
			_ = c.send(wire.FileStatus{Type: wire.TypeFileStatus, Status: wire.FileDeclined, Ticket: id})
		}
	})
}
