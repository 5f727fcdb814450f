package server

import (
	"fmt"
	"testing"

	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// relayObservations is how many messages crosstalk_message_relay_seconds
// has timed for MSN so far.
func relayObservations() int {
	return int(metrics.Value(msnpRelaySeconds.(prometheus.Histogram)))
}

// The server times every message it writes to a receiver once: one sent
// alone, and each of several that arrive in one read and leave in one
// write; a message that reaches no one is not timed.
func TestRelayTimeCountsEachDeliveredMessage(t *testing.T) {
	env := newTestEnv(t, nil)
	env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	env.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	asb, bsb := aliceCallsBob(t, env)
	before := relayObservations()

	frames, texts := pipelined(3, 1, 0)
	asb.send(frames)
	bsb.expectMessage(texts[0])
	asb.expect("ACK 3")
	if got := relayObservations() - before; got != 1 {
		t.Fatalf("one message timed %d times", got)
	}

	frames, texts = pipelined(4, 8, 0)
	asb.send(frames)
	for i, text := range texts {
		bsb.expectMessage(text)
		asb.expect(fmt.Sprintf("ACK %d", 4+i))
	}
	if got := relayObservations() - before; got != 9 {
		t.Fatalf("9 messages timed %d times", got)
	}

	bsb.send("OUT\r\n")
	asb.expect("BYE bob@example.com")
	frames, _ = pipelined(12, 1, 0)
	asb.send(frames)
	asb.expect("NAK 12")
	if got := relayObservations() - before; got != 9 {
		t.Errorf("a message to no one timed: %d observations for 9 delivered", got)
	}
}
