package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/node"
)

// Two nodes on one bus and one database: a token from one node's API
// works on the other, and an admin on the first sees and kicks a GG
// session held by the second.
func TestAdminAcrossNodes(t *testing.T) {
	nats, dir := testenv.NATS(t), t.TempDir()
	n1 := start(t, node.Options{DataDir: dir, NatsURL: nats})
	n2 := start(t, node.Options{DataDir: dir, NatsURL: nats})
	n1.account(1001, "admin@example.com", "Admin", "admin-secret", true)
	n1.account(1002, "carol@example.com", "Carol", "carol-secret", false)
	token := n1.apiToken("admin@example.com", "admin-secret")
	b2 := n2.browser()
	if me := apiJSON[map[string]any](t, b2, "GET", "/api/v1/me", token, nil, http.StatusOK); me["number"] != float64(1001) {
		t.Fatalf("the first node's token on the second: %v", me)
	}

	gg := n2.ggLogin(1002, "carol-secret")
	b1 := n1.browser()
	var sessions []sessionJSON
	waitFor(t, "carol's session seen from the first node", func() bool {
		sessions = apiJSON[[]sessionJSON](t, b1, "GET", "/api/admin/v1/sessions", token, nil, http.StatusOK)
		return len(sessions) == 1
	})
	if s := sessions[0]; s.Node != n2.n.Hub.Node() || s.Node == n1.n.Hub.Node() || !strings.HasPrefix(s.Addr, "127.0.0.1:") || s.Protocol != "gg" {
		t.Fatalf("session %+v; nodes %s, %s", s, n1.n.Hub.Node(), n2.n.Hub.Node())
	}
	if status, data := b1.api("DELETE", "/api/admin/v1/sessions/"+sessions[0].ID, token, "", nil); status != http.StatusNoContent {
		t.Fatalf("kick: %d %s", status, data)
	}
	waitClosed(t, gg)
}
