package server

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/sip/ntlm"
	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// Transcripts in testdata/*.txt are exchanges recorded from real clients
// (pidgin-sipe, by sip/interop's TestPidginSipeTranscript), replayed here
// against a live server over loopback. The format:
//
//	account EMAIL NUMBER PASSWORD NAME        create an account
//	follow OWNER CONTACT                      put CONTACT on OWNER's forward list
//	hub N STATUS TEXT                         N, attached to the hub directly, sets a status
//	hub N message M TEXT                      N sends M a message through the hub
//	hub N expect presence M STATUS [TEXT]     N is told M's presence
//	hub N expect message M TEXT               N gets M's message
//	>>> client                                a message the client sends (lines below)
//	<<< server                                a message the server must send
//
// A message runs to the blank line before the next step. In server
// messages {sN} captures a value the server made up (a tag, the opaque
// value, a Call-ID), or must equal it once captured; {*} matches anything
// that changes with every message (signatures, branches, times); {server}
// is the server's address. Client messages get captured values
// substituted; {authenticate} is the client's NTLM AUTHENTICATE for the
// challenge captured last, computed with the account's password, and
// {crand}, {cnum} and {response} are the signature of the message, made
// with the keys it gave. Every signed server message is verified with
// them. Server messages may come in another order than recorded (events
// and answers race): each one received must match one still expected.
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

type scriptStep struct {
	line  int
	hub   string // a hub step, or
	dir   string // "client" or "server", with
	lines []string
}

func parseTranscript(t *testing.T, path string) []scriptStep {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []scriptStep
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur *scriptStep
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case line == ">>> client" || line == "<<< server":
			steps = append(steps, scriptStep{line: n, dir: line[4:]})
			cur = &steps[len(steps)-1]
		case cur == nil && (line == "" || strings.HasPrefix(line, "#")):
		case strings.HasPrefix(line, "hub ") || cur == nil:
			steps = append(steps, scriptStep{line: n, hub: line})
			cur = nil
		default:
			cur.lines = append(cur.lines, line)
		}
	}
	for i := range steps {
		// The blank line before the next step is not the message's.
		if l := steps[i].lines; len(l) > 0 && l[len(l)-1] == "" {
			steps[i].lines = l[:len(l)-1]
		}
	}
	return steps
}

type replay struct {
	t        *testing.T
	env      *testEnv
	nc       net.Conn
	rd       *wire.Reader
	vars     map[string]string
	accounts map[string]hub.Account // by number
	password map[string]string      // by e-mail
	sessions map[string]*testenv.Peer
	keys     *ntlm.Session
	cnum     int
	done     map[int]bool // server steps matched ahead of their turn
}

func runTranscript(t *testing.T, path string) {
	env := newTestEnv(t, nil)
	r := &replay{t: t, env: env, vars: map[string]string{}, accounts: map[string]hub.Account{},
		password: map[string]string{}, sessions: map[string]*testenv.Peer{}, done: map[int]bool{}}
	steps := parseTranscript(t, path)
	ctx := testCtx(t)
	for i, s := range steps {
		switch {
		case s.hub != "":
			r.hubStep(ctx, s)
		case s.dir == "client":
			r.send(s)
		case !r.done[i]:
			r.expect(steps, i)
		}
	}
}

func (r *replay) connect() {
	if r.nc != nil {
		return
	}
	nc, err := net.DialTimeout("tcp", r.env.addr, 5*time.Second)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { nc.Close() })
	r.nc, r.rd = nc, wire.NewReader(nc, wire.Limits{})
	r.vars["server"] = r.env.addr
}

