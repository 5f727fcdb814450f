package drive

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crosstalk-im/crosstalk/hub"
)

// Defaults for the zero Config fields.
const (
	DefaultMaxFileBytes   = 100 << 20
	DefaultQuotaBytes     = 1 << 30
	DefaultTicketLifetime = 7 * 24 * time.Hour
)

// MPA notification kinds (GG_EVENT110 subtypes).
const (
	KindTicketChanged     = "edisc/send_ticket_changed"
	KindScopeFilesChanged = "edisc/scope_files_changed"
)

// Header and cookie names of the edisc API.
const (
	headerSecurityToken = "X-gged-security-token"
	headerUser          = "X-gged-user"
	headerAck           = "X-gged-ack-status"
	// CookieName is the session cookie set by PUT /signin. The real
	// service's cookie name is unknown; clients just echo whatever they get.
	CookieName = "gged_session"
)

// protocolGG is the hub protocol name of the GG frontend; only recipients
// logged in through it can take part in a transfer.
const protocolGG = ProtocolGG

// ProtocolGG is the hub protocol name of the GG frontend.
const ProtocolGG = "gg"

const (
	maxJSONBody  = 16 << 10 // PUT /send_ticket bodies
	expiredBatch = 500
	staleTemp    = time.Hour // a .part file this old with no upload running is debris
)

// TokenOwner maps a GG IMToken to the account whose live GG session holds
// it; (*ggserver.Server).TokenOwner implements it.
type TokenOwner interface {
	TokenOwner(ctx context.Context, token string) (uin uint32, ok bool)
}

// Config wires the drive to the rest of the node.
type Config struct {
	Tickets Tickets
	Hub     *hub.Hub
	// Dir is the node's data directory; blobs live in Dir/drive, unless
	// Objects is set.
	Dir string
	// Objects keeps the files instead when nodes share a bus (see
	// OpenObjects), so that any node serves any file.
	Objects jetstream.ObjectStore
	Tokens  TokenOwner
	// Key signs sign-in cookies and download links. Nodes that share it
	// (and the data directory) serve each other's users; empty: a key kept
	// in the blob directory, made on first use.
	Key []byte
	// MaxFileBytes caps one file (default 100 MiB). QuotaBytes caps the
	// bytes an account has on offer as a sender in live tickets (default
	// 1 GiB; negative means no quota). TicketLifetime is how long a ticket
	// and its file are kept (default 7 days).
	MaxFileBytes   int64
	QuotaBytes     int64
	TicketLifetime time.Duration
	Logger         *slog.Logger
	// PublicURL is the HTTP service's address as users reach it, such as
	// "https://files.example.net"; download links sent to recipients
	// online through a protocol without file transfer start with it.
	// Empty: such recipients cannot be sent files.
	PublicURL string
	// MSN, when set, offers files to recipients online through MSN (and
	// not GG) once the sender has uploaded them.
	MSN FileOfferer
	// Now tells the time tickets are made, expire and are swept by
	// (default time.Now); tests move it instead of sleeping past lifetimes.
	Now func() time.Time
}

// FileOfferer hands a completed ticket's file to a recipient online
// through another protocol with a file transfer of its own (MSN);
// (*msnp/server.Server).OfferFile implements it. It blocks until the
// transfer ends; ErrDeclined says the recipient refused the file.
type FileOfferer interface {
	OfferFile(ctx context.Context, from hub.Account, to uint32, t Ticket, open func() (io.ReadCloser, error)) error
}

// ErrDeclined is what a FileOfferer returns when the recipient refused.
var ErrDeclined = errors.New("drive: the recipient declined the file")

// Routes of a ticket whose recipient is not online through GG.
const (
	routeLink = "link" // a download link in a hub message
	routeMSN  = "msn"  // an offer through the MSN frontend
	routeSIP  = "sip"  // an offer through the SIP frontend, over the hub
)

// Server serves the GG drive HTTP API.
type Server struct {
	cfg     Config
	blobDir string
	objects jetstream.ObjectStore // nil: files in blobDir
	log     *slog.Logger

	mu        sync.Mutex
	uploading map[string]bool            // ticket ids with an upload running
	waiters   map[string][]chan struct{} // AwaitAnswer calls by ticket id

	linkKeyBytes []byte // see signingKey

	// handing are the hand-overs of bridged files under way, which Close
	// ends (handCtx) and waits for.
	handing   sync.WaitGroup
	handCtx   context.Context
	stopHands context.CancelFunc
}

