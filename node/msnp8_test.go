package node

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/internal/tlsca"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
	msnpserver "github.com/crosstalk-im/crosstalk/msnp/server"
)

// startHTTPSNode starts a node whose HTTPS listener serves a certificate
// for MSN's host names, made by `crosstalk tls ca`'s code, and returns the
// CA's certificate file.
func startHTTPSNode(t *testing.T) (*Node, string) {
	t.Helper()
	o, ca := httpsOptions(t)
	o.DataDir = t.TempDir()
	return startNodeWith(t, o), ca
}

// httpsOptions are node options with an HTTPS listener whose certificate
// names MSN's hosts, and the file of the CA that signed it.
func httpsOptions(t *testing.T) (Options, string) {
	t.Helper()
	p := tlsca.DefaultPaths(filepath.Join(t.TempDir(), "tls"))
	if _, err := tlsca.Make(p, tlsca.MSNHostNames, time.Now()); err != nil {
		t.Fatal(err)
	}
	return Options{HTTPSAddr: "127.0.0.1:0", TLSCert: p.Cert, TLSKey: p.Key, HTTPSLegacy: true}, p.CACert
}

// passportClient trusts only the CA in caFile and reaches every host name
// at the node's HTTPS listener, as a hosts file pointing MSN's names there
// would make a real client do.
func passportClient(t *testing.T, n *Node, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA in " + caFile)
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, n.HTTPSAddr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// loginDialect logs in with one MSNP dialect, signing in at Passport
// through hc from MSNP8, then syncs and goes online.
func loginDialect(t *testing.T, ctx context.Context, n *Node, hc *http.Client, dialect int, email, password string) *client.Client {
	t.Helper()
	c := loginWith(t, ctx, n, client.Options{
		Versions: []string{fmt.Sprintf("MSNP%d", dialect)}, Passport: hc,
		Capabilities: uint32(dialect) << 24,
	}, email, password)
	if c.Dialect() != dialect {
		t.Fatalf("negotiated MSNP%d, not MSNP%d", c.Dialect(), dialect)
	}
	return c
}

// loginWith logs in with the client library's options, syncs and goes
// online.
func loginWith(t *testing.T, ctx context.Context, n *Node, opts client.Options, email, password string) *client.Client {
	t.Helper()
	c, err := client.Dial(ctx, n.MSNPAddr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, email, password); err != nil {
		t.Fatalf("%v login %s: %v", opts.Versions, email, err)
	}
	if _, err := c.Sync(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.SetStatus(ctx, client.StatusOnline); err != nil {
		t.Fatal(err)
	}
	return c
}

// dialectPair starts a node with HTTPS, signs alice and bob in with one
// dialect and has them chat (see chat).
func dialectPair(t *testing.T, ctx context.Context, dialect int) (alice, bob *client.Client) {
	t.Helper()
	n, hc := aliceBobNode(t)
	alice = loginDialect(t, ctx, n, hc, dialect, "alice@example.com", "pa")
	bob = loginDialect(t, ctx, n, hc, dialect, "bob@example.com", "pb")
	chat(t, ctx, alice, bob)
	return alice, bob
}

// TestMSNPDialectsOverHTTPS runs each of MSNP8–12 with the client library
// against the server over loopback: Passport 1.4 over HTTPS with a CA made
// by the tls ca command's code, lists, presence and a whole conversation
// between two clients of the dialect.
func TestMSNPDialectsOverHTTPS(t *testing.T) {
	for d := 8; d <= 12; d++ {
		t.Run(fmt.Sprintf("MSNP%d", d), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			alice, bob := dialectPair(t, ctx, d)

			if _, err := alice.SetPrivacy(ctx, client.PrivacyBlockAll); err != nil {
				t.Fatalf("BLP: %v", err)
			}
			l, err := alice.Sync(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if l.Privacy != client.PrivacyBlockAll {
				t.Errorf("privacy %q after BLP BL", l.Privacy)
			}
			if len(l.Forward) != 1 || l.Forward[0].Email != "bob@example.com" || l.Forward[0].Friendly != "Bob" {
				t.Fatalf("alice's FL: %+v", l.Forward)
			}
			if (d >= 10) != (l.Forward[0].GUID != "") {
				t.Errorf("contact GUID %q in MSNP%d", l.Forward[0].GUID, d)
			}
			if d >= 10 && alice.Friendly() != "Alice" {
				t.Errorf("PRP MFN gave %q", alice.Friendly())
			}
			if d >= 10 {
				if _, err := alice.Remove(ctx, client.ListForward, l.Forward[0].GUID, -1); err != nil {
					t.Fatalf("REM by GUID: %v", err)
				}
				if rl := next[client.ReverseRemoved](t, ctx, bob.Events()); rl.Email != "alice@example.com" {
					t.Fatalf("bob's RL: %+v", rl)
				}
			}
		})
	}
}

// TestMSNP12TokenService: an MSNP12 login takes its ticket from RST.srf
// over HTTPS, as MSN Messenger 7.5.0160 and later do; a wrong password is
// refused there.
func TestMSNP12TokenService(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, ca := startHTTPSNode(t)
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	// A nexus the certificate does not name: only the token service works.
	opts := client.Options{Versions: []string{"MSNP12"}, Passport: passportClient(t, n, ca), TokenService: passport.DefaultRST,
		Nexus: "https://nexus.invalid/rdr/pprdr.asp"}
	for _, c := range []struct {
		password string
		ok       bool
	}{{"wrong", false}, {"pa", true}} {
		cl, err := client.Dial(ctx, n.MSNPAddr, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		err = cl.Login(ctx, "alice@example.com", c.password)
		var se *client.ServerError
		if c.ok && err != nil || !c.ok && (!errors.As(err, &se) || se.Code != 911) {
			t.Errorf("password %q: %v", c.password, err)
		}
	}
}

// TestPassportSignInRefusals: a wrong password is the login server's 401
// (the token service's fault for MSNP18), which the client reports as
// MSN's 911; a client that does not trust the
// CA cannot sign in at all.
func TestPassportSignInRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, ca := startHTTPSNode(t)
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	// MSNP18's token service refuses it as the MSNP11 login server does.
	for _, v := range []string{"MSNP11", "MSNP18"} {
		c, err := client.Dial(ctx, n.MSNPAddr, client.Options{Versions: []string{v}, Passport: passportClient(t, n, ca)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var se *client.ServerError
		if err := c.Login(ctx, "alice@example.com", "wrong"); !errors.As(err, &se) || se.Code != 911 {
			t.Fatalf("%s, wrong password: %v", v, err)
		}
	}

	other := filepath.Join(t.TempDir(), "other")
	if _, err := tlsca.Make(tlsca.DefaultPaths(other), []string{"unused.example"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	c2, err := client.Dial(ctx, n.MSNPAddr, client.Options{Versions: []string{"MSNP8"}, Passport: passportClient(t, n, tlsca.DefaultPaths(other).CACert)})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	var unknownCA x509.UnknownAuthorityError
	if err := c2.Login(ctx, "alice@example.com", "pa"); !errors.As(err, &unknownCA) {
		t.Fatalf("untrusted certificate: %v", err)
	}
}

// TestMSNP11AndGG: an MSNP11 user's personal message is a GG user's
// status description and the other way round; messages and presence pass
// both ways.
func TestMSNP11AndGG(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, ca := startHTTPSNode(t)
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n, 2001, "gary@example.com", "Gary", "pg")
	alice := loginDialect(t, ctx, n, passportClient(t, n, ca), 11, "alice@example.com", "pa")
	if _, err := alice.Add(ctx, client.ListForward, "gary@example.com", "Gary", 0); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetPersonalMessage(ctx, "na rybach", ""); err != nil {
		t.Fatal(err)
	}
	gary := loginGG(t, ctx, n.GGAddr, 2001, "pg", wire.StatusAvailDescr, "w pracy", 1001)
	st := nextGGStatus(t, ctx, gary, 1001, wire.StatusAvailDescr)
	if st.Description != "na rybach" {
		t.Errorf("gary sees alice's description %q", st.Description)
	}
	nextPresence(t, ctx, alice, "gary@example.com", client.StatusOnline)
	if ps := next[client.PersonalStatus](t, ctx, alice.Events()); ps.Email != "gary@example.com" || ps.PSM != "w pracy" {
		t.Fatalf("alice sees gary's personal status %+v", ps)
	}
	// What alice plays is gary's description when she has no message.
	if err := alice.SetPersonalMessage(ctx, "", `\0Music\01\0{0} - {1}\0Song\0Band\0\0`); err != nil {
		t.Fatal(err)
	}
	for st := nextGG[ggclient.Status](t, ctx, gary); st.Description != "Song - Band"; st = nextGG[ggclient.Status](t, ctx, gary) {
		if st.UIN != 1001 {
			t.Fatalf("gary got %+v", st)
		}
	}

	asb := call(ctx, t, alice, "gary@example.com")
	if j := next[client.Joined](t, ctx, asb.Events()); j.Email != "gary@example.com" {
		t.Fatalf("joined %+v", j)
	}
	if err := asb.SendText(ctx, "cześć Gary"); err != nil {
		t.Fatal(err)
	}
	if m := nextGG[ggclient.Message](t, ctx, gary); m.From != 1001 || m.Text != "cześć Gary" {
		t.Fatalf("gary got %+v", m)
	}
	if _, err := gary.SendMessage(ctx, 1001, "cześć Alice"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, ctx, asb.Events()); m.From != "gary@example.com" || m.Text != "cześć Alice" {
		t.Fatalf("alice got %+v", m)
	}
	if err := gary.SetStatus(ctx, wire.StatusBusyDescr, "zajęty"); err != nil {
		t.Fatal(err)
	}
	nextPresence(t, ctx, alice, "gary@example.com", client.StatusAway)
	if ps := next[client.PersonalStatus](t, ctx, alice.Events()); ps.PSM != "zajęty" {
		t.Fatalf("alice sees %+v", ps)
	}
}

// TestMSNP11AndMSNP5: an MSN 7 client and an MSN 3 client see each other
// and chat, each in its own dialect's forms.
func TestMSNP11AndMSNP5(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, ca := startHTTPSNode(t)
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n, 1003, "carol@example.com", "Carol", "pc")
	alice := loginDialect(t, ctx, n, passportClient(t, n, ca), 11, "alice@example.com", "pa")
	carol := loginDialect(t, ctx, n, nil, 5, "carol@example.com", "pc")
	if _, err := carol.Add(ctx, client.ListForward, "alice@example.com", "Alice", -1); err != nil {
		t.Fatal(err)
	}
	if p := next[client.Presence](t, ctx, carol.Events()); p.Email != "alice@example.com" || p.Status != client.StatusOnline || p.Capabilities != "" {
		t.Fatalf("carol sees %+v", p)
	}
	if rl := next[client.ReverseAdded](t, ctx, alice.Events()); rl.Email != "carol@example.com" {
		t.Fatalf("alice's RL: %+v", rl)
	}
	if _, err := alice.Add(ctx, client.ListForward, "carol@example.com", "Carol", 0); err != nil {
		t.Fatal(err)
	}
	if p := next[client.Presence](t, ctx, alice.Events()); p.Email != "carol@example.com" || p.Capabilities != "0" {
		t.Fatalf("alice sees %+v", p)
	}
	if err := alice.SetStatus(ctx, client.StatusAway); err != nil {
		t.Fatal(err)
	}
	nextPresence(t, ctx, carol, "alice@example.com", client.StatusAway)

	csb := call(ctx, t, carol, "alice@example.com")
	asb, err := alice.Answer(ctx, next[client.Ring](t, ctx, alice.Events()))
	if err != nil {
		t.Fatal(err)
	}
	defer asb.Leave()
	next[client.Joined](t, ctx, csb.Events())
	if err := csb.SendText(ctx, "hello from MSN 3"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, ctx, asb.Events()); m.Text != "hello from MSN 3" || m.From != "carol@example.com" {
		t.Fatalf("alice got %+v", m)
	}
	if err := asb.SendText(ctx, "hello from MSN 7"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, ctx, csb.Events()); m.Text != "hello from MSN 7" {
		t.Fatalf("carol got %+v", m)
	}
}

// TestPassportLogsHoldNoSecrets: with the MSN wire dump on and the client
// library logging at debug level, neither the password nor the Passport
// ticket of an MSNP11 login reaches a log, nor the nonce, ticket and proof
// of an MSNP18 single sign-on.
func TestPassportLogsHoldNoSecrets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var logs testenv.LogBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: msnpserver.LevelTrace}))
	dir := t.TempDir()
	p := tlsca.DefaultPaths(filepath.Join(dir, "tls"))
	if _, err := tlsca.Make(p, tlsca.MSNHostNames, time.Now()); err != nil {
		t.Fatal(err)
	}
	n := startNodeWith(t, Options{DataDir: dir, Logger: logger, MSNP: msnpserver.Config{Trace: true},
		HTTPSAddr: "127.0.0.1:0", TLSCert: p.Cert, TLSKey: p.Key})
	password := "pw-" + rand.Text()
	addAccount(t, n, 1001, "alice@example.com", "Alice", password)
	hc := passportClient(t, n, p.CACert)

	// A sign-in of our own, to know a ticket to look for.
	ticket, err := passport.SignIn(ctx, hc, passport.DefaultNexus, "alice@example.com", password, "lc=1033,id=507")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(ctx, n.MSNPAddr, client.Options{Versions: []string{"MSNP11"}, Passport: hc, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(ctx, "alice@example.com", "wrong-"+password); err == nil {
		t.Fatal("wrong password accepted")
	}
	c.Close()
	c = loginDialect(t, ctx, n, hc, 11, "alice@example.com", password)
	raw := dialLines(t, n.MSNPAddr)
	raw.send("VER 1 MSNP11 CVR0\r\nUSR 2 TWN I alice@example.com\r\n")
	raw.expectPrefix("VER 1 MSNP11")
	raw.expectPrefix("USR 2 TWN S ")
	raw.send("USR 3 TWN S " + ticket + "\r\n")
	raw.expectPrefix("USR 3 OK alice@example.com")

	// MSNP18: the nonce, the ticket and the proof of single sign-on.
	loginWith(t, ctx, n, client.Options{Versions: []string{"MSNP18"}, Passport: hc, Logger: logger}, "alice@example.com", password)

	got := logs.String()
	for _, dump := range []string{"TWN S [redacted]", "msnp send", "SSO S MBI_KEY_OLD [redacted]", "SSO S [redacted] [redacted]"} {
		if !strings.Contains(got, dump) {
			t.Fatalf("no %q in the log; the test would prove nothing:\n%s", dump, got)
		}
	}
	// Every MBI proof starts with the same header, base64 "HAAAAAEAAAADZgAA".
	for what, secret := range map[string]string{"password": password, "ticket": passport.Token(ticket), "proof": "HAAAAAEAAAADZgAA", "SSO ticket": "SSO S t="} {
		if strings.Contains(got, secret) {
			t.Errorf("the %s is in the log", what)
		}
	}
}

// lineConn reads an MSNP server's lines for tests that script a session.
type lineConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialLines(t *testing.T, addr string) *lineConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &lineConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *lineConn) send(s string) {
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatal(err)
	}
}

