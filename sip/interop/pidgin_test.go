package interop

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/cprog"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	msnclient "github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/node"
	sipserver "github.com/crosstalk-im/crosstalk/sip/server"
)

const polish = "Zażółć gęślą jaźń"

// sipePlugin is where Debian's pidgin-sipe puts libsipe.so; libpurple's
// own plugins are in pkg-config's plugindir.
const sipePlugin = "/usr/lib/purple-2"

// requireSipe skips without the tools, libpurple and pidgin-sipe, except
// in CI (see cprog.Require).
func requireSipe(t *testing.T) {
	t.Helper()
	const hint = "Debian: apt-get install gcc pkg-config libpurple-dev libxml2-dev pidgin-sipe"
	pkgs := []string{"purple", "libxml-2.0"}
	if _, err := os.Stat(filepath.Join(sipePlugin, "libsipe.so")); err != nil {
		pkgs = append(pkgs, "pidgin-sipe") // no such pkg-config package: reported missing
	}
	cprog.Require(t, hint, pkgs...)
}

func startNode(t *testing.T, tweaks ...func(*node.Options)) *node.Node {
	t.Helper()
	o := node.Options{
		DataDir:  t.TempDir(),
		MSNPAddr: "127.0.0.1:0", SBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", // the drive carries files
		GGAddr: "127.0.0.1:0", SIPAddr: "127.0.0.1:0",
		// pidgin-sipe never says BYE to a file it received (see
		// TestPidginSipeFiles): the server gives up on it sooner.
		SIP: sipserver.Config{FileLegTimeout: 3 * time.Second},
	}
	for _, tweak := range tweaks {
		tweak(&o)
	}
	n, err := node.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("node shutdown: %v", err)
		}
	})
	return n
}

func addAccount(t *testing.T, n *node.Node, number uint32, email, name, password string) hub.Account {
	t.Helper()
	a := hub.Account{Number: number, Email: email, DisplayName: name}
	if _, err := n.Store.CreateAccount(context.Background(), a, password); err != nil {
		t.Fatal(err)
	}
	return a
}

func follow(t *testing.T, n *node.Node, owner, contact uint32) {
	t.Helper()
	if _, err := n.Store.AddToList(context.Background(), owner, contact, hub.Forward, 0, 100); err != nil {
		t.Fatal(err)
	}
}

// startSipe builds testdata/sipe_harness.c and signs address in through
// pidgin-sipe over TCP.
func startSipe(t *testing.T, n *node.Node, address, password string) *cprog.Proc {
	return runSipe(t, n.SIPAddr, address, password)
}

// runSipe signs address in through pidgin-sipe at server, and with a
// directory of trusted authorities after them, over TLS.
func runSipe(t *testing.T, server, address, password string, caDir ...string) *cprog.Proc {
	t.Helper()
	requireSipe(t)
	bin := cprog.BuildPurple(t, filepath.Join("testdata", "sipe_harness.c"))
	shim := cprog.BuildPreload(t, filepath.Join("testdata", "sax1_shim.c"), "libxml-2.0")
	plugins, err := exec.Command("pkg-config", "--variable=plugindir", "purple").Output()
	if err != nil {
		t.Fatalf("pkg-config --variable=plugindir purple: %v", err)
	}
	home := t.TempDir()
	return cprog.Start(t, "pidgin-sipe "+address, bin, []string{
		"SIPE_HARNESS_LIFETIME=60", "LD_PRELOAD=" + shim,
		"HOME=" + home, "XDG_CACHE_HOME=" + home, "XDG_CONFIG_HOME=" + home,
		"DBUS_SESSION_BUS_ADDRESS=disabled:", "DISPLAY=",
	}, append([]string{home, strings.TrimSpace(string(plugins)) + ":" + sipePlugin, server, address, password}, caDir...)...)
}