// New checks cfg, fills in defaults and creates the blob directory.
func New(cfg Config) (*Server, error) {
	if cfg.Tickets == nil || cfg.Hub == nil || cfg.Tokens == nil || cfg.Dir == "" {
		return nil, errors.New("drive: Tickets, Hub, Tokens and Dir are required")
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = DefaultMaxFileBytes
	}
	if cfg.QuotaBytes == 0 {
		cfg.QuotaBytes = DefaultQuotaBytes
	}
	if cfg.TicketLifetime <= 0 {
		cfg.TicketLifetime = DefaultTicketLifetime
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	dir := BlobDir(cfg.Dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("drive: %w", err)
	}
	handCtx, stopHands := context.WithCancel(context.Background())
	return &Server{
		cfg:       cfg,
		blobDir:   dir,
		objects:   cfg.Objects,
		log:       cfg.Logger,
		uploading: make(map[string]bool),
		waiters:   make(map[string][]chan struct{}),
		handCtx:   handCtx,
		stopHands: stopHands,
	}, nil
}

// Close ends the hand-overs of bridged files under way (their recipients
// do not get the files) and waits for them. Call it once the front ends
// have stopped.
func (s *Server) Close() {
	s.stopHands()
	s.handing.Wait()
}

// Handler serves the API at the root of its own host (drive.mpa.gg.pl):
// /signin, /send_ticket, /send_ticket/<id>, /me/file/outbox/<id>%2C<name>
// and /me/file/inbox/<id>,<name>.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	switch {
	case p == "/signin":
		if allow(w, r, http.MethodPut) {
			s.signin(w, r)
		}
	case p == "/send_ticket":
		if allow(w, r, http.MethodPut) {
			s.withAuth(w, r, false, s.createTicket)
		}
	case strings.HasPrefix(p, "/send_ticket/"):
		id := strings.TrimPrefix(p, "/send_ticket/")
		if !allow(w, r, http.MethodGet, http.MethodPut) {
			return
		}
		if !validID(id) {
			fail(w, http.StatusNotFound, "no such ticket")
			return
		}
		if r.Method == http.MethodGet {
			s.withAuth(w, r, false, func(w http.ResponseWriter, r *http.Request, me uint32) { s.getTicket(w, r, me, id) })
		} else {
			s.withAuth(w, r, false, func(w http.ResponseWriter, r *http.Request, me uint32) { s.ackTicket(w, r, me, id) })
		}
	case strings.HasPrefix(p, "/me/file/outbox/"):
		if allow(w, r, http.MethodPut) {
			ref := strings.TrimPrefix(p, "/me/file/outbox/")
			s.withAuth(w, r, false, func(w http.ResponseWriter, r *http.Request, me uint32) { s.upload(w, r, me, ref) })
		}
	case strings.HasPrefix(p, "/me/file/inbox/"):
		if allow(w, r, http.MethodGet, http.MethodHead) {
			ref := strings.TrimPrefix(p, "/me/file/inbox/")
			s.withAuth(w, r, true, func(w http.ResponseWriter, r *http.Request, me uint32) { s.download(w, r, me, ref) })
		}
	case strings.HasPrefix(p, "/link/"):
		if allow(w, r, http.MethodGet, http.MethodHead) {
			s.serveLink(w, r, strings.TrimPrefix(p, "/link/"))
		}
	default:
		fail(w, http.StatusNotFound, "not found")
	}
}

func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	fail(w, http.StatusMethodNotAllowed, "method not allowed")
	return false
}

// --- replies ---

type ticketJSON struct {
	ID           string  `json:"id"`
	Sender       string  `json:"sender"`
	Recipient    string  `json:"recipient"`
	FileName     string  `json:"file_name"`
	FileSize     string  `json:"file_size"`
	SendProgress float64 `json:"send_progress"`
	AckStatus    Ack     `json:"ack_status"`
	SendMode     string  `json:"send_mode"`
	SendStatus   Status  `json:"send_status"`
}

func ticketView(t Ticket) ticketJSON {
	progress := 0.0
	switch {
	case t.Status == StatusCompleted:
		progress = 1
	case t.FileSize > 0:
		progress = float64(t.Progress) / float64(t.FileSize)
	}
	return ticketJSON{
		ID:           t.ID,
		Sender:       strconv.FormatUint(uint64(t.Sender), 10),
		Recipient:    strconv.FormatUint(uint64(t.Recipient), 10),
		FileName:     t.FileName,
		FileSize:     strconv.FormatInt(t.FileSize, 10),
		SendProgress: progress,
		AckStatus:    t.Ack,
		SendMode:     "normal",
		SendStatus:   t.Status,
	}
}

// changeJSON is the body of edisc/send_ticket_changed.
// RejectedAfterUpload tells whether a hub notification says a ticket
// whose file the drive kept was rejected: its recipient declined it, or
// handing it to them failed (a ticket has no failed state); id is the
// ticket's. Its sender's frontend then tells them in its own terms.
func RejectedAfterUpload(n *hub.Notification) (id string, ok bool) {
	if n == nil || n.Kind != KindTicketChanged {
		return "", false
	}
	var change changeJSON
	if json.Unmarshal([]byte(n.Data), &change) != nil || change.AckStatus != AckRejected || change.SendStatus != StatusCompleted {
		return "", false
	}
	return change.ID, true
}

type changeJSON struct {
	ID         string `json:"id"`
	AckStatus  Ack    `json:"ack_status"`
	SendStatus Status `json:"send_status"`
}

// scopeJSON is the body of edisc/scope_files_changed; its real shape is
// unknown and Pidgin ignores it.
type scopeJSON struct {
	Scope string `json:"scope"` // "inbox" for the recipient, "outbox" for the sender
	ID    string `json:"id"`
}

