package drive

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// linkKeyFile holds the HMAC key of download links, in the blob directory.
const linkKeyFile = "link.key"

// Deposit stores a file a sender hands to the server on the recipient's
// behalf (a protocol bridge acting as the receiver): it creates a ticket
// the recipient has already allowed, under the same size and quota checks
// as an offer, streams exactly size bytes from r into its blob (a shorter
// or longer stream fails and leaves no file and no ticket) and marks it
// completed. The recipient fetches it through LinkPath.
func (s *Server) Deposit(ctx context.Context, sender, recipient uint32, name string, size int64, r io.Reader) (Ticket, error) {
	if size < 0 {
		return Ticket{}, errSize
	}
	if size > s.cfg.MaxFileBytes {
		return Ticket{}, fmt.Errorf("drive: file larger than %d bytes", s.cfg.MaxFileBytes)
	}
	if sender == recipient {
		return Ticket{}, errors.New("drive: cannot send a file to yourself")
	}
	now := s.cfg.Now().UTC()
	t := Ticket{
		ID: randomHex(16), Sender: sender, Recipient: recipient,
		FileName: SanitizeName(name), FileSize: size,
		Ack: AckAllowed, Status: StatusInProgress,
		Created: now, Expires: now.Add(s.cfg.TicketLifetime),
	}
	if !s.claimUpload(t.ID) { // a fresh random id: cannot happen
		return Ticket{}, errors.New("drive: ticket id in use")
	}
	defer s.releaseUpload(t.ID)
	// The ticket is written while the file starts coming in, since its
	// checks and commit take as long as the first megabytes; a refused
	// ticket fails the upload's next read. One byte beyond size is enough
	// to tell a longer stream.
	body := &ticketGate{r: io.LimitReader(r, size+1), created: make(chan error, 1)}
	go func() { body.created <- s.cfg.Tickets.CreateTicket(ctx, t, max(s.cfg.QuotaBytes, 0)) }()
	sum, err := s.putBlob(ctx, t.ID, size, body)
	if terr := body.wait(); terr != nil {
		if err == nil {
			s.removeBlob(t.ID)
		}
		return Ticket{}, fmt.Errorf("drive: create ticket: %w", terr)
	}
	if err != nil {
		s.dropTicket(t.ID)
		return Ticket{}, fmt.Errorf("drive: store file: %w", err)
	}
	id := t.ID
	t, err = s.cfg.Tickets.UpdateTicket(ctx, id, func(t *Ticket) error {
		t.Status, t.Progress, t.SHA256 = StatusCompleted, t.FileSize, sum
		return nil
	})
	if err != nil {
		s.removeBlob(id)
		s.dropTicket(id)
		return Ticket{}, fmt.Errorf("drive: complete ticket: %w", err)
	}
	return t, nil
}

// ticketGate passes reads on until the ticket created beside them is
// refused; then it fails them.
type ticketGate struct {
	r       io.Reader
	created chan error // the ticket's creation result
	err     error
	settled bool
}

func (g *ticketGate) Read(p []byte) (int, error) {
	if !g.settled {
		select {
		case g.err = <-g.created:
			g.settled = true
		default:
		}
	}
	if g.err != nil {
		return 0, g.err
	}
	return g.r.Read(p)
}

// wait returns the ticket's creation result, waiting for it if need be.
func (g *ticketGate) wait() error {
	if !g.settled {
		g.err, g.settled = <-g.created, true
	}
	return g.err
}

func (s *Server) dropTicket(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.cfg.Tickets.DeleteTicket(ctx, id); err != nil {
		s.log.Warn("drive: drop failed deposit", "ticket", id, "err", err)
	}
}

// signingKey returns Config.Key, or else the key kept in the blob directory,
// created on first use.
func (s *Server) signingKey() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Key != nil {
		return s.cfg.Key, nil
	}
	if s.linkKeyBytes != nil {
		return s.linkKeyBytes, nil
	}
	path := filepath.Join(s.blobDir, linkKeyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			os.Remove(path)
			return nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(path)
			return nil, err
		}
		if err := f.Close(); err != nil {
			os.Remove(path)
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("drive: %s is too short", path)
	}
	s.linkKeyBytes = key
	return key, nil
}

func linkSig(key []byte, t Ticket) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s|%d|%d", t.ID, t.Recipient, t.Expires.Unix())
	return hex.EncodeToString(m.Sum(nil))
}

// LinkPath returns the path, below the drive handler's root, at which
// anyone holding it can download a completed ticket's file until the
// ticket expires: /link/<id>/<sig>/<name>. It returns "" when the link
// key cannot be read or created.
func (s *Server) LinkPath(t Ticket) string {
	key, err := s.signingKey()
	if err != nil {
		s.log.Error("drive: link key", "err", err)
		return ""
	}
	return "/link/" + t.ID + "/" + linkSig(key, t) + "/" + url.PathEscape(t.FileName)
}

// serveLink serves GET /link/<id>/<sig>/<name>; anything wrong is 404.
func (s *Server) serveLink(w http.ResponseWriter, r *http.Request, rest string) {
	notFound := func() { fail(w, http.StatusNotFound, "not found") }
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) != 3 || !validID(parts[0]) {
		notFound()
		return
	}
	id, sig := parts[0], parts[1]
	key, err := s.signingKey()
	if err != nil {
		s.internal(w, "link key", err)
		return
	}
	t, err := s.cfg.Tickets.Ticket(r.Context(), id)
	if err != nil {
		if !errors.Is(err, ErrNoTicket) {
			s.log.Warn("drive: link ticket", "err", err)
		}
		notFound()
		return
	}
	if !hmac.Equal([]byte(sig), []byte(linkSig(key, t))) || !s.cfg.Now().Before(t.Expires) || t.Status != StatusCompleted {
		notFound()
		return
	}
	f, err := s.openBlob(r.Context(), id)
	if err != nil {
		notFound()
		return
	}
	defer f.Close()
	if f.Size() != t.FileSize {
		notFound()
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Disposition", `attachment; filename="`+strings.NewReplacer(`"`, "_", `\`, "_").Replace(t.FileName)+`"; filename*=UTF-8''`+url.PathEscape(t.FileName))
	hd.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, f)
}
