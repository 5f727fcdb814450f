// Package web serves Crosstalk's web pages and admin API on the node's HTTP
// service: sign-up, the account page, the admin console and the JSON API
// beneath it (described by openapi.json, served at /api/openapi.json).
//
// Sign-ins are sessions kept in the store by the SHA-256 of a random
// token. Browsers hold the token in an HttpOnly, SameSite=Strict cookie
// (Secure over TLS); scripts send it as "Authorization: Bearer <token>".
// Every request that changes state and comes with the cookie must carry
// the session's CSRF token (form field "csrf" or header X-CSRF-Token), an
// HMAC of the session token; the sign-in and sign-up forms, before there
// is a session, bind theirs to a random pre-session cookie instead.
// Bearer requests need none: no browser sends that header by itself.
// Cross-origin unsafe requests are refused besides (Sec-Fetch-Site and
// Origin, net/http's CrossOriginProtection).
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/store"
)

// Registration is who may sign up on the web page.
type Registration string

const (
	RegistrationOpen   Registration = "open"   // anyone
	RegistrationInvite Registration = "invite" // whoever has an invite code
	RegistrationClosed Registration = "closed" // nobody: accounts come from `crosstalk user add`
)

// Defaults of the zero Config fields.
const (
	DefaultMaxSignUpsPerAddr = 3
	DefaultSignUpWindow      = 24 * time.Hour
	DefaultMinPasswordLength = store.DefaultMinPasswordLength
	DefaultSessionLifetime   = 7 * 24 * time.Hour
	DefaultMaxSessions       = 20
	DefaultMaxFormBytes      = 16 << 10
	DefaultChatTokenLifetime = time.Minute
)

// Config wires the web service to the node.
type Config struct {
	Store  store.Store
	Hub    *hub.Hub
	Guard  *loginguard.Guard
	Logger *slog.Logger
	// Key signs CSRF tokens; nodes that share it accept each other's.
	Key []byte

	Registration Registration // empty: closed
	// MaxSignUpsPerAddr sign-ups are allowed from one address (IPv6: one
	// /64) within SignUpWindow; negative: no limit.
	MaxSignUpsPerAddr int
	SignUpWindow      time.Duration
	// MinPasswordLength is the password policy's least length for
	// passwords chosen on the web.
	MinPasswordLength int
	// SessionLifetime is how long a sign-in lasts; an account keeps at
	// most MaxSessionsPerAccount of them, the oldest ending first.
	SessionLifetime       time.Duration
	MaxSessionsPerAccount int
	// MaxFormBytes caps a form or JSON request body.
	MaxFormBytes int64
	// ChatTokenLifetime is how long the chat token in a browser chat page
	// served to a signed-in browser stays good (it is spent by the page's
	// login at once; a page left unopened longer asks for the password).
	ChatTokenLifetime time.Duration
	// Secure marks cookies Secure: the service is reached over TLS.
	Secure bool
	// Clients says how each client reaches this server, for the page
	// shown after sign-up.
	Clients []ClientSetting
	// Health reports the node's listeners and bus for the admin API.
	Health func() any
}

// ClientSetting is how one kind of client connects.
type ClientSetting struct {
	Client string // who uses it: "MSN Messenger, aMSN, Pidgin (MSN)"
	Addr   string // the listener's bound address
	Login  string // LoginEmail or LoginNumber
	// HostsNames are host names the client dials by itself, which a line
	// in the hosts file must point at this server; none when the server
	// can be typed into the client.
	HostsNames []string
}

// What a client logs in with.
const (
	LoginEmail  = "e-mail address"
	LoginNumber = "number"
)

// Server serves the pages and the API.
type Server struct {
	cfg   Config
	log   *slog.Logger
	pages pages
	mux   *http.ServeMux
}

