package client

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/sip/ntlm"
	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// Address turns "user@host" or "sip:user@host" into "sip:user@host".
func Address(s string) string {
	return "sip:" + wire.URIUser(s)
}

// SignIn registers address ("alice@example.com" or with "sip:") with
// password, as pidgin-sipe does: three REGISTERs with connectionless NTLM
// (401 with the offer, 401 with the challenge, 200), every message signed
// from the third on. It then subscribes to the contact list and its own
// data, publishes itself available and subscribes to its contacts'
// presence; the documents arrive as events. A refused password is a
// *StatusError matching ErrAuthentication.
func (c *Client) SignIn(ctx context.Context, address, password string) error {
	self := Address(address)
	c.mu.Lock()
	c.self, c.regCall = self, wire.RandomHex(10)
	c.mu.Unlock()

	res, err := c.request(ctx, c.register(1, ""))
	if err != nil {
		return err
	}
	scheme, offer := wire.AuthParams(res.Get(wire.HeaderWWWAuthenticate))
	if res.StatusCode != 401 || !strings.EqualFold(scheme, "NTLM") {
		return statusError(wire.MethodRegister, res)
	}
	realm, target, version := offer["realm"], offer["targetname"], offer["version"]
	res, err = c.request(ctx, c.register(2, fmt.Sprintf(`NTLM qop="auth", realm="%s", targetname="%s", gssapi-data="", version=%s`, realm, target, version)))
	if err != nil {
		return err
	}
	_, p := wire.AuthParams(res.Get(wire.HeaderWWWAuthenticate))
	if res.StatusCode != 401 || p["gssapi-data"] == "" {
		return statusError(wire.MethodRegister, res)
	}
	raw, err := base64.StdEncoding.DecodeString(p["gssapi-data"])
	if err != nil {
		return fmt.Errorf("sip client: challenge: %w", err)
	}
	challenge, err := ntlm.ParseChallenge(raw)
	if err != nil {
		return err
	}
	login := c.opts.Login
	if login == "" {
		login = wire.URIUser(self)
	}
	authenticate, keys, err := ntlm.Respond(challenge, ntlm.Credentials{User: login, Domain: c.opts.Domain, Password: password, Workstation: "CROSSTALK"}, time.Now())
	if err != nil {
		return err
	}
	a := &auth{keys: keys, opaque: p["opaque"], realm: realm, targetName: target, cnum: 1}
	m := c.register(3, "")
	sa := wire.SignatureAuth{Protocol: "NTLM", Rand: wire.RandomHex(4), Num: "1", Realm: realm, TargetName: target}
	m.Set(wire.HeaderAuthorization, fmt.Sprintf(`NTLM qop="auth", opaque="%s", realm="%s", targetname="%s", gssapi-data="%s", version=%s, crand="%s", cnum="1", response="%s"`,
		a.opaque, realm, target, base64.StdEncoding.EncodeToString(authenticate.Marshal()), version, sa.Rand, keys.SignSIP(wire.SignatureBuffer(m, sa))))
	// The reader takes the association on as soon as the 200 proves it,
	// before anything signed that follows it.
	c.mu.Lock()
	c.pendingAuth, c.pendingKey = a, m.Transaction()
	c.mu.Unlock()
	res, err = c.request(ctx, m)
	if err != nil {
		return err
	}
	c.mu.Lock()
	signedIn := c.auth != nil
	c.mu.Unlock()
	if res.StatusCode != 200 || !signedIn {
		return statusError(wire.MethodRegister, res)
	}
	c.registered(res)
	return c.startSession(ctx)
}

