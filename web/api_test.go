package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/node"
)

// apiOps reads the served OpenAPI document's operations, with a concrete
// path for each (path parameters filled with the given values).
func apiOps(t *testing.T, b *browser, number, session string) []struct{ method, path string } {
	t.Helper()
	p := b.get("/api/openapi.json")
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if p.status != http.StatusOK || json.Unmarshal([]byte(p.body), &doc) != nil {
		t.Fatalf("openapi.json: %d", p.status)
	}
	var ops []struct{ method, path string }
	for path, item := range doc.Paths {
		concrete := strings.NewReplacer("{number}", number, "{id}", session).Replace(path)
		for method := range item {
			if method != "parameters" {
				ops = append(ops, struct{ method, path string }{strings.ToUpper(method), concrete})
			}
		}
	}
	if len(ops) < 15 {
		t.Fatalf("only %d operations in the document", len(ops))
	}
	return ops
}

// Every route of the document exists on the real listener and refuses a
// caller without a session, an account without admin rights (admin
// routes), and a browser session without its CSRF token (changes).
func TestAPIRefusals(t *testing.T) {
	e := start(t, node.Options{})
	e.account(1001, "admin@example.com", "Admin", "admin-secret", true)
	e.account(1002, "user@example.com", "User", "user-secret", false)
	e.account(1003, "other@example.com", "Other", "other-secret", false)
	userToken := e.apiToken("user@example.com", "user-secret")
	admin := e.browser()
	admin.signIn("admin@example.com", "admin-secret")
	anon := e.browser()
	for _, op := range apiOps(t, anon, "1003", "no-such-session") {
		if op.method == "POST" && op.path == "/api/v1/session" {
			continue // signing in is for anyone
		}
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			if status, data := anon.api(op.method, op.path, "", "", nil); status != http.StatusUnauthorized {
				t.Errorf("no session: %d %s", status, data)
			}
			if status, _ := anon.api(op.method, op.path, "not-a-token", "", nil); status != http.StatusUnauthorized {
				t.Errorf("unknown token: %d", status)
			}
			if strings.HasPrefix(op.path, "/api/admin/") {
				if status, _ := anon.api(op.method, op.path, userToken, "", nil); status != http.StatusForbidden {
					t.Errorf("not an admin: %d", status)
				}
			}
			if op.method != "GET" {
				if status, data := admin.api(op.method, op.path, "", "", nil); status != http.StatusForbidden || !strings.Contains(string(data), "CSRF") {
					t.Errorf("cookie session without CSRF token: %d %s", status, data)
				}
				if status, _ := admin.api(op.method, op.path, "", "wrong-token", nil); status != http.StatusForbidden {
					t.Errorf("cookie session with a wrong CSRF token: %d", status)
				}
			}
		})
	}
	// None of it did anything.
	if a, err := e.n.Store.Account(context.Background(), 1003); err != nil || a.Disabled {
		t.Fatalf("account 1003 after the refusals: %+v, %v", a, err)
	}
	// A non-admin sees only their own data: /me is theirs, other
	// accounts' are refused.
	me := apiJSON[map[string]any](t, anon, "GET", "/api/v1/me", userToken, nil, http.StatusOK)
	if me["number"] != float64(1002) || me["email"] != "user@example.com" {
		t.Fatalf("/me: %v", me)
	}
	if status, _ := anon.api("GET", "/api/admin/v1/accounts/1003", userToken, "", nil); status != http.StatusForbidden {
		t.Fatalf("another user's account: %d", status)
	}
	// The CSRF token of one session does not pass for another.
	other := e.browser()
	other.signIn("other@example.com", "other-secret")
	if status, _ := admin.api("POST", "/api/admin/v1/accounts/1003/disable", "", other.csrfToken(), nil); status != http.StatusForbidden {
		t.Fatalf("another session's CSRF token: %d", status)
	}
	e.noSecrets("admin-secret", "user-secret", "other-secret", userToken)
}

type accountJSON struct {
	Number   uint32   `json:"number"`
	Email    string   `json:"email"`
	Admin    bool     `json:"admin"`
	Disabled bool     `json:"disabled"`
	Mailbox  int      `json:"mailbox"`
	Online   []string `json:"online"`
}

type metricJSON struct {
	Name   string `json:"name"`
	Series []struct {
		Labels map[string]string `json:"labels"`
		Value  float64           `json:"value"`
	} `json:"series"`
}

type sessionJSON struct {
	ID       string `json:"id"`
	Account  uint32 `json:"account"`
	Email    string `json:"email"`
	Protocol string `json:"protocol"`
	Addr     string `json:"addr"`
	Node     string `json:"node"`
}

