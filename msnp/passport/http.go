package passport

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Paths the Service answers, on whatever host name the client used
// (nexus.passport.com, login.passport.com, …): a hosts file or DNS points
// those names at this service.
const (
	NexusPath = "/rdr/pprdr.asp"
	LoginPath = "/login2.srf"
)

// LoginHost is the login server the nexus names in DALogin; clients reach it
// over HTTPS, so the certificate must carry this name.
const LoginHost = "login.passport.com"

// Credentials are the fields of an Authorization: Passport1.4 header.
type Credentials struct {
	SignIn   string
	Password string
	// Fields holds every field, decoded, the policy included.
	Fields map[string]string
}

// ErrNotPassport is returned for an Authorization header that is not a
// Passport 1.4 sign-in with both sign-in and pwd.
var ErrNotPassport = errors.New("passport: not a Passport1.4 sign-in")

// maxFields bounds how many comma-separated fields a header may hold; real
// clients send about ten.
const maxFields = 64

// ParseAuthorization reads "Passport1.4 OrgVerb=GET,…,sign-in=…,pwd=…,…":
// fields separated by commas, each split at its first '=', values
// %-decoded (a value that does not decode is kept as sent) with '+' as a
// space. The clients we know either form-encode (msnp.py: a space is '+')
// or %-encode all but letters and digits (MSN Messenger, '.' included;
// Pidgin), so none sends a '+' that stands for itself.
func ParseAuthorization(header string) (Credentials, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Passport1.4") {
		return Credentials{}, ErrNotPassport
	}
	c := Credentials{Fields: make(map[string]string)}
	for i, f := range strings.Split(rest, ",") {
		if i >= maxFields {
			return Credentials{}, ErrNotPassport
		}
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		if dec, err := url.QueryUnescape(v); err == nil {
			v = dec
		}
		if _, seen := c.Fields[k]; !seen {
			c.Fields[k] = v
		}
	}
	c.SignIn, c.Password = c.Fields["sign-in"], c.Fields["pwd"]
	if c.SignIn == "" || c.Password == "" {
		return Credentials{}, ErrNotPassport
	}
	return c, nil
}

// ErrRefused is what Authenticate returns for a sign-in that must fail
// (wrong password, unknown account, held back by the login guard).
var ErrRefused = errors.New("passport: sign-in refused")

// Service is the nexus and the login server.
type Service struct {
	Tickets Tickets
	// Authenticate checks a password and returns the account number; any
	// error other than ErrRefused is the service failing (500).
	Authenticate func(ctx context.Context, remote, signIn, password string) (uint32, error)
	// CheckAccount, when set, tells whether a renewal token's account may
	// still have tickets: ErrRefused when it is gone or disabled, another
	// error when the service fails.
	CheckAccount func(ctx context.Context, number uint32) error
	Logger       *slog.Logger
}

// ServeHTTP answers the nexus, the login server and the security token
// service's paths, 404 elsewhere.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch path := r.URL.EscapedPath(); {
	case path == NexusPath:
		s.nexus(w)
	case path == LoginPath:
		s.login(w, r)
	case slices.Contains(RSTPaths, path):
		s.rst(w, r)
	default:
		http.NotFound(w, r)
	}
}

// Handles reports whether path is one of the Service's.
func Handles(path string) bool {
	return path == NexusPath || path == LoginPath || slices.Contains(RSTPaths, path)
}

// nexus names the login server. Clients read only DALogin; the other
// fields are there because the real nexus sent them.
func (s *Service) nexus(w http.ResponseWriter) {
	w.Header().Set("PassportURLs", "DARealm=Passport.Net,DALogin="+LoginHost+LoginPath+
		",DAReg=http://register.passport.invalid/,Properties=https://register.passport.invalid/,"+
		"GeneralRedir=http://nexusrdr.passport.invalid/redir.asp,Help=http://help.passport.invalid/,ConfigVersion=11")
	w.WriteHeader(http.StatusOK)
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	creds, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		refuse(w)
		return
	}
	number, err := s.Authenticate(r.Context(), r.RemoteAddr, creds.SignIn, creds.Password)
	switch {
	case errors.Is(err, ErrRefused):
		refuse(w)
		return
	case err != nil:
		if s.Logger != nil {
			s.Logger.Error("passport sign-in", "err", err)
		}
		http.Error(w, "service unavailable", http.StatusInternalServerError)
		return
	}
	ticket := s.Tickets.Issue(number, time.Now())
	w.Header().Set("Authentication-Info", "Passport1.4 da-status=success,tname=MSPAuth,tname=MSPProf,tname=MSPSec,from-PP='"+
		ticket+"',ru=http://messenger.msn.com")
	w.WriteHeader(http.StatusOK)
}

// refuse is the answer clients read as a wrong password.
func refuse(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", "Passport1.4 da-status=failed,srealm=Passport.NET,ts=-3,prompt,cburl=,cbtxt=")
	w.WriteHeader(http.StatusUnauthorized)
}

// TicketFromAuthenticationInfo extracts the ticket between the quotes of
// from-PP in a login server's Authentication-Info header.
func TicketFromAuthenticationInfo(header string) (string, bool) {
	_, rest, ok := strings.Cut(header, "from-PP='")
	if !ok {
		return "", false
	}
	ticket, _, ok := strings.Cut(rest, "'")
	return ticket, ok && ticket != ""
}

// DALogin extracts the login server (host/path) from a nexus's PassportURLs
// header.
func DALogin(header string) (string, bool) {
	for _, f := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(f), "DALogin="); ok && v != "" {
			return v, true
		}
	}
	return "", false
}
