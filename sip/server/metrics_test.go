package server

import (
	"testing"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/metrics"
)

// TestMetrics: connections, requests by method, sign-ins, messages and
// error answers are counted under protocol "sip".
func TestMetrics(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	e.hubSession(t, bob, hub.StatusOnline, "")
	ctx := testCtx(t)
	conns := metrics.Connections.WithLabelValues("sip", "client")
	registers := metrics.Commands.WithLabelValues("sip", "REGISTER")
	logins := metrics.Logins.WithLabelValues("sip", "ok")
	messages := metrics.Messages.WithLabelValues("sip")
	notFound := metrics.Errors.WithLabelValues("sip", "404")
	before := []float64{metrics.Value(conns), metrics.Value(registers), metrics.Value(logins), metrics.Value(messages), metrics.Value(notFound)}

	a := e.signIn(t, alice, "pa")
	if err := a.SendMessage(ctx, bob.Email, "hi"); err != nil {
		t.Fatal(err)
	}
	if err := a.SendMessage(ctx, "nobody@example.com", "hi"); err == nil {
		t.Fatal("a message to nobody went")
	}
	after := []float64{metrics.Value(conns), metrics.Value(registers), metrics.Value(logins), metrics.Value(messages), metrics.Value(notFound)}
	for i, want := range []float64{1, 3, 1, 1, 1} {
		if got := after[i] - before[i]; got != want {
			t.Errorf("metric %d went up by %v, want %v", i, got, want)
		}
	}
}
