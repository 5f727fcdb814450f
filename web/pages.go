package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
	"github.com/crosstalk-im/crosstalk/store"
)

//go:embed assets/pages/*.html
var pageFiles embed.FS

//go:embed assets/static
var staticFiles embed.FS

// sharedTemplates are parsed with every page: the layout, and the client
// settings of the welcome and account pages.
var sharedTemplates = []string{"layout", "connect"}

// pages are the parsed templates by page name, each with the layout.
type pages map[string]*template.Template

func parsePages() (pages, error) {
	names, err := fs.Glob(pageFiles, "assets/pages/*.html")
	if err != nil {
		return nil, err
	}
	p := pages{}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "assets/pages/"), ".html")
		if slices.Contains(sharedTemplates, base) {
			continue
		}
		t, err := template.ParseFS(pageFiles, "assets/pages/layout.html", "assets/pages/connect.html", name)
		if err != nil {
			return nil, err
		}
		p[base] = t
	}
	return p, nil
}

// view is what every page is given.
type view struct {
	Title      string
	CSRF       string
	Me         *store.AccountInfo
	SignUpOpen bool
	Error      string
	Notice     string
	Data       any
}

func (s *Server) render(w http.ResponseWriter, status int, page string, v view) {
	v.SignUpOpen = s.cfg.Registration != RegistrationClosed
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.pages[page].ExecuteTemplate(w, "layout", v); err != nil {
		s.log.Warn("render page", "page", page, "err", err)
	}
}

// signedInView is the view of a signed-in caller's page.
func (s *Server) signedInView(c caller, title string) view {
	return view{Title: title, CSRF: s.csrfToken(c.token), Me: &c.AccountInfo}
}

func (s *Server) routes() {
	m := s.mux
	static, _ := fs.Sub(staticFiles, "assets/static")
	m.Handle("GET /web/static/", http.StripPrefix("/web/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/web/", http.StatusFound) })
	m.HandleFunc("GET /web/{$}", s.home)
	m.HandleFunc("GET /web/signin", s.signinPage)
	m.HandleFunc("POST /web/signin", s.signin)
	m.HandleFunc("POST /web/signout", s.signout)
	m.HandleFunc("GET /web/signup", s.signupPage)
	m.HandleFunc("POST /web/signup", s.signup)
	m.HandleFunc("GET /web/welcome", s.page(s.welcome))
	m.HandleFunc("GET /web/account", s.page(s.account))
	m.HandleFunc("POST /web/account/name", s.form(s.rename))
	m.HandleFunc("POST /web/account/password", s.form(s.changePassword))
	m.HandleFunc("GET /web/admin", s.page(s.adminPage))
	s.apiRoutes()
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.signedIn(r); ok {
		http.Redirect(w, r, "/web/account", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/web/signin", http.StatusSeeOther)
}

// page serves a page to a signed-in caller and sends anyone else to
// sign in.
func (s *Server) page(h func(http.ResponseWriter, *http.Request, caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.signedIn(r)
		if !ok {
			http.Redirect(w, r, "/web/signin", http.StatusSeeOther)
			return
		}
		h(w, r, c)
	}
}

// form takes a signed-in caller's form post, which must carry the
// session's CSRF token.
func (s *Server) form(h func(http.ResponseWriter, *http.Request, caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxFormBytes)
		c, ok := s.signedIn(r)
		if !ok {
			s.render(w, http.StatusUnauthorized, "message", view{Title: "Signed out", Error: "You are not signed in."})
			return
		}
		if !s.csrfOK(r, c) {
			s.render(w, http.StatusForbidden, "message", view{Title: "Refused", Error: "The form had expired or did not come from this site: reload the page and try again."})
			return
		}
		h(w, r, c)
	}
}

// preSession returns the pre-session token that binds the sign-in and
// sign-up forms' CSRF token, setting its cookie when there is none.
func (s *Server) preSession(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(preCookie); err == nil && c.Value != "" {
		return c.Value
	}
	token := newToken()
	s.setCookie(w, r, preCookie, token, 0)
	return token
}