func loginGG(t *testing.T, ctx context.Context, n *node.Node, acct hub.Account, password string, descr string, contacts ...uint32) *ggclient.Client {
	t.Helper()
	c, err := ggclient.Dial(ctx, n.GGAddr, ggclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, acct.Number, password, wire.StatusAvailDescr, descr); err != nil {
		t.Fatalf("gg login %d: %v", acct.Number, err)
	}
	var list []wire.Contact
	for _, uin := range contacts {
		list = append(list, wire.Contact{UIN: uin, Type: wire.UserNormal})
	}
	if err := c.NotifyList(ctx, list); err != nil {
		t.Fatal(err)
	}
	return c
}

func loginMSN(t *testing.T, ctx context.Context, n *node.Node, acct hub.Account, password string) *msnclient.Client {
	t.Helper()
	c, err := msnclient.Dial(ctx, n.MSNPAddr, msnclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, acct.Email, password); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.SetStatus(ctx, msnclient.StatusOnline); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPidginSipe signs in with Debian's pidgin-sipe (alice) and talks with
// a Gadu-Gadu user (bob, gg/client) and an MSN Messenger user (carol,
// msnp/client): presence and notes both ways, IMs both ways in Polish.
func TestPidginSipe(t *testing.T) {
	requireSipe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	n := startNode(t)
	alice := addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	bob := addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")
	carol := addAccount(t, n, 1003, "carol@example.com", "Carol", "pc")
	follow(t, n, alice.Number, bob.Number)
	follow(t, n, alice.Number, carol.Number)
	follow(t, n, carol.Number, alice.Number)

	b := loginGG(t, ctx, n, bob, "pb", polish, alice.Number)
	msn := loginMSN(t, ctx, n, carol, "pc")
	sipe := startSipe(t, n, alice.Email, "pa")
	sipe.Expect(ctx, "SIGNED_ON")

	// Presence, contacts → pidgin-sipe: GG's description is the note.
	if m := sipe.Expect(ctx, `BUDDY sip:bob@example.com (\S+) (.*)`); m[1] != "available" || m[2] != polish {
		t.Fatalf("pidgin-sipe sees bob as %q %q", m[1], m[2])
	}
	sipe.Expect(ctx, `BUDDY sip:carol@example.com available .*`)
	// GG's "do not disturb" is the hub's busy.
	if err := b.SetStatus(ctx, wire.StatusDNDDescr, "zajęty"); err != nil {
		t.Fatal(err)
	}
	// pidgin-sipe shows a busy contact's note after its activity.
	if m := sipe.Expect(ctx, `BUDDY sip:bob@example.com (\S+) (.*)`); m[1] != "busy" || m[2] != "Busy - zajęty" {
		t.Fatalf("pidgin-sipe sees bob as %q %q", m[1], m[2])
	}
	if err := msn.SetStatus(ctx, msnclient.StatusAway); err != nil {
		t.Fatal(err)
	}
	sipe.Expect(ctx, `BUDDY sip:carol@example.com away .*`)

	// Presence, pidgin-sipe → contacts: its state and note.
	if s := testenv.Next[ggclient.Status](t, ctx, b.Events()); s.UIN != alice.Number || wire.StatusBase(s.Status) != wire.StatusAvail {
		t.Fatalf("bob sees %+v", s)
	}
	if p := testenv.Next[msnclient.Presence](t, ctx, msn.Events()); p.Email != alice.Email || p.Status != msnclient.StatusOnline {
		t.Fatalf("carol sees %+v", p)
	}
	sipe.Do(ctx, "status away Na obiedzie, wracam o 15:00")
	for {
		s := testenv.Next[ggclient.Status](t, ctx, b.Events())
		if s.UIN == alice.Number && wire.StatusBase(s.Status) == wire.StatusBusy && s.Description == "Na obiedzie, wracam o 15:00" {
			break // GG has no "away" apart from "busy" (zaraz wracam)
		}
	}
	for {
		if p := testenv.Next[msnclient.Presence](t, ctx, msn.Events()); p.Email == alice.Email && p.Status == msnclient.StatusAway {
			break
		}
	}

	// IMs with the GG user, both ways.
	sipe.Do(ctx, "msg sip:bob@example.com "+polish+" z Pidgina")
	if msg := testenv.Next[ggclient.Message](t, ctx, b.Events()); msg.From != alice.Number || msg.Text != polish+" z Pidgina" {
		t.Fatalf("bob got %+v", msg)
	}
	if _, err := b.SendMessage(ctx, alice.Number, polish); err != nil {
		t.Fatal(err)
	}
	if m := sipe.Expect(ctx, `IM sip:bob@example.com \d+ (.*)`); m[1] != polish {
		t.Fatalf("pidgin-sipe got %q", m[1])
	}

	// IMs with the MSN user: pidgin-sipe's message rings carol into a
	// switchboard; her answer comes back in pidgin-sipe's session.
	sipe.Do(ctx, "msg sip:carol@example.com dzień dobry")
	ring := testenv.Next[msnclient.Ring](t, ctx, msn.Events())
	if ring.Caller != alice.Email {
		t.Fatalf("ring %+v", ring)
	}
	sb, err := msn.Answer(ctx, ring)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Leave()
	if msg := testenv.Next[msnclient.Message](t, ctx, sb.Events()); msg.From != alice.Email || msg.Text != "dzień dobry" {
		t.Fatalf("carol got %+v", msg)
	}
	if err := sb.SendText(ctx, "odpowiedź z MSN: "+polish); err != nil {
		t.Fatal(err)
	}
	if m := sipe.Expect(ctx, `IM sip:carol@example.com \d+ (.*)`); m[1] != "odpowiedź z MSN: "+polish {
		t.Fatalf("pidgin-sipe got %q", m[1])
	}

	// Signing off, pidgin-sipe deregisters: its contacts see it go.
	sipe.Do(ctx, "quit")
	for {
		if s := testenv.Next[ggclient.Status](t, ctx, b.Events()); s.UIN == alice.Number && wire.StatusBase(s.Status) == wire.StatusNotAvail {
			break
		}
	}
	testenv.Next[msnclient.Offline](t, ctx, msn.Events())
	if err := sipe.Wait(ctx); err != nil {
		t.Fatalf("harness exit: %v", err)
	}
}

// startTLSNode starts a node that also listens for SIP over TLS, with a
// certificate an authority of the test's own signed.
func startTLSNode(t *testing.T) (*node.Node, testenv.TLSFiles) {
	certs := testenv.TLSCertificates(t)
	return startNode(t, func(o *node.Options) {
		o.SIPTLSAddr, o.SIPTLSCert, o.SIPTLSKey = "127.0.0.1:0", certs.Cert, certs.Key
	}), certs
}

// TestPidginSipeTLS signs pidgin-sipe in over TLS (transport=tls) to the
// node's SIP over TLS listener, whose certificate an authority of the
// test's own signed; the harness adds the authority's directory to
// libpurple's search path of trusted authorities. It exchanges IMs with a
// Gadu-Gadu user both ways and signs off.
func TestPidginSipeTLS(t *testing.T) {
	requireSipe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	n, certs := startTLSNode(t)
	alice := addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	bob := addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")
	follow(t, n, alice.Number, bob.Number)
	b := loginGG(t, ctx, n, bob, "pb", polish, alice.Number)

	sipe := runSipe(t, n.SIPTLSAddr, alice.Email, "pa", certs.CADir)
	sipe.Expect(ctx, "SIGNED_ON")
	// libpurple checked the certificate against the authority it was
	// given (its debug output says so), and pidgin-sipe names the
	// transport in its Via.
	for _, want := range []string{"certificate/x509/ca: Loaded Crosstalk test CA from " + certs.CA,
		"certificate: Successfully verified certificate for 127.0.0.1", "Via: SIP/2.0/tls "} {
		if !strings.Contains(sipe.Stderr(), want) {
			t.Errorf("no %q in pidgin-sipe's output:\n%s", want, sipe.Stderr())
		}
	}
	if m := sipe.Expect(ctx, `BUDDY sip:bob@example.com (\S+) (.*)`); m[1] != "available" || m[2] != polish {
		t.Fatalf("pidgin-sipe sees bob as %q %q", m[1], m[2])
	}
	sipe.Do(ctx, "msg sip:bob@example.com "+polish+" przez TLS")
	if msg := testenv.Next[ggclient.Message](t, ctx, b.Events()); msg.From != alice.Number || msg.Text != polish+" przez TLS" {
		t.Fatalf("bob got %+v", msg)
	}
	if _, err := b.SendMessage(ctx, alice.Number, "odpowiedź"); err != nil {
		t.Fatal(err)
	}
	if m := sipe.Expect(ctx, `IM sip:bob@example.com \d+ (.*)`); m[1] != "odpowiedź" {
		t.Fatalf("pidgin-sipe got %q", m[1])
	}
	sipe.Do(ctx, "quit")
	if err := sipe.Wait(ctx); err != nil {
		t.Fatalf("harness exit: %v", err)
	}
}

// TestPidginSipeTLSUntrusted: a certificate no authority pidgin-sipe's
// libpurple trusts signed is put to its user, who refuses it, and
// pidgin-sipe does not sign in.
func TestPidginSipeTLSUntrusted(t *testing.T) {
	requireSipe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, _ := startTLSNode(t)
	alice := addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	sipe := runSipe(t, n.SIPTLSAddr, alice.Email, "pa", t.TempDir()) // no authority there
	if m := sipe.Expect(ctx, `(REFUSED|SIGNED_ON).*`); m[1] != "REFUSED" || !strings.Contains(m[0], "127.0.0.1") {
		t.Fatalf("pidgin-sipe: %q", m[0])
	}
	// libpurple's words for PURPLE_SSL_CERTIFICATE_INVALID.
	if m := sipe.Expect(ctx, `(CONNECTION_ERROR|SIGNED_ON).*`); m[0] != "CONNECTION_ERROR 0 SSL peer presented an invalid certificate" {
		t.Fatalf("pidgin-sipe, the certificate refused: %q", m[0])
	}
	if s, _ := n.Hub.Sessions(ctx, alice.Number); len(s) != 0 {
		t.Fatalf("alice signed in: %v", s)
	}
}

// TestPidginSipeWrongPassword: pidgin-sipe is refused, and says it failed
// to authenticate.
func TestPidginSipeWrongPassword(t *testing.T) {
	requireSipe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startNode(t)
	alice := addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	sipe := startSipe(t, n, alice.Email, "wrong")
	m := sipe.Expect(ctx, `CONNECTION_ERROR (\d+) (.*)`)
	// PURPLE_CONNECTION_ERROR_AUTHENTICATION_FAILED is 2.
	if m[1] != "2" {
		t.Fatalf("connection error %s %q, want authentication failed (2)", m[1], m[2])
	}
	if s, _ := n.Hub.Sessions(ctx, alice.Number); len(s) != 0 {
		t.Fatalf("alice signed in: %v", s)
	}
}

// from narrows a wait to the events of one account.
func from(a hub.Account, ok func(hub.Event) bool) func(hub.Event) bool {
	return func(ev hub.Event) bool { return ev.From.Number == a.Number && ok(ev) }
}

// TestPidginSipeTranscript runs pidgin-sipe (alice) with a user attached
// to the hub (bob) through sign-in, presence both ways, IMs both ways and
// sign-off. With SIP_TRANSCRIPT_UPDATE=1 it writes the exchange to
// sip/server/testdata/pidgin-sipe.txt, which TestTranscripts there
// replays against the server.
func TestPidginSipeTranscript(t *testing.T) {
	requireSipe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	n, err := node.Start(context.Background(), node.Options{
		DataDir: t.TempDir(), MSNPAddr: node.Off, HTTPAddr: node.Off, SIPAddr: "127.0.0.1:0",
		SIP: sipserver.Config{TargetName: "sip.example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	header := []string{
		"# pidgin-sipe 1.25 (alice) and a user attached to the hub (bob), recorded by",
		"# sip/interop's TestPidginSipeTranscript: sign-in, the subscriptions after it,",
		"# presence both ways, IMs both ways, sign-off.",
		"account alice@example.com 1001 pa Alice",
		"account bob@example.com 1002 pb Bob",
		"follow 1001 1002",
		"follow 1002 1001",
	}
	alice := addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	bob := addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")
	follow(t, n, alice.Number, bob.Number)
	follow(t, n, bob.Number, alice.Number)
	var rec recorder

	rec.note("hub 1002 online %s", polish)
	b := testenv.Attach(t, n.Hub, bob)
	if err := b.SetPresence(ctx, hub.StatusOnline, polish); err != nil {
		t.Fatal(err)
	}
	sipe := startSipe(t, n, alice.Email, "pa")
	sipe.Expect(ctx, "SIGNED_ON")
	if m := sipe.Expect(ctx, `BUDDY sip:bob@example.com (\S+) (.*)`); m[1] != "available" || m[2] != polish {
		t.Fatalf("pidgin-sipe sees bob as %q %q", m[1], m[2])
	}
	b.Wait(t, ctx, hub.EventPresence, from(alice, func(ev hub.Event) bool { return ev.Status == hub.StatusOnline }))
	rec.note("hub 1002 expect presence 1001 online")

	sipe.Do(ctx, "status away Na obiedzie")
	b.Wait(t, ctx, hub.EventPresence, from(alice, func(ev hub.Event) bool { return ev.Status == hub.StatusAway && ev.Text == "Na obiedzie" }))
	rec.note("hub 1002 expect presence 1001 away Na obiedzie")

	rec.note("hub 1002 busy zajęty")
	if err := b.SetPresence(ctx, hub.StatusBusy, "zajęty"); err != nil {
		t.Fatal(err)
	}
	sipe.Expect(ctx, `BUDDY sip:bob@example.com busy .*zajęty`)

	sipe.Do(ctx, "msg sip:bob@example.com "+polish+" z Pidgina")
	b.Wait(t, ctx, hub.EventMessage, from(alice, func(ev hub.Event) bool { return ev.Message.Text == polish+" z Pidgina" }))
	rec.note("hub 1002 expect message 1001 %s z Pidgina", polish)

	rec.note("hub 1002 message 1001 odpowiedź: %s", polish)
	if d, err := n.Hub.SendMessage(ctx, bob, alice.Number, hub.Message{Text: "odpowiedź: " + polish}, ""); err != nil || d != hub.Delivered {
		t.Fatalf("bob's message: %v %v", d, err)
	}
	if m := sipe.Expect(ctx, `IM sip:bob@example.com \d+ (.*)`); m[1] != "odpowiedź: "+polish {
		t.Fatalf("pidgin-sipe got %q", m[1])
	}

	sipe.Do(ctx, "quit")
	if err := sipe.Wait(ctx); err != nil {
		t.Fatalf("harness exit: %v", err)
	}
	b.Wait(t, ctx, hub.EventPresence, from(alice, func(ev hub.Event) bool { return ev.Status == hub.StatusOffline }))
	rec.note("hub 1002 expect presence 1001 offline")

	if os.Getenv("SIP_TRANSCRIPT_UPDATE") != "" {
		path := filepath.Join("..", "server", "testdata", "pidgin-sipe.txt")
		if err := rec.write(path, sipe.Stderr(), n.SIPAddr, header); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}
}
