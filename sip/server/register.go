package server

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/sip/ntlm"
	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// handshake is a connectionless NTLM exchange between its CHALLENGE and
// the client's AUTHENTICATE.
type handshake struct {
	opaque    string
	challenge *ntlm.Challenge
}

// authVersion is the MS-SIPAE protocol version offered: 4 signs every
// message with the To URI and the asserted identities included.
const authVersion = "4"

// allowEvents lists what the client may subscribe to. pidgin-sipe splits
// it at commas without trimming, so there are no blanks.
const allowEvents = "vnd-microsoft-provisioning,vnd-microsoft-roaming-contacts,vnd-microsoft-roaming-ACL,presence,presence.wpending,vnd-microsoft-roaming-self,vnd-microsoft-provisioning-v2"

// handleRegister runs sign-in (three REGISTERs: the offer, the challenge,
// the AUTHENTICATE), renewals and sign-out.
func (c *conn) handleRegister(ctx context.Context, m *wire.Message) error {
	scheme, p := wire.AuthParams(m.Get(wire.HeaderAuthorization))
	gss, hasGSS := p["gssapi-data"]
	switch {
	case !strings.EqualFold(scheme, "NTLM"):
		c.unauthorized(m, c.offer())
	case hasGSS && gss == "":
		c.challenge(m)
	case hasGSS:
		return c.authenticate(ctx, m, p, gss)
	case c.sess() == nil || !c.verify(m):
		// Nothing signed to renew: start over.
		c.unauthorized(m, c.offer())
	case strings.TrimSpace(m.Get(wire.HeaderExpires)) == "0":
		c.log().Info("signed out")
		res := wire.Response(m, 200, c.tag).Add(wire.HeaderExpires, "0")
		c.closeReplying(res)
		return errClose
	default:
		c.mu.Lock()
		c.until = time.Now().Add(c.srv.cfg.RegisterExpires).UnixNano()
		c.mu.Unlock()
		_ = c.send(c.registered(m))
	}
	return nil
}

// offer is the first 401's WWW-Authenticate: NTLM only, since pidgin-sipe
// takes the first scheme it knows among those offered.
func (c *conn) offer() string {
	cfg := &c.srv.cfg
	return `NTLM realm="` + cfg.Realm + `", targetname="` + cfg.TargetName + `", version=` + authVersion
}

func (c *conn) unauthorized(m *wire.Message, authenticate string) {
	res := wire.Response(m, 401, c.tag).Add(wire.HeaderWWWAuthenticate, authenticate)
	_ = c.send(res)
}

// challenge answers the REGISTER with an empty gssapi-data (connectionless
// NTLM has no NEGOTIATE) with a CHALLENGE.
func (c *conn) challenge(m *wire.Message) {
	cfg := &c.srv.cfg
	netbios := func(name string) string {
		first, _, _ := strings.Cut(name, ".")
		return strings.ToUpper(first)
	}
	// The domain is the one the client signs in to.
	_, domain, _ := strings.Cut(wire.URIUser(wire.AddressURI(m.Get(wire.HeaderFrom))), "@")
	hs := &handshake{opaque: wire.RandomHex(4), challenge: ntlm.NewChallenge(ntlm.TargetInfo{
		NetBIOSDomain: netbios(domain), NetBIOSComputer: netbios(cfg.TargetName),
		DNSDomain: domain, DNSComputer: cfg.TargetName,
	}, time.Now())}
	c.handshake = hs
	c.unauthorized(m, `NTLM opaque="`+hs.opaque+`", gssapi-data="`+base64.StdEncoding.EncodeToString(hs.challenge.Marshal())+
		`", targetname="`+cfg.TargetName+`", realm="`+cfg.Realm+`", version=`+authVersion)
}

