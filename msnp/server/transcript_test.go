package server

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/abch"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// Transcripts in testdata/*.txt replay protocol exchanges line by line
// against a live server over loopback. The format:
//
//	account EMAIL NUMBER PASSWORD NAME     create an account before the run
//	passport EMAIL PASSWORD POLICY TICKET  sign in at the Passport 1.4 login
//	                                       server over loopback HTTP with the
//	                                       policy in variable POLICY; the
//	                                       ticket goes into variable TICKET;
//	                                       TICKET "-" expects a refusal
//	rst EMAIL PASSWORD TICKET              ask the token service (RST.srf)
//	                                       over loopback HTTP for the
//	                                       messengerclear.live.com and
//	                                       contacts.msn.com tickets; the
//	                                       first goes into TICKET, its proof
//	                                       key into TICKET.key; TICKET "-"
//	                                       expects a refusal
//	soap TICKET OP ARG…                    call the address book services
//	                                       with the ticket: ABContactAdd
//	                                       EMAIL, AddMember ROLE EMAIL;
//	                                       FindMembership ROLE EMAIL…
//	                                       expects exactly those members
//	other EMAIL TO TEXT                    EMAIL, online through another
//	                                       protocol (attached at its first
//	                                       use), sends TEXT to TO
//	set NAME VALUE                         define a variable
//	CONN connect ns|sb|{var}               open a connection
//	CONN> LINE                             send a command line
//	CONN| TEXT                             add a payload line to the command
//	                                       above; its length is appended
//	CONN< LINE                             expect the next line from CONN
//	CONN<+ TEXT                            the last payload received contains
//	                                       TEXT (in which \r\n is a line end)
//	CONN<xml                               the last payload received is one
//	                                       well-formed XML document, as .NET's
//	                                       XmlDocument loads it (MSNPSharp)
//	CONN closed                            expect the server to close CONN
//
// In expected lines `*` matches any one token and `{name}` captures a token
// into a variable, or must equal it when already set; inside a longer
// token (C={guid}) it stands for the variable's value. In sent lines
// `{name}` substitutes a variable (other braces stay as they are) and `{md5 VAR TEXT}` is the lowercase hex
// MD5 of the variable's value followed by TEXT (the MSNP login response);
// `{qry11 VAR PRODUCT}` is the MSNP11 challenge answer to the challenge in
// VAR with the product id that starts with PRODUCT (ids contain braces);
// `{mbi TICKET NONCE}` is the MSNP15 SSO proof of the nonce in variable
// NONCE made with TICKET's proof key.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			runTranscript(t, f)
		})
	}
}

type transcript struct {
	t     *testing.T
	env   *testEnv
	login *httptest.Server // the Passport login server, once needed
	abch  *httptest.Server // the address book services, once needed
	vars  map[string]string
	// others are the accounts attached through another protocol.
	others map[uint32]bool
	conns  map[string]*scriptConn
}

type scriptConn struct {
	nc          net.Conn
	rd          *wire.Reader
	lastPayload []byte
	pending     *pendingCommand
}

type pendingCommand struct {
	line    string
	payload []string
}

func runTranscript(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tweak := func(c *Config) {
		c.Challenge = strings.Contains(string(data), "# option: challenge")
		if strings.Contains(string(data), "# option: dispatch") {
			c.NotificationAddr = "127.0.0.1:9"
		}
	}
	tr := &transcript{t: t, env: newTestEnv(t, tweak), vars: map[string]string{}, conns: map[string]*scriptConn{}}
	tr.vars["nsaddr"] = tr.env.nsAddr
	tr.vars["sbaddr"] = tr.env.sbAddr
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := tr.step(line); err != nil {
			t.Fatalf("%s:%d: %s\n\t%v", filepath.Base(path), i+1, line, err)
		}
	}
	for name, c := range tr.conns {
		if err := tr.flush(c); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c.nc.Close()
	}
}

var stepPattern = regexp.MustCompile(`^(\w+)(>|\||<\+|<xml|<| connect| closed)\s?(.*)$`)

