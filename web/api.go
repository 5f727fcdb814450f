package web

import (
	"crypto/rand"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/store"
)

// Lists of the admin API return at most maxList entries, fewer when the
// request's limit asks.
const maxList = 1000

// access says who may call an API route.
type access int

const (
	anyone    access = iota // signing in
	user                    // any signed-in account, for its own data
	adminOnly               // accounts with admin rights
)

// apiRoute is one route of the JSON API. The OpenAPI document lists the
// same routes (a test holds them to it).
type apiRoute struct {
	method, path string
	access       access
	handle       func(s *Server, w http.ResponseWriter, r *http.Request, c caller)
}

// apiRoutes is the whole API; paths are ServeMux patterns, which OpenAPI
// writes the same way.
var apiRoutes = []apiRoute{
	{"POST", "/api/v1/session", anyone, (*Server).apiSignIn},
	{"DELETE", "/api/v1/session", user, (*Server).apiSignOut},
	{"GET", "/api/v1/me", user, (*Server).apiMe},
	{"GET", "/api/v1/me/contacts", user, (*Server).apiContacts},
	{"GET", "/api/admin/v1/accounts", adminOnly, (*Server).apiAccounts},
	{"GET", "/api/admin/v1/accounts/{number}", adminOnly, (*Server).apiAccount},
	{"DELETE", "/api/admin/v1/accounts/{number}", adminOnly, (*Server).apiDeleteAccount},
	{"POST", "/api/admin/v1/accounts/{number}/disable", adminOnly, (*Server).apiDisable},
	{"POST", "/api/admin/v1/accounts/{number}/enable", adminOnly, (*Server).apiEnable},
	{"POST", "/api/admin/v1/accounts/{number}/password", adminOnly, (*Server).apiResetPassword},
	{"GET", "/api/admin/v1/sessions", adminOnly, (*Server).apiSessions},
	{"DELETE", "/api/admin/v1/sessions/{id}", adminOnly, (*Server).apiKick},
	{"GET", "/api/admin/v1/transfers", adminOnly, (*Server).apiTransfers},
	{"GET", "/api/admin/v1/mailboxes", adminOnly, (*Server).apiMailboxes},
	{"GET", "/api/admin/v1/health", adminOnly, (*Server).apiHealth},
	{"GET", "/api/admin/v1/metrics", adminOnly, (*Server).apiMetrics},
	{"POST", "/api/admin/v1/invites", adminOnly, (*Server).apiInvite},
}

//go:embed openapi.json
var openAPI []byte

func (s *Server) apiRoutes() {
	s.mux.HandleFunc("GET /api/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	for _, rt := range apiRoutes {
		s.mux.HandleFunc(rt.method+" "+rt.path, s.api(rt))
	}
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "no such API route")
	})
}

// api checks a request's session, rights and CSRF token before rt's
// handler runs.
func (s *Server) api(rt apiRoute) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxFormBytes)
		if rt.access == anyone {
			rt.handle(s, w, r, caller{})
			return
		}
		c, ok := s.signedIn(r)
		switch {
		case !ok:
			apiError(w, http.StatusUnauthorized, "not signed in")
		case rt.method != http.MethodGet && !s.csrfOK(r, c):
			apiError(w, http.StatusForbidden, "missing or wrong CSRF token (header "+csrfHeader+")")
		case rt.access == adminOnly && !c.Admin:
			apiError(w, http.StatusForbidden, "this account has no admin rights")
		default:
			rt.handle(s, w, r, c)
		}
	}
}

func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// readJSON decodes a JSON body into v; an empty body leaves v as it is.
// A body that is not declared JSON is refused, so that no HTML form of
// another site can post one.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		if r.ContentLength == 0 {
			return true
		}
		apiError(w, http.StatusUnsupportedMediaType, "the body must be application/json")
		return false
	}
	err := json.NewDecoder(r.Body).Decode(v)
	if err != nil && !errors.Is(err, io.EOF) {
		apiError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		return false
	}
	return true
}

// fail answers err: hub errors as client errors, anything else as the
// server's, logged.
func (s *Server) fail(w http.ResponseWriter, what string, err error) {
	switch {
	case errors.Is(err, hub.ErrNotFound):
		apiError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, hub.ErrInvalid):
		apiError(w, http.StatusBadRequest, userError(err))
	default:
		s.log.Error("admin API", "call", what, "err", err)
		apiError(w, http.StatusInternalServerError, "the server failed: "+what)
	}
}

// limit is a list request's ?limit=, at most maxList.
func limit(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n <= 0 || n > maxList {
		return maxList
	}
	return n
}

