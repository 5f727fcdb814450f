package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// Session is what the login and sign-on established.
type Session struct {
	// From \lc\2.
	SessionKey uint32
	UserID     uint32
	ProfileID  uint32 // pidgin expects it to equal UserID
	UniqueNick string // the screen name
	Proof      string // ignored by clients
	// From the sign-on replies (zero until SignOn).
	Profile  Profile   // own profile, 4/5
	Settings wire.Dict // own IM settings, 1/4
	Contacts []Contact // contact list, 0/1
}

// Login waits for the server's greeting, sends login2 with the response
// computed from the nonce, email and password (pidgin's padded form) and
// waits for \lc\2. Unless Options.NoSignOn is set it then signs on (see
// SignOn) and returns once the contact list is in.
//
// An \error\ instead of \lc\2 gives a *ServerError (errors.Is matches
// ErrLoginFailed for a wrong password); with \fatal\ the connection ends
// too. A greeting whose nonce is not 64 bytes ends the connection with a
// *ProtocolError, as pidgin gives up on it. When uniquenick is the user id
// Login returns the session with ErrNoUniqueNick and does not sign on.
func (c *Client) Login(ctx context.Context, email, password string) (*Session, error) {
	c.mu.Lock()
	tried := c.loginTried
	c.loginTried = true
	c.mu.Unlock()
	if tried {
		return nil, fmt.Errorf("%w: Login called twice", ErrState)
	}
	nonce, err := waitFor(ctx, c, c.greeting)
	if err != nil {
		return nil, err
	}
	response, err := wire.Login2Response(nonce, email, password)
	if err != nil {
		return nil, err
	}
	m := wire.Message{
		wire.Int(wire.TypeLogin2, wire.AuthAlgorithm),
		wire.Str("username", email),
		wire.Raw("response", response),
		wire.Int("clientver", int64(c.opts.ClientVersion)),
		wire.Int("langid", wire.LangID),
		wire.Str("imlang", wire.IMLang),
		wire.Int("reconn", 0),
		wire.Int("status", wire.LoginStatus),
		wire.Int("id", wire.LoginID),
	}
	c.mu.Lock()
	c.state = stateLogin // before sending, so the reader takes the reply
	c.mu.Unlock()
	if err := c.send(ctx, m); err != nil {
		return nil, err
	}
	res, err := waitFor(ctx, c, c.loginDone)
	if err != nil {
		return nil, err
	}
	if res.err != nil {
		if errors.Is(res.err, ErrNoUniqueNick) {
			return &res.sess, res.err
		}
		return nil, res.err
	}
	if c.opts.NoSignOn {
		return &res.sess, nil
	}
	return c.SignOn(ctx)
}

