package server

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRelayDroppedGoesToMailbox: a switchboard member whose client stops
// reading has its connection closed once its output overflows; the
// messages that connection had taken and not written go to the member's
// mailbox, so that every message the sender got ACK for reaches the
// member, on the connection or in the mailbox.
func TestRelayDroppedGoesToMailbox(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t, func(c *Config) {
		c.CommandsPerSecond, c.CommandBurst = 1e9, 1<<30
		c.MaxPendingBytes = 16 << 10
	})
	env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	env.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	bob, asb, bsb := aliceCallsBobFrom(t, env)
	// Bob signs out, so that what returns to his mailbox waits there.
	bob.send("OUT\r\n")
	bob.expect("OUT")

	// Bob reads nothing more from the switchboard; alice sends until the
	// overflowed connection is gone and she gets NAK.
	filler := strings.Repeat("x", 1500)
	var acked []string
	for trid := 2; ; trid += 32 {
		if trid > 100_000 {
			t.Fatalf("%d messages ACKed, and bob's connection never overflowed", len(acked))
		}
		var frames strings.Builder
		texts := make([]string, 32)
		for i := range texts {
			texts[i] = fmt.Sprintf("%d %s", trid+i, filler)
			payload := "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n" + texts[i]
			fmt.Fprintf(&frames, "MSG %d A %d\r\n%s", trid+i, len(payload), payload)
		}
		asb.send(frames.String())
		naked := false
		for i := 0; i < len(texts); {
			s, err := asb.line()
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case s == fmt.Sprintf("ACK %d", trid+i):
				acked = append(acked, texts[i])
			case s == fmt.Sprintf("NAK %d", trid+i):
				naked = true
			case strings.HasPrefix(s, "BYE "):
				continue // bob's connection closed: the answer follows
			default:
				t.Fatalf("alice got %q for message %d", s, trid+i)
			}
			i++
		}
		if naked {
			break
		}
	}

	// What bob's connection wrote before it closed is still his to read.
	got := map[string]bool{}
	for {
		head, err := bsb.line()
		if err == io.EOF {
			break
		}
		var n int
		if _, scanErr := fmt.Sscanf(head, "MSG alice@example.com Alice %d", &n); err != nil || scanErr != nil {
			t.Fatalf("bob read %q %v", head, err)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(bsb.br, buf); err != nil {
			break // cut short by the close: the mailbox has it
		}
		_, text, _ := strings.Cut(string(buf), "\r\n\r\n")
		got[text] = true
	}
	onConnection := len(got)

	// The rest reaches the mailbox, on goroutines of its own.
	missing := acked
	for deadline := time.Now().Add(10 * time.Second); ; {
		stored, err := env.store.OfflineMessages(ctx, 1002, "check", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range stored {
			got[m.Message.Text] = true
		}
		missing = missing[:0:0]
		for _, text := range acked {
			if !got[text] {
				missing = append(missing, text)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d ACKed messages reached bob neither on his connection nor in his mailbox (first: %.20q)", len(missing), len(acked), missing[0])
	}
	if len(got) == onConnection {
		t.Fatalf("all %d ACKed messages were written: the connection dropped none, and the mailbox was not tested", len(acked))
	}
	t.Logf("%d messages ACKed: %d read on the connection, %d from the mailbox", len(acked), onConnection, len(got)-onConnection)
}

// TestRelayedNameEncoded: a message relayed from one MSN client to another
// names its sender by the display name encoded as MSNP lines carry it.
func TestRelayedNameEncoded(t *testing.T) {
	env := newTestEnv(t, nil)
	env.addAccount(t, 1001, "alice@example.com", "Alice Smith 100%", "pa")
	env.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	asb, bsb := aliceCallsBob(t, env)
	payload := "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nhi"
	for trid := 2; trid < 4; trid++ {
		asb.send(fmt.Sprintf("MSG %d A %d\r\n%s", trid, len(payload), payload))
		if head, got := bsb.readMSG(); head != "MSG alice@example.com Alice%20Smith%20100%25" || got != payload {
			t.Fatalf("bob got %q %q", head, got)
		}
		asb.expect(fmt.Sprintf("ACK %d", trid))
	}
}
