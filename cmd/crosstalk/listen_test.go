package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/node"
)

// Every listen command's --json prints each event as one JSON object a
// line with the same fields: a contact's presence with its note and a
// message, from a user of another protocol (alice, attached to the hub).
func TestListenJSON(t *testing.T) {
	ctx := testContext(t)
	n := startNode(t, func(o *node.Options) { o.MSIMAddr = "127.0.0.1:0" }) // no sniffing wait
	addAccount(t, n, 1001, "alice@example.com", "pw-a")
	alice, err := n.Store.Account(ctx, 1001)
	if err != nil {
		t.Fatal(err)
	}
	peer := testenv.Attach(t, n.Hub, alice)
	if err := peer.SetPresence(ctx, hub.StatusAway, "na obiedzie"); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		protocol string
		listen   func(number uint32, email string) command
		// alice is how the protocol names her, note what it shows of
		// her status text (MSN has none).
		alice  string
		note   string
		typing bool // IMIP has no typing notifications
	}{
		{"msn", func(number uint32, email string) command {
			return (&msnListenCmd{msnLogin: msnAs(n, email, "pw"), listenOutput: listenOutput{JSON: true}}).run
		}, "alice@example.com", "", true},
		{"gg", func(number uint32, email string) command {
			return (&ggListenCmd{ggLogin: ggAs(n, number, "pw"), listenOutput: listenOutput{JSON: true}, Contacts: []uint32{1001}}).run
		}, "1001", "na obiedzie", true},
		{"msim", func(number uint32, email string) command {
			return (&msimListenCmd{msimLogin: msimAs(n, email, "pw"), listenOutput: listenOutput{JSON: true}}).run
		}, "1001", "na obiedzie", true},
		{"imip", func(number uint32, email string) command {
			return (&imipListenCmd{imipLogin: imipAs(n, number, "pw"), listenOutput: listenOutput{JSON: true}}).run
		}, "1001", "na obiedzie", false},
		{"sip", func(number uint32, email string) command {
			return (&sipListenCmd{sipLogin: sipAs(n, email, "pw"), listenOutput: listenOutput{JSON: true}}).run
		}, "alice@example.com", "na obiedzie", true},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			number := uint32(2001 + i)
			email := tc.protocol + "@example.com"
			addAccount(t, n, number, email, "pw")
			if _, err := n.Store.AddToList(ctx, number, 1001, hub.Forward, 0, 100); err != nil {
				t.Fatal(err)
			}
			ready := "listening as " + email
			if tc.protocol == "gg" || tc.protocol == "imip" {
				ready = fmt.Sprintf("listening as %d", number)
			}
			listen := tc.listen(number, email).start(t, ctx, ready)
			if ev := nextLine(t, listen, eventPresence); ev.Protocol != tc.protocol || ev.From != tc.alice || ev.Status != hub.StatusAway || ev.Text != tc.note {
				t.Errorf("presence %+v", ev)
			}
			if d, err := n.Hub.SendMessage(ctx, alice, number, hub.Message{Text: "cześć " + tc.protocol}, ""); err != nil || d != hub.Delivered {
				t.Fatalf("alice's message: %v, %v", d, err)
			}
			if ev := nextLine(t, listen, eventMessage); ev.Protocol != tc.protocol || ev.From != tc.alice || ev.Text != "cześć "+tc.protocol {
				t.Errorf("message %+v", ev)
			}
			if tc.typing {
				// After the message, in the conversation it opened.
				if err := n.Hub.SendTyping(ctx, alice, number, 1, ""); err != nil {
					t.Fatal(err)
				}
				if ev := nextLine(t, listen, eventTyping); ev.Protocol != tc.protocol || ev.From != tc.alice || ev.Typing == nil || !*ev.Typing {
					t.Errorf("typing %+v", ev)
				}
			}
			if r := listen.interrupt(); r.err != nil {
				t.Errorf("listen: %v", r.err)
			}
		})
	}
}

// nextLine waits for the listen command's first JSON line of an event
// kind; every line before it must be a well-formed event too.
func nextLine(t *testing.T, s *started, event string) listenEvent {
	t.Helper()
	var found *listenEvent
	waitFor(t, testContext(t), "a "+event+" line", func() bool {
		for _, line := range strings.SplitAfter(s.out.String(), "\n") {
			if !strings.HasSuffix(line, "\n") {
				break // not written out yet
			}
			var ev listenEvent
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("not a JSON line: %q: %v", line, err)
			}
			if ev.Protocol == "" || ev.From == "" || time.Since(ev.Time) > time.Minute || ev.Time.Location() != time.UTC {
				t.Fatalf("incomplete event: %q", line)
			}
			if ev.Event == event {
				found = &ev
				return true
			}
		}
		return false
	})
	return *found
}