func reply(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"result":{"appStatus":500,"errorMsg":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(code)
	w.Write(append(body, '\n'))
}

type errorJSON struct {
	Result struct {
		AppStatus int    `json:"appStatus"`
		ErrorMsg  string `json:"errorMsg"`
	} `json:"result"`
}

// fail answers with the edisc error shape; appStatus is the HTTP code.
func fail(w http.ResponseWriter, code int, msg string) { failApp(w, code, code, msg) }

func failApp(w http.ResponseWriter, code, appStatus int, msg string) {
	var e errorJSON
	e.Result.AppStatus, e.Result.ErrorMsg = appStatus, msg
	reply(w, code, e)
}

func okStatus(w http.ResponseWriter) {
	reply(w, http.StatusOK, map[string]any{"result": map[string]any{"status": 0}})
}

func okTicket(w http.ResponseWriter, t Ticket, withStatus bool) {
	res := map[string]any{"send_ticket": ticketView(t)}
	if withStatus {
		res["status"] = 0
	}
	reply(w, http.StatusOK, map[string]any{"result": res})
}

func (s *Server) notify(to uint32, kind string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	s.cfg.Hub.Notify(to, hub.Notification{Kind: kind, Data: string(data)})
}

func (s *Server) notifyChange(t Ticket, st Status, to ...uint32) {
	for _, n := range to {
		s.notify(n, KindTicketChanged, changeJSON{ID: t.ID, AckStatus: t.Ack, SendStatus: st})
	}
}

func (s *Server) internal(w http.ResponseWriter, what string, err error) {
	s.log.Error("drive: "+what, "err", err)
	fail(w, http.StatusInternalServerError, "internal error")
}

// --- authentication ---

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// signin trades a live IMToken for a session cookie and security token.
func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "IMToken") || token == "" {
		w.Header().Set("WWW-Authenticate", "IMToken")
		fail(w, http.StatusUnauthorized, "missing IMToken")
		return
	}
	owner, ok := s.cfg.Tokens.TokenOwner(r.Context(), token)
	if !ok {
		w.Header().Set("WWW-Authenticate", "IMToken")
		fail(w, http.StatusUnauthorized, "unknown or expired IMToken")
		return
	}
	user, found := strings.CutPrefix(r.Header.Get(headerUser), "gg/pl:")
	uin, err := strconv.ParseUint(user, 10, 32)
	if !found || err != nil || uint32(uin) != owner {
		fail(w, http.StatusForbidden, "IMToken belongs to another user")
		return
	}
	key, err := s.signingKey()
	if err != nil {
		s.internal(w, "signing key", err)
		return
	}
	cookie := signinCookie(key, token)
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: cookie, Path: "/",
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
	// Set verbatim: the spelling the client expects, not Go's canonical one.
	w.Header()[headerSecurityToken] = []string{securityToken(key, cookie)}
	okStatus(w)
}

// A drive session keeps no state: its cookie carries the IMToken it was
// opened with, signed, and its security token is a signature of the
// cookie. Any node with the same key checks both, and the session ends
// with the GG session the IMToken names.

func signinCookie(key []byte, imtoken string) string {
	enc := base64.RawURLEncoding.EncodeToString([]byte(imtoken))
	return enc + "." + sign(key, "cookie|"+enc)
}

// cookieToken returns the IMToken of a cookie signinCookie made.
func cookieToken(key []byte, cookie string) (string, bool) {
	enc, sig, ok := strings.Cut(cookie, ".")
	if !ok || subtle.ConstantTimeCompare([]byte(sig), []byte(sign(key, "cookie|"+enc))) != 1 {
		return "", false
	}
	token, err := base64.RawURLEncoding.DecodeString(enc)
	return string(token), err == nil
}

func securityToken(key []byte, cookie string) string { return sign(key, "security|"+cookie) }

func sign(key []byte, what string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(what))
	return hex.EncodeToString(m.Sum(nil)[:24])
}

// authenticate finds the caller's account: a cookie from signin, its
// security token (header, or the query for downloads), and a GG session
// still holding the IMToken it signed in with.
func (s *Server) authenticate(r *http.Request, queryToken bool) (uint32, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return 0, false
	}
	tok := r.Header.Get(headerSecurityToken)
	if tok == "" && queryToken {
		tok = r.URL.Query().Get("security_token")
	}
	key, err := s.signingKey()
	if err != nil || tok == "" {
		return 0, false
	}
	imtoken, ok := cookieToken(key, c.Value)
	if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(securityToken(key, c.Value))) != 1 {
		return 0, false
	}
	return s.cfg.Tokens.TokenOwner(r.Context(), imtoken)
}

func (s *Server) withAuth(w http.ResponseWriter, r *http.Request, queryToken bool, h func(http.ResponseWriter, *http.Request, uint32)) {
	me, ok := s.authenticate(r, queryToken)
	if !ok {
		fail(w, http.StatusUnauthorized, "not signed in")
		return
	}
	h(w, r, me)
}

// --- tickets ---

// flexString takes a JSON string (as the client sends) or a number.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

type sendTicketRequest struct {
	SendTicket *struct {
		Recipient flexString `json:"recipient"`
		FileName  flexString `json:"file_name"`
		FileSize  flexString `json:"file_size"`
	} `json:"send_ticket"`
}