// New fills in cfg's defaults and parses the pages.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Hub == nil || cfg.Guard == nil || len(cfg.Key) == 0 {
		return nil, errors.New("web: Store, Hub, Guard and Key are required")
	}
	switch cfg.Registration {
	case "":
		cfg.Registration = RegistrationClosed
	case RegistrationOpen, RegistrationInvite, RegistrationClosed:
	default:
		return nil, fmt.Errorf("web: registration %q: open, invite or closed", cfg.Registration)
	}
	if cfg.MaxSignUpsPerAddr == 0 {
		cfg.MaxSignUpsPerAddr = DefaultMaxSignUpsPerAddr
	}
	if cfg.SignUpWindow <= 0 {
		cfg.SignUpWindow = DefaultSignUpWindow
	}
	if cfg.MinPasswordLength <= 0 {
		cfg.MinPasswordLength = DefaultMinPasswordLength
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = DefaultSessionLifetime
	}
	if cfg.MaxSessionsPerAccount <= 0 {
		cfg.MaxSessionsPerAccount = DefaultMaxSessions
	}
	if cfg.MaxFormBytes <= 0 {
		cfg.MaxFormBytes = DefaultMaxFormBytes
	}
	if cfg.ChatTokenLifetime <= 0 {
		cfg.ChatTokenLifetime = DefaultChatTokenLifetime
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Health == nil {
		cfg.Health = func() any { return struct{}{} }
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, pages: p, mux: http.NewServeMux()}
	s.routes()
	return s, nil
}

// Handler serves /web/… (pages and static files) and /api/… (the JSON
// API); the node sends it those paths.
func (s *Server) Handler() http.Handler {
	cop := http.NewCrossOriginProtection()
	return cop.Handler(securityHeaders(s.mux))
}

// contentSecurityPolicy lets pages load only this service's own scripts,
// styles and images, post forms only to it, and be framed by nobody.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// Cookie names.
const (
	sessionCookie = "ct_session"
	// preCookie binds the sign-in and sign-up forms' CSRF token before a
	// session exists.
	preCookie  = "ct_pre"
	csrfHeader = "X-CSRF-Token"
	csrfField  = "csrf"
)

