package web_test

import (
	"context"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/node"
	"github.com/crosstalk-im/crosstalk/web"
)

func signUpFields(email, password string) url.Values {
	return url.Values{"email": {email}, "name": {"New <em>User</em>"}, "nick": {""}, "password": {password}, "password2": {password}}
}

// An open sign-up creates the account, signs the browser in and shows how
// to connect each client; the account then logs in over GG.
func TestSignUpOpen(t *testing.T) {
	e := start(t, node.Options{Web: web.Config{Registration: web.RegistrationOpen}})
	b := e.browser()
	form := b.get("/web/signup")
	if form.status != http.StatusOK || !strings.Contains(form.body, `name="email"`) || strings.Contains(form.body, `name="invite"`) {
		t.Fatalf("sign-up page: %d\n%s", form.status, form.body)
	}
	if csp := form.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Fatalf("CSP %q", csp)
	}
	p := b.submit("/web/signup", "/web/signup", signUpFields("new@example.com", "new-secret"))
	if p.status != http.StatusOK || p.url != "/web/welcome" {
		t.Fatalf("sign-up: %d at %s\n%s", p.status, p.url, p.body)
	}
	_, ggPort, _ := net.SplitHostPort(e.n.GGAddr)
	_, msnPort, _ := net.SplitHostPort(e.n.MSNPAddr)
	for _, want := range []string{
		`<dd id="number">1001</dd>`, `<dd id="msn-login">new@example.com</dd>`,
		"<code>" + ggPort + "</code>", "<code>" + msnPort + "</code>",
		"127.0.0.1 messenger.hotmail.com", "New &lt;em&gt;User&lt;/em&gt;",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("welcome page lacks %q", want)
		}
	}
	u, _ := url.Parse(e.base)
	cookies := b.c.Jar.Cookies(u)
	if len(cookies) != 1 || cookies[0].Name != "ct_session" {
		t.Fatalf("cookies after sign-up: %v", cookies)
	}
	e.ggLogin(1001, "new-secret")
	e.noSecrets("new-secret", cookies[0].Value)
}