// Application status codes the GG client knows (spec §9.2); others say
// only "Unable to send file".
const (
	appNotLoggedIn = 206
	appNotAllowed  = 207
)

func (s *Server) createTicket(w http.ResponseWriter, r *http.Request, me uint32) {
	var req sendTicketRequest
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody)).Decode(&req)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		fail(w, http.StatusRequestEntityTooLarge, "request too large")
		return
	case err != nil || req.SendTicket == nil:
		fail(w, http.StatusBadRequest, "malformed send_ticket")
		return
	}
	st := req.SendTicket
	to, err1 := strconv.ParseUint(strings.TrimSpace(string(st.Recipient)), 10, 32)
	size, err2 := strconv.ParseInt(strings.TrimSpace(string(st.FileSize)), 10, 64)
	if err1 != nil || err2 != nil || to == 0 || size < 0 || st.FileName == "" {
		fail(w, http.StatusBadRequest, "bad recipient, file name or size")
		return
	}
	recipient := uint32(to)
	if recipient == me {
		fail(w, http.StatusBadRequest, "cannot send a file to yourself")
		return
	}
	if size > s.cfg.MaxFileBytes {
		fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("file larger than %d bytes", s.cfg.MaxFileBytes))
		return
	}
	ctx := r.Context()
	store := s.cfg.Hub.Store()
	if _, err := store.Account(ctx, recipient); errors.Is(err, hub.ErrNotFound) {
		failApp(w, http.StatusForbidden, appNotLoggedIn, "recipient is not logged in")
		return
	} else if err != nil {
		s.internal(w, "recipient account", err)
		return
	}
	rel, err := store.Relation(ctx, recipient, me)
	if err != nil {
		s.internal(w, "relation", err)
		return
	}
	if !rel.Allows() {
		failApp(w, http.StatusForbidden, appNotAllowed, "sender is not on the recipient's list")
		return
	}
	sessions, err := s.cfg.Hub.Sessions(ctx, recipient)
	if err != nil {
		s.internal(w, "recipient sessions", err)
		return
	}
	route := s.route(sessions)
	if route == "" && !online(sessions, protocolGG) {
		failApp(w, http.StatusForbidden, appNotLoggedIn, "recipient is not logged in")
		return
	}
	now := s.cfg.Now().UTC()
	t := Ticket{
		ID: randomHex(16), Sender: me, Recipient: recipient,
		FileName: SanitizeName(string(st.FileName)), FileSize: size,
		Ack: AckUnknown, Status: StatusInProgress,
		Created: now, Expires: now.Add(s.cfg.TicketLifetime),
	}
	if route != "" {
		// No decision step on the recipient's protocol: the ticket is
		// allowed at once and the sender's client uploads right away.
		t.Ack = AckAllowed
	}
	quota := s.cfg.QuotaBytes
	if quota < 0 {
		quota = 0
	}
	if err := s.cfg.Tickets.CreateTicket(ctx, t, quota); errors.Is(err, ErrQuota) {
		fail(w, http.StatusInsufficientStorage, "drive quota exceeded")
		return
	} else if errors.Is(err, hub.ErrNotFound) {
		failApp(w, http.StatusForbidden, appNotLoggedIn, "recipient is not logged in")
		return
	} else if err != nil {
		s.internal(w, "create ticket", err)
		return
	}
	if route != "" {
		okTicket(w, t, false)
		s.notifyChange(t, t.Status, me)
		return
	}
	okTicket(w, t, false)
	s.notifyChange(t, t.Status, recipient)
}

func online(sessions map[string]hub.Status, protocol string) bool {
	st, ok := sessions[protocol]
	return ok && st.Visible() != hub.StatusOffline
}

// route tells how a recipient not online through GG gets a file: through
// MSN's or SIP's own file transfer, or as a download link on protocols
// without one (the web chat shows it as a file); "" when none serves (or
// the recipient is on GG).
func (s *Server) route(sessions map[string]hub.Status) string {
	if online(sessions, protocolGG) {
		return ""
	}
	if s.cfg.MSN != nil && online(sessions, protocolMSNP) {
		return routeMSN
	}
	if online(sessions, protocolSIP) {
		return routeSIP
	}
	if s.cfg.PublicURL != "" && (online(sessions, protocolMSIM) || online(sessions, protocolIMIP) || online(sessions, ProtocolWebchat)) {
		return routeLink
	}
	return ""
}

// Bridges reports whether a recipient online through the sessions given
// (as hub.Sessions reports them) and not through GG can be handed a file
// with Bridge.
func (s *Server) Bridges(sessions map[string]hub.Status) bool { return s.route(sessions) != "" }

// Hub protocol names of the frontends a GG sender's file is bridged to.
const (
	protocolMSNP = "msnp"
	protocolMSIM = "msim"
	protocolIMIP = "imip"
	protocolSIP  = "sip"
)

// ProtocolWebchat is the hub protocol name of the web chat frontend, which
// is told of files for its users by a hub file event (see Announce).
const ProtocolWebchat = "webchat"

