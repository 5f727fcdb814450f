package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/node"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(offstack.WorkerFunction), goleak.IgnoreAnyFunction(offstack.PollerFunction))
}

// env is a node with its web service, and what its tests need.
type env struct {
	t    *testing.T
	n    *node.Node
	base string // http://127.0.0.1:port
	logs *testenv.LogBuffer
}

// start runs a node with GG, MSNP (and MySpaceIM on its port) and HTTP
// on loopback ports, IMIP and SIP where o gives them addresses, logging at
// the trace level into a buffer; in a data directory of its own unless o
// names one.
func start(t *testing.T, o node.Options) *env {
	t.Helper()
	logs := &testenv.LogBuffer{}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.Level(-8)}))
	o.MSNPAddr, o.SBAddr, o.GGAddr, o.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	o.FTPAddr, o.SIPTLSAddr = node.Off, node.Off
	for _, addr := range []*string{&o.IMIPAddr, &o.SIPAddr} {
		if *addr == "" {
			*addr = node.Off
		}
	}
	n, err := node.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &env{t: t, n: n, base: "http://" + n.HTTPAddr, logs: logs}
}

// account makes an account directly in the store.
func (e *env) account(number uint32, email, name, password string, admin bool) hub.Account {
	e.t.Helper()
	ctx := context.Background()
	a, err := e.n.Store.CreateAccount(ctx, hub.Account{Number: number, Email: email, DisplayName: name}, password)
	if err != nil {
		e.t.Fatal(err)
	}
	if admin {
		if err := e.n.Store.SetAdmin(ctx, number, true); err != nil {
			e.t.Fatal(err)
		}
	}
	return a
}

// ggLogin logs a GG client in, online.
func (e *env) ggLogin(uin uint32, password string) *ggclient.Client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ggclient.Dial(ctx, e.n.GGAddr, ggclient.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, uin, password, wire.StatusAvail, ""); err != nil {
		e.t.Fatalf("gg login %d: %v", uin, err)
	}
	if err := c.NotifyList(ctx, nil); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// waitFor polls cond until it holds or 10 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// browser is an HTTP client with cookies, as a browser without scripts.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, base: e.base, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// page is an answer and its body.
type page struct {
	status int
	body   string
	header http.Header
	url    string
}

func (b *browser) get(path string) page {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	return b.read(resp, err)
}

func (b *browser) read(resp *http.Response, err error) page {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status: resp.StatusCode, body: string(body), header: resp.Header, url: resp.Request.URL.Path}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token in a page's forms.
func (p page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in %s", p.url)
	}
	return m[1]
}

// submit loads the form page at path and posts fields to action with its
// CSRF token.
func (b *browser) submit(path, action string, fields url.Values) page {
	b.t.Helper()
	form := b.get(path)
	fields.Set("csrf", form.csrf(b.t))
	return b.post(action, fields)
}

func (b *browser) post(action string, fields url.Values) page {
	b.t.Helper()
	resp, err := b.c.PostForm(b.base+action, fields)
	return b.read(resp, err)
}

// signIn signs the browser in.
func (b *browser) signIn(login, password string) {
	b.t.Helper()
	p := b.submit("/web/signin", "/web/signin", url.Values{"login": {login}, "password": {password}})
	if p.status != http.StatusOK || p.url != "/web/account" {
		b.t.Fatalf("sign-in as %s: %d at %s", login, p.status, p.url)
	}
}

// csrfToken is the signed-in browser's CSRF token, from its account page.
func (b *browser) csrfToken() string {
	b.t.Helper()
	return b.get("/web/account").csrf(b.t)
}

// api calls the JSON API; token is a bearer token, or "" to use the
// browser's cookies, with csrf when not empty.
func (b *browser) api(method, path, token, csrf string, body any) (int, []byte) {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, b.base+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// apiToken signs in through the API and returns the bearer token.
func (e *env) apiToken(login, password string) string {
	e.t.Helper()
	status, data := e.browser().api("POST", "/api/v1/session", "", "", map[string]string{"login": login, "password": password})
	var answer struct {
		Token string `json:"token"`
	}
	if status != http.StatusOK || json.Unmarshal(data, &answer) != nil || answer.Token == "" {
		e.t.Fatalf("API sign-in as %s: %d %s", login, status, data)
	}
	return answer.Token
}

// decode unmarshals an API answer, failing the test on a bad one.
func decode[T any](t *testing.T, status, want int, data []byte) T {
	t.Helper()
	var v T
	if status != want {
		t.Fatalf("status %d, want %d: %s", status, want, data)
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("answer %s: %v", data, err)
	}
	return v
}

// noSecrets fails the test if any of secrets shows in the logs.
func (e *env) noSecrets(secrets ...string) {
	e.t.Helper()
	logs := e.logs.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			e.t.Errorf("a secret (%d characters) is in the log", len(s))
		}
	}
}

// artifactDir is where browser screenshots go: $CROSSTALK_SCREENSHOTS, or
// the test's artifact directory (kept with go test -artifacts).
func artifactDir(t *testing.T) string {
	if dir := os.Getenv("CROSSTALK_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.ArtifactDir()
}

// ggDial connects a GG client to the node.
func ggDial(ctx context.Context, e *env) (*ggclient.Client, error) {
	return ggclient.Dial(ctx, e.n.GGAddr, ggclient.Options{})
}

// apiJSON calls the API with a bearer token and decodes its answer,
// which must have status want.
func apiJSON[T any](t *testing.T, b *browser, method, path, token string, body any, want int) T {
	t.Helper()
	status, data := b.api(method, path, token, "", body)
	return decode[T](t, status, want, data)
}
