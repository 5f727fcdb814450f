package main

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/client"
)

// The relay baseline's server carries out the load test's conversations
// with the real MSN client library, as Crosstalk does: the login, the
// call and its answer, each message relayed in order and acknowledged;
// and a participant who leaves is seen to leave.
func TestRelayBaselineServer(t *testing.T) {
	ns, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	sb, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	r := newBareRelay(sb.Addr().String())
	go acceptEach(sb, r.switchboard)
	go acceptEach(ns, r.notification)

	ctx := testContext(t)
	d := dialing{dialer: &net.Dialer{}}
	var sessions []loadSession
	for account := range 4 {
		s, err := openMSN(ctx, ns.Addr().String(), d, account, true)
		if err != nil {
			t.Fatal(err)
		}
		defer s.close()
		sessions = append(sessions, s)
	}
	// Two conversations at once, that each keep to their own.
	var convs [2]conversation
	for i := range convs {
		if convs[i].from, convs[i].to, err = openConversation(ctx, sessions[2*i], 2*i, sessions[2*i+1], 2*i+1); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 20 {
		for i, c := range convs {
			text := fmt.Sprintf("conversation %d, message %d", i, k)
			if err := c.from.send(ctx, text); err != nil { // mode A: it returns on the ACK
				t.Fatal(err)
			}
			if got, err := c.to.receive(ctx); err != nil || got != text {
				t.Fatalf("sent %q, received %q (%v)", text, got, err)
			}
		}
	}
	// The message phase's way of sending, which does not wait.
	acked := make(chan error, 1)
	convs[0].to.(*switchboardEnd).sendAsync(ctx, "back", func(err error) { acked <- err })
	if err := <-acked; err != nil {
		t.Fatal(err)
	}
	if got, err := convs[0].from.receive(ctx); err != nil || got != "back" {
		t.Fatalf("received %q (%v)", got, err)
	}

	sessions[3].close()
	left, err := nextEvent[client.Left](ctx, convs[1].from.(*switchboardEnd).sb.Events())
	if err != nil || left.Email != loadtestEmail(3) {
		t.Errorf("after the callee logged out: %+v, %v", left, err)
	}
}

// A message phase at a rate against a server of the load test's own ends
// with the relay baseline: the same open loop against the baseline's
// server, in a process of its own, and the phase's figures against it.
func TestLoadtestRelayBaseline(t *testing.T) {
	stdout, stderr, code := crosstalk(t, "loadtest", "msn", "--users", "4", "--workers", "2", "--duration", "300ms",
		"--rate", "40", "--conversations", "2", "--phases", "messages")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	msgs := messageFiguresOf(t, stdout[:max(0, strings.Index(stdout, "\nrelay baseline: "))+1])
	if len(msgs) != 1 || msgs[0].delivered == 0 {
		t.Fatalf("no message phase before the baseline in:\n%s", stdout)
	}
	m := relayBaselinePrinted.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no relay baseline in:\n%s", stdout)
	}
	if delivered := atoi(t, m[1]); delivered != msgs[0].delivered {
		t.Errorf("the baseline delivered %d messages, the phase %d: the same schedule sends as many", delivered, msgs[0].delivered)
	}
	p99, err := time.ParseDuration(m[2])
	if err != nil || p99 <= 0 {
		t.Errorf("the baseline's p99 %q: %v", m[2], err)
	}
}

// relayBaselinePrinted is the relay baseline's report: messages
// delivered, p99, its CPU and the load generator's, and the ratios.
var relayBaselinePrinted = regexp.MustCompile(`(?m)^relay baseline: .*\nbaseline: (\d+) in \S+ = \d+ msgs/s; delivery latency p50 \S+ p99 (\S+) \(open loop: .*\)\n  server CPU: [\d.]+ µs per message\n  load generator CPU: [\d.]+ µs per message \(this process\)\n(?:  waiting for a processor .*\n)?  the message phase against it: [\d.]+× the p99 latency(?:, [\d.]+× the server CPU per message)?$`)