// Bridge hands a completed ticket whose recipient is online, but
// not through GG, to them in the background: a download link, or an MSN
// or SIP offer. The route follows where the recipient is when the file is
// in, so nothing about it needs keeping between the offer and the upload.
func (s *Server) Bridge(ctx context.Context, t Ticket) bool {
	route := s.routeFor(ctx, t)
	if route == "" {
		return false
	}
	s.notifyChange(t, t.Status, t.Sender)
	s.notify(t.Sender, KindScopeFilesChanged, scopeJSON{Scope: "outbox", ID: t.ID})
	s.handing.Go(func() { s.handTo(route, t) })
	return true
}

// Deliver hands a completed ticket a protocol bridge deposited (see
// Deposit) to its recipient in the background, as Bridge does a GG
// user's: an MSN or SIP offer, or a download link. It reports false
// when the recipient is online through none of those.
func (s *Server) Deliver(ctx context.Context, t Ticket) bool {
	route := s.routeFor(ctx, t)
	if route == "" {
		return false
	}
	s.handing.Go(func() { s.handTo(route, t) })
	return true
}

// routeFor is the route of a ticket's recipient as they are online now.
func (s *Server) routeFor(ctx context.Context, t Ticket) string {
	sessions, err := s.cfg.Hub.Sessions(ctx, t.Recipient)
	if err != nil {
		s.log.Warn("drive: bridged file: recipient sessions", "ticket", t.ID, "err", err)
		return ""
	}
	return s.route(sessions)
}

// handTo delivers a ticket's file by route.
func (s *Server) handTo(route string, t Ticket) {
	ctx, cancel := context.WithTimeout(s.handCtx, bridgeTimeout)
	defer cancel()
	from, err := s.cfg.Hub.Store().Account(ctx, t.Sender)
	if err != nil {
		s.log.Warn("drive: bridged file: sender", "ticket", t.ID, "err", err)
		return
	}
	switch route {
	case routeLink:
		if err := s.Announce(ctx, from, t); err != nil {
			s.log.Warn("drive: bridged file: announce", "ticket", t.ID, "err", err)
		}
	case routeSIP:
		// The SIP session, on whichever node, offers it (see HandOver).
		s.cfg.Hub.OfferFile(from, t.Recipient, protocolSIP, t.ID)
	case routeMSN:
		err := s.HandOver(ctx, t.ID, func(t Ticket, open func() (io.ReadCloser, error)) error {
			return s.cfg.MSN.OfferFile(ctx, from, t.Recipient, t, open)
		})
		if errors.Is(err, ErrElsewhere) {
			s.cfg.Hub.OfferFile(from, t.Recipient, protocolMSNP, t.ID)
		}
	}
}

// ErrElsewhere is what a FileOfferer returns when the recipient's session
// is on another node; that node is then asked, over the bus, to offer the
// file (see HandOver).
var ErrElsewhere = errors.New("drive: the recipient is online on another node")

// HandOver gives offer a completed ticket's file to hand to its recipient
// over another protocol. A ticket has no failed state, so a file that did
// not reach the recipient, refused or not, is marked rejected for the
// sender; except on ErrElsewhere, which HandOver returns as it is.
func (s *Server) HandOver(ctx context.Context, id string, offer func(t Ticket, open func() (io.ReadCloser, error)) error) error {
	t, err := s.cfg.Tickets.Ticket(ctx, id)
	if err != nil {
		return err
	}
	if t.Status != StatusCompleted || t.Ack != AckAllowed {
		return errors.New("drive: the ticket's file is not ready to hand over")
	}
	open := func() (io.ReadCloser, error) { return s.openBlob(ctx, t.ID) }
	err = offer(t, open)
	if err == nil || errors.Is(err, ErrElsewhere) {
		return err
	}
	if !errors.Is(err, ErrDeclined) {
		s.log.Info("drive: file offer to MSN failed", "ticket", t.ID, "err", err)
	}
	s.decline(t.ID)
	return err
}

// bridgeTimeout bounds handing one bridged file over.
const bridgeTimeout = 30 * time.Minute

// Announce tells a completed ticket's recipient where to fetch its file:
// their web chat sessions get a file event (which they turn into a
// download link through Link), their sessions of other protocols a
// message with the link.
func (s *Server) Announce(ctx context.Context, from hub.Account, t Ticket) error {
	link := s.LinkPath(t)
	if link == "" {
		return errors.New("drive: no link key")
	}
	sessions, err := s.cfg.Hub.Sessions(ctx, t.Recipient)
	if err != nil {
		return err
	}
	skip := ""
	if _, ok := sessions[ProtocolWebchat]; ok {
		s.cfg.Hub.OfferFile(from, t.Recipient, ProtocolWebchat, t.ID)
		if !s.cfg.Hub.HasSessionBesides(t.Recipient, ProtocolWebchat) {
			return nil
		}
		skip = ProtocolWebchat
	}
	name := from.DisplayName
	if name == "" {
		name = from.Email
	}
	text := name + " sent you a file: " + t.FileName + " (" + strconv.FormatInt(t.FileSize, 10) + " bytes): " +
		strings.TrimRight(s.cfg.PublicURL, "/") + link
	_, err = s.cfg.Hub.SendMessage(ctx, from, t.Recipient, hub.Message{Text: text}, skip)
	return err
}