// register is a REGISTER of the registration's Call-ID.
func (c *Client) register(seq uint32, authorization string) *wire.Message {
	c.mu.Lock()
	self, call := c.self, c.regCall
	c.mu.Unlock()
	host := strings.SplitN(wire.URIUser(self), "@", 2)
	domain := host[len(host)-1]
	m := c.base(wire.MethodRegister, "sip:"+domain, "<"+self+">;tag="+c.tag+";epid="+c.epid, "<"+self+">", call, seq).
		Add(wire.HeaderContact, c.contact+`;methods="INVITE, MESSAGE, INFO, SUBSCRIBE, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY";proxy=replace;+sip.instance="<urn:uuid:`+c.epid+`>"`).
		Add(wire.HeaderSupported, "gruu-10, adhoclist, msrtc-event-categories, com.microsoft.msrtc.presence").
		Add(wire.HeaderEvent, "registration").
		Add(wire.HeaderAllowEvents, "presence").
		Add(wire.HeaderKeepAlive, "UAC;hop-hop=yes")
	if authorization != "" {
		m.Add(wire.HeaderAuthorization, authorization)
	}
	return m
}

// registered schedules keep-alives and the renewal the 200 asks for.
func (c *Client) registered(res *wire.Message) {
	if t := wire.Between(res.Get(wire.HeaderKeepAlive), "timeout=", ";"); t != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(t)); err == nil && n > 0 {
			c.scheduleKeepAlive(time.Duration(n) * time.Second)
		}
	}
	if n, err := strconv.Atoi(strings.TrimSpace(res.Get(wire.HeaderExpires))); err == nil && n > 60 {
		every := time.Duration(n-30) * time.Second
		var renew func()
		renew = func() {
			c.mu.Lock()
			c.seq++
			seq := c.seq
			c.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), c.opts.RequestTimeout)
			defer cancel()
			if _, err := c.requestOK(ctx, c.register(seq+3, "")); err != nil {
				c.conn.Fail(fmt.Errorf("sip client: renewing the registration: %w", err))
				return
			}
			c.after(&c.renew, every, renew)
		}
		c.after(&c.renew, every, renew)
	}
}

// scheduleKeepAlive sends CRLF CRLF every interval, as pidgin-sipe does
// when it has been silent that long.
func (c *Client) scheduleKeepAlive(every time.Duration) {
	var ping func()
	ping = func() {
		if err := c.conn.Write(context.Background(), []byte("\r\n\r\n")); err != nil {
			return // the failed write has ended the connection
		}
		c.after(&c.keepAlive, every, ping)
	}
	c.after(&c.keepAlive, every, ping)
}

// startSession subscribes after sign-in as pidgin-sipe does in OCS 2007
// mode: the contact list, its own data, then its state and its contacts'
// presence.
func (c *Client) startSession(ctx context.Context) error {
	for _, event := range []string{"vnd-microsoft-roaming-contacts", "vnd-microsoft-roaming-self"} {
		m := c.newRequest(wire.MethodSubscribe, c.Self(), "").
			Add(wire.HeaderEvent, event).
			Add(wire.HeaderAccept, "application/"+event+"+xml").
			Add(wire.HeaderSupported, "com.microsoft.autoextend").
			Add(wire.HeaderSupported, "ms-benotify").
			Add("Proxy-Require", "ms-benotify").
			Add(wire.HeaderSupported, "ms-piggyback-first-notify").
			Add(wire.HeaderContact, c.contact)
		res, err := c.requestOK(ctx, m)
		if err != nil {
			return err
		}
		if res.Get(wire.HeaderPiggybackCSeq) != "" {
			if err := c.document(res); err != nil {
				return err
			}
		}
	}
	if err := c.SetStatus(ctx, AvailabilityOnline, ""); err != nil {
		return err
	}
	return c.SubscribePresence(ctx, c.ContactURIs()...)
}

// SignOut ends the registration (REGISTER with Expires: 0) and closes the
// connection.
func (c *Client) SignOut(ctx context.Context) error {
	c.mu.Lock()
	c.seq++
	seq := c.seq
	c.mu.Unlock()
	m := c.register(seq+3, "").Add(wire.HeaderExpires, "0")
	_, err := c.requestOK(ctx, m)
	c.Close()
	return err
}