func (tr *transcript) step(line string) error {
	if rest, ok := strings.CutPrefix(line, "account "); ok {
		f := strings.SplitN(rest, " ", 4)
		if len(f) != 4 {
			return errors.New("account needs EMAIL NUMBER PASSWORD NAME")
		}
		n, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil {
			return err
		}
		tr.env.addAccount(tr.t, uint32(n), f[0], f[3], f[2])
		return nil
	}
	if rest, ok := strings.CutPrefix(line, "passport "); ok {
		f := strings.Fields(rest)
		if len(f) != 4 {
			return errors.New("passport needs EMAIL PASSWORD POLICY TICKET")
		}
		ticket, err := tr.signIn(f[0], f[1], tr.vars[f[2]])
		if f[3] == "-" {
			if !errors.Is(err, passport.ErrRefused) {
				return fmt.Errorf("sign-in not refused: %v", err)
			}
			return nil
		}
		tr.vars[f[3]] = ticket
		return err
	}
	if rest, ok := strings.CutPrefix(line, "rst "); ok {
		f := strings.Fields(rest)
		if len(f) != 3 {
			return errors.New("rst needs EMAIL PASSWORD TICKET")
		}
		tokens, err := tr.requestTokens(f[0], f[1])
		if f[2] == "-" {
			if !errors.Is(err, passport.ErrRefused) {
				return fmt.Errorf("token request not refused: %v", err)
			}
			return nil
		}
		if err != nil {
			return err
		}
		tr.vars[f[2]] = tokens.Tickets[passport.MessengerClear]
		tr.vars[f[2]+".key"] = string(tokens.Proofs[passport.MessengerClear])
		return nil
	}
	if rest, ok := strings.CutPrefix(line, "soap "); ok {
		return tr.soap(strings.Fields(rest))
	}
	if rest, ok := strings.CutPrefix(line, "other "); ok {
		return tr.other(strings.SplitN(rest, " ", 3))
	}
	if rest, ok := strings.CutPrefix(line, "set "); ok {
		name, value, _ := strings.Cut(rest, " ")
		tr.vars[name] = value
		return nil
	}
	m := stepPattern.FindStringSubmatch(line)
	if m == nil {
		return errors.New("unrecognised step")
	}
	name, op, arg := m[1], m[2], m[3]
	if op != "|" {
		for _, c := range tr.conns {
			if err := tr.flush(c); err != nil {
				return err
			}
		}
	}
	if op == " connect" {
		return tr.connect(name, arg)
	}
	c := tr.conns[name]
	if c == nil {
		return fmt.Errorf("no connection %q", name)
	}
	switch op {
	case ">":
		c.pending = &pendingCommand{line: tr.substitute(arg)}
	case "|":
		if c.pending == nil {
			return errors.New("payload line without a command")
		}
		c.pending.payload = append(c.pending.payload, tr.substitute(arg))
	case "<":
		return tr.expect(c, arg)
	case "<+":
		if !strings.Contains(string(c.lastPayload), strings.ReplaceAll(arg, `\r\n`, "\r\n")) {
			return fmt.Errorf("last payload %q does not contain %q", c.lastPayload, arg)
		}
	case "<xml":
		return wellFormedXML(c.lastPayload)
	case " closed":
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			cmd, err := c.rd.ReadCommand()
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
				return nil
			}
			if err != nil && !errors.Is(err, wire.ErrEmptyLine) {
				return fmt.Errorf("waiting for close: %v", err)
			}
			if err == nil {
				return fmt.Errorf("expected close, got %q", cmd)
			}
		}
	}
	return nil
}

// wellFormedXML checks what encoding/xml lets pass but .NET's XmlDocument
// refuses: exactly one root element, and an XML declaration only at the
// very start.
func wellFormedXML(doc []byte) error {
	d := xml.NewDecoder(bytes.NewReader(doc))
	depth, roots := 0, 0
	for {
		offset := d.InputOffset()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("payload %q: %v", doc, err)
		}
		switch tok := tok.(type) {
		case xml.ProcInst:
			if tok.Target == "xml" && offset != 0 {
				return fmt.Errorf("payload %q: XML declaration at byte %d", doc, offset)
			}
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 {
		return fmt.Errorf("payload %q: %d root elements", doc, roots)
	}
	return nil
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func (tr *transcript) connect(name, target string) error {
	addr := map[string]string{"ns": tr.env.nsAddr, "sb": tr.env.sbAddr}[target]
	if addr == "" {
		addr = tr.substitute(target)
	}
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	tr.conns[name] = &scriptConn{nc: nc, rd: wire.NewReader(nc, wire.Limits{MaxLine: 4096, MaxPayload: 65536}, "MSG", "UBX", "GCF", "ADL", "RML", "FQY", "UBN", "NOT")}
	return nil
}

// flush sends a pending command with its payload.
func (tr *transcript) flush(c *scriptConn) error {
	p := c.pending
	if p == nil {
		return nil
	}
	c.pending = nil
	var out []byte
	if p.payload != nil {
		body := []byte(strings.Join(p.payload, "\r\n"))
		f := strings.Fields(p.line)
		out = wire.AppendPayloadCommand(nil, f[0], body, f[1:]...)
	} else {
		out = []byte(p.line + "\r\n")
	}
	_, err := c.nc.Write(out)
	return err
}

var placeholder = regexp.MustCompile(`\{([^{}]+)\}`)

func (tr *transcript) substitute(s string) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		f := strings.Fields(m[1 : len(m)-1])
		if len(f) == 3 && f[0] == "md5" {
			sum := md5.Sum([]byte(tr.vars[f[1]] + f[2]))
			return hex.EncodeToString(sum[:])
		}
		if len(f) == 3 && f[0] == "qry11" {
			for id, key := range wire.ProductKeys {
				if strings.HasPrefix(id, f[2]) {
					return wire.ChallengeAnswer(11, tr.vars[f[1]], id, key)
				}
			}
		}
		if len(f) == 3 && f[0] == "mbi" {
			proof, err := passport.MBIResponse([]byte(tr.vars[f[1]+".key"]), tr.vars[f[2]])
			if err != nil {
				tr.t.Fatal(err)
			}
			return proof
		}
		if v, ok := tr.vars[f[0]]; ok && len(f) == 1 {
			return v
		}
		return m // literal braces, such as an application GUID
	})
}