// Link returns a completed ticket of recipient's and the address at which
// it can be downloaded: the public URL followed by LinkPath.
func (s *Server) Link(ctx context.Context, id string, recipient uint32) (Ticket, string, error) {
	t, err := s.cfg.Tickets.Ticket(ctx, id)
	if err != nil {
		return Ticket{}, "", err
	}
	if t.Recipient != recipient || t.Status != StatusCompleted {
		return Ticket{}, "", ErrNoTicket
	}
	link := s.LinkPath(t)
	if link == "" {
		return Ticket{}, "", errors.New("drive: no link key")
	}
	return t, strings.TrimRight(s.cfg.PublicURL, "/") + link, nil
}

// MaxFileBytes is the largest file the drive takes.
func (s *Server) MaxFileBytes() int64 { return s.cfg.MaxFileBytes }

// decline marks a ticket whose file the recipient refused or never got as
// rejected, even when its file is in, and tells the sender.
func (s *Server) decline(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t, err := s.cfg.Tickets.UpdateTicket(ctx, id, func(t *Ticket) error {
		t.Ack = AckRejected
		return nil
	})
	if err != nil {
		s.log.Warn("drive: decline", "ticket", id, "err", err)
		return
	}
	s.notifyChange(t, t.Status, t.Sender)
}

// ticketFor reads a ticket for a caller who must take part in it; others
// get 404, as if it did not exist.
func (s *Server) ticketFor(w http.ResponseWriter, r *http.Request, me uint32, id string) (Ticket, bool) {
	t, err := s.cfg.Tickets.Ticket(r.Context(), id)
	if errors.Is(err, ErrNoTicket) || err == nil && t.Sender != me && t.Recipient != me {
		fail(w, http.StatusNotFound, "no such ticket")
		return t, false
	}
	if err != nil {
		s.internal(w, "read ticket", err)
		return t, false
	}
	return t, true
}

func (s *Server) getTicket(w http.ResponseWriter, r *http.Request, me uint32, id string) {
	if t, ok := s.ticketFor(w, r, me, id); ok {
		okTicket(w, t, true)
	}
}

var errConflict = errors.New("conflict")

func (s *Server) ackTicket(w http.ResponseWriter, r *http.Request, me uint32, id string) {
	var want Ack
	switch strings.ToLower(strings.TrimSpace(r.Header.Get(headerAck))) {
	case "allow":
		want = AckAllowed
	case "reject":
		want = AckRejected
	default:
		fail(w, http.StatusBadRequest, "X-gged-ack-status must be allow or reject")
		return
	}
	t, ok := s.ticketFor(w, r, me, id)
	if !ok {
		return
	}
	if t.Recipient != me {
		fail(w, http.StatusForbidden, "only the recipient may answer a ticket")
		return
	}
	changed := false
	t, err := s.cfg.Tickets.UpdateTicket(r.Context(), id, func(t *Ticket) error {
		changed = false // change may run again
		switch t.Ack {
		case want:
			return nil
		case AckUnknown:
			t.Ack, changed = want, true
			return nil
		}
		return errConflict
	})
	switch {
	case errors.Is(err, errConflict):
		fail(w, http.StatusConflict, "ticket already answered")
		return
	case errors.Is(err, ErrNoTicket):
		fail(w, http.StatusNotFound, "no such ticket")
		return
	case err != nil:
		s.internal(w, "answer ticket", err)
		return
	}
	okTicket(w, t, true)
	if changed {
		s.answered(id)
		s.notifyChange(t, t.Status, t.Sender, t.Recipient)
	}
}

// --- files ---

func (s *Server) blobPath(id string) string { return filepath.Join(s.blobDir, id) }

func (s *Server) claimUpload(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.uploading[id] {
		return false
	}
	s.uploading[id] = true
	return true
}

func (s *Server) isUploading(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uploading[id]
}

func (s *Server) releaseUpload(id string) {
	s.mu.Lock()
	delete(s.uploading, id)
	s.mu.Unlock()
}

// fileTicket reads the ticket of a file path "<id>,<name>" for a caller
// who takes part in it; a wrong name is as unknown as a wrong id.
func (s *Server) fileTicket(w http.ResponseWriter, r *http.Request, me uint32, ref string) (Ticket, bool) {
	id, name, err := ParseFileRef(ref)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad file path")
		return Ticket{}, false
	}
	t, ok := s.ticketFor(w, r, me, id)
	if ok && t.FileName != name {
		fail(w, http.StatusNotFound, "no such file")
		return t, false
	}
	return t, ok
}

// errSize: the body was not as long as the ticket said.
var errSize = errors.New("upload size does not match the ticket")

