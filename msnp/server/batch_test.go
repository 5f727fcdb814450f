package server

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// aliceCallsBob logs alice (password pa) and bob (pb) in, online, and
// has alice call bob into a switchboard; it returns both switchboard
// connections, past the JOI.
func aliceCallsBob(tb testing.TB, env *testEnv) (asb, bsb *rawClient) {
	tb.Helper()
	_, asb, bsb = aliceCallsBobFrom(tb, env)
	return asb, bsb
}

// aliceCallsBobFrom is aliceCallsBob that also returns bob's notification
// connection.
func aliceCallsBobFrom(tb testing.TB, env *testEnv) (bob, asb, bsb *rawClient) {
	tb.Helper()
	// Their display names as the switchboard's lines carry them.
	aliceName, bobName := env.encodedName(tb, 1001), env.encodedName(tb, 1002)
	alice, bob := dialRaw(tb, env.nsAddr), dialRaw(tb, env.nsAddr)
	alice.login("alice@example.com", "pa")
	bob.login("bob@example.com", "pb")
	bob.send("CHG 4 NLN\r\n")
	bob.expect("CHG 4 NLN")
	asb = alice.switchboard("alice@example.com", aliceName)
	var addr, sid, ringCookie string
	asb.send("CAL 2 bob@example.com\r\n")
	s, _ := asb.line()
	fmt.Sscanf(s, "CAL 2 RINGING %s", &sid)
	s, _ = bob.line()
	fmt.Sscanf(s, "RNG "+sid+" %s CKI %s", &addr, &ringCookie)
	bsb = dialRaw(tb, addr)
	bsb.send("ANS 1 bob@example.com " + ringCookie + " " + sid + "\r\n")
	bsb.expect("IRO 1 1 1 alice@example.com " + aliceName)
	bsb.expect("ANS 1 OK")
	asb.expect("JOI bob@example.com " + bobName)
	return bob, asb, bsb
}

// pipelined is n text messages in one write, TrIDs from first, the last
// one cut short by cut bytes of its payload.
func pipelined(first, n, cut int) (frames string, texts []string) {
	var b strings.Builder
	for i := range n {
		text := fmt.Sprintf("message %d", i)
		texts = append(texts, text)
		payload := "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n" + text
		fmt.Fprintf(&b, "MSG %d A %d\r\n%s", first+i, len(payload), payload)
	}
	s := b.String()
	return s[:len(s)-cut], texts
}

// expectMessage reads one MSG from alice with text.
func (c *rawClient) expectMessage(text string) {
	c.t.Helper()
	head, err := c.line()
	var n int
	if _, scanErr := fmt.Sscanf(head, "MSG alice@example.com Alice %d", &n); err != nil || scanErr != nil {
		c.t.Fatalf("got %q (%v), want a MSG from alice", head, err)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(c.br, payload); err != nil {
		c.t.Fatal(err)
	}
	if !strings.HasSuffix(string(payload), "\r\n\r\n"+text) {
		c.t.Fatalf("payload %q, want the text %q", payload, text)
	}
}

// Messages a client sends at once, which the server relays in one write
// per connection, reach the other member all and in order, each ACKed;
// one that arrives in pieces after them is relayed too: the batch does not
// wait for it.
func TestPipelinedMessages(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.CommandsPerSecond = 1e6; c.CommandBurst = 1e6 })
	env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	env.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	asb, bsb := aliceCallsBob(t, env)

	frames, texts := pipelined(10, 20, 3)
	asb.send(frames)
	for i, text := range texts[:len(texts)-1] {
		bsb.expectMessage(text)
		asb.expect(fmt.Sprintf("ACK %d", 10+i))
	}
	// The last message is still missing its end: what came before it went
	// out without it.
	whole, _ := pipelined(10, 20, 0)
	asb.send(whole[len(frames):])
	bsb.expectMessage(texts[len(texts)-1])
	asb.expect("ACK 29")
}
