package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/node"
	webchatclient "github.com/crosstalk-im/crosstalk/webchat/client"
	webchatwire "github.com/crosstalk-im/crosstalk/webchat/wire"
)

// chatSocket is the node's web chat WebSocket address.
func (e *env) chatSocket() string { return "ws" + strings.TrimPrefix(e.base, "http") + "/chat/ws" }

var chatTokenMeta = regexp.MustCompile(`<meta name="crosstalk-chat-token" content="([^"]*)">`)

// chatToken loads the browser chat page and returns the chat token in it
// ("" when there is none).
func (b *browser) chatToken() string {
	b.t.Helper()
	p := b.get("/chat/")
	m := chatTokenMeta.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		b.t.Fatalf("chat page: %d without its token element", p.status)
	}
	if m[1] != "" && p.header.Get("Cache-Control") != "no-store" {
		b.t.Errorf("a chat page with a token may be cached: %q", p.header.Get("Cache-Control"))
	}
	return m[1]
}

// chatLogin logs in to the web chat with a token, returning the client
// and the login's error.
func (e *env) chatLogin(ctx context.Context, token string) (*webchatclient.Client, error) {
	e.t.Helper()
	c, err := webchatclient.Dial(ctx, e.chatSocket(), webchatclient.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	_, err = c.LoginToken(ctx, token)
	return c, err
}

func refused(err error) bool {
	var e *webchatclient.Error
	return errors.As(err, &e) && e.Code == webchatwire.CodeLoginFailed
}

// The chat page of a signed-in browser carries a chat token of its own
// (never the session cookie's value), good for one login; one page load
// mints one. A browser not signed in gets none; the token ends with the
// web session, and signing out of the pages ends the chat session.
func TestChatToken(t *testing.T) {
	e := start(t, node.Options{})
	e.account(1002, "carol@example.com", "Carol", "carol-secret", false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	b := e.browser()
	if token := b.chatToken(); token != "" {
		t.Fatal("a browser not signed in got a chat token")
	}
	b.signIn("carol@example.com", "carol-secret")
	first, second := b.chatToken(), b.chatToken()
	if first == "" || first == second {
		t.Fatalf("chat tokens of two page loads: %q and %q", first, second)
	}
	session, _ := url.Parse(e.base)
	for _, ck := range b.c.Jar.Cookies(session) {
		if strings.Contains(first+second, ck.Value) {
			t.Fatalf("the page holds the value of cookie %s", ck.Name)
		}
	}
	c, err := e.chatLogin(ctx, first)
	if err != nil {
		t.Fatalf("chat login with the page's token: %v", err)
	}
	if _, err := e.chatLogin(ctx, first); !refused(err) {
		t.Fatalf("a chat token used twice: %v", err)
	}
	// A bearer-token script gets no chat token: it logs in itself.
	api := e.browser()
	api.c.Jar = nil
	req, _ := http.NewRequest("GET", e.base+"/chat/", nil)
	req.Header.Set("Authorization", "Bearer "+e.apiToken("carol@example.com", "carol-secret"))
	if p := api.read(api.c.Do(req)); chatTokenMeta.FindStringSubmatch(p.body)[1] != "" {
		t.Fatal("a bearer request got a chat token")
	}

	b.submit("/web/account", "/web/signout", url.Values{})
	waitClosed(t, c)
	if _, err := e.chatLogin(ctx, second); !refused(err) {
		t.Fatalf("a chat token of a signed-out session: %v", err)
	}
	e.noSecrets("carol-secret", first, second)
}
