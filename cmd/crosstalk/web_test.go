package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/node"
)

func webAs(n *node.Node, email, password string) webLogin {
	return webLogin{Server: "ws://" + n.HTTPAddr + "/chat/ws", Login: email, Password: password, Timeout: 10 * time.Second}
}

// jsonEvents decodes what a listen --json printed.
func jsonEvents(t *testing.T, out string) []listenEvent {
	t.Helper()
	var events []listenEvent
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		var ev listenEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		events = append(events, ev)
	}
	return events
}

// web send says what became of the message; web listen --json prints
// presence, typing and messages as JSON lines; a wrong password is said
// as such.
func TestWebSendAndListen(t *testing.T) {
	ctx := testContext(t)
	n := startNode(t, nil)
	addAccount(t, n, 1001, "alice@example.com", "pw-alice")
	addAccount(t, n, 1002, "bob@example.com", "pw-bob")
	if _, err := n.Store.AddToList(ctx, 1002, 1001, "FL", 0, 100); err != nil {
		t.Fatal(err)
	}
	listen := command((&webListenCmd{webLogin: webAs(n, "bob@example.com", "pw-bob"), listenOutput: listenOutput{JSON: true}, Ping: time.Minute}).run).start(t, ctx, "listening as bob@example.com")
	send := func(to, text string) ran {
		return command((&webSendCmd{webLogin: webAs(n, "alice@example.com", "pw-alice"), To: to, Text: strings.Fields(text)}).run).run(t, ctx)
	}
	if r := send("bob@example.com", "hello <bob>"); r.err != nil || r.out.String() != "delivered to bob@example.com\n" {
		t.Fatalf("to a listener: %q, %v", r.out, r.err)
	}
	// The sender's login shows her online, then her message arrives.
	var got []listenEvent
	waitFor(t, ctx, "the message", func() bool {
		got = jsonEvents(t, listen.out.String())
		return len(got) >= 2
	})
	if p := got[0]; p.Event != eventPresence || p.From != "alice@example.com" || p.Status != "online" || p.Protocol != "webchat" {
		t.Errorf("first line %+v, want alice's presence", p)
	}
	if m := got[1]; m.Event != eventMessage || m.From != "alice@example.com" || m.Text != "hello <bob>" || m.Time.IsZero() {
		t.Fatalf("second line %+v, want the message", m)
	}
	if r := listen.interrupt(); r.err != nil {
		t.Fatalf("listen: %v", r.err)
	}
	waitFor(t, ctx, "bob offline", func() bool {
		st, _, _ := n.Hub.Presence(ctx, 1002)
		return st == "offline"
	})
	if r := send("1002", "later"); r.err != nil || r.out.String() != "1002 is offline: stored for later\n" {
		t.Fatalf("to an absent contact: %q, %v", r.out, r.err)
	}
	if r := send("nobody@example.com", "x"); r.err == nil || r.err.Error() != "nobody@example.com: no such account" {
		t.Fatalf("to nobody: %v", r.err)
	}
	r := command((&webSendCmd{webLogin: webAs(n, "alice@example.com", "wrong"), To: "1002", Text: []string{"x"}}).run).run(t, ctx)
	if r.err == nil || r.err.Error() != "login refused: wrong e-mail address or password" {
		t.Fatalf("wrong password: %v", r.err)
	}
}