func (c *lineConn) expectPrefix(prefix string) {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := c.br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, prefix) {
		c.t.Fatalf("got %q (%v), want %s…", line, err, prefix)
	}
}

// httpsNodePair starts two nodes on one bus, the first with HTTPS (a CA
// made by the tls ca command's code), with the accounts alice (pa) and
// bob (pb); hc reaches the first node's HTTPS service.
func httpsNodePair(t *testing.T) (n1, n2 *Node, hc *http.Client) {
	t.Helper()
	dir := t.TempDir()
	p := tlsca.DefaultPaths(filepath.Join(dir, "tls"))
	if _, err := tlsca.Make(p, tlsca.MSNHostNames, time.Now()); err != nil {
		t.Fatal(err)
	}
	nats := testenv.NATS(t)
	n1 = startNodeWith(t, Options{DataDir: dir, NatsURL: nats, HTTPSAddr: "127.0.0.1:0", TLSCert: p.Cert, TLSKey: p.Key})
	n2 = startNodeWith(t, Options{DataDir: dir, NatsURL: nats})
	addAccount(t, n1, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n1, 1002, "bob@example.com", "Bob", "pb")
	return n1, n2, passportClient(t, n1, p.CACert)
}

// TestMSNPExtrasAcrossNodes: two nodes on one bus. Bob signs in at the
// first node's Passport and logs in to the second with that ticket; what
// alice's MSN 7 client says about itself on the first node (capabilities,
// display picture, personal message) reaches him there with her presence.
func TestMSNPExtrasAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n1, n2, hc := httpsNodePair(t)
	alice := loginDialect(t, ctx, n1, hc, 11, "alice@example.com", "pa")
	bob := loginDialect(t, ctx, n2, hc, 12, "bob@example.com", "pb")

	const obj = "%3Cmsnobj%20Creator%3D%22alice%40example.com%22%20Size%3D%2222731%22%20Type%3D%223%22%20Location%3D%22TFR2C.tmp%22%20Friendly%3D%22AAA%3D%22%2F%3E"
	if err := alice.SetPersonalMessage(ctx, "gone fishing", ""); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetStatusObject(ctx, client.StatusBusy, obj); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Add(ctx, client.ListForward, "alice@example.com", "Alice", 0); err != nil {
		t.Fatal(err)
	}
	pr := next[client.Presence](t, ctx, bob.Events())
	if pr.Email != "alice@example.com" || pr.Status != client.StatusBusy || pr.MSNObject != obj || pr.Capabilities != fmt.Sprint(11<<24) {
		t.Fatalf("bob sees %+v", pr)
	}
	if ps := next[client.PersonalStatus](t, ctx, bob.Events()); ps.Email != "alice@example.com" || ps.PSM != "gone fishing" {
		t.Fatalf("bob sees alice's personal status %+v", ps)
	}
	if err := alice.SetStatusObject(ctx, client.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	for pr.Status != client.StatusOnline {
		pr = next[client.Presence](t, ctx, bob.Events())
	}
	if pr.MSNObject != "" {
		t.Errorf("the picture stayed after alice took it away: %+v", pr)
	}
}

// TestHTTPErrorsInNodeLog: the HTTP service's own complaints, such as a
// stranger's failed TLS handshake, reach the node's structured log.
func TestHTTPErrorsInNodeLog(t *testing.T) {
	var logs testenv.LogBuffer
	o, _ := httpsOptions(t)
	o.DataDir = t.TempDir()
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	n := startNodeWith(t, o)
	c, err := net.Dial("tcp", n.HTTPSAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte{0, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	// The server logs before it closes the connection.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatal(err)
	}
	if got := logs.String(); !strings.Contains(got, "TLS handshake error") || !strings.Contains(got, "listener=http") {
		t.Fatalf("node log:\n%s", got)
	}
}