// preFormOK checks a sign-in or sign-up post's CSRF token.
func (s *Server) preFormOK(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxFormBytes)
	c, err := r.Cookie(preCookie)
	if err == nil && s.validCSRF(c.Value, r.PostFormValue(csrfField)) {
		return true
	}
	s.render(w, http.StatusForbidden, "message", view{Title: "Refused", Error: "The form had expired or did not come from this site: reload the page and try again."})
	return false
}

// signinForm is what the sign-in page shows again after a failure.
type signinForm struct{ Login string }

func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "signin", view{Title: "Sign in", CSRF: s.csrfToken(s.preSession(w, r)), Data: signinForm{}})
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	if !s.preFormOK(w, r) {
		return
	}
	login := strings.TrimSpace(r.PostFormValue("login"))
	a, err := s.checkLogin(r.Context(), r, login, r.PostFormValue("password"))
	if err != nil {
		status := http.StatusUnauthorized
		if !errors.Is(err, errLoginFailed) {
			s.log.Error("web sign-in", "err", err)
			status = http.StatusInternalServerError
		}
		s.render(w, status, "signin", view{Title: "Sign in", CSRF: s.csrfToken(s.preSession(w, r)),
			Error: errLoginFailed.Error(), Data: signinForm{Login: login}})
		return
	}
	if !s.beginSession(w, r, a.Number) {
		return
	}
	http.Redirect(w, r, "/web/account", http.StatusSeeOther)
}

// beginSession signs number in on the browser; false after answering
// with an error.
func (s *Server) beginSession(w http.ResponseWriter, r *http.Request, number uint32) bool {
	token, err := s.startSession(r.Context(), number)
	if err != nil {
		s.log.Error("web session", "err", err)
		s.render(w, http.StatusInternalServerError, "message", view{Title: "Error", Error: "The server could not sign you in."})
		return false
	}
	s.setCookie(w, r, sessionCookie, token, s.cfg.SessionLifetime)
	s.setCookie(w, r, preCookie, "", -1)
	return true
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	s.form(func(w http.ResponseWriter, r *http.Request, c caller) {
		if err := s.cfg.Store.DeleteWebSession(r.Context(), hashToken(c.token)); err != nil {
			s.log.Error("web sign-out", "err", err)
		}
		// Signing out of the pages signs out of the browser chat (the
		// account's one web chat session, on whichever node).
		s.cfg.Hub.KickProtocol(r.Context(), c.Number, drive.ProtocolWebchat, hub.KickSignedOut)
		s.setCookie(w, r, sessionCookie, "", -1)
		http.Redirect(w, r, "/web/signin", http.StatusSeeOther)
	})(w, r)
}

// signupForm is the sign-up page's fields, shown again after a refusal.
type signupForm struct {
	Email, Name, Nick string
	Invite            bool // a code is asked for
	Closed            bool
	MinPassword       int
}

func (s *Server) signupForm() signupForm {
	return signupForm{Invite: s.cfg.Registration == RegistrationInvite, Closed: s.cfg.Registration == RegistrationClosed,
		MinPassword: s.cfg.MinPasswordLength}
}