func (tr *transcript) expect(c *scriptConn, pattern string) error {
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var cmd wire.Command
	var err error
	for {
		cmd, err = c.rd.ReadCommand()
		if !errors.Is(err, wire.ErrEmptyLine) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("expected %q: %v", pattern, err)
	}
	c.lastPayload = cmd.Payload
	got := strings.Fields(cmd.String())
	want := strings.Fields(pattern)
	if len(got) != len(want) {
		return fmt.Errorf("got %q", cmd.String())
	}
	captured := map[string]string{}
	for i, w := range want {
		switch {
		case w == "*":
		case placeholder.MatchString(w) && placeholder.FindString(w) == w:
			name := w[1 : len(w)-1]
			if v, ok := tr.vars[name]; ok {
				if v != got[i] {
					return fmt.Errorf("got %q: %s is %q, not %q", cmd.String(), name, got[i], v)
				}
			} else {
				captured[name] = got[i]
			}
		case tr.substitute(w) != got[i]:
			return fmt.Errorf("got %q", cmd.String())
		}
	}
	for k, v := range captured {
		tr.vars[k] = v
	}
	return nil
}

// signIn runs the client side of Passport 1.4 against the server's
// PassportHandler on a loopback HTTP server, started at the first use.
func (tr *transcript) signIn(email, password, policy string) (string, error) {
	if tr.login == nil {
		tr.login = httptest.NewServer(tr.env.srv.PassportHandler())
		tr.t.Cleanup(tr.login.Close)
	}
	return passportSignIn(tr.login, email, password, policy)
}

// requestTokens asks the server's token service, on the loopback HTTP
// server of signIn, for the tickets an MSNP15 client asks for first.
func (tr *transcript) requestTokens(email, password string) (passport.TokenResponse, error) {
	if tr.login == nil {
		tr.login = httptest.NewServer(tr.env.srv.PassportHandler())
		tr.t.Cleanup(tr.login.Close)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return passport.RequestTokens(ctx, tr.login.Client(), tr.login.URL+passport.RSTPaths[0], email, password, []passport.RequestedToken{
		{Address: passport.MessengerClear, Policy: ssoPolicy}, {Address: "contacts.msn.com", Policy: "MBI"},
	})
}

// soap runs a transcript's call of the address book services.
// other sends a message from an account online through another protocol.
func (tr *transcript) other(f []string) error {
	if len(f) < 3 {
		return errors.New("other needs EMAIL TO TEXT")
	}
	ctx := context.Background()
	from, err := tr.env.hub.Store().AccountByEmail(ctx, f[0])
	if err != nil {
		return err
	}
	to, err := tr.env.hub.Store().AccountByEmail(ctx, f[1])
	if err != nil {
		return err
	}
	if tr.others == nil {
		tr.others = map[uint32]bool{}
	}
	if !tr.others[from.Number] {
		attachOther(tr.t, tr.env, from)
		tr.others[from.Number] = true
	}
	_, err = tr.env.hub.SendMessage(ctx, from, to.Number, hub.Message{Text: f[2]}, "")
	return err
}

func (tr *transcript) soap(f []string) error {
	if len(f) < 2 {
		return errors.New("soap needs TICKET OP")
	}
	if tr.abch == nil {
		tr.abch = httptest.NewServer(tr.env.srv.AddressBookHandler())
		tr.t.Cleanup(tr.abch.Close)
	}
	c := abClient{t: tr.t, srv: tr.abch, ticket: tr.vars[f[0]]}
	var args []string
	switch {
	case f[1] == "ABContactAdd" && len(f) == 3:
		args = []string{abch.ContactArg("", f[2])}
	case f[1] == "AddMember" && len(f) == 4:
		args = []string{abch.MemberArg(f[2], f[3])}
	case f[1] == "FindMembership" && len(f) >= 3:
		book, _, err := c.call(f[1], abch.FullViewArg)
		if got := members(book, f[2]); err == nil && !slices.Equal(got, f[3:]) {
			err = fmt.Errorf("%s members %q, want %q", f[2], got, f[3:])
		}
		return err
	default:
		return errors.New("soap: unknown call")
	}
	_, _, err := c.call(f[1], args...)
	return err
}

// passportSignIn signs in at login, which stands for both
// nexus.passport.com and login.passport.com.
func passportSignIn(login *httptest.Server, email, password, policy string) (string, error) {
	hc := &http.Client{Transport: toServer{login.Listener.Addr().String()}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return passport.SignIn(ctx, hc, "http://nexus.passport.com"+passport.NexusPath, email, password, policy)
}

// toServer sends every request to one address over plain HTTP, as a
// hosts file pointing the Passport names at it would.
type toServer struct{ addr string }

func (t toServer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = "http", t.addr
	return http.DefaultTransport.RoundTrip(req)
}
