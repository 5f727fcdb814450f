package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	ggwire "github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	imipclient "github.com/crosstalk-im/crosstalk/imip/client"
	imipwire "github.com/crosstalk-im/crosstalk/imip/wire"
	msimclient "github.com/crosstalk-im/crosstalk/msim/client"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	sipclient "github.com/crosstalk-im/crosstalk/sip/client"
	"github.com/crosstalk-im/crosstalk/store"
	webchatclient "github.com/crosstalk-im/crosstalk/webchat/client"
	webchatwire "github.com/crosstalk-im/crosstalk/webchat/wire"
)

// The load test's accounts are numbered from loadtestNumberBase, each with
// an e-mail address of its own and the same password, so that one account
// logs in through any protocol.
const (
	loadtestNumberBase = 3_000_000_000
	loadtestPassword   = "load"
)

func loadtestEmail(i int) string { return fmt.Sprintf("load%d@loadtest.invalid", i) }

func loadtestNumber(i int) uint32 { return uint32(loadtestNumberBase + i) }

func loadtestID(i int) string { return strconv.FormatUint(uint64(loadtestNumber(i)), 10) }

func createLoadAccounts(ctx context.Context, dir string, n int) error {
	st, err := store.OpenSQLite(ctx, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range n {
		_, err := st.CreateAccount(ctx, hub.Account{Number: loadtestNumber(i), Email: loadtestEmail(i)}, loadtestPassword)
		if err != nil && !errors.Is(err, hub.ErrAccountExists) {
			return err
		}
	}
	return nil
}

// loadProtocol is how the load test logs an account in through one
// protocol.
type loadProtocol struct {
	key  string // as on the command line: "msn"
	name string // as printed: "MSN"
	// open logs account in at addr, connecting as d says, and with online
	// also goes online (MSN: SYN and CHG; IMIP: STAT; MySpaceIM: the
	// sign-on); the login phase logs in without.
	open func(ctx context.Context, addr string, d dialing, account int, online bool) (loadSession, error)
}

// dialing is how the load test connects a session: the dialer, and how
// many events its client buffers (0: the client's default).
type dialing struct {
	dialer *net.Dialer
	events int
}

var loadProtocols = []loadProtocol{
	{"msn", "MSN", openMSN},
	{"gg", "GG", openGG},
	{"imip", "IMIP", openIMIP},
	{"msim", "MySpaceIM", openMSIM},
	{"sip", "SIP", openSIP},
	{"webchat", "Web chat", openWebchat},
}

func loadProtocolNamed(key string) loadProtocol {
	for _, p := range loadProtocols {
		if p.key == key {
			return p
		}
	}
	panic("no load protocol " + key)
}

// loadSession is one account logged in through one protocol.
type loadSession interface {
	close()
}

// directSession is a session whose protocol addresses a message to an
// account (every protocol but MSN, whose messages go through a
// switchboard).
type directSession interface {
	loadSession
	endTo(account int) loadEnd
}

// loadEnd is one side of a conversation.
type loadEnd interface {
	send(ctx context.Context, text string) error
	// receive returns the text of the next message from the other side.
	receive(ctx context.Context) (string, error)
}

// pipelinedEnd is a loadEnd whose client can send a message before the
// earlier ones are acknowledged: post sends several at once, and confirm
// waits for the acknowledgement of the oldest posted one not yet confirmed
// (an error when it was refused).
type pipelinedEnd interface {
	loadEnd
	post(ctx context.Context, texts []string) error
	confirm(ctx context.Context) error
}

// waitingEnd is a loadEnd whose client waits for each acknowledgement
// (web chat): post sends and waits, and there is nothing
// left to confirm, so it keeps one message in flight.
type waitingEnd struct{ loadEnd }

func (e waitingEnd) post(ctx context.Context, texts []string) error { return sendEach(ctx, e, texts) }

// sendEach sends texts one by one.
func sendEach(ctx context.Context, e loadEnd, texts []string) error {
	for _, text := range texts {
		if err := e.send(ctx, text); err != nil {
			return err
		}
	}
	return nil
}

func (waitingEnd) confirm(context.Context) error { return nil }

// nextEvent takes events until one of type T comes.
func nextEvent[T any, E any](ctx context.Context, events <-chan E) (T, error) {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				var zero T
				return zero, errors.New("connection closed")
			}
			if t, ok := any(ev).(T); ok {
				return t, nil
			}
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
}

type msnSession struct {
	c       *client.Client
	account int

	mu       sync.Mutex
	switches []*client.Switchboard
}