func (r *replay) hubStep(ctx context.Context, s scriptStep) {
	t := r.t
	f := strings.Fields(s.hub)
	rest := func(from int) string { return strings.Join(f[from:], " ") }
	switch {
	case f[0] == "account" && len(f) >= 5:
		n, _ := strconv.ParseUint(f[2], 10, 32)
		a, err := r.env.store.CreateAccount(ctx, hub.Account{Number: uint32(n), Email: f[1], DisplayName: rest(4)}, f[3])
		if err != nil {
			t.Fatalf("line %d: %v", s.line, err)
		}
		r.accounts[f[2]], r.password[f[1]] = a, f[3]
	case f[0] == "follow" && len(f) == 3:
		r.env.follow(t, r.accounts[f[1]].Number, r.accounts[f[2]].Number)
	case f[0] == "hub" && len(f) >= 4 && f[2] == "message":
		if _, err := r.env.hub.SendMessage(ctx, r.accounts[f[1]], r.accounts[f[3]].Number, hub.Message{Text: rest(4)}, ""); err != nil {
			t.Fatalf("line %d: %v", s.line, err)
		}
	case f[0] == "hub" && len(f) >= 5 && f[2] == "expect":
		from := r.accounts[f[4]].Number
		kind, want := hub.EventKind(f[3]), rest(5)
		r.sessions[f[1]].Wait(t, ctx, kind, func(ev hub.Event) bool {
			if ev.From.Number != from {
				return false
			}
			if kind == hub.EventMessage {
				return ev.Message.Text == want
			}
			st, text, _ := strings.Cut(want, " ")
			return string(ev.Status) == st && ev.Text == text
		})
	case f[0] == "hub" && len(f) >= 3:
		s := r.sessions[f[1]]
		if s == nil {
			s = r.env.hubSession(t, r.accounts[f[1]], hub.Status(f[2]), rest(3))
			r.sessions[f[1]] = s
			return
		}
		if err := s.SetPresence(ctx, hub.Status(f[2]), rest(3)); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("line %d: bad step %q", s.line, s.hub)
	}
}

var placeholder = regexp.MustCompile(`\{[a-z0-9*]+\}`)

// send plays a client message: captured values in, the AUTHENTICATE and
// the signature computed.
func (r *replay) send(s scriptStep) {
	t := r.t
	r.connect()
	text := strings.Join(s.lines, "\n")
	if strings.Contains(text, "{authenticate}") {
		r.authenticate(s, text)
	}
	text = placeholder.ReplaceAllStringFunc(text, func(p string) string {
		switch p {
		case "{authenticate}":
			return r.vars["authenticate"]
		case "{crand}":
			return "c0ffee01"
		case "{cnum}":
			r.cnum++
			return strconv.Itoa(r.cnum)
		case "{response}":
			return "{response}" // below, once the message is whole
		}
		v, ok := r.vars[p[1:len(p)-1]]
		if !ok {
			t.Fatalf("line %d: %s not captured yet", s.line, p)
		}
		return v
	})
	m := parseMessage(t, s.line, text)
	if authz := m.Get(wire.HeaderAuthorization); strings.Contains(authz, "{response}") {
		_, p := wire.AuthParams(authz)
		buf := wire.SignatureBuffer(m, wire.SignatureAuth{Protocol: "NTLM", Rand: p["crand"], Num: p["cnum"], Realm: p["realm"], TargetName: p["targetname"]})
		m.Set(wire.HeaderAuthorization, strings.Replace(authz, "{response}", r.keys.SignSIP(buf), 1))
	}
	enc, err := m.Encode()
	if err != nil {
		t.Fatalf("line %d: %v", s.line, err)
	}
	if _, err := r.nc.Write(enc); err != nil {
		t.Fatalf("line %d: %v", s.line, err)
	}
}