// accountJSON is an account as the API shows it.
type accountJSON struct {
	Number      uint32    `json:"number"`
	Email       string    `json:"email"`
	Nick        string    `json:"nick,omitempty"`
	DisplayName string    `json:"display_name"`
	CreatedAt   time.Time `json:"created_at"`
	Admin       bool      `json:"admin"`
	Disabled    bool      `json:"disabled"`
	Mailbox     int       `json:"mailbox"`
	Online      []string  `json:"online"` // protocols it is logged in through
}

func (s *Server) accountJSON(r *http.Request, ai store.AccountInfo) accountJSON {
	online := []string{}
	if ps, err := s.cfg.Hub.Sessions(r.Context(), ai.Number); err == nil {
		for p := range ps {
			online = append(online, p)
		}
		slices.Sort(online)
	}
	return accountJSON{Number: ai.Number, Email: ai.Email, Nick: ai.Nick, DisplayName: ai.DisplayName,
		CreatedAt: ai.CreatedAt, Admin: ai.Admin, Disabled: ai.Disabled, Mailbox: ai.Mailbox, Online: online}
}

// signInRequest is POST /api/v1/session's body.
type signInRequest struct {
	Login    string `json:"login"` // e-mail address or number
	Password string `json:"password"`
}

type signInAnswer struct {
	Token     string      `json:"token"`
	CSRFToken string      `json:"csrf_token"`
	Account   accountJSON `json:"account"`
}

func (s *Server) apiSignIn(w http.ResponseWriter, r *http.Request, _ caller) {
	var req signInRequest
	if !readJSON(w, r, &req) {
		return
	}
	a, err := s.checkLogin(r.Context(), r, req.Login, req.Password)
	if errors.Is(err, errLoginFailed) {
		apiError(w, http.StatusUnauthorized, err.Error())
		return
	}
	if err != nil {
		s.fail(w, "sign in", err)
		return
	}
	token, err := s.startSession(r.Context(), a.Number)
	if err != nil {
		s.fail(w, "sign in", err)
		return
	}
	admin, err := s.cfg.Store.IsAdmin(r.Context(), a.Number)
	if err != nil {
		s.fail(w, "sign in", err)
		return
	}
	writeJSON(w, http.StatusOK, signInAnswer{Token: token, CSRFToken: s.csrfToken(token),
		Account: s.accountJSON(r, store.AccountInfo{Account: a, Admin: admin})})
}