// newToken is 32 random bytes in lower-case base32: people paste tokens
// and invite codes after command-line flags, where base64url's leading
// '-' (one token in 64) read as a flag.
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return strings.ToLower(tokenEncoding.EncodeToString(b))
}

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// csrfToken is the CSRF token of a session (or pre-session) token.
func (s *Server) csrfToken(binding string) string {
	m := hmac.New(sha256.New, s.cfg.Key)
	m.Write([]byte("csrf\x00"))
	m.Write([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) validCSRF(binding, got string) bool {
	return binding != "" && got != "" && subtle.ConstantTimeCompare([]byte(s.csrfToken(binding)), []byte(got)) == 1
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: s.cfg.Secure || r.TLS != nil, MaxAge: int(maxAge / time.Second),
	}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// caller is who made a request.
type caller struct {
	store.AccountInfo
	token  string // the session token
	bearer bool   // sent in the Authorization header, not the cookie
}

// signedIn returns the request's session, if it has a live one.
func (s *Server) signedIn(r *http.Request) (caller, bool) {
	var c caller
	if auth := r.Header.Get("Authorization"); auth != "" {
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			return c, false
		}
		c.token, c.bearer = token, true
	} else if ck, err := r.Cookie(sessionCookie); err == nil {
		c.token = ck.Value
	}
	if c.token == "" {
		return c, false
	}
	ai, err := s.cfg.Store.WebSession(r.Context(), hashToken(c.token))
	if err != nil {
		if !errors.Is(err, hub.ErrNotFound) {
			s.log.Warn("web session lookup", "err", err)
		}
		return c, false
	}
	c.AccountInfo = ai
	return c, true
}

// Authenticate returns the account signed in on r, for other handlers of
// the HTTP service (the browser chat): ok false when none is.
func (s *Server) Authenticate(r *http.Request) (store.AccountInfo, bool) {
	c, ok := s.signedIn(r)
	return c.AccountInfo, ok
}

// CSRFToken is the CSRF token of the session r is signed in with, for
// the forms and scripts of other handlers' pages; "" when none is.
func (s *Server) CSRFToken(r *http.Request) string {
	c, ok := s.signedIn(r)
	if !ok || c.bearer {
		return ""
	}
	return s.csrfToken(c.token)
}

// ChatToken mints a chat token for the browser chat page that r, from a
// browser signed in with the session cookie, asks for; "" when r is not
// (or through a bearer token, whose scripts log in themselves).
//
// The page gets a token of its own rather than the session cookie's
// value, which stays HttpOnly and out of every page: the chat token is
// random, stored by its SHA-256, good for one login within
// Config.ChatTokenLifetime, and ends with the web session that minted it
// (sign-out). Another site cannot read it: the page is same-origin only,
// and the WebSocket refuses foreign Origins besides.
func (s *Server) ChatToken(r *http.Request) string {
	c, ok := s.signedIn(r)
	if !ok || c.bearer {
		return ""
	}
	token := newToken()
	if err := s.cfg.Store.CreateChatToken(r.Context(), hashToken(token), hashToken(c.token), time.Now().Add(s.cfg.ChatTokenLifetime)); err != nil {
		s.log.Error("chat token", "err", err)
		return ""
	}
	return token
}

// ChatTokenOwner spends a chat token from ChatToken and returns the
// account it signs in: the web chat's Config.Tokens. ok is false for an
// unknown, spent or expired token, one whose web session ended, and one of
// a disabled account.
func (s *Server) ChatTokenOwner(ctx context.Context, token string) (number uint32, ok bool) {
	ai, err := s.cfg.Store.TakeChatToken(ctx, hashToken(token))
	if err != nil {
		if !errors.Is(err, hub.ErrNotFound) {
			s.log.Warn("chat token lookup", "err", err)
		}
		return 0, false
	}
	return ai.Number, true
}

// Handle serves pattern (a ServeMux pattern under /web/ or /api/) with h
// behind the same headers and cross-origin refusal as the pages: for the
// browser chat. h checks the session itself (Authenticate, CheckCSRF).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// CheckCSRF reports whether r, from a signed-in browser, carries its
// session's CSRF token (header X-CSRF-Token or form field csrf); requests
// signed in with a bearer token need none.
func (s *Server) CheckCSRF(r *http.Request) bool {
	c, ok := s.signedIn(r)
	return ok && s.csrfOK(r, c)
}

func (s *Server) csrfOK(r *http.Request, c caller) bool {
	if c.bearer {
		return true
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return s.validCSRF(c.token, got)
}

// startSession signs number in and returns the session token.
func (s *Server) startSession(ctx context.Context, number uint32) (string, error) {
	token := newToken()
	if err := s.cfg.Store.CreateWebSession(ctx, number, hashToken(token), time.Now().Add(s.cfg.SessionLifetime), s.cfg.MaxSessionsPerAccount); err != nil {
		return "", err
	}
	return token, nil
}

// errLoginFailed is all a failed sign-in is told, whatever the reason.
var errLoginFailed = errors.New("wrong e-mail address, number or password, or too many attempts: wait and try again")

// checkLogin checks a login (an e-mail address or an account number) and
// password under the login guard shared with the protocols.
func (s *Server) checkLogin(ctx context.Context, r *http.Request, login, password string) (hub.Account, error) {
	var (
		a   hub.Account
		err error
	)
	key := loginguard.Name(login)
	if n, perr := parseNumber(login); perr == nil {
		a, err = s.cfg.Store.Account(ctx, n)
		key = loginguard.Account(n)
	} else {
		a, err = s.cfg.Store.AccountByEmail(ctx, login)
	}
	if err != nil && !errors.Is(err, hub.ErrNotFound) {
		return hub.Account{}, err
	}
	if err == nil {
		key = loginguard.Account(a.Number)
	}
	attempt := s.cfg.Guard.Begin(protocolName, remoteAddr(r), key)
	switch {
	case !attempt.Allowed():
		attempt.Fail(ctx, s.log, loginguard.Locked, "account", a.Number)
		return hub.Account{}, errLoginFailed
	case err != nil:
		attempt.Fail(ctx, s.log, loginguard.UnknownAccount)
		return hub.Account{}, errLoginFailed
	}
	stored, err := s.cfg.Store.Password(ctx, a.Number)
	if err != nil {
		return hub.Account{}, err
	}
	if subtle.ConstantTimeCompare([]byte(stored), []byte(password)) != 1 {
		attempt.Fail(ctx, s.log, loginguard.BadPassword, "account", a.Number)
		return hub.Account{}, errLoginFailed
	}
	if a.Disabled {
		attempt.Fail(ctx, s.log, loginguard.BadRequest, "account", a.Number, "disabled", true)
		return hub.Account{}, errLoginFailed
	}
	attempt.Succeed()
	return a, nil
}

// protocolName is the web's label in the login metrics.
const protocolName = "web"

// remoteAddr is the request's client address for the login guard.
func remoteAddr(r *http.Request) net.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return &net.TCPAddr{}
	}
	return net.TCPAddrFromAddrPort(ap)
}

// signUpAddr names the address a sign-up is counted against: an IPv4
// address, or an IPv6 address's /64, which one subscriber usually has.
func signUpAddr(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func parseNumber(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err
}