func (s *Server) signupPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "signup", view{Title: "Sign up", CSRF: s.csrfToken(s.preSession(w, r)), Data: s.signupForm()})
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) {
	if !s.preFormOK(w, r) {
		return
	}
	f := s.signupForm()
	f.Email, f.Name, f.Nick = strings.TrimSpace(r.PostFormValue("email")), strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("nick"))
	refuse := func(status int, msg string) {
		s.render(w, status, "signup", view{Title: "Sign up", CSRF: s.csrfToken(s.preSession(w, r)), Error: msg, Data: f})
	}
	if f.Closed {
		refuse(http.StatusForbidden, "Sign-up is closed on this server: ask its operator for an account.")
		return
	}
	a := hub.Account{Email: f.Email, DisplayName: f.Name, Nick: f.Nick}
	password := r.PostFormValue("password")
	if password != r.PostFormValue("password2") {
		refuse(http.StatusBadRequest, "The two passwords differ.")
		return
	}
	if err := store.CheckPasswordPolicy(password, s.cfg.MinPasswordLength, a); err != nil {
		refuse(http.StatusBadRequest, userError(err))
		return
	}
	rules := store.SignUpRules{Addr: signUpAddr(r), MaxPerAddr: max(s.cfg.MaxSignUpsPerAddr, 0), Window: s.cfg.SignUpWindow}
	if f.Invite {
		code := strings.TrimSpace(r.PostFormValue("invite"))
		if code == "" {
			refuse(http.StatusForbidden, "Sign-up on this server needs an invite code.")
			return
		}
		rules.Invite = hashToken(code)
	}
	created, err := s.cfg.Store.SignUp(r.Context(), a, password, rules)
	switch {
	case errors.Is(err, hub.ErrAccountExists):
		refuse(http.StatusConflict, "That e-mail address or nick already has an account.")
		return
	case errors.Is(err, store.ErrBadInvite):
		refuse(http.StatusForbidden, "The invite code is unknown, used up or expired.")
		return
	case errors.Is(err, store.ErrSignUpLimit):
		refuse(http.StatusTooManyRequests, "Too many accounts were made from your address lately: try again tomorrow.")
		return
	case errors.Is(err, hub.ErrInvalid):
		refuse(http.StatusBadRequest, userError(err))
		return
	case err != nil:
		s.log.Error("web sign-up", "err", err)
		refuse(http.StatusInternalServerError, "The server could not create the account.")
		return
	}
	s.log.Info("signed up on the web", "account", created.Number)
	if s.beginSession(w, r, created.Number) {
		http.Redirect(w, r, "/web/welcome", http.StatusSeeOther)
	}
}

// userError is a validation error as the person who made it reads it:
// without the "invalid value: " of hub.ErrInvalid.
func userError(err error) string {
	msg := strings.TrimPrefix(err.Error(), hub.ErrInvalid.Error()+": ")
	r, size := utf8.DecodeRuneInString(msg)
	return string(unicode.ToUpper(r)) + msg[size:] + "."
}

// connectView is how this account connects each client.
type connectView struct {
	Host    string
	Clients []clientView
	Hosts   string // the hosts-file line, "" when no client needs one
	// Passport: MSN Messenger 5 to 7.5 sign in over HTTPS here, and must
	// trust the server's certificate authority.
	Passport bool
	HostIP   bool // Host is an address, not a name that resolves
	Account  store.AccountInfo
	MSNLogin string
}

type clientView struct {
	Client, Server, Port, Login string
}

