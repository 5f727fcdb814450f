package node

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/internal/service"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/msnp/client"
)

// probe is a client that connects to one listener and says the least
// that tells an admitted connection from a refused one.
type probe struct {
	listener string
	addr     func(*Node) string
	say      string
	admitted string // what an admitted client hears first
	busy     string // all a refused client hears before the server hangs up
}

var probes = map[string]probe{
	"msn":  {"msnp", func(n *Node) string { return n.MSNPAddr }, "VER 1 MSNP7 CVR0\r\n", "VER 1 ", "600 1\r\n"},
	"msim": {"msnp", func(n *Node) string { return n.MSIMAddr }, "", `\lc\1\`, `\error\\err\1\errmsg\The server is busy. Try again later.\fatal\\final\`},
	"sb":   {"msnp-sb", func(n *Node) string { return n.SBAddr }, "CAL 1 someone@example.com\r\n", "302 1\r\n", "600 1\r\n"},
	"gg":   {"gg", func(n *Node) string { return n.GGAddr }, "", "\x01\x00\x00\x00", ""},
	"imip": {"imip", func(n *Node) string { return n.IMIPAddr }, "HELO\r\n32\r\nID: 1001\r\nProtocol: IMIP/1.0\r\n\r\n", "HELO\r\n", "DISC\r\n"},
	"sip": {"sip", func(n *Node) string { return n.SIPAddr },
		"OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/tcp 192.0.2.1:5060\r\nFrom: <sip:x@example.com>;tag=1\r\nTo: <sip:x@example.com>\r\nCall-ID: probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		"SIP/2.0 403 ", "SIP/2.0 503 Service Unavailable\r\n"},
	"http": {"http", func(n *Node) string { return n.HTTPAddr }, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 ", ""},
}

func (p probe) dial(t *testing.T, n *Node) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", p.addr(n), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, p.say); err != nil {
		t.Fatal(err)
	}
	return nc
}

// admit connects and checks the client is served; the connection stays
// open.
func (p probe) admit(t *testing.T, n *Node) {
	t.Helper()
	nc := p.dial(t, n)
	got := make([]byte, len(p.admitted))
	if _, err := io.ReadFull(nc, got); err != nil || string(got) != p.admitted {
		t.Fatalf("%s: admitted client heard %q (%v), want %q", p.listener, got, err, p.admitted)
	}
}

// refuse connects and checks the client hears the busy answer and the
// connection ends.
func (p probe) refuse(t *testing.T, n *Node) {
	t.Helper()
	got, err := io.ReadAll(p.dial(t, n))
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("%s: refused client: %v", p.listener, err)
	}
	if !strings.HasPrefix(string(got), p.busy) || p.busy == "" && len(got) > 0 {
		t.Fatalf("%s: refused client heard %q, want %q", p.listener, got, p.busy)
	}
}

// TestAdmissionCaps fills each listener's pre-login places from one
// address: the next client hears its protocol's busy answer while users
// logged in through every protocol, who count as logged in and so hold
// no pre-login place, keep talking.
func TestAdmissionCaps(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := startNodeWith(t, Options{DataDir: t.TempDir(), Admission: service.Limits{MaxPreLoginPerAddr: 2}, HTTP: HTTPLimits{MaxConnsPerAddr: 2}})

	addAccount(t, n, 1001, "msn@example.com", "Em", "pw")
	msn := &msnPeer{inbox: newInbox(), number: 1001, email: "msn@example.com", c: login(t, ctx, n.MSNPAddr, "msn@example.com", "pw"), chats: map[string]*client.Switchboard{}}
	go msn.run(ctx)
	addAccount(t, n, 1002, "gg@example.com", "Gie", "pw")
	gg := &ggPeer{inbox: newInbox(), number: 1002, email: "gg@example.com", c: loginGG(t, ctx, n.GGAddr, 1002, "pw", wire.StatusAvail, "")}
	go gg.run()
	msim, imip := newMSIMPeer(t, ctx, n, 1003, "my@example.com"), newIMIPPeer(t, ctx, n, 1004, "imip@example.com")
	sip := newSIPPeer(t, ctx, n, 1005, "sip@example.com")
	// MSN only sends, over a switchboard opened before the caps fill.
	pairs := [][2]peer{{msn, gg}, {gg, msim}, {msim, imip}, {imip, sip}, {sip, gg}}
	for _, p := range pairs {
		if err := p[0].follow(ctx, p[1]); err != nil {
			t.Fatal(err)
		}
		if err := p[1].follow(ctx, p[0]); err != nil {
			t.Fatal(err)
		}
	}
	talk := func(round string) {
		t.Helper()
		for _, p := range pairs {
			from, to := p[0], p[1]
			who := name(to, from)
			inboxOf(to).wait(t, ctx, to.protocol()+" sees "+from.protocol(), func() bool { return inboxOf(to).online[who] })
			text := round + " from " + from.protocol()
			if err := from.send(ctx, to, text); err != nil {
				t.Fatalf("%s: %s → %s: %v", round, from.protocol(), to.protocol(), err)
			}
			inboxOf(to).wait(t, ctx, round+" message to "+to.protocol(), inboxOf(to).has(who+": "+text))
		}
	}
	talk("before")

	for _, group := range [][]string{{"msn", "msim"}, {"sb", "sb"}, {"gg", "gg"}, {"imip", "imip"}, {"sip", "sip"}, {"http", "http"}} {
		reason := "prelogin_per_addr"
		if group[0] == "http" {
			reason = "per_addr"
		}
		refused := metrics.Refused.WithLabelValues(probes[group[0]].listener, reason)
		before := metrics.Value(refused)
		for _, name := range group {
			probes[name].admit(t, n)
		}
		for _, name := range group {
			probes[name].refuse(t, n)
		}
		if got := metrics.Value(refused) - before; got != float64(len(group)) {
			t.Errorf("%s: %v refusals counted, want %d", probes[group[0]].listener, got, len(group))
		}
	}

	talk("after")
}