// The admin endpoints, each doing its work, through a bearer token and
// through a browser session with its CSRF token.
func TestAdminAPI(t *testing.T) {
	e := start(t, node.Options{})
	ctx := context.Background()
	e.account(1001, "admin@example.com", "Admin", "admin-secret", true)
	e.account(1002, "carol@example.com", "Carol <b>", "carol-secret", false)
	e.account(1003, "dave@example.com", "Dave", "dave-secret", false)
	token := e.apiToken("admin@example.com", "admin-secret")
	b := e.browser()
	do := func(method, path string, body any, want int) []byte {
		t.Helper()
		status, data := b.api(method, path, token, "", body)
		if status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, status, data, want)
		}
		return data
	}

	accounts := apiJSON[[]accountJSON](t, b, "GET", "/api/admin/v1/accounts?q=CAROL", token, nil, http.StatusOK)
	if len(accounts) != 1 || accounts[0].Number != 1002 || accounts[0].Admin || accounts[0].Disabled {
		t.Fatalf("search: %+v", accounts)
	}
	if all := apiJSON[[]accountJSON](t, b, "GET", "/api/admin/v1/accounts?limit=2", token, nil, http.StatusOK); len(all) != 2 || !all[0].Admin {
		t.Fatalf("list of two: %+v", all)
	}
	do("GET", "/api/admin/v1/accounts/4242", nil, http.StatusNotFound)
	do("GET", "/api/admin/v1/accounts/carol", nil, http.StatusBadRequest)

	// Carol online through GG: her session, with its address, and the
	// kick that ends it.
	gg := e.ggLogin(1002, "carol-secret")
	var sessions []sessionJSON
	waitFor(t, "carol's GG session", func() bool {
		sessions = apiJSON[[]sessionJSON](t, b, "GET", "/api/admin/v1/sessions", token, nil, http.StatusOK)
		return len(sessions) == 1
	})
	s := sessions[0]
	if s.Account != 1002 || s.Email != "carol@example.com" || s.Protocol != "gg" || !strings.HasPrefix(s.Addr, "127.0.0.1:") || s.Node != e.n.Hub.Node() {
		t.Fatalf("session: %+v", s)
	}
	if a := apiJSON[accountJSON](t, b, "GET", "/api/admin/v1/accounts/1002", token, nil, http.StatusOK); len(a.Online) != 1 || a.Online[0] != "gg" {
		t.Fatalf("carol's account while online: %+v", a)
	}
	do("DELETE", "/api/admin/v1/sessions/no-such-session", nil, http.StatusNotFound)
	do("DELETE", "/api/admin/v1/sessions/"+s.ID, nil, http.StatusNoContent)
	waitClosed(t, gg)
	waitFor(t, "no sessions", func() bool {
		return len(apiJSON[[]sessionJSON](t, b, "GET", "/api/admin/v1/sessions", token, nil, http.StatusOK)) == 0
	})

	// Disabled: logins refused on GG and the web, live sessions kicked.
	gg = e.ggLogin(1002, "carol-secret")
	if a := apiJSON[accountJSON](t, b, "POST", "/api/admin/v1/accounts/1002/disable", token, nil, http.StatusOK); !a.Disabled {
		t.Fatalf("disable: %+v", a)
	}
	waitClosed(t, gg)
	if err := ggLoginErr(e, 1002, "carol-secret"); err == nil {
		t.Fatal("a disabled account logged in over GG")
	}
	if status, _ := b.api("POST", "/api/v1/session", "", "", map[string]string{"login": "1002", "password": "carol-secret"}); status != http.StatusUnauthorized {
		t.Fatalf("web sign-in of a disabled account: %d", status)
	}
	do("POST", "/api/admin/v1/accounts/1001/disable", nil, http.StatusConflict)
	if a := apiJSON[accountJSON](t, b, "POST", "/api/admin/v1/accounts/1002/enable", token, nil, http.StatusOK); a.Disabled {
		t.Fatalf("enable: %+v", a)
	}
	e.ggLogin(1002, "carol-secret").Close()

	// A password reset: the server's password works, the old one not;
	// one the admin chooses must follow the policy.
	reset := apiJSON[map[string]string](t, b, "POST", "/api/admin/v1/accounts/1002/password", token, map[string]string{}, http.StatusOK)
	if len(reset["password"]) < 16 {
		t.Fatalf("made-up password of %d characters", len(reset["password"]))
	}
	e.apiToken("1002", reset["password"])
	if status, _ := b.api("POST", "/api/v1/session", "", "", map[string]string{"login": "1002", "password": "carol-secret"}); status != http.StatusUnauthorized {
		t.Fatalf("old password after a reset: %d", status)
	}
	do("POST", "/api/admin/v1/accounts/1002/password", map[string]string{"password": "abc"}, http.StatusBadRequest)
	do("POST", "/api/admin/v1/accounts/1002/password", map[string]string{"password": "chosen-by-admin"}, http.StatusOK)
	e.apiToken("carol@example.com", "chosen-by-admin")

	// Mailboxes and transfers.
	for range 2 {
		if _, err := e.n.Store.QueueOffline(ctx, 1003, 1002, hub.Message{Text: "hi"}, hub.MailboxLimits{Total: 10}); err != nil {
			t.Fatal(err)
		}
	}
	boxes := apiJSON[[]map[string]any](t, b, "GET", "/api/admin/v1/mailboxes", token, nil, http.StatusOK)
	if len(boxes) != 1 || boxes[0]["number"] != float64(1003) || boxes[0]["mailbox"] != float64(2) {
		t.Fatalf("mailboxes: %v", boxes)
	}
	tk := drive.Ticket{ID: "ticket1", Sender: 1002, Recipient: 1003, FileName: "notes.txt", FileSize: 5,
		Ack: drive.AckUnknown, Status: drive.StatusInProgress, Created: time.Now(), Expires: time.Now().Add(time.Hour)}
	if err := e.n.Store.CreateTicket(ctx, tk, 0); err != nil {
		t.Fatal(err)
	}
	transfers := apiJSON[[]map[string]any](t, b, "GET", "/api/admin/v1/transfers", token, nil, http.StatusOK)
	if len(transfers) != 1 || transfers[0]["id"] != "ticket1" || transfers[0]["file_name"] != "notes.txt" || transfers[0]["sender"] != float64(1002) {
		t.Fatalf("transfers: %v", transfers)
	}

	// Health and metrics of this node.
	health := apiJSON[map[string]any](t, b, "GET", "/api/admin/v1/health", token, nil, http.StatusOK)
	listeners, _ := health["listeners"].(map[string]any)
	if health["status"] != "ok" || listeners["gg"] == nil || listeners["http"] == nil {
		t.Fatalf("health: %v", health)
	}
	ms := apiJSON[[]metricJSON](t, b, "GET", "/api/admin/v1/metrics", token, nil, http.StatusOK)
	logins := 0.0
	for _, m := range ms {
		if m.Name == "crosstalk_logins_total" {
			for _, s := range m.Series {
				if s.Labels["protocol"] == "gg" && s.Labels["result"] == "ok" {
					logins = s.Value
				}
			}
		}
	}
	if logins < 3 {
		t.Fatalf("GG logins in the metrics: %v", logins)
	}

	// An invite code, through a browser session with its CSRF token.
	admin := e.browser()
	admin.signIn("admin@example.com", "admin-secret")
	status, data := admin.api("POST", "/api/admin/v1/invites", "", admin.csrfToken(), map[string]any{"uses": 2, "valid_for": "1h"})
	inv := decode[map[string]any](t, status, http.StatusCreated, data)
	if code, _ := inv["code"].(string); len(code) < 16 || inv["uses"] != float64(2) {
		t.Fatalf("invite: %v", inv)
	}
	if status, _ := admin.api("POST", "/api/admin/v1/invites", "", admin.csrfToken(), map[string]any{"valid_for": "soon"}); status != http.StatusBadRequest {
		t.Fatalf("bad valid_for: %d", status)
	}

	// Deletion, which an admin cannot do to themselves.
	do("DELETE", "/api/admin/v1/accounts/1001", nil, http.StatusConflict)
	do("DELETE", "/api/admin/v1/accounts/1003", nil, http.StatusNoContent)
	if _, err := e.n.Store.Account(ctx, 1003); err == nil {
		t.Fatal("account 1003 still there")
	}
	do("DELETE", "/api/admin/v1/accounts/1003", nil, http.StatusNotFound)

	// Signing out ends the token.
	do("DELETE", "/api/v1/session", nil, http.StatusNoContent)
	do("GET", "/api/v1/me", nil, http.StatusUnauthorized)
	e.noSecrets("admin-secret", "carol-secret", "chosen-by-admin", reset["password"], token, inv["code"].(string))
}

// waitClosed waits until the server has ended a GG client's connection.
func waitClosed(t *testing.T, c interface{ Err() error }) {
	t.Helper()
	waitFor(t, "the server to close the connection", func() bool { return c.Err() != nil })
}

// ggLoginErr tries a GG login and returns its error.
func ggLoginErr(e *env, uin uint32, password string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ggDial(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(ctx, uin, password, 2, ""); err != nil {
		return err
	}
	// The server refuses a disabled account after checking its password:
	// it hangs up instead of logging it in.
	_, err = c.Ping(ctx)
	return err
}