// SignOn sends what pidgin sends right after \lc\2, in its order and
// layouts:
//
//	\persist\1\sesskey\S\cmd\1\dsn\4\lid\5\rid\R\UserID\U\body\UserID=U\final\   own profile
//	\persist\1\sesskey\S\cmd\1\dsn\1\lid\4\rid\R\body\\final\                     own IM settings
//	\status\<code>\sesskey\S\statstring\<text>\locstring\\final\                   presence
//	\persist\1\sesskey\S\cmd\1\dsn\7\lid\18\uid\U\rid\R\body\\final\              mail check (Options.MailCheck)
//	\persist\1\sesskey\S\cmd\1\dsn\0\lid\1\uid\U\rid\R\body\\final\               contact list
//
// and, when the settings arrive, \blocklist\\sesskey\S\idlist\w<0|1>|c<0|1>\final\
// (ShowOnlyToList, PrivacyMode bit 1). It waits for the profile, the
// settings and the contact list (pidgin counts as connected after the
// contact list alone; this client wants all three, and fails on an error
// reply to any of them, so that a server missing one shows up). Contacts
// count as known senders for Options.LookupSenders.
func (c *Client) SignOn(ctx context.Context) (*Session, error) {
	if err := c.requireOnline(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	sk, uid := sess.SessionKey, sess.UserID

	var rids []int
	defer func() {
		for _, rid := range rids {
			c.forget(rid)
		}
	}()
	start := func(build func(rid int) wire.Message) (chan wire.Persist, error) {
		ch := make(chan wire.Persist, 1)
		rid := c.register(&waiter{ch: ch})
		rids = append(rids, rid)
		return ch, c.send(ctx, build(rid))
	}

	profCh, err := start(func(rid int) wire.Message {
		return wire.Message{wire.Int(wire.TypePersist, 1), wire.Uint("sesskey", sk), wire.Int("cmd", wire.CmdGet),
			wire.Int("dsn", 4), wire.Int("lid", 5), wire.Int("rid", int64(rid)), wire.Uint("UserID", uid),
			wire.Dictionary("body", wire.Dict{{Key: "UserID", Value: fmt.Sprint(uid)}})}
	})
	if err != nil {
		return nil, err
	}
	setCh, err := start(func(rid int) wire.Message {
		return wire.Message{wire.Int(wire.TypePersist, 1), wire.Uint("sesskey", sk), wire.Int("cmd", wire.CmdGet),
			wire.Int("dsn", 1), wire.Int("lid", 4), wire.Int("rid", int64(rid)), wire.Raw("body", "")}
	})
	if err != nil {
		return nil, err
	}
	if err := c.send(ctx, c.statusMsg(c.opts.InitialStatus, c.opts.StatusText)); err != nil {
		return nil, err
	}
	if c.opts.MailCheck {
		rid := c.register(&waiter{fn: func(p wire.Persist) error { return c.emit(NewItems{Items: p.Body}) }})
		if err := c.send(ctx, pidginGet(sk, uid, wire.DSNewItems, rid)); err != nil {
			return nil, err
		}
	}
	listCh, err := start(func(rid int) wire.Message { return pidginGet(sk, uid, wire.DSContactList, rid) })
	if err != nil {
		return nil, err
	}

	settings, err := c.finish(ctx, setCh)
	if err != nil {
		return nil, err
	}
	w, p := "w0", "c0"
	if settings.Body.Bool("ShowOnlyToList") {
		w = "w1"
	}
	if mode, _ := settings.Body.Int("PrivacyMode"); mode&1 != 0 {
		p = "c1"
	}
	if err := c.BlockList(ctx, w, p); err != nil {
		return nil, err
	}
	prof, err := c.finish(ctx, profCh)
	if err != nil {
		return nil, err
	}
	list, err := c.finish(ctx, listCh)
	if err != nil {
		return nil, err
	}
	sess.Settings = settings.Body
	sess.Profile = parseProfile(prof.Body)
	sess.Contacts = parseContacts(list.Body)
	c.mu.Lock()
	c.sess.Settings, c.sess.Profile, c.sess.Contacts = sess.Settings, sess.Profile, sess.Contacts
	c.mu.Unlock()
	return &sess, nil
}

// pidginGet is a get request in the layout pidgin uses for 7/18 and 0/1:
// lid before uid, empty body.
func pidginGet(sk, uid uint32, ds wire.DataSet, rid int) wire.Message {
	return wire.Message{wire.Int(wire.TypePersist, 1), wire.Uint("sesskey", sk), wire.Int("cmd", wire.CmdGet),
		wire.Int("dsn", int64(ds.DSN())), wire.Int("lid", int64(ds.LID())), wire.Uint("uid", uid),
		wire.Int("rid", int64(rid)), wire.Raw("body", "")}
}

// handleLC takes the greeting and the login confirmation. Pidgin drops the
// connection when the nonce is not 64 bytes.
func (c *Client) handleLC(m wire.Message) error {
	lc, _ := m.Int(wire.TypeLoginChallenge)
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	switch {
	case lc == wire.LCChallenge && !c.gotGreeting:
		nonce, err := m.Bytes("nc")
		if err != nil {
			return &ProtocolError{Message: m, Err: fmt.Errorf("nc: %w", err)}
		}
		if len(nonce) != wire.NonceSize {
			return &ProtocolError{Message: m, Err: fmt.Errorf("nc is %d bytes, want %d", len(nonce), wire.NonceSize)}
		}
		c.gotGreeting = true
		c.greeting <- nonce
		return nil
	case lc == wire.LCSuccess && st == stateLogin:
		var s Session
		var ok1, ok2 bool
		s.SessionKey, ok1 = m.Uint32("sesskey")
		s.UserID, ok2 = m.Uint32("userid")
		if !ok1 || !ok2 || s.UserID == 0 {
			return &ProtocolError{Message: m, Err: errors.New("no sesskey or no non-zero userid")}
		}
		s.ProfileID, _ = m.Uint32("profileid")
		s.UniqueNick = m.Get("uniquenick")
		s.Proof = m.Get("proof")
		if s.ProfileID != s.UserID {
			c.log.Warn("msim: profileid differs from userid", "userid", s.UserID, "profileid", s.ProfileID)
		}
		c.mu.Lock()
		c.state = stateOnline
		c.sess = s
		c.known[s.UserID] = true
		c.mu.Unlock()
		var err error
		if atoi(s.UniqueNick) == int64(s.UserID) {
			err = ErrNoUniqueNick
		}
		c.loginDone <- loginResult{sess: s, err: err}
		return nil
	}
	return c.emit(Other{Message: m})
}

// atoi reads leading decimal digits the way C's atoi does (after optional
// spaces and sign), which is how pidgin compares uniquenick to the uid.
func atoi(s string) int64 {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var n int64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9' && n < 1<<40; i++ {
		n = n*10 + int64(s[i]-'0')
	}
	if neg {
		n = -n
	}
	return n
}

// handleError: during the login it is the login's answer; otherwise a
// fatal error ends the connection and any other is an Error event.
func (c *Client) handleError(m wire.Message) error {
	code, _ := m.Int("err")
	se := &ServerError{Code: code, Message: m.Get("errmsg"), Fatal: m.Has("fatal")}
	c.mu.Lock()
	inLogin := c.state == stateLogin
	if inLogin {
		c.state = stateGreeting // a late \lc\2 is ignored
	}
	c.mu.Unlock()
	if inLogin {
		c.loginDone <- loginResult{err: se}
	}
	if se.Fatal {
		return se
	}
	if inLogin {
		return nil
	}
	return c.emit(Error{Code: se.Code, Message: se.Message})
}