func (s *Server) upload(w http.ResponseWriter, r *http.Request, me uint32, ref string) {
	t, ok := s.fileTicket(w, r, me, ref)
	if !ok {
		return
	}
	switch {
	case t.Sender != me:
		fail(w, http.StatusForbidden, "only the sender may upload")
		return
	case t.Ack != AckAllowed:
		fail(w, http.StatusConflict, "the recipient has not accepted the file")
		return
	case t.Status != StatusInProgress:
		fail(w, http.StatusConflict, "file already uploaded")
		return
	case t.FileSize > s.cfg.MaxFileBytes:
		fail(w, http.StatusRequestEntityTooLarge, "file too large")
		return
	case r.ContentLength >= 0 && r.ContentLength != t.FileSize:
		fail(w, http.StatusBadRequest, errSize.Error())
		return
	}
	t, err := s.complete(r.Context(), t, http.MaxBytesReader(w, r.Body, t.FileSize))
	switch {
	case errors.Is(err, errBusy):
		fail(w, http.StatusConflict, err.Error())
		return
	case errors.Is(err, errSize), errors.Is(err, errBody):
		fail(w, http.StatusBadRequest, err.Error())
		return
	case errors.Is(err, ErrNoTicket):
		fail(w, http.StatusNotFound, "no such ticket")
		return
	case errors.Is(err, errConflict):
		fail(w, http.StatusConflict, "ticket changed during the upload")
		return
	case err != nil:
		s.internal(w, "store upload", err)
		return
	}
	okStatus(w)
	if !s.Bridge(r.Context(), t) {
		s.notifyCompleted(t)
	}
}

// errBusy: another upload of the same ticket is running.
var errBusy = errors.New("an upload of this file is already running")

// complete stores exactly t.FileSize bytes of body as the blob of an
// allowed ticket and marks it completed; the caller notifies both sides
// with notifyCompleted. On failure no file is left and the ticket stays
// as it was.
func (s *Server) complete(ctx context.Context, t Ticket, body io.Reader) (Ticket, error) {
	id := t.ID
	if !s.claimUpload(id) {
		return t, errBusy
	}
	defer s.releaseUpload(id)
	sum, err := s.putBlob(ctx, id, t.FileSize, body)
	if err != nil {
		return t, err
	}
	t, err = s.cfg.Tickets.UpdateTicket(ctx, id, func(t *Ticket) error {
		if t.Ack != AckAllowed || t.Status != StatusInProgress {
			return errConflict
		}
		t.Status, t.Progress, t.SHA256 = StatusCompleted, t.FileSize, sum
		return nil
	})
	if err != nil {
		s.removeBlob(id)
		return t, err
	}
	return t, nil
}

// notifyCompleted tells both sides a ticket's file is in.
func (s *Server) notifyCompleted(t Ticket) {
	s.notifyChange(t, t.Status, t.Recipient, t.Sender)
	s.notify(t.Recipient, KindScopeFilesChanged, scopeJSON{Scope: "inbox", ID: t.ID})
	s.notify(t.Sender, KindScopeFilesChanged, scopeJSON{Scope: "outbox", ID: t.ID})
}

// blobBuffer is how much of a file storeBlob gathers per write.
const blobBuffer = 256 << 10

// writebackEvery is how much storeBlob writes before it has the kernel
// start putting it on disk, so that the sync at the end finds most of the
// file there instead of all of it to write.
const writebackEvery = 1 << 20