// signInCookies signs in on the sign-in form and returns the cookies the
// answer sets.
func signInCookies(t *testing.T, b *browser, login, password string) []*http.Cookie {
	t.Helper()
	form := b.get("/web/signin")
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	defer func() { b.c.CheckRedirect = nil }()
	resp, err := b.c.PostForm(b.base+"/web/signin", url.Values{"csrf": {form.csrf(t)}, "login": {login}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	return resp.Cookies()
}

// sessionCookie is the session cookie among cookies.
func sessionCookie(t *testing.T, cookies []*http.Cookie) *http.Cookie {
	t.Helper()
	for _, c := range cookies {
		if c.Name == "ct_session" {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", cookies)
	return nil
}

// The session cookie as the server sets it: HttpOnly, SameSite=Strict,
// and Secure only over TLS or behind a TLS proxy (the next two tests).
func TestSessionCookieAttributes(t *testing.T) {
	e := start(t, node.Options{})
	e.account(1001, "alice@example.com", "Alice", "alice-secret", false)
	c := sessionCookie(t, signInCookies(t, e.browser(), "alice@example.com", "alice-secret"))
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure {
		t.Fatalf("cookie %+v", c)
	}
}

// Behind a proxy that ends TLS, an https:// --public-url makes the
// cookies Secure though the node itself speaks plain HTTP.
func TestSecureCookieBehindTLSProxy(t *testing.T) {
	e := start(t, node.Options{PublicHTTPURL: "https://chat.example.net"})
	e.account(1001, "alice@example.com", "Alice", "alice-secret", false)
	if c := sessionCookie(t, signInCookies(t, e.browser(), "alice@example.com", "alice-secret")); !c.Secure || !c.HttpOnly {
		t.Fatalf("cookie %+v", c)
	}
}

func TestSecureCookieOverTLS(t *testing.T) {
	e := start(t, node.Options{})
	e.account(1001, "alice@example.com", "Alice", "alice-secret", false)
	w, err := web.New(web.Config{Store: e.n.Store, Hub: e.n.Hub, Guard: e.n.Guard, Key: []byte("test key")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(w.Handler())
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := srv.Client()
	c.Jar = jar
	b := &browser{t: t, base: srv.URL, c: c}
	if ck := sessionCookie(t, signInCookies(t, b, "alice@example.com", "alice-secret")); !ck.Secure || !ck.HttpOnly {
		t.Fatalf("session cookie over TLS: %+v", ck)
	}
	// And the browser, holding it, is signed in over TLS.
	if p := b.get("/web/account"); p.status != http.StatusOK || p.url != "/web/account" {
		t.Fatalf("account page over TLS: %d at %s", p.status, p.url)
	}
}

// What sign-up refuses, each with a message and nothing created.
func TestSignUpRefusals(t *testing.T) {
	e := start(t, node.Options{Web: web.Config{Registration: web.RegistrationOpen, MaxSignUpsPerAddr: 2, MinPasswordLength: 8}})
	e.account(5000, "taken@example.com", "Taken", "taken-secret", false)
	b := e.browser()
	for _, tt := range []struct {
		name   string
		fields url.Values
		status int
		want   string
	}{
		{"short password", signUpFields("a@example.com", "short"), http.StatusBadRequest, "at least 8 characters"},
		{"password is the e-mail", signUpFields("long.name@example.com", "long.name@example.com"), http.StatusBadRequest, "must not be the account"},
		{"passwords differ", func() url.Values {
			f := signUpFields("a@example.com", "good-secret")
			f.Set("password2", "other-secret")
			return f
		}(), http.StatusBadRequest, "differ"},
		{"bad nick", func() url.Values {
			f := signUpFields("a@example.com", "good-secret")
			f.Set("nick", "<b>x</b>")
			return f
		}(), http.StatusBadRequest, "Nick &#34;&lt;b&gt;x&lt;/b&gt;&#34;"},
		{"bad e-mail", signUpFields("not-an-address", "good-secret"), http.StatusBadRequest, "is not of the form"},
		{"taken", signUpFields("TAKEN@example.com", "good-secret"), http.StatusConflict, "already has an account"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := b.submit("/web/signup", "/web/signup", tt.fields)
			if p.status != tt.status || !strings.Contains(p.body, tt.want) || strings.Contains(p.body, "<b>x</b>") {
				t.Fatalf("%d, want %d with %q:\n%s", p.status, tt.status, tt.want, p.body)
			}
		})
	}
	// No CSRF token, or one of another browser: refused.
	if p := b.post("/web/signup", signUpFields("c@example.com", "good-secret")); p.status != http.StatusForbidden {
		t.Fatalf("without a CSRF token: %d", p.status)
	}
	other := e.browser()
	fields := signUpFields("c@example.com", "good-secret")
	fields.Set("csrf", other.get("/web/signup").csrf(t))
	if p := b.post("/web/signup", fields); p.status != http.StatusForbidden {
		t.Fatalf("with another browser's CSRF token: %d", p.status)
	}
	accounts, _ := e.n.Store.Accounts(context.Background())
	if len(accounts) != 1 {
		t.Fatalf("refused sign-ups made accounts: %v", accounts)
	}
	// Two sign-ups from one address, then no more.
	for i, status := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		p := e.browser().submit("/web/signup", "/web/signup", signUpFields("n"+strconv.Itoa(i)+"@example.com", "good-secret"))
		if p.status != status {
			t.Fatalf("sign-up %d: %d, want %d", i, p.status, status)
		}
	}
	if a, err := e.n.Store.AccountByEmail(context.Background(), "n1@example.com"); err != nil || a.Number != 5002 {
		t.Fatalf("second sign-up: %+v, %v", a, err)
	}
}

func TestSignUpByInvite(t *testing.T) {
	e := start(t, node.Options{Web: web.Config{Registration: web.RegistrationInvite}})
	b := e.browser()
	if p := b.get("/web/signup"); !strings.Contains(p.body, `name="invite"`) {
		t.Fatal("no invite field")
	}
	inv, err := web.NewInvite(context.Background(), e.n.Store, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		email, code string
		status      int
	}{
		{"a@example.com", "", http.StatusForbidden},
		{"a@example.com", "wrong-code", http.StatusForbidden},
		{"a@example.com", inv.Code, http.StatusOK},
		{"b@example.com", inv.Code, http.StatusForbidden}, // used up
	} {
		f := signUpFields(tt.email, "good-secret")
		f.Set("invite", tt.code)
		if p := e.browser().submit("/web/signup", "/web/signup", f); p.status != tt.status {
			t.Fatalf("code %q: %d, want %d", tt.code, p.status, tt.status)
		}
	}
	e.noSecrets(inv.Code)
}

func TestSignUpClosed(t *testing.T) {
	e := start(t, node.Options{}) // closed is the default
	b := e.browser()
	if p := b.get("/web/signup"); !strings.Contains(p.body, "Sign-up is closed") || strings.Contains(p.body, `name="email"`) {
		t.Fatalf("closed sign-up page:\n%s", p.body)
	}
	if p := b.get("/web/signin"); strings.Contains(p.body, `href="/web/signup"`) {
		t.Fatal("the sign-in page links to a closed sign-up")
	}
	// A post made all the same, with a valid token from the sign-in form.
	fields := signUpFields("a@example.com", "good-secret")
	fields.Set("csrf", b.get("/web/signin").csrf(t))
	if p := b.post("/web/signup", fields); p.status != http.StatusForbidden || !strings.Contains(p.body, "Sign-up is closed") {
		t.Fatalf("closed sign-up: %d", p.status)
	}
	if _, err := e.n.Store.AccountByEmail(context.Background(), "a@example.com"); err == nil {
		t.Fatal("a closed sign-up made an account")
	}
}

// The account page: contacts with their status as the account may see
// it, names escaped, a rename, a password change.
func TestAccountPage(t *testing.T) {
	e := start(t, node.Options{})
	ctx := context.Background()
	e.account(1001, "alice@example.com", "Alice", "alice-secret", false)
	e.account(1002, "carol@example.com", `Carol <img src=x onerror=alert(1)>`, "carol-secret", false)
	e.account(1003, "dave@example.com", "Dave", "dave-secret", false)
	for _, c := range []uint32{1002, 1003} {
		if _, err := e.n.Store.AddToList(ctx, 1001, c, hub.Forward, 0, 100); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser()
	if p := b.get("/web/account"); p.url != "/web/signin" {
		t.Fatalf("account page signed out: at %s", p.url)
	}
	p := b.submit("/web/signin", "/web/signin", url.Values{"login": {"alice@example.com"}, "password": {"wrong"}})
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "wrong e-mail address") || !strings.Contains(p.body, `value="alice@example.com"`) {
		t.Fatalf("wrong password: %d\n%s", p.status, p.body)
	}
	b.signIn("1001", "alice-secret")
	e.ggLogin(1002, "carol-secret")
	var body string
	waitFor(t, "carol online on alice's page", func() bool {
		body = b.get("/web/account").body
		return strings.Contains(body, `<tr class="online" data-number="1002">`)
	})
	if strings.Contains(body, "<img") || !strings.Contains(body, "Carol &lt;img src=x onerror=alert(1)&gt;") {
		t.Fatalf("carol's name unescaped:\n%s", body)
	}
	if !strings.Contains(body, `<tr class="offline" data-number="1003">`) {
		t.Fatal("dave not shown offline")
	}

	// Rename: the new name shows, escaped; a bad one is refused.
	csrf := b.csrfToken()
	if p := b.post("/web/account/name", url.Values{"csrf": {csrf}, "name": {"Alice <3"}}); p.status != http.StatusOK || !strings.Contains(p.body, "Alice &lt;3") || !strings.Contains(p.body, "display name was changed") {
		t.Fatalf("rename: %d\n%s", p.status, p.body)
	}
	if p := b.post("/web/account/name", url.Values{"csrf": {csrf}, "name": {"bad\x01name"}}); p.status != http.StatusBadRequest {
		t.Fatalf("control character in a name: %d", p.status)
	}
	if p := b.post("/web/account/name", url.Values{"name": {"No Token"}}); p.status != http.StatusForbidden {
		t.Fatalf("rename without a CSRF token: %d", p.status)
	}
	if a, _ := e.n.Store.Account(ctx, 1001); a.DisplayName != "Alice <3" {
		t.Fatalf("name now %q", a.DisplayName)
	}

	// Password change: the current password is checked, the policy
	// applies, other web sign-ins end, the new password works on GG.
	other := e.browser()
	other.signIn("alice@example.com", "alice-secret")
	change := func(current, password string) page {
		return b.post("/web/account/password", url.Values{"csrf": {csrf}, "current": {current}, "password": {password}, "password2": {password}})
	}
	if p := change("wrong", "new-alice-secret"); p.status != http.StatusForbidden {
		t.Fatalf("wrong current password: %d", p.status)
	}
	if p := change("alice-secret", "tiny"); p.status != http.StatusBadRequest {
		t.Fatalf("short new password: %d", p.status)
	}
	if p := change("alice-secret", "new-alice-secret"); p.status != http.StatusOK || !strings.Contains(p.body, "password was changed") {
		t.Fatalf("password change: %d", p.status)
	}
	if p := other.get("/web/account"); p.url != "/web/signin" {
		t.Fatal("the other sign-in survived the password change")
	}
	e.ggLogin(1001, "new-alice-secret")

	// Signing out ends the session on the server.
	u, _ := url.Parse(e.base)
	token := b.c.Jar.Cookies(u)[0].Value
	if p := b.post("/web/signout", url.Values{"csrf": {b.csrfToken()}}); p.url != "/web/signin" {
		t.Fatalf("sign-out: at %s", p.url)
	}
	if status, _ := b.api("GET", "/api/v1/me", token, "", nil); status != http.StatusUnauthorized {
		t.Fatalf("token after sign-out: %d", status)
	}
	e.noSecrets("alice-secret", "new-alice-secret", "carol-secret", token)
}

// Failed logins over GG count against the web's sign-in from the same
// address, and the other way round: one guard for every protocol.
func TestLoginThrottleShared(t *testing.T) {
	e := start(t, node.Options{LoginGuard: loginguard.Config{
		Address: loginguard.Policy{Free: 2, LockAfter: 100, LockFor: time.Hour}, Delay: time.Hour, MaxDelay: time.Hour,
	}})
	e.account(1001, "alice@example.com", "Alice", "alice-secret", false)
	for range 3 {
		if err := ggLoginErr(e, 1001, "wrong"); err == nil {
			t.Fatal("a wrong password logged in")
		}
	}
	b := e.browser()
	if p := b.submit("/web/signin", "/web/signin", url.Values{"login": {"alice@example.com"}, "password": {"alice-secret"}}); p.status != http.StatusUnauthorized {
		t.Fatalf("web sign-in after three failed GG logins: %d", p.status)
	}
	if status, _ := b.api("POST", "/api/v1/session", "", "", map[string]string{"login": "1001", "password": "alice-secret"}); status != http.StatusUnauthorized {
		t.Fatalf("API sign-in after three failed GG logins: %d", status)
	}
	if err := ggLoginErr(e, 1001, "alice-secret"); err == nil {
		t.Fatal("GG login went through while the address waits")
	}
}

// Unsafe requests from another site are refused whatever they carry.
func TestCrossSiteRequestRefused(t *testing.T) {
	e := start(t, node.Options{Web: web.Config{Registration: web.RegistrationOpen}})
	b := e.browser()
	form := b.get("/web/signup")
	fields := signUpFields("a@example.com", "good-secret")
	fields.Set("csrf", form.csrf(t))
	req, _ := http.NewRequest("POST", e.base+"/web/signup", strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := b.read(b.c.Do(req)); p.status != http.StatusForbidden {
		t.Fatalf("cross-site post: %d", p.status)
	}
	if _, err := e.n.Store.AccountByEmail(context.Background(), "a@example.com"); err == nil {
		t.Fatal("a cross-site post made an account")
	}
}

func TestAdminPageNeedsRights(t *testing.T) {
	e := start(t, node.Options{})
	e.account(1001, "admin@example.com", "Admin", "admin-secret", true)
	e.account(1002, "user@example.com", "User", "user-secret", false)
	user := e.browser()
	user.signIn("user@example.com", "user-secret")
	if p := user.get("/web/admin"); p.status != http.StatusForbidden || strings.Contains(p.body, "admin.js") {
		t.Fatalf("admin page for a user: %d", p.status)
	}
	admin := e.browser()
	admin.signIn("admin@example.com", "admin-secret")
	p := admin.get("/web/admin")
	if p.status != http.StatusOK || !strings.Contains(p.body, `<script src="/web/static/admin.js" defer></script>`) || !strings.Contains(p.body, `name="csrf-token"`) {
		t.Fatalf("admin page: %d\n%s", p.status, p.body)
	}
	if js := admin.get("/web/static/admin.js"); js.status != http.StatusOK || !strings.Contains(js.header.Get("Content-Type"), "javascript") {
		t.Fatalf("admin.js: %d %s", js.status, js.header.Get("Content-Type"))
	}
}

// Another handler of the service (the browser chat) finds the signed-in
// account and its CSRF token, behind the pages' headers.
func TestHandleForOtherPages(t *testing.T) {
	e := start(t, node.Options{})
	e.account(1001, "alice@example.com", "Alice", "alice-secret", false)
	w := e.n.Web
	w.Handle("POST /web/probe", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		a, ok := w.Authenticate(r)
		if !ok {
			http.Error(rw, "signed out", http.StatusUnauthorized)
			return
		}
		if !w.CheckCSRF(r) {
			http.Error(rw, "csrf", http.StatusForbidden)
			return
		}
		rw.Write([]byte(strconv.FormatUint(uint64(a.Number), 10) + " " + w.CSRFToken(r)))
	}))
	b := e.browser()
	if p := b.post("/web/probe", url.Values{}); p.status != http.StatusUnauthorized {
		t.Fatalf("signed out: %d", p.status)
	}
	b.signIn("alice@example.com", "alice-secret")
	if p := b.post("/web/probe", url.Values{}); p.status != http.StatusForbidden {
		t.Fatalf("without a CSRF token: %d", p.status)
	}
	csrf := b.csrfToken()
	p := b.post("/web/probe", url.Values{"csrf": {csrf}})
	if p.status != http.StatusOK || p.body != "1001 "+csrf || p.header.Get("Content-Security-Policy") == "" {
		t.Fatalf("probe: %d %q", p.status, p.body)
	}
}

// With Passport's names among the hosts-file names, the client settings
// put them on one line with the others and say MSN 5 to 7.5 need the CA.
func TestClientSettingsWithPassport(t *testing.T) {
	e := start(t, node.Options{})
	e.account(1001, "alice@example.com", "Alice", "alice-secret", false)
	w, err := web.New(web.Config{Store: e.n.Store, Hub: e.n.Hub, Guard: e.n.Guard, Key: []byte("test key"), Clients: []web.ClientSetting{
		{Client: "MSN", Addr: "0.0.0.0:1863", Login: web.LoginEmail, HostsNames: []string{"messenger.hotmail.com", "nexus.passport.com", "login.passport.com"}},
		{Client: "GG", Addr: "0.0.0.0:8074", Login: web.LoginNumber},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, base: srv.URL, c: &http.Client{Jar: jar}}
	b.signIn("alice@example.com", "alice-secret")
	p := b.get("/web/welcome")
	for _, want := range []string{
		`<pre id="hosts">127.0.0.1 messenger.hotmail.com nexus.passport.com login.passport.com</pre>`,
		`<p id="passport">`, "<code>1863</code></td><td><code>alice@example.com</code>", "<code>8074</code></td><td><code>1001</code>",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("welcome page lacks %q", want)
		}
	}
	plain := e.browser() // the node, which has no HTTPS listener
	plain.signIn("alice@example.com", "alice-secret")
	if strings.Contains(plain.get("/web/welcome").body, `id="passport"`) {
		t.Error("the Passport note shows without an HTTPS listener")
	}
}