// authenticate answers the challenge captured last for the account in the
// message's From, as the client did with its password.
func (r *replay) authenticate(s scriptStep, text string) {
	t := r.t
	challenge := ""
	for _, v := range r.vars {
		if strings.HasPrefix(v, "TlRMTVNTUAAC") { // base64 of "NTLMSSP\0", type 2
			challenge = v
		}
	}
	raw, err := base64.StdEncoding.DecodeString(challenge)
	if err != nil {
		t.Fatalf("line %d: no challenge captured: %v", s.line, err)
	}
	c, err := ntlm.ParseChallenge(raw)
	if err != nil {
		t.Fatal(err)
	}
	email := wire.URIUser(wire.AddressURI(headerLine(text, "From")))
	a, keys, err := ntlm.Respond(c, ntlm.Credentials{User: email, Password: r.password[email], Workstation: "HOST"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r.vars["authenticate"], r.keys, r.cnum = base64.StdEncoding.EncodeToString(a.Marshal()), keys, 0
}

func headerLine(text, name string) string {
	for line := range strings.SplitSeq(text, "\n") {
		if n, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(n, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// parseMessage reads a message of the transcript (LF line ends, the body
// after the blank line).
func parseMessage(t *testing.T, line int, text string) *wire.Message {
	t.Helper()
	head, body, _ := strings.Cut(text, "\n\n")
	var b strings.Builder
	for l := range strings.SplitSeq(head, "\n") {
		if n, _, _ := strings.Cut(l, ":"); !strings.EqualFold(n, wire.HeaderContentLength) {
			b.WriteString(l + "\r\n")
		}
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	m, err := wire.NewReader(strings.NewReader(b.String()), wire.Limits{}).ReadMessage()
	if err != nil {
		t.Fatalf("line %d: %v", line, err)
	}
	return m
}

// expect reads server messages until the one of step i came; those that
// match server steps further on are taken for them.
func (r *replay) expect(steps []scriptStep, i int) {
	t := r.t
	r.connect()
	for {
		_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, err := r.rd.ReadMessage()
		if err != nil {
			t.Fatalf("line %d: waiting for %q: %v", steps[i].line, steps[i].lines[0], err)
		}
		if m == nil {
			continue // a keep-alive answered
		}
		if _, signed := m.Lookup(wire.HeaderAuthenticationInfo); signed {
			_, p := wire.AuthParams(m.Get(wire.HeaderAuthenticationInfo))
			buf := wire.SignatureBuffer(m, wire.SignatureAuth{Protocol: "NTLM", Rand: p["srand"], Num: p["snum"], Realm: p["realm"], TargetName: p["targetname"]})
			if r.keys == nil || !r.keys.VerifySIP(buf, p["rspauth"]) {
				t.Fatalf("line %d: bad signature on %s", steps[i].line, m.LogString())
			}
		}
		matched := -1
		for j := i; j < len(steps) && matched < 0; j++ {
			if steps[j].dir != "server" || r.done[j] {
				continue
			}
			if captured, ok := r.match(steps[j], m); ok {
				for k, v := range captured {
					r.vars[k] = v
				}
				r.done[j], matched = true, j
			}
		}
		switch matched {
		case -1:
			t.Fatalf("line %d: unexpected %s", steps[i].line, m.LogString())
		case i:
			return
		}
	}
}

// match compares a received message with an expected one and returns the
// values it captures. The transcript keeps no line end after a body.
func (r *replay) match(s scriptStep, m *wire.Message) (map[string]string, bool) {
	want := parseMessage(r.t, s.line, strings.Join(s.lines, "\n"))
	captured := map[string]string{}
	if want.Method != m.Method || want.StatusCode != m.StatusCode || len(want.Headers) != len(m.Headers) {
		return nil, false
	}
	pairs := [][2]string{{want.RequestURI, m.RequestURI}, {want.Reason, m.Reason}, {string(want.Body), strings.TrimRight(strings.ReplaceAll(string(m.Body), "\r\n", "\n"), "\n")}}
	for k, h := range want.Headers {
		if !strings.EqualFold(h.Name, m.Headers[k].Name) {
			return nil, false
		}
		pairs = append(pairs, [2]string{h.Value, m.Headers[k].Value})
	}
	for _, p := range pairs {
		if !r.matchValue(p[0], p[1], captured) {
			return nil, false
		}
	}
	return captured, true
}

func (r *replay) matchValue(pattern, got string, captured map[string]string) bool {
	var re strings.Builder
	re.WriteString("^")
	var names []string
	last := 0
	for _, loc := range placeholder.FindAllStringIndex(pattern, -1) {
		re.WriteString(regexp.QuoteMeta(pattern[last:loc[0]]))
		name := pattern[loc[0]+1 : loc[1]-1]
		v, known := r.vars[name]
		if !known {
			v, known = captured[name]
		}
		switch {
		case name == "*":
			re.WriteString("(?s:.*?)")
		case known:
			re.WriteString(regexp.QuoteMeta(v))
		default:
			re.WriteString(`([^\s;,"<>]+)`)
			names = append(names, name)
		}
		last = loc[1]
	}
	re.WriteString(regexp.QuoteMeta(pattern[last:]) + "$")
	sub := regexp.MustCompile(re.String()).FindStringSubmatch(got)
	if sub == nil {
		return false
	}
	for k, name := range names {
		captured[name] = sub[k+1]
	}
	return true
}