// storeBlob writes exactly size bytes from body to the ticket's blob:
// into a temporary file first, synced, then renamed, so the final name
// only ever holds a complete file. It returns the hex SHA-256.
func (s *Server) storeBlob(id string, size int64, body io.Reader) (sum string, err error) {
	f, err := os.CreateTemp(s.blobDir, id+".*"+partSuffix)
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	hashed := newBlobHasher()
	defer hashed.finish()
	src := &failedRead{r: body}
	var n, flushed int64
	for {
		// Whole buffers, however small the reads: few large writes.
		buf := hashed.buffer()
		k, rerr := io.ReadFull(src, buf[:])
		var werr error
		if k > 0 {
			_, werr = f.Write(buf[:k])
			n += int64(k)
		}
		hashed.add(buf, k)
		if werr != nil {
			return "", werr
		}
		if n-flushed >= writebackEvery {
			startWriteback(f, flushed, n-flushed)
			flushed = n
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || err == nil && n != size:
		return "", errSize
	case err != nil && err == src.err:
		return "", fmt.Errorf("%w: %w", errBody, err)
	case err != nil:
		return "", err
	}
	// A body exactly size bytes long may still have more behind it when no
	// MaxBytesReader guards it; one more read tells.
	var extra [1]byte
	if k, _ := body.Read(extra[:]); k > 0 {
		return "", errSize
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	if err = f.Close(); err != nil {
		return "", err
	}
	if err = os.Rename(tmp, s.blobPath(id)); err != nil {
		return "", err
	}
	syncDir(s.blobDir)
	return hex.EncodeToString(hashed.finish()), nil
}

// blobBuffers keeps storeBlob's buffers between uploads.
var blobBuffers = sync.Pool{New: func() any { return new([blobBuffer]byte) }}

// blobHasher takes the SHA-256 of what storeBlob writes on a goroutine of
// its own, from the buffers written, so that hashing one buffer runs
// beside reading and writing the next: once, as the data streams by.
type blobHasher struct {
	free chan *[blobBuffer]byte
	full chan hashChunk
	sum  chan []byte
	done []byte // set by finish
}

type hashChunk struct {
	buf *[blobBuffer]byte
	n   int
}

// hashBuffers: one being filled while the other is hashed.
const hashBuffers = 2

func newBlobHasher() *blobHasher {
	bh := &blobHasher{
		free: make(chan *[blobBuffer]byte, hashBuffers),
		full: make(chan hashChunk, hashBuffers),
		sum:  make(chan []byte, 1),
	}
	for range hashBuffers {
		bh.free <- blobBuffers.Get().(*[blobBuffer]byte)
	}
	go func() {
		h := sha256.New()
		for c := range bh.full {
			h.Write(c.buf[:c.n])
			bh.free <- c.buf
		}
		bh.sum <- h.Sum(nil)
	}()
	return bh
}

// buffer waits for a buffer to fill; it goes back with add.
func (bh *blobHasher) buffer() *[blobBuffer]byte { return <-bh.free }

// add hashes the first n bytes of buf, then frees it.
func (bh *blobHasher) add(buf *[blobBuffer]byte, n int) { bh.full <- hashChunk{buf, n} }

// finish returns the sum of all that was added; called again, it returns
// the same.
func (bh *blobHasher) finish() []byte {
	if bh.done == nil {
		close(bh.full)
		bh.done = <-bh.sum
		for range hashBuffers {
			blobBuffers.Put(<-bh.free)
		}
	}
	return bh.done
}

// errBody: the body broke off before its end, or was malformed (a bad
// chunk); the sender's fault, not the server's.
var errBody = errors.New("upload body incomplete or malformed")

// failedRead keeps the error a reader failed with, telling the body's
// failures from the disk's.
type failedRead struct {
	r   io.Reader
	err error
}

func (f *failedRead) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF {
		f.err = err
	}
	return n, err
}

// syncDir makes a rename in dir durable; failures only cost durability.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, me uint32, ref string) {
	t, ok := s.fileTicket(w, r, me, ref)
	if !ok {
		return
	}
	id := t.ID
	switch {
	case t.Recipient != me:
		fail(w, http.StatusForbidden, "only the recipient may download")
		return
	case t.Status != StatusCompleted:
		fail(w, http.StatusConflict, "file not uploaded yet")
		return
	}
	f, err := s.openBlob(r.Context(), id)
	if err != nil {
		s.internal(w, "open blob", err)
		return
	}
	defer f.Close()
	if f.Size() != t.FileSize {
		s.internal(w, "blob size", fmt.Errorf("ticket %s: blob of %d bytes, ticket says %d", id, f.Size(), t.FileSize))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Disposition", `attachment; filename="`+t.FileName+`"`)
	hd.Set("X-Content-Type-Options", "nosniff")
	if t.SHA256 != "" {
		hd.Set("X-Checksum-Sha256", t.SHA256)
	}
	http.ServeContent(w, r, "", time.Time{}, f)
}

// --- expiry ---

// Sweep removes expired tickets and their files, tells both sides of each
// unfinished one that it expired, clears upload debris and forgets signins
// whose GG session ended. It returns how many tickets it removed.
func (s *Server) Sweep(ctx context.Context) (int, error) {
	removed := 0
	for {
		ts, err := s.cfg.Tickets.ExpiredTickets(ctx, s.cfg.Now(), expiredBatch)
		if err != nil {
			return removed, err
		}
		for _, t := range ts {
			s.removeBlob(t.ID)
			if err := s.cfg.Tickets.DeleteTicket(ctx, t.ID); err != nil {
				return removed, err
			}
			removed++
			if t.Status != StatusCompleted && t.Ack != AckRejected {
				s.notifyChange(t, StatusExpired, t.Recipient, t.Sender)
			}
		}
		if len(ts) < expiredBatch {
			break
		}
	}
	s.sweepFiles(ctx)
	return removed, ctx.Err()
}

// sweepFiles removes temporary files no upload is writing and blobs whose
// ticket is gone (an account deletion cascades to its tickets).
func (s *Server) sweepFiles(ctx context.Context) {
	if s.objects != nil {
		s.sweepObjects(ctx)
		return
	}
	entries, err := os.ReadDir(s.blobDir)
	if err != nil {
		s.log.Warn("drive: sweep", "err", err)
		return
	}
	for _, e := range entries {
		name := e.Name()
		if name == linkKeyFile {
			continue
		}
		id, _, isTemp := strings.Cut(name, ".")
		busy := s.isUploading(id)
		info, err := e.Info()
		if busy || err != nil || !info.Mode().IsRegular() {
			continue
		}
		switch {
		case isTemp && s.cfg.Now().Sub(info.ModTime()) > staleTemp:
			os.Remove(filepath.Join(s.blobDir, name))
		case !isTemp && validID(id):
			if _, err := s.cfg.Tickets.Ticket(ctx, id); errors.Is(err, ErrNoTicket) {
				os.Remove(filepath.Join(s.blobDir, name))
			}
		}
	}
}

// RunSweeper calls Sweep every interval until ctx ends.
func (s *Server) RunSweeper(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if n, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("drive: sweep", "err", err)
			} else if n > 0 {
				s.log.Info("drive: expired tickets removed", "count", n)
			}
		}
	}
}