// connectInfo says how the caller's clients reach this server, at the
// host name the browser used.
func (s *Server) connectInfo(ctx context.Context, r *http.Request, a store.AccountInfo) connectView {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	v := connectView{Host: host, Account: a, MSNLogin: a.Email}
	ip := host
	if net.ParseIP(host) == nil {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if addrs, err := net.DefaultResolver.LookupHost(rctx, host); err == nil && len(addrs) > 0 {
			ip = addrs[0]
		}
		cancel()
	}
	v.HostIP = net.ParseIP(ip) != nil
	var names []string
	for _, c := range s.cfg.Clients {
		login := strconv.FormatUint(uint64(a.Number), 10)
		if c.Login == LoginEmail {
			login = a.Email
		}
		_, port, _ := net.SplitHostPort(c.Addr)
		v.Clients = append(v.Clients, clientView{Client: c.Client, Server: host, Port: port, Login: login})
		for _, name := range c.HostsNames {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	if len(names) > 0 {
		v.Hosts = ip + " " + strings.Join(names, " ")
	}
	v.Passport = slices.Contains(names, passport.LoginHost)
	return v
}

func (s *Server) welcome(w http.ResponseWriter, r *http.Request, c caller) {
	v := s.signedInView(c, "Welcome")
	v.Data = s.connectInfo(r.Context(), r, c.AccountInfo)
	s.render(w, http.StatusOK, "welcome", v)
}

// contactView is one contact on the account page.
type contactView struct {
	Number uint32
	Email  string
	Name   string
	Status hub.Status
	Online bool
}

type accountView struct {
	Contacts []contactView
	Online   []string // the caller's own sessions, by protocol
	Connect  connectView
}

// notices are the account page's messages after a change, by ?done=.
var notices = map[string]string{
	"name":     "Your display name was changed.",
	"password": "Your password was changed; your other web sign-ins were ended.",
}

func (s *Server) account(w http.ResponseWriter, r *http.Request, c caller) {
	v := s.signedInView(c, "Your account")
	v.Notice = notices[r.URL.Query().Get("done")]
	av, err := s.accountData(r.Context(), c.Number)
	if err != nil {
		s.log.Error("account page", "err", err)
		v.Error = "Your contacts could not be read."
	}
	av.Connect = s.connectInfo(r.Context(), r, c.AccountInfo)
	v.Data = av
	s.render(w, http.StatusOK, "account", v)
}

// accountData lists an account's forward-list contacts with what it may
// see of their presence, and its own sessions.
func (s *Server) accountData(ctx context.Context, number uint32) (accountView, error) {
	var av accountView
	mine, err := s.cfg.Hub.Sessions(ctx, number)
	if err != nil {
		return av, err
	}
	for p := range mine {
		av.Online = append(av.Online, p)
	}
	slices.Sort(av.Online)
	r, err := s.cfg.Store.Roster(ctx, number)
	if err != nil {
		return av, err
	}
	for _, e := range r.Of(hub.Forward) {
		st, _, err := s.cfg.Hub.VisiblePresence(ctx, number, e.Contact.Number)
		if err != nil {
			return av, err
		}
		av.Contacts = append(av.Contacts, contactView{Number: e.Contact.Number, Email: e.Contact.Email,
			Name: e.Contact.DisplayName, Status: st, Online: st != hub.StatusOffline})
	}
	slices.SortStableFunc(av.Contacts, func(a, b contactView) int {
		switch {
		case a.Online == b.Online:
			return 0
		case a.Online:
			return -1
		}
		return 1
	})
	return av, nil
}

// accountError shows the account page again with an error.
func (s *Server) accountError(w http.ResponseWriter, r *http.Request, c caller, status int, msg string) {
	v := s.signedInView(c, "Your account")
	v.Error = msg
	av, _ := s.accountData(r.Context(), c.Number)
	av.Connect = s.connectInfo(r.Context(), r, c.AccountInfo)
	v.Data = av
	s.render(w, status, "account", v)
}

func (s *Server) rename(w http.ResponseWriter, r *http.Request, c caller) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if err := s.cfg.Hub.Rename(r.Context(), c.Number, name); err != nil {
		if errors.Is(err, hub.ErrInvalid) {
			s.accountError(w, r, c, http.StatusBadRequest, userError(err))
			return
		}
		s.log.Error("web rename", "err", err)
		s.accountError(w, r, c, http.StatusInternalServerError, "The name could not be changed.")
		return
	}
	http.Redirect(w, r, "/web/account?done=name", http.StatusSeeOther)
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, c caller) {
	if _, err := s.checkLogin(r.Context(), r, strconv.FormatUint(uint64(c.Number), 10), r.PostFormValue("current")); err != nil {
		s.accountError(w, r, c, http.StatusForbidden, "The current password is wrong (or there were too many attempts: wait and try again).")
		return
	}
	password := r.PostFormValue("password")
	if password != r.PostFormValue("password2") {
		s.accountError(w, r, c, http.StatusBadRequest, "The two new passwords differ.")
		return
	}
	if err := store.CheckPasswordPolicy(password, s.cfg.MinPasswordLength, c.Account); err != nil {
		s.accountError(w, r, c, http.StatusBadRequest, userError(err))
		return
	}
	ctx := r.Context()
	if err := s.cfg.Store.SetPassword(ctx, c.Number, password); err != nil {
		s.log.Error("web password change", "err", err)
		s.accountError(w, r, c, http.StatusInternalServerError, "The password could not be changed.")
		return
	}
	if err := s.cfg.Store.DeleteWebSessions(ctx, c.Number, hashToken(c.token)); err != nil {
		s.log.Error("end web sessions", "err", err)
	}
	http.Redirect(w, r, "/web/account?done=password", http.StatusSeeOther)
}

func (s *Server) adminPage(w http.ResponseWriter, r *http.Request, c caller) {
	if !c.Admin {
		v := s.signedInView(c, "Admin")
		v.Error = "Your account has no admin rights."
		s.render(w, http.StatusForbidden, "message", v)
		return
	}
	s.render(w, http.StatusOK, "admin", s.signedInView(c, "Admin"))
}
