package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/msnp/oim"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// The offline-IM services MSNP11+ clients read (and MSNP13+ send) offline messages
// through, over HTTPS at rsi.hotmail.com and ows.messenger.msn.com (spec
// msnp8-18 §7). They work on the one mailbox every protocol shares: what
// a GG or SIP user left for an offline MSN user is read here, and what
// an MSN client stores here waits for the recipient's next login, on
// whatever protocol.

// OfflineMessageHandler serves oim.RSIPath and oim.StorePath. Calls are
// authenticated by the tickets the token service issued (any node's, as
// with USR).
func (s *Server) OfflineMessageHandler() http.Handler { return http.HandlerFunc(s.serveOIM) }

func (s *Server) serveOIM(w http.ResponseWriter, r *http.Request) {
	service := oim.Service(r.URL.EscapedPath())
	ns := oim.NSRSI
	if service == oim.StorePath {
		ns = oim.NSStore
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST a SOAP request", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, oim.MaxBody+1))
	if err != nil {
		return
	}
	if len(body) > oim.MaxBody {
		oim.WriteFault(w, ns, &oim.Fault{Code: oim.FaultClient, Message: "request too large"})
		return
	}
	var f *oim.Fault
	switch service {
	case oim.RSIPath:
		f = s.retrieve(r.Context(), w, body)
	case oim.StorePath:
		f = s.store(r.Context(), w, body)
	default:
		http.NotFound(w, r)
		return
	}
	if f != nil {
		metrics.Errors.WithLabelValues(protocolName, f.Code).Inc()
		oim.WriteFault(w, ns, f)
	}
}

// Faults the service answers for requests it cannot take.
var (
	errOIMRequest = &oim.Fault{Code: oim.FaultClient, Message: "malformed request"}
	errOIMFailed  = &oim.Fault{Code: oim.FaultServer, Message: "service unavailable"}
)

// ticketAccount is the enabled account a ticket was issued to.
func (s *Server) ticketAccount(ctx context.Context, ticket, policy string) (hub.Account, *oim.Fault) {
	acct, err := s.enabledTicketOwner(ctx, ticket)
	switch {
	case errors.Is(err, errRefusedTicket):
		return hub.Account{}, &oim.Fault{Code: oim.FaultAuthenticationFailed, Message: "bad ticket", RequiredAuthPolicy: policy}
	case err != nil:
		s.log.Error("offline messages: account", "err", err)
		return hub.Account{}, errOIMFailed
	}
	return acct, nil
}

// errRefusedTicket: the ticket is malformed, forged or expired, or its
// account is gone or disabled.
var errRefusedTicket = errors.New("msnp: ticket refused")

// enabledTicketOwner is the enabled account a ticket was issued to, or
// errRefusedTicket, or the store's error.
func (s *Server) enabledTicketOwner(ctx context.Context, ticket string) (hub.Account, error) {
	acct, err := s.ticketOwner(ctx, ticket)
	if errors.Is(err, passport.ErrBadTicket) || errors.Is(err, hub.ErrNotFound) || err == nil && acct.Disabled {
		return hub.Account{}, errRefusedTicket
	}
	return acct, err
}

// retrieve answers the retrieval service: the list of waiting messages,
// one message, or their deletion once the client has them.
func (s *Server) retrieve(ctx context.Context, w http.ResponseWriter, body []byte) *oim.Fault {
	req, err := oim.ParseRSIRequest(body)
	if err != nil {
		return errOIMRequest
	}
	metrics.Commands.WithLabelValues(protocolName, req.Operation).Inc()
	acct, f := s.ticketAccount(ctx, req.Ticket, "MBI")
	if f != nil {
		return f
	}
	switch req.Operation {
	case oim.OpGetMetadata:
		waiting, err := s.sharedOIMs(ctx, acct.Number)
		if err != nil {
			s.log.Error("offline messages: read", "err", err)
			return errOIMFailed
		}
		oim.WriteMetadata(w, mailEntries(acct, waiting))
	case oim.OpGetMessage:
		id, ok := oim.ParseMessageID(req.MessageID)
		if !ok {
			return &oim.Fault{Code: oim.FaultClient, Message: "no such message"}
		}
		found, err := s.sharedOIMs(ctx, acct.Number, id)
		if err != nil {
			s.log.Error("offline messages: read", "err", err)
			return errOIMFailed
		}
		if len(found) == 0 {
			return &oim.Fault{Code: oim.FaultClient, Message: "no such message"}
		}
		oim.WriteMessage(w, oim.AppendMessage(nil, offlineIM(acct, found[0])))
	case oim.OpDeleteMessages:
		ids := make([]int64, 0, len(req.MessageIDs))
		for _, m := range req.MessageIDs {
			id, ok := oim.ParseMessageID(m)
			if !ok {
				return &oim.Fault{Code: oim.FaultClient, Message: "no such message"}
			}
			ids = append(ids, id)
		}
		// Only what the service shows goes: the rest another login is
		// delivering, and what another endpoint deleted first is gone.
		var shown []hub.OfflineMessage
		var err error
		if len(ids) > 0 { // none named is not all
			shown, err = s.sharedOIMs(ctx, acct.Number, ids...)
		}
		if err == nil {
			ids = ids[:0]
			for _, m := range shown {
				ids = append(ids, m.ID)
			}
			err = s.cfg.Hub.Store().DeleteOffline(ctx, acct.Number, ids...)
		}
		if err != nil {
			s.log.Error("offline messages: delete", "err", err)
			return errOIMFailed
		}
		if len(ids) > 0 {
			s.cfg.Hub.Notify(acct.Number, hub.Notification{Kind: notifyOIMsDeleted, Protocol: protocolName, Data: strconv.Itoa(len(ids))})
		}
		oim.WriteDeleted(w)
	}
	return nil
}

// offlineIM is a mailbox message as the retrieval service gives it to
// the account.
func offlineIM(acct hub.Account, m hub.OfflineMessage) oim.Message {
	return oim.Message{From: m.From.Email, FromName: m.From.DisplayName, To: acct.Email, Sent: m.Sent,
		RunID: oim.RunID(m.From.Number, acct.Number), Sequence: m.ID, Text: m.Text}
}

// mailEntries lists mailbox messages as Mail-Data does.
func mailEntries(acct hub.Account, waiting []hub.OfflineMessage) []oim.Entry {
	entries := make([]oim.Entry, 0, len(waiting))
	for _, m := range waiting {
		entries = append(entries, oim.Entry{ID: oim.MessageID(m.ID), From: m.From.Email, FromName: m.From.DisplayName,
			Sent: m.Sent, Size: len(oim.AppendMessage(nil, offlineIM(acct, m)))})
	}
	return entries
}

// store takes a Store2: a message for a contact the client saw offline.
// It answers success only once the hub delivered the message or committed
// it to the mailbox. A client without the lock key gets a challenge first.
func (s *Server) store(ctx context.Context, w http.ResponseWriter, body []byte) *oim.Fault {
	req, err := oim.ParseStoreRequest(body)
	if err != nil {
		return errOIMRequest
	}
	metrics.Commands.WithLabelValues(protocolName, "Store2").Inc()
	acct, f := s.ticketAccount(ctx, req.Ticket, "MBI_SSL")
	if f != nil {
		return f
	}
	if !strings.EqualFold(req.From, acct.Email) {
		return &oim.Fault{Code: oim.FaultClient, Message: "the sender is not the ticket's account"}
	}
	if _, known := wire.ProductKeys[req.AppID]; !known {
		return &oim.Fault{Code: oim.FaultClient, Message: "unknown application id"}
	}
	now := time.Now()
	if !s.lockKeys().Check(acct.Number, req.AppID, req.LockKey, now) {
		return &oim.Fault{Code: oim.FaultAuthenticationFailed, Message: "lock key required",
			LockKeyChallenge: s.lockKeys().Challenge(acct.Number, now)}
	}
	msg, err := oim.ParseMessage(req.Content)
	if err != nil || req.MessageType != "text" || msg.Text == "" {
		return &oim.Fault{Code: oim.FaultInvalidContent, Message: "not a text message"}
	}
	to, err := s.cfg.Hub.Store().AccountByEmail(ctx, strings.ToLower(req.To))
	switch {
	case errors.Is(err, hub.ErrNotFound):
		return &oim.Fault{Code: oim.FaultSystemUnavailable, Message: "no such recipient"}
	case err != nil:
		s.log.Error("offline messages: recipient", "err", err)
		return errOIMFailed
	}
	d, err := s.cfg.Hub.SendMessage(ctx, acct, to.Number, hub.Message{Text: msg.Text}, "")
	switch {
	case errors.Is(err, hub.ErrTooLong):
		return &oim.Fault{Code: oim.FaultInvalidContent, Message: "message too long"}
	case err != nil:
		s.log.Error("offline messages: store", "err", err)
		return errOIMFailed
	case d == hub.Blocked:
		return &oim.Fault{Code: oim.FaultSystemUnavailable, Message: "the recipient does not take messages from you"}
	case d == hub.MailboxFull:
		return &oim.Fault{Code: oim.FaultThrottled, Message: "the recipient's mailbox is full"}
	}
	metrics.Messages.WithLabelValues(protocolName).Inc()
	oim.WriteStored(w, req)
	return nil
}

// handleUUM (MSNP14+) takes a message sent over the notification server,
// UUM trid email network type with a MIME payload: the clients of the time
// wrote to Yahoo! contacts so, and MSNPSharp sends its offline messages
// so. A text (type 1) goes over the hub as a Store2 does, delivered or
// kept in the recipient's mailbox; a failure is answered with an error,
// success with nothing. Typing (2) and nudges (3) are dropped. Every
// account here is a Passport one (network 1): a message for another
// network (Yahoo!'s 32, say) gets 204, the service's "network
// unavailable or does not exist".
func (n *nsConn) handleUUM(ctx context.Context, cmd wire.Command) error {
	if !networkIDs(n.dialect) || len(cmd.Args) < 4 {
		return errCode(errSyntax)
	}
	if cmd.Args[2] != "1" {
		return errCode(errNoSuchNetwork)
	}
	if cmd.Args[3] != "1" {
		return nil
	}
	p, ok := parsePayload(cmd.Payload)
	if !ok || p.contentType != "text/plain" || len(p.Body) == 0 {
		return errCode(errInvalidParameter)
	}
	email := cmd.Args[1]
	if _, rest, ok := strings.Cut(email, ":"); ok {
		email = rest // MSNP18 handle
	}
	contact, err := n.lookupContact(ctx, email)
	if err != nil {
		return err
	}
	d, err := n.srv.cfg.Hub.SendMessage(ctx, n.sess().Account(), contact.Number, p.toHubMessage(), "")
	switch {
	case errors.Is(err, hub.ErrTooLong):
		return errCode(errInvalidParameter)
	case err != nil:
		return err
	case d == hub.Blocked || d == hub.MailboxFull:
		return errCode(errNotOnline)
	}
	metrics.Messages.WithLabelValues(protocolName).Inc()
	return nil
}

// lockKeys checks Store2's lock keys with the Passport key, so that every
// node that verifies the tickets checks the lock keys too.
func (s *Server) lockKeys() oim.LockKeys {
	return oim.LockKeys{Key: s.cfg.Passport.Key, Lifetime: s.cfg.LockKeyLifetime}
}

// oimNotices is what a connection told its MSNP11+ client of the
// offline-IM service: the messages it listed, so that a message is
// announced to it once however often the claims on it move between the
// account's endpoints.
type oimNotices struct {
	mu     sync.Mutex
	listed map[oimKey]bool
	// initial says the login's list went out: a reread that comes
	// first leaves its messages to that list.
	initial bool
}

// oimKey names a mailbox message for good: ids of deleted messages may
// come back.
type oimKey struct {
	id   int64
	sent int64
}

// notifyOfflineIMs tells an MSNP11+ client the offline messages waiting
// for it at the offline-IM service: at login (initial) all of them,
// always, as the client waits for the list; later those it was not told
// of yet, when there are any. It first claims what no live session
// holds, so that the account's logins on other protocols leave those to
// the service; the list is what GetMetadata answers, the claims of the
// account's other endpoints included. The messages stay in the mailbox
// until a client deletes them at the service; claims whose session ends
// first return to it.
func (n *nsConn) notifyOfflineIMs(ctx context.Context, initial bool) error {
	n.oim.mu.Lock()
	defer n.oim.mu.Unlock()
	if !initial && !n.oim.initial {
		return nil
	}
	n.oim.initial = true
	if _, err := n.sess().OfflineMessages(ctx); err != nil {
		return err
	}
	acct := n.sess().Account()
	waiting, err := n.srv.sharedOIMs(ctx, acct.Number)
	if err != nil {
		return err
	}
	listed := make(map[oimKey]bool, len(waiting))
	var fresh []hub.OfflineMessage
	for _, m := range waiting {
		k := oimKey{m.ID, m.Sent.UnixNano()}
		listed[k] = true
		if initial || !n.oim.listed[k] {
			fresh = append(fresh, m)
		}
	}
	n.oim.listed = listed
	if len(fresh) == 0 && !initial {
		return nil
	}
	kind := "text/x-msmsgsoimnotification"
	if initial {
		kind = "text/x-msmsgsinitialmdatanotification"
	}
	md := oim.MailData(mailEntries(acct, fresh), n.srv.cfg.MaxMailData)
	// The field ends its line: MSNPSharp reads a field only up to a CR,
	// and without one found no Mail-Data at all.
	n.sendPayload("MSG", []byte("MIME-Version: 1.0\r\nContent-Type: "+kind+"; charset=UTF-8\r\n\r\nMail-Data: "+md+"\r\n"), "Hotmail", "Hotmail")
	return nil
}

// sharedOIMs reads the account's offline messages, or the named ones, as
// the offline-IM service shows them to every MSNP11+ session of the
// account alike: all but those the account's other logins (other
// protocols, older dialects) are delivering.
func (s *Server) sharedOIMs(ctx context.Context, number uint32, ids ...int64) ([]hub.OfflineMessage, error) {
	return s.cfg.Hub.SharedOffline(ctx, number, func(protocol, details string) bool {
		return protocol == protocolName && offlineIMs(decodeExtras(details).dialect)
	}, ids...)
}

// sendOIMsDeleted tells an MSNP11+ client that delta offline messages
// moved from the offline-IM folder to the trash, as the real service did
// after DeleteMessages, so that it counts them no more.
func (n *nsConn) sendOIMsDeleted(delta string) {
	n.sendPayload("MSG", []byte("MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsactivemailnotification; charset=UTF-8\r\n\r\n"+
		"Src-Folder: .!!OIM\r\nDest-Folder: .!!trAsH\r\nMessage-Delta: "+delta+"\r\n"), "Hotmail", "Hotmail")
}
