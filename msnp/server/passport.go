package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
)

// passportPolicy is the opaque policy of USR TWN S, in the shape the real
// service sent (spec msnp8-18 §2a); clients pass it on to the login server.
func passportPolicy() string {
	return fmt.Sprintf("lc=1033,id=507,tw=40,fs=1,ru=http%%3A%%2F%%2Fmessenger%%2Emsn%%2Ecom,ct=%d,kpp=1,kv=5,ver=2.1.0173.1,tpf=%s",
		time.Now().Unix(), randomHex(16))
}

// finishPassportLogin checks the ticket of USR TWN S: issued by the login
// server (PassportHandler) to the account named in USR TWN I.
func (n *nsConn) finishPassportLogin(ctx context.Context, trid, ticket string) error {
	return n.authenticate(ctx, trid, false, func(acct hub.Account, _ string) bool {
		number, err := n.srv.cfg.Passport.Verify(ticket, time.Now())
		if err != nil || number != acct.Number {
			return false
		}
		n.login.mspAuth = passport.Token(ticket)
		return true
	})
}

// ssoPolicy is the policy USR SSO S names: the one clients ask the token
// service for their messengerclear.live.com ticket with.
const ssoPolicy = "MBI_KEY_OLD"

// ssoNonce is the nonce of USR SSO S: base64 of 48 random bytes, the 64
// characters the clients' proof has room for.
func ssoNonce() string {
	b := make([]byte, passport.NonceLength*3/4)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// finishSSOLogin checks USR SSO S <ticket> <proof> [{machine-guid}]: the
// messengerclear.live.com ticket the token service issued to the account,
// and the proof that the client holds the key issued with it. MSNP16+
// clients name their endpoint by its machine GUID.
func (n *nsConn) finishSSOLogin(ctx context.Context, trid, nonce string, args []string) error {
	if len(args) < 2 || endpoints(n.dialect) != (len(args) == 3) {
		return errCode(errInvalidParameter)
	}
	ticket, proof := args[0], args[1]
	var guid string
	if endpoints(n.dialect) {
		var ok bool
		if guid, ok = parseMachineGUID(args[2]); !ok {
			return errCode(errInvalidParameter)
		}
	}
	return n.authenticate(ctx, trid, false, func(acct hub.Account, _ string) bool {
		number, err := n.srv.cfg.Passport.Verify(ticket, time.Now())
		if err != nil || number != acct.Number {
			return false
		}
		key := n.srv.cfg.Passport.ProofKey(ticket, passport.MessengerClear)
		if passport.VerifyMBIResponse(key, nonce, proof) != nil {
			return false
		}
		n.login.mspAuth = passport.Token(ticket)
		n.machineGUID = guid
		return true
	})
}

// PassportHandler is the Passport 1.4 nexus and login server that MSNP8–12
// clients sign in at over HTTPS before USR TWN S (paths passport.NexusPath
// and passport.LoginPath). Wrong passwords count with the login guard as
// the protocols' own logins do.
func (s *Server) PassportHandler() http.Handler { return s.passport }

func (s *Server) newPassportService() *passport.Service {
	return &passport.Service{
		Tickets:      s.cfg.Passport,
		Logger:       s.log.With("service", "passport"),
		Authenticate: s.passportAuthenticate,
		CheckAccount: s.passportAccount,
	}
}

// passportAccount refuses renewing the tickets of an account that is gone
// or disabled.
func (s *Server) passportAccount(ctx context.Context, number uint32) error {
	acct, err := s.cfg.Hub.Store().Account(ctx, number)
	switch {
	case errors.Is(err, hub.ErrNotFound) || err == nil && acct.Disabled:
		return passport.ErrRefused
	case err != nil:
		return fmt.Errorf("passport renewal: %w", err)
	}
	return nil
}

func (s *Server) passportAuthenticate(ctx context.Context, remote, signIn, password string) (uint32, error) {
	signIn = strings.ToLower(signIn)
	acct, want, err := s.cfg.Hub.Store().AccountWithPassword(ctx, signIn)
	key := loginguard.Account(acct.Number)
	switch {
	case errors.Is(err, hub.ErrNotFound):
		key = loginguard.Name(signIn)
	case err != nil:
		return 0, fmt.Errorf("passport lookup: %w", err)
	}
	attempt := s.cfg.Guard.Begin(protocolName, remoteAddr(remote), key)
	fail := func(reason loginguard.Reason) (uint32, error) {
		attempt.Fail(ctx, s.log, reason, "passport", signIn)
		return 0, passport.ErrRefused
	}
	switch {
	case !attempt.Allowed():
		return fail(loginguard.Locked)
	case err != nil:
		return fail(loginguard.UnknownAccount)
	}
	if !equalSecret(want, password) {
		return fail(loginguard.BadPassword)
	}
	if acct.Disabled {
		return fail(loginguard.Disabled)
	}
	attempt.Succeed()
	return acct.Number, nil
}

// remoteAddr turns an http.Request's RemoteAddr into the net.Addr the login
// guard counts by.
func remoteAddr(s string) net.Addr {
	if a, err := net.ResolveTCPAddr("tcp", s); err == nil {
		return a
	}
	return &net.TCPAddr{}
}

func equalSecret(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