func openMSN(ctx context.Context, addr string, d dialing, account int, online bool) (loadSession, error) {
	c, err := client.Dial(ctx, addr, client.Options{Dialer: d.dialer, EventBuffer: d.events})
	if err != nil {
		return nil, err
	}
	err = c.Login(ctx, loadtestEmail(account), loadtestPassword)
	if err == nil && online {
		if _, err = c.Sync(ctx, 0); err == nil {
			err = c.SetStatus(ctx, client.StatusOnline)
		}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return &msnSession{c: c, account: account}, nil
}

func (s *msnSession) keep(sb *client.Switchboard) {
	s.mu.Lock()
	s.switches = append(s.switches, sb)
	s.mu.Unlock()
}

// call opens a switchboard and invites account into it; the caller waits
// for them to join.
func (s *msnSession) call(ctx context.Context, account int) (*client.Switchboard, error) {
	sb, err := s.c.StartChat(ctx)
	if err != nil {
		return nil, err
	}
	s.keep(sb)
	_, err = sb.Call(ctx, loadtestEmail(account))
	return sb, err
}

// answer joins the switchboard the next invitation names.
func (s *msnSession) answer(ctx context.Context) (*client.Switchboard, error) {
	ring, err := nextEvent[client.Ring](ctx, s.c.Events())
	if err != nil {
		return nil, err
	}
	sb, err := s.c.Answer(ctx, ring)
	if err != nil {
		return nil, err
	}
	s.keep(sb)
	return sb, nil
}

func (s *msnSession) close() {
	s.mu.Lock()
	for _, sb := range s.switches {
		sb.Close()
	}
	s.mu.Unlock()
	_ = s.c.Logout()
}

// switchboardEnd sends in mode A; posted are the messages whose ACK it
// has not awaited yet, oldest first. post builds a paste's payloads in
// framed, which PostAll keeps no part of once it returns.
type switchboardEnd struct {
	sb       *client.Switchboard
	posted   []*client.Delivery
	framed   []byte
	payloads [][]byte
}

func (e *switchboardEnd) send(ctx context.Context, text string) error {
	return e.sb.SendText(ctx, text)
}

func (e *switchboardEnd) sendAsync(ctx context.Context, text string, done func(error)) {
	e.sb.SendTextAsync(ctx, text, done)
}

func (e *switchboardEnd) post(ctx context.Context, texts []string) error {
	framed, payloads := e.framed[:0], e.payloads[:0]
	for _, text := range texts {
		start := len(framed)
		framed = client.AppendTextPayload(framed, text)
		// A payload left in an array that append outgrew keeps its bytes.
		payloads = append(payloads, framed[start:])
	}
	e.framed, e.payloads = framed, payloads
	ds, err := e.sb.PostAll(ctx, payloads, 'A')
	e.posted = append(e.posted, ds...)
	return err
}

func (e *switchboardEnd) confirm(ctx context.Context) error { return takeOldest(&e.posted).Wait(ctx) }

// takeOldest removes and returns the first of posted, which must not be
// empty.
func takeOldest[D any](posted *[]D) D {
	var none D
	d := (*posted)[0]
	(*posted)[0] = none
	*posted = (*posted)[1:]
	return d
}

func (e *switchboardEnd) receive(ctx context.Context) (string, error) {
	m, err := nextEvent[client.Message](ctx, e.sb.Events())
	return m.Text, err
}

type ggSession struct{ c *ggclient.Client }

func openGG(ctx context.Context, addr string, d dialing, account int, _ bool) (loadSession, error) {
	c, err := ggclient.Dial(ctx, addr, ggclient.Options{Dialer: d.dialer, EventBuffer: d.events})
	if err != nil {
		return nil, err
	}
	if err := c.Login(ctx, loadtestNumber(account), loadtestPassword, ggwire.StatusAvail, ""); err != nil {
		c.Close()
		return nil, err
	}
	return ggSession{c}, nil
}

func (s ggSession) close() { s.c.Close() }

func (s ggSession) endTo(account int) loadEnd { return &ggEnd{c: s.c, to: loadtestNumber(account)} }

// ggEnd sends as Gadu-Gadu clients do, without waiting for each ack;
// posted are the messages whose ack it has not awaited yet, oldest first.
type ggEnd struct {
	c      *ggclient.Client
	to     uint32
	posted []*ggclient.Delivery
}

func (e *ggEnd) send(ctx context.Context, text string) error {
	_, err := e.c.SendMessage(ctx, e.to, text)
	return err
}

func (e *ggEnd) post(ctx context.Context, texts []string) error {
	ds, err := e.c.PostAll(ctx, e.to, texts)
	e.posted = append(e.posted, ds...)
	return err
}

func (e *ggEnd) confirm(ctx context.Context) error {
	_, err := takeOldest(&e.posted).Wait(ctx)
	return err
}

func (e *ggEnd) receive(ctx context.Context) (string, error) {
	m, err := nextEvent[ggclient.Message](ctx, e.c.Events())
	return m.Text, err
}

type imipSession struct{ c *imipclient.Client }

func openIMIP(ctx context.Context, addr string, d dialing, account int, online bool) (loadSession, error) {
	c, err := imipclient.Dial(ctx, addr, imipclient.Options{Dialer: d.dialer, EventBuffer: d.events})
	if err != nil {
		return nil, err
	}
	_, err = c.Login(ctx, loadtestID(account), loadtestPassword)
	if err == nil && online {
		err = c.SetStatus(ctx, imipwire.StatusOnline, "")
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return imipSession{c}, nil
}

func (s imipSession) close() { s.c.Close() }

func (s imipSession) endTo(account int) loadEnd {
	return &imipEnd{c: s.c, to: loadtestID(account)}
}

// imipEnd sends MESGs whose ACKs reference their IDs, without waiting for
// each; posted are the messages whose ACK it has not awaited yet, oldest
// first.
type imipEnd struct {
	c      *imipclient.Client
	to     string
	posted []*imipclient.Delivery
}

func (e *imipEnd) send(ctx context.Context, text string) error {
	return e.c.SendMessageAcked(ctx, e.to, text)
}

func (e *imipEnd) post(ctx context.Context, texts []string) error {
	ds, err := e.c.PostMessages(ctx, e.to, texts)
	e.posted = append(e.posted, ds...)
	return err
}

func (e *imipEnd) confirm(ctx context.Context) error { return takeOldest(&e.posted).Wait(ctx) }

func (e *imipEnd) receive(ctx context.Context) (string, error) {
	m, err := nextEvent[imipclient.Message](ctx, e.c.Events())
	return m.Text, err
}

type msimSession struct{ c *msimclient.Client }

func openMSIM(ctx context.Context, addr string, d dialing, account int, online bool) (loadSession, error) {
	c, err := msimclient.Dial(ctx, addr, msimclient.Options{Dialer: d.dialer, EventBuffer: d.events, NoSignOn: !online})
	if err != nil {
		return nil, err
	}
	if _, err := c.Login(ctx, loadtestEmail(account), loadtestPassword); err != nil {
		c.Close()
		return nil, err
	}
	return msimSession{c}, nil
}

func (s msimSession) close() { s.c.Close() }

func (s msimSession) endTo(account int) loadEnd { return msimEnd{s.c, loadtestNumber(account)} }

type msimEnd struct {
	c  *msimclient.Client
	to uint32
}

func (e msimEnd) send(ctx context.Context, text string) error { return e.c.SendIM(ctx, e.to, text) }

// post is send: MySpaceIM acknowledges no message, so a sender never waits
// for one.
func (e msimEnd) post(ctx context.Context, texts []string) error { return sendEach(ctx, e, texts) }

func (msimEnd) confirm(context.Context) error { return nil }

func (e msimEnd) receive(ctx context.Context) (string, error) {
	m, err := nextEvent[msimclient.Message](ctx, e.c.Events())
	return m.Text, err
}

type sipSession struct{ c *sipclient.Client }

// openSIP signs in as pidgin-sipe does, online or not: the three
// REGISTERs with NTLM, then the subscriptions and the state it publishes.
func openSIP(ctx context.Context, addr string, d dialing, account int, _ bool) (loadSession, error) {
	c, err := sipclient.Dial(ctx, addr, sipclient.Options{Dialer: d.dialer, EventBuffer: d.events})
	if err != nil {
		return nil, err
	}
	if err := c.SignIn(ctx, loadtestEmail(account), loadtestPassword); err != nil {
		c.Close()
		return nil, err
	}
	return sipSession{c}, nil
}

// close signs out (REGISTER with Expires: 0), as pidgin-sipe does.
func (s sipSession) close() {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	_ = s.c.SignOut(ctx)
}

func (s sipSession) endTo(account int) loadEnd { return &sipEnd{c: s.c, to: loadtestEmail(account)} }

// sipEnd sends MESSAGEs in the IM session without waiting for each answer,
// as pidgin-sipe does; posted are the messages whose answer it has not
// awaited yet, oldest first.
type sipEnd struct {
	c      *sipclient.Client
	to     string
	posted []*sipclient.Delivery
}

func (e *sipEnd) send(ctx context.Context, text string) error {
	return e.c.SendMessage(ctx, e.to, text)
}

func (e *sipEnd) post(ctx context.Context, texts []string) error {
	ds, err := e.c.PostMessages(ctx, e.to, texts)
	e.posted = append(e.posted, ds...)
	return err
}

func (e *sipEnd) confirm(ctx context.Context) error { return takeOldest(&e.posted).Wait(ctx) }

func (e *sipEnd) receive(ctx context.Context) (string, error) {
	m, err := nextEvent[sipclient.Message](ctx, e.c.Events())
	return m.Text, err
}

type webchatSession struct{ c *webchatclient.Client }

// openWebchat opens the WebSocket of the HTTP service at addr (host:port)
// and logs in by e-mail address and password, as a bot does; a web chat
// login is online at once.
func openWebchat(ctx context.Context, addr string, d dialing, account int, _ bool) (loadSession, error) {
	hc := &http.Client{Transport: &http.Transport{DialContext: d.dialer.DialContext}}
	c, err := webchatclient.Dial(ctx, "ws://"+addr+"/chat/ws", webchatclient.Options{HTTPClient: hc, EventBuffer: d.events})
	if err != nil {
		return nil, err
	}
	if _, err := c.Login(ctx, loadtestEmail(account), loadtestPassword); err != nil {
		c.Close()
		return nil, err
	}
	return webchatSession{c}, nil
}

// close logs out and waits for the server to close the socket, so that
// the session is over on the server too.
func (s webchatSession) close() {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if s.c.Logout(ctx) == nil {
		_, _ = nextEvent[webchatclient.Disconnected](ctx, s.c.Events())
	}
	s.c.Close()
}

func (s webchatSession) endTo(account int) loadEnd {
	return webchatEnd{s.c, webchatwire.Contact{Number: loadtestNumber(account)}}
}

type webchatEnd struct {
	c  *webchatclient.Client
	to webchatwire.Contact
}

func (e webchatEnd) send(ctx context.Context, text string) error {
	_, err := e.c.Send(ctx, e.to, text)
	return err
}

func (e webchatEnd) receive(ctx context.Context) (string, error) {
	m, err := nextEvent[*webchatwire.Message](ctx, e.c.Events())
	return m.Text, err
}

// openConversation makes a and b, logged-in sessions of accounts aAccount
// and bAccount, able to message each other: an MSN user calls the other
// into a switchboard (answering if it is MSN too); the others message
// each other's number.
func openConversation(ctx context.Context, a loadSession, aAccount int, b loadSession, bAccount int) (aEnd, bEnd loadEnd, err error) {
	am, _ := a.(*msnSession)
	bm, _ := b.(*msnSession)
	switch {
	case am != nil:
		sb, err := am.call(ctx, bAccount)
		if err != nil {
			return nil, nil, err
		}
		if bm != nil {
			bsb, err := bm.answer(ctx)
			if err != nil {
				return nil, nil, err
			}
			bEnd = &switchboardEnd{sb: bsb}
		} else {
			bEnd = b.(directSession).endTo(aAccount)
		}
		return &switchboardEnd{sb: sb}, bEnd, waitJoined(ctx, sb, loadtestEmail(bAccount))
	case bm != nil:
		bEnd, aEnd, err := openConversation(ctx, b, bAccount, a, aAccount)
		return aEnd, bEnd, err
	default:
		return a.(directSession).endTo(bAccount), b.(directSession).endTo(aAccount), nil
	}
}

// sourceAddrs hands out dialers bound round-robin to 127.0.0.1 …
// 127.0.0.n, so that a server on loopback sees the clients come from n
// addresses (every 127/8 address is local on Linux); with n 0 the system
// chooses.
type sourceAddrs struct {
	n    int
	next atomic.Uint64
}

// maxSources is how many addresses 127.0.0.x holds.
const maxSources = 254

// The dialers turn TCP keep-alive off: it guards against a peer that
// vanished, which the load test's connections, short and on one machine,
// never meet, and setting it up is four system calls on every connection
// (of about thirty in a login), which the load generator's CPU per login
// would count.
func (s *sourceAddrs) dialer() *net.Dialer {
	if s.n == 0 {
		return &net.Dialer{KeepAlive: -1}
	}
	k := (s.next.Add(1) - 1) % uint64(s.n)
	return &net.Dialer{KeepAlive: -1, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+k))}}
}