func (s *Server) apiSignOut(w http.ResponseWriter, r *http.Request, c caller) {
	if err := s.cfg.Store.DeleteWebSession(r.Context(), hashToken(c.token)); err != nil {
		s.fail(w, "sign out", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request, c caller) {
	writeJSON(w, http.StatusOK, s.accountJSON(r, c.AccountInfo))
}

type contactJSON struct {
	Number      uint32     `json:"number"`
	Email       string     `json:"email"`
	DisplayName string     `json:"display_name"`
	Status      hub.Status `json:"status"`
}

func (s *Server) apiContacts(w http.ResponseWriter, r *http.Request, c caller) {
	av, err := s.accountData(r.Context(), c.Number)
	if err != nil {
		s.fail(w, "contacts", err)
		return
	}
	out := []contactJSON{}
	for _, ct := range av.Contacts {
		out = append(out, contactJSON{Number: ct.Number, Email: ct.Email, DisplayName: ct.Name, Status: ct.Status})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiAccounts(w http.ResponseWriter, r *http.Request, _ caller) {
	found, err := s.cfg.Store.SearchAccounts(r.Context(), r.URL.Query().Get("q"), limit(r))
	if err != nil {
		s.fail(w, "search accounts", err)
		return
	}
	out := []accountJSON{}
	for _, ai := range found {
		out = append(out, s.accountJSON(r, ai))
	}
	writeJSON(w, http.StatusOK, out)
}

// target reads the {number} of the path and finds its account.
func (s *Server) target(w http.ResponseWriter, r *http.Request) (store.AccountInfo, bool) {
	n, err := parseNumber(r.PathValue("number"))
	if err != nil {
		apiError(w, http.StatusBadRequest, "the account number is not a number")
		return store.AccountInfo{}, false
	}
	ai, err := s.cfg.Store.AccountInfo(r.Context(), n)
	if err != nil {
		s.fail(w, "read account", err)
		return store.AccountInfo{}, false
	}
	return ai, true
}

func (s *Server) apiAccount(w http.ResponseWriter, r *http.Request, _ caller) {
	if ai, ok := s.target(w, r); ok {
		writeJSON(w, http.StatusOK, s.accountJSON(r, ai))
	}
}

// notSelf refuses an admin's locking themselves out.
func notSelf(w http.ResponseWriter, c caller, ai store.AccountInfo) bool {
	if ai.Number == c.Number {
		apiError(w, http.StatusConflict, "an admin cannot disable or delete their own account")
		return false
	}
	return true
}

func (s *Server) apiDeleteAccount(w http.ResponseWriter, r *http.Request, c caller) {
	ai, ok := s.target(w, r)
	if !ok || !notSelf(w, c, ai) {
		return
	}
	if err := s.cfg.Store.DeleteAccount(r.Context(), ai.Number); err != nil {
		s.fail(w, "delete account", err)
		return
	}
	s.cfg.Hub.KickAll(r.Context(), ai.Number, hub.KickAccountClosed)
	s.log.Info("account deleted by an admin", "account", ai.Number, "admin", c.Number)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiDisable(w http.ResponseWriter, r *http.Request, c caller) {
	ai, ok := s.target(w, r)
	if !ok || !notSelf(w, c, ai) {
		return
	}
	if err := s.cfg.Store.SetDisabled(r.Context(), ai.Number, true); err != nil {
		s.fail(w, "disable account", err)
		return
	}
	s.cfg.Hub.KickAll(r.Context(), ai.Number, hub.KickAccountClosed)
	s.log.Info("account disabled by an admin", "account", ai.Number, "admin", c.Number)
	ai.Disabled = true
	writeJSON(w, http.StatusOK, s.accountJSON(r, ai))
}

func (s *Server) apiEnable(w http.ResponseWriter, r *http.Request, c caller) {
	ai, ok := s.target(w, r)
	if !ok {
		return
	}
	if err := s.cfg.Store.SetDisabled(r.Context(), ai.Number, false); err != nil {
		s.fail(w, "enable account", err)
		return
	}
	s.log.Info("account enabled by an admin", "account", ai.Number, "admin", c.Number)
	ai.Disabled = false
	writeJSON(w, http.StatusOK, s.accountJSON(r, ai))
}

// passwordReset is POST …/password's body and answer.
type passwordReset struct {
	// Password is the new password; empty in the request: the server
	// makes one and answers with it.
	Password string `json:"password"`
}

// generatedPasswordLength is the length of a password the server makes.
const generatedPasswordLength = 16

// passwordAlphabet leaves out look-alikes (0/O, 1/l/I).
const passwordAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func generatePassword() string {
	b := make([]byte, generatedPasswordLength)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(passwordAlphabet))))
		b[i] = passwordAlphabet[n.Int64()]
	}
	return string(b)
}

func (s *Server) apiResetPassword(w http.ResponseWriter, r *http.Request, c caller) {
	ai, ok := s.target(w, r)
	if !ok {
		return
	}
	var req passwordReset
	if !readJSON(w, r, &req) {
		return
	}
	if req.Password == "" {
		req.Password = generatePassword()
	} else if err := store.CheckPasswordPolicy(req.Password, s.cfg.MinPasswordLength, ai.Account); err != nil {
		apiError(w, http.StatusBadRequest, userError(err))
		return
	}
	ctx := r.Context()
	if err := s.cfg.Store.SetPassword(ctx, ai.Number, req.Password); err != nil {
		s.fail(w, "reset password", err)
		return
	}
	// Whoever knew the old password is signed out everywhere.
	if err := s.cfg.Store.DeleteWebSessions(ctx, ai.Number, nil); err != nil {
		s.fail(w, "reset password", err)
		return
	}
	s.cfg.Hub.KickAll(ctx, ai.Number, hub.KickOperator)
	s.log.Info("password reset by an admin", "account", ai.Number, "admin", c.Number)
	writeJSON(w, http.StatusOK, req)
}

type sessionJSON struct {
	ID       string     `json:"id"`
	Account  uint32     `json:"account"`
	Email    string     `json:"email"`
	Protocol string     `json:"protocol"`
	Status   hub.Status `json:"status"`
	Addr     string     `json:"addr"`
	Node     string     `json:"node"`
}

func (s *Server) apiSessions(w http.ResponseWriter, r *http.Request, _ caller) {
	all := s.cfg.Hub.OnlineSessions()
	all = all[:min(len(all), limit(r))]
	out := []sessionJSON{}
	emails := map[uint32]string{}
	for _, o := range all {
		email, ok := emails[o.Account]
		if !ok {
			if a, err := s.cfg.Store.Account(r.Context(), o.Account); err == nil {
				email = a.Email
			}
			emails[o.Account] = email
		}
		out = append(out, sessionJSON{ID: o.ID, Account: o.Account, Email: email, Protocol: o.Protocol,
			Status: o.Status, Addr: o.Addr, Node: o.Node})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiKick(w http.ResponseWriter, r *http.Request, c caller) {
	id := r.PathValue("id")
	for _, o := range s.cfg.Hub.OnlineSessions() {
		if o.ID != id {
			continue
		}
		if err := s.cfg.Hub.Kick(r.Context(), o.Account, id); err != nil {
			s.fail(w, "kick", err)
			return
		}
		s.log.Info("session kicked by an admin", "account", o.Account, "protocol", o.Protocol, "admin", c.Number)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	apiError(w, http.StatusNotFound, "no such session online")
}

type transferJSON struct {
	ID        string       `json:"id"`
	Sender    uint32       `json:"sender"`
	Recipient uint32       `json:"recipient"`
	FileName  string       `json:"file_name"`
	FileSize  int64        `json:"file_size"`
	Ack       drive.Ack    `json:"ack"`
	Status    drive.Status `json:"status"`
	Progress  int64        `json:"progress"`
	CreatedAt time.Time    `json:"created_at"`
	ExpiresAt time.Time    `json:"expires_at"`
}

func (s *Server) apiTransfers(w http.ResponseWriter, r *http.Request, _ caller) {
	ts, err := s.cfg.Store.Tickets(r.Context(), limit(r))
	if err != nil {
		s.fail(w, "transfers", err)
		return
	}
	out := []transferJSON{}
	for _, t := range ts {
		out = append(out, transferJSON{ID: t.ID, Sender: t.Sender, Recipient: t.Recipient, FileName: t.FileName,
			FileSize: t.FileSize, Ack: t.Ack, Status: t.Status, Progress: t.Progress, CreatedAt: t.Created, ExpiresAt: t.Expires})
	}
	writeJSON(w, http.StatusOK, out)
}

type mailboxJSON struct {
	Number  uint32 `json:"number"`
	Email   string `json:"email"`
	Mailbox int    `json:"mailbox"`
}

func (s *Server) apiMailboxes(w http.ResponseWriter, r *http.Request, _ caller) {
	ms, err := s.cfg.Store.Mailboxes(r.Context(), limit(r))
	if err != nil {
		s.fail(w, "mailboxes", err)
		return
	}
	out := []mailboxJSON{}
	for _, m := range ms {
		out = append(out, mailboxJSON{Number: m.Number, Email: m.Email, Mailbox: m.Mailbox})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiHealth(w http.ResponseWriter, r *http.Request, _ caller) {
	writeJSON(w, http.StatusOK, s.cfg.Health())
}

// mainMetrics are the metrics the admin API shows, all of bounded labels.
var mainMetrics = []string{
	"crosstalk_connections", "crosstalk_logins_total", "crosstalk_login_locks_total", "crosstalk_messages_total",
	"crosstalk_message_outcomes_total", "crosstalk_connections_refused_total", "crosstalk_output_overflows_total",
}

type metricJSON struct {
	Name   string       `json:"name"`
	Help   string       `json:"help"`
	Series []seriesJSON `json:"series"`
}

type seriesJSON struct {
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

func (s *Server) apiMetrics(w http.ResponseWriter, r *http.Request, _ caller) {
	families, err := metrics.Registry.Gather()
	if err != nil {
		s.fail(w, "metrics", err)
		return
	}
	out := []metricJSON{}
	for _, f := range families {
		if !slices.Contains(mainMetrics, f.GetName()) {
			continue
		}
		m := metricJSON{Name: f.GetName(), Help: f.GetHelp(), Series: []seriesJSON{}}
		for _, sample := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range sample.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			v := sample.GetCounter().GetValue()
			if f.GetType() == dto.MetricType_GAUGE {
				v = sample.GetGauge().GetValue()
			}
			m.Series = append(m.Series, seriesJSON{Labels: labels, Value: v})
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, out)
}

// inviteRequest is POST /invites' body.
type inviteRequest struct {
	Uses     int    `json:"uses"`      // default 1
	ValidFor string `json:"valid_for"` // a Go duration, default DefaultInviteLifetime
}

type inviteJSON struct {
	Code      string    `json:"code"`
	Uses      int       `json:"uses"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) apiInvite(w http.ResponseWriter, r *http.Request, c caller) {
	req := inviteRequest{Uses: 1}
	if !readJSON(w, r, &req) {
		return
	}
	validFor := DefaultInviteLifetime
	if req.ValidFor != "" {
		d, err := time.ParseDuration(req.ValidFor)
		if err != nil || d <= 0 {
			apiError(w, http.StatusBadRequest, "valid_for must be a positive duration such as 72h")
			return
		}
		validFor = d
	}
	inv, err := NewInvite(r.Context(), s.cfg.Store, req.Uses, validFor)
	if err != nil {
		s.fail(w, "invite", err)
		return
	}
	s.log.Info("invite made by an admin", "uses", inv.Uses, "admin", c.Number)
	writeJSON(w, http.StatusCreated, inviteJSON{Code: inv.Code, Uses: inv.Uses, ExpiresAt: inv.Expires})
}
