package node

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	imipclient "github.com/crosstalk-im/crosstalk/imip/client"
	imipwire "github.com/crosstalk-im/crosstalk/imip/wire"
	msimclient "github.com/crosstalk-im/crosstalk/msim/client"
	msimwire "github.com/crosstalk-im/crosstalk/msim/wire"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	sipclient "github.com/crosstalk-im/crosstalk/sip/client"
)

// peer is one user of the matrix test, logged in through one protocol.
type peer interface {
	protocol() string
	account() (number uint32, email string)
	follow(ctx context.Context, other peer) error
	send(ctx context.Context, to peer, text string) error
}

// inbox collects what a peer's client reports, so tests can wait for a
// contact's presence or message in any order.
type inbox struct {
	mu       sync.Mutex
	changed  chan struct{}
	online   map[string]bool // by e-mail or number, as the protocol names people
	messages []string        // "sender: text"
}

func newInbox() *inbox {
	return &inbox{changed: make(chan struct{}, 1), online: map[string]bool{}}
}

func (b *inbox) update(f func()) {
	b.mu.Lock()
	f()
	b.mu.Unlock()
	select {
	case b.changed <- struct{}{}:
	default:
	}
}

func (b *inbox) wait(t *testing.T, ctx context.Context, what string, ok func() bool) {
	t.Helper()
	for {
		b.mu.Lock()
		done := ok()
		b.mu.Unlock()
		if done {
			return
		}
		select {
		case <-b.changed:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}

func (b *inbox) has(msg string) func() bool {
	return func() bool {
		for _, m := range b.messages {
			if m == msg {
				return true
			}
		}
		return false
	}
}

// msnPeer answers every ring and reads every switchboard it is in.
type msnPeer struct {
	*inbox
	number  uint32
	email   string
	c       *client.Client
	mu      sync.Mutex
	chats   map[string]*client.Switchboard
	dialect string // "" for MSNP7, "msnp11" or "msnp18" for a Passport or SSO login
}

func (p *msnPeer) protocol() string {
	if p.dialect == "" {
		return "msnp"
	}
	return p.dialect
}
func (p *msnPeer) account() (uint32, string) { return p.number, p.email }
func (p *msnPeer) follow(ctx context.Context, other peer) error {
	_, email := other.account()
	_, err := p.c.Add(ctx, client.ListForward, email, "x", 0)
	return err
}

func (p *msnPeer) run(ctx context.Context) {
	for ev := range p.c.Events() {
		switch ev := ev.(type) {
		case client.Presence:
			p.update(func() { p.online[ev.Email] = true })
		case client.Offline:
			p.update(func() { p.online[ev.Email] = false })
		case client.Ring:
			if sb, err := p.c.Answer(ctx, ev); err == nil {
				go p.read(sb)
			}
		}
	}
}

func (p *msnPeer) read(sb *client.Switchboard) {
	for ev := range sb.Events() {
		if m, ok := ev.(client.Message); ok && m.ContentType == "text/plain" {
			p.update(func() { p.messages = append(p.messages, m.From+": "+m.Text) })
		}
	}
}

func (p *msnPeer) send(ctx context.Context, to peer, text string) error {
	_, email := to.account()
	p.mu.Lock()
	sb := p.chats[email]
	p.mu.Unlock()
	if sb == nil {
		var err error
		if sb, err = p.c.StartChat(ctx); err != nil {
			return err
		}
		joined := make(chan struct{})
		go func() {
			for ev := range sb.Events() {
				switch ev := ev.(type) {
				case client.Joined:
					if ev.Email == email {
						close(joined)
					}
				case client.Message:
					if ev.ContentType == "text/plain" {
						p.update(func() { p.messages = append(p.messages, ev.From+": "+ev.Text) })
					}
				}
			}
		}()
		if _, err := sb.Call(ctx, email); err != nil {
			return err
		}
		select {
		case <-joined:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.mu.Lock()
		p.chats[email] = sb
		p.mu.Unlock()
	}
	return sb.SendText(ctx, text)
}

type ggPeer struct {
	*inbox
	number uint32
	email  string
	c      *ggclient.Client
}

func (p *ggPeer) protocol() string          { return "gg" }
func (p *ggPeer) account() (uint32, string) { return p.number, p.email }
func (p *ggPeer) follow(ctx context.Context, other peer) error {
	n, _ := other.account()
	return p.c.AddNotify(ctx, wire.Contact{UIN: n, Type: wire.UserNormal})
}

func (p *ggPeer) run() {
	for ev := range p.c.Events() {
		switch ev := ev.(type) {
		case ggclient.Status:
			p.update(func() { p.online[fmt.Sprint(ev.UIN)] = !wire.StatusOffline(ev.Status) })
		case ggclient.Message:
			p.update(func() { p.messages = append(p.messages, fmt.Sprint(ev.From)+": "+ev.Text) })
		}
	}
}

func (p *ggPeer) send(ctx context.Context, to peer, text string) error {
	n, _ := to.account()
	_, err := p.c.SendMessage(ctx, n, text)
	return err
}

type msimPeer struct {
	*inbox
	number uint32
	email  string
	c      *msimclient.Client
}

func (p *msimPeer) protocol() string          { return "msim" }
func (p *msimPeer) account() (uint32, string) { return p.number, p.email }
func (p *msimPeer) follow(ctx context.Context, other peer) error {
	n, _ := other.account()
	return p.c.AddBuddy(ctx, n, "")
}

func (p *msimPeer) run() {
	for ev := range p.c.Events() {
		switch ev := ev.(type) {
		case msimclient.Status:
			p.update(func() { p.online[fmt.Sprint(ev.UserID)] = ev.Status != msimwire.StatusOffline })
		case msimclient.Message:
			p.update(func() { p.messages = append(p.messages, fmt.Sprint(ev.From)+": "+ev.Text) })
		}
	}
}

func (p *msimPeer) send(ctx context.Context, to peer, text string) error {
	n, _ := to.account()
	return p.c.SendIM(ctx, n, text)
}

type imipPeer struct {
	*inbox
	number uint32
	email  string
	c      *imipclient.Client
}

func (p *imipPeer) protocol() string          { return "imip" }
func (p *imipPeer) account() (uint32, string) { return p.number, p.email }
func (p *imipPeer) follow(ctx context.Context, other peer) error {
	n, _ := other.account()
	return p.c.ListAdd(ctx, fmt.Sprint(n), "please add me")
}

func (p *imipPeer) run() {
	for ev := range p.c.Events() {
		switch ev := ev.(type) {
		case imipclient.Status:
			p.update(func() { p.online[ev.Number] = ev.Status != imipwire.StatusOffline })
		case imipclient.Message:
			p.update(func() { p.messages = append(p.messages, ev.From+": "+ev.Text) })
		}
	}
}

func (p *imipPeer) send(ctx context.Context, to peer, text string) error {
	n, _ := to.account()
	_, err := p.c.SendMessage(ctx, fmt.Sprint(n), text)
	return err
}

// sipPeer signs in as Office Communicator does.
type sipPeer struct {
	*inbox
	number  uint32
	email   string
	c       *sipclient.Client
	offers  chan sipclient.FileOffer     // files offered to it
	cancels chan sipclient.FileCancelled // invitations cancelled after their answer
}

func (p *sipPeer) protocol() string          { return "sip" }
func (p *sipPeer) account() (uint32, string) { return p.number, p.email }
func (p *sipPeer) follow(ctx context.Context, other peer) error {
	_, email := other.account()
	return p.c.AddContact(ctx, email)
}

func (p *sipPeer) run() {
	for ev := range p.c.Events() {
		switch ev := ev.(type) {
		case sipclient.Presence:
			p.update(func() { p.online[ev.URI] = ev.Online() })
		case sipclient.Message:
			p.update(func() { p.messages = append(p.messages, ev.From+": "+ev.Text) })
		case sipclient.FileOffer:
			p.offers <- ev
		case sipclient.FileCancelled:
			p.cancels <- ev
		}
	}
}

func (p *sipPeer) send(ctx context.Context, to peer, text string) error {
	_, email := to.account()
	return p.c.SendMessage(ctx, email, text)
}

// newSIPPeer makes an account and signs it in through SIP.
func newSIPPeer(t *testing.T, ctx context.Context, n *Node, number uint32, email string) *sipPeer {
	t.Helper()
	return newSIPPeerWith(t, ctx, n, number, email, sipclient.Options{})
}

// newSIPPeerWith is newSIPPeer with the client's options.
func newSIPPeerWith(t *testing.T, ctx context.Context, n *Node, number uint32, email string, opts sipclient.Options) *sipPeer {
	t.Helper()
	addAccount(t, n, number, email, "Sip "+email, "pw")
	c, err := sipclient.Dial(ctx, n.SIPAddr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SignIn(ctx, email, "pw"); err != nil {
		t.Fatal(err)
	}
	p := &sipPeer{inbox: newInbox(), number: number, email: email, c: c,
		offers: make(chan sipclient.FileOffer, 16), cancels: make(chan sipclient.FileCancelled, 16)}
	go p.run()
	return p
}

// name is how a peer's protocol names another peer in presence and
// messages: MSN by e-mail, SIP by its sip: address, the others by number.
func name(viewer, other peer) string {
	n, email := other.account()
	switch viewer.protocol() {
	case "msnp", "msnp11", "msnp18":
		return email
	case "sip":
		return "sip:" + email
	}
	return fmt.Sprint(n)
}

// TestProtocolMatrix logs one user in through each of the six protocols
// (the web chat among them), MSN three times (MSNP7, MSNP11 with Passport
// over HTTPS, MSNP18 with single sign-on and the address book over HTTPS),
// has everyone follow everyone, and checks for every ordered pair (56)
// that presence is seen and a message arrives.
func TestProtocolMatrix(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, ca := startHTTPSNode(t)
	var peers []peer

	addAccount(t, n, 1001, "msn@example.com", "Em", "pw")
	mc := login(t, ctx, n.MSNPAddr, "msn@example.com", "pw")
	msn := &msnPeer{inbox: newInbox(), number: 1001, email: "msn@example.com", c: mc, chats: map[string]*client.Switchboard{}}
	go msn.run(ctx)
	addAccount(t, n, 1011, "msn11@example.com", "Elf", "pw")
	mc11 := loginDialect(t, ctx, n, passportClient(t, n, ca), 11, "msn11@example.com", "pw")
	msn11 := &msnPeer{inbox: newInbox(), number: 1011, email: "msn11@example.com", c: mc11, chats: map[string]*client.Switchboard{}, dialect: "msnp11"}
	go msn11.run(ctx)
	addAccount(t, n, 1018, "msn18@example.com", "Eve", "pw")
	mc18 := loginDialect(t, ctx, n, passportClient(t, n, ca), 18, "msn18@example.com", "pw")
	msn18 := &msnPeer{inbox: newInbox(), number: 1018, email: "msn18@example.com", c: mc18, chats: map[string]*client.Switchboard{}, dialect: "msnp18"}
	go msn18.run(ctx)
	peers = append(peers, msn, msn11, msn18)

	addAccount(t, n, 1002, "gg@example.com", "Gie", "pw")
	gc := loginGG(t, ctx, n.GGAddr, 1002, "pw", wire.StatusAvail, "")
	gg := &ggPeer{inbox: newInbox(), number: 1002, email: "gg@example.com", c: gc}
	go gg.run()
	peers = append(peers, gg)

	peers = append(peers, newMSIMPeer(t, ctx, n, 1003, "my@example.com"), newIMIPPeer(t, ctx, n, 1004, "imip@example.com"),
		newSIPPeer(t, ctx, n, 1005, "sip@example.com"))
	// The node's HTTP service is HTTPS here: the web chat over wss://.
	addAccount(t, n, 1006, "web@example.com", "Web", "pw")
	peers = append(peers, loginWebAt(t, ctx, "wss://messenger.msn.com/chat/ws", passportClient(t, n, ca), 1006, "web@example.com"))

	for _, a := range peers {
		for _, b := range peers {
			if a != b {
				if err := a.follow(ctx, b); err != nil {
					t.Fatalf("%s follows %s: %v", a.protocol(), b.protocol(), err)
				}
			}
		}
	}
	for _, a := range peers {
		for _, b := range peers {
			if a == b {
				continue
			}
			t.Run(a.protocol()+"→"+b.protocol(), func(t *testing.T) {
				who := name(b, a)
				inboxOf(b).wait(t, ctx, b.protocol()+" sees "+a.protocol()+" online",
					func() bool { return inboxOf(b).online[who] })
				text := "hello from " + a.protocol() + " to " + b.protocol() + ": zażółć"
				if err := a.send(ctx, b, text); err != nil {
					t.Fatalf("send: %v", err)
				}
				inboxOf(b).wait(t, ctx, "the message", inboxOf(b).has(who+": "+text))
			})
		}
	}
}

// newMSIMPeer makes an account and logs it in through MySpaceIM.
func newMSIMPeer(t *testing.T, ctx context.Context, n *Node, number uint32, email string) *msimPeer {
	t.Helper()
	addAccount(t, n, number, email, "My "+email, "pw")
	p := &msimPeer{inbox: newInbox(), number: number, email: email, c: loginMSIM(t, ctx, n.MSIMAddr, email, "pw")}
	go p.run()
	return p
}

// newIMIPPeer makes an account and logs it in through IMIP, online.
func newIMIPPeer(t *testing.T, ctx context.Context, n *Node, number uint32, email string) *imipPeer {
	t.Helper()
	addAccount(t, n, number, email, "Im "+email, "pw")
	p := &imipPeer{inbox: newInbox(), number: number, email: email, c: loginIMIP(t, ctx, n.IMIPAddr, number, "pw")}
	go p.run()
	return p
}

// loginIMIP logs account number in through IMIP, online.
func loginIMIP(t *testing.T, ctx context.Context, addr string, number uint32, password string) *imipclient.Client {
	t.Helper()
	ic, err := imipclient.Dial(ctx, addr, imipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ic.Close() })
	if _, err := ic.Login(ctx, fmt.Sprint(number), password); err != nil {
		t.Fatal(err)
	}
	if err := ic.SetStatus(ctx, imipwire.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	return ic
}

func inboxOf(p peer) *inbox {
	switch p := p.(type) {
	case *msnPeer:
		return p.inbox
	case *ggPeer:
		return p.inbox
	case *msimPeer:
		return p.inbox
	case *imipPeer:
		return p.inbox
	case *sipPeer:
		return p.inbox
	case *webPeer:
		return p.inbox
	}
	panic("unknown peer")
}