// authenticate checks the client's AUTHENTICATE and its signature of the
// REGISTER that carries it, and signs the client in.
func (c *conn) authenticate(ctx context.Context, m *wire.Message, p map[string]string, gss string) error {
	hs := c.handshake
	c.handshake = nil
	if hs == nil || p["opaque"] != hs.opaque {
		c.unauthorized(m, c.offer())
		return nil
	}
	self := wire.AddressURI(m.Get(wire.HeaderFrom))
	guard := c.srv.cfg.Guard
	raw, err := base64.StdEncoding.DecodeString(gss)
	var a *ntlm.Authenticate
	if err == nil {
		a, err = ntlm.ParseAuthenticate(raw)
	}
	if err != nil {
		guard.Report(ctx, c.log(), protocolName, loginguard.BadRequest, "user", self, "problem", "AUTHENTICATE does not parse")
		c.respond(m, 400, "")
		return nil
	}
	acct, err := c.srv.resolve(ctx, self)
	if err != nil && !errors.Is(err, hub.ErrNotFound) {
		return err
	}
	key := loginguard.Name(wire.URIUser(self))
	if err == nil {
		key = loginguard.Account(acct.Number)
	}
	attempt := guard.Begin(protocolName, c.nc.RemoteAddr(), key)
	switch {
	case !attempt.Allowed():
		attempt.Fail(ctx, c.log(), loginguard.Locked, "user", self)
		c.respond(m, 401, "too many failed sign-ins, try again later")
		return nil
	case err != nil:
		attempt.Fail(ctx, c.log(), loginguard.UnknownAccount, "user", self)
		c.respond(m, 404, "no such user")
		return nil
	}
	password, err := c.srv.cfg.Hub.Store().Password(ctx, acct.Number)
	if err != nil {
		return err
	}
	keys, err := hs.challenge.Verify(a, password)
	switch {
	case errors.Is(err, ntlm.ErrWrongPassword):
		attempt.Fail(ctx, c.log(), loginguard.BadPassword, "user", self)
		c.respond(m, 401, "wrong password")
		return nil
	case err != nil:
		attempt.Fail(ctx, c.log(), loginguard.BadRequest, "user", self, "problem", err.Error())
		c.respond(m, 403, "the client must sign messages (NTLMv2 with key exchange)")
		return nil
	}
	buf := wire.SignatureBuffer(m, wire.SignatureAuth{Protocol: "NTLM", Rand: p["crand"], Num: p["cnum"], Realm: p["realm"], TargetName: p["targetname"]})
	if !keys.VerifySIP(buf, p["response"]) {
		attempt.Fail(ctx, c.log(), loginguard.BadRequest, "user", self, "problem", "REGISTER not signed")
		c.respond(m, 403, "the REGISTER is not signed")
		return nil
	}
	if acct.Disabled {
		attempt.Fail(ctx, c.log(), loginguard.Disabled, "user", self)
		c.respond(m, 403, "this account is disabled")
		return nil
	}
	attempt.Succeed()
	return c.signIn(ctx, m, acct, self, &association{opaque: hs.opaque, keys: keys})
}

// signIn starts (or, for a new handshake on a signed-in connection,
// renews) the registration under sa.
func (c *conn) signIn(ctx context.Context, m *wire.Message, acct hub.Account, self string, sa *association) error {
	contact := wire.AddressURI(m.Get(wire.HeaderContact))
	c.mu.Lock()
	if c.session != nil && c.session.Account().Number != acct.Number {
		c.mu.Unlock()
		c.respond(m, 403, "this connection is signed in as someone else")
		return nil
	}
	first := c.session == nil
	c.sa.Store(sa)
	// Clones: the session keeps them, not the header lines they came in.
	c.self = strings.Clone(self)
	if contact != "" {
		c.contact = strings.Clone(contact)
	}
	c.until = time.Now().Add(c.srv.cfg.RegisterExpires).UnixNano()
	c.mu.Unlock()
	// The answer is queued before the session is attached, so that
	// nothing the hub delivers can come before it.
	if err := c.send(c.registered(m)); err != nil || !first {
		return err
	}
	h := c.srv.cfg.Hub
	session, err := h.Attach(ctx, acct, protocolName, c)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.session = session
	c.mu.Unlock()
	c.signedIn.Store(acct.Number)
	c.log().Info("signed in", "client", m.Get(wire.HeaderUserAgent))
	// There for messages, hidden from contacts until the client publishes
	// its state.
	if err := session.SetPresence(ctx, hub.StatusInvisible, ""); err != nil {
		return err
	}
	c.rereader.Reread(c.srv.cfg.WriteTimeout, c.log(), c.deliverOffline)
	return nil
}

// registered is the 200 to a REGISTER: what pidgin-sipe needs to run in
// OCS 2007 mode (see the package documentation).
func (c *conn) registered(m *wire.Message) *wire.Message {
	cfg := &c.srv.cfg
	expires := strconv.Itoa(int(cfg.RegisterExpires / time.Second))
	res := wire.Response(m, 200, c.tag).Add(wire.HeaderExpires, expires)
	c.mu.Lock()
	self := c.self
	c.mu.Unlock()
	epid := wire.Param(m.Get(wire.HeaderFrom), "epid")
	if epid == "" {
		epid = c.tag
	}
	for _, contact := range m.Values(wire.HeaderContact) {
		v := "<" + wire.AddressURI(contact) + ">;expires=" + expires
		if instance := wire.Param(contact, "+sip.instance"); instance != "" {
			v += ";+sip.instance=" + instance
		}
		v += `;gruu="` + self + ";opaque=user:epid:" + epid + `;gruu"`
		res.Add(wire.HeaderContact, v)
	}
	return res.
		Add(wire.HeaderSupported, "adhoclist").
		Add(wire.HeaderSupported, "msrtc-event-categories").
		Add(wire.HeaderAllowEvents, allowEvents).
		Add(wire.HeaderKeepAlive, "UAS; tcp=no; hop-hop=yes; end-pt=no; timeout="+strconv.Itoa(int(cfg.KeepAlive/time.Second))).
		Add(wire.HeaderServer, "RTC/3.5")
}
