package main

import (
	"context"
	"math"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// pipeEnd is one side of an in-memory conversation: what its peer sends
// arrives in inbox, in order unless swap is set, when each two messages
// arrive the wrong way round. With stall set, every other send first
// waits that long, as a send that waits for its answer may.
type pipeEnd struct {
	inbox chan string
	swap  bool
	stall time.Duration
	mu    sync.Mutex
	held  string
	sends int
}

func (e *pipeEnd) send(_ context.Context, text string) error {
	e.mu.Lock()
	e.sends++
	stall := e.sends%2 == 1
	e.mu.Unlock()
	if stall {
		time.Sleep(e.stall)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.swap && e.held == "" {
		e.held = text
		return nil
	}
	e.inbox <- text
	if e.held != "" {
		e.inbox <- e.held
		e.held = ""
	}
	return nil
}

func (e *pipeEnd) receive(ctx context.Context) (string, error) {
	select {
	case text := <-e.inbox:
		return text, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func pipeConversations(n int, swap bool, stall time.Duration) []conversation {
	convs := make([]conversation, n)
	for i := range convs {
		to := &pipeEnd{inbox: make(chan string, 1000), swap: swap, stall: stall}
		convs[i] = conversation{from: to, to: to}
	}
	return convs
}

// An open loop sends every message its schedule holds, each conversation's
// in order, and measures each one's latency and how late it was sent.
func TestOpenLoopSendsTheSchedule(t *testing.T) {
	res, err := openLoop(context.Background(), pipeConversations(3, false, 0), 200, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// 200 msgs/s for 100 ms: due every 5 ms from the start, 20 in all.
	if res.sent != 20 || res.delivered != 20 || res.refused != 0 || len(res.latencies) != 20 || len(res.senderLags) != 20 || len(res.sinceSent) != 20 {
		t.Errorf("sent %d, delivered %d, refused %d, %d latencies, %d lags, %d since sent", res.sent, res.delivered, res.refused, len(res.latencies), len(res.senderLags), len(res.sinceSent))
	}
}

// An end that waits for each answer before the next send returns still
// sends its conversation's messages in order when a send takes longer
// than the interval between them.
func TestOpenLoopKeepsSlowSendsInOrder(t *testing.T) {
	res, err := openLoop(context.Background(), pipeConversations(1, false, 15*time.Millisecond), 200, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.sent != 20 || res.delivered != 20 {
		t.Errorf("sent %d, delivered %d of 20", res.sent, res.delivered)
	}
}

// A message that arrives before one sent ahead of it in its conversation
// is an error of the load test, not a latency.
func TestOpenLoopRefusesMessagesOutOfOrder(t *testing.T) {
	_, err := openLoop(context.Background(), pipeConversations(1, true, 0), 200, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "arrived after") {
		t.Errorf("messages out of order: %v", err)
	}
}

// The server's share is read from its histogram's buckets between two
// readings, interpolated within a bucket as Prometheus does.
func TestRelayHistogramQuantile(t *testing.T) {
	bounds := []float64{0.001, 0.002, 0.004, math.Inf(1)}
	before := serverHistogram{bounds: bounds, cumulative: []uint64{10, 10, 10, 10}, count: 10}
	after := serverHistogram{bounds: bounds, cumulative: []uint64{60, 100, 110, 111}, count: 111}
	d := after.since(before)
	if d.count != 101 {
		t.Fatalf("count %d, want 101", d.count)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{
		// 50.5th of 101: half a message into the 40 between 1 and 2 ms.
		{0.5, time.Millisecond + time.Millisecond*5/400},
		// 99.99th: 9.99 of the 10 between 2 and 4 ms.
		{0.99, 2*time.Millisecond + time.Duration(float64(2*time.Millisecond)*9.99/10)},
		// The last took longer than the last finite bound, which is all
		// the buckets say of it.
		{1, 4 * time.Millisecond},
	} {
		if got, want := d.quantile(c.q), c.want.Round(time.Microsecond); got != want {
			t.Errorf("quantile %v = %s, want %s", c.q, got, want)
		}
	}
}

// An open loop's clients buffer a few seconds of their conversation's
// messages, within bounds; a closed loop's keep the clients' default,
// which its window may fill.
func TestOpenLoopEventBuffer(t *testing.T) {
	for _, c := range []struct {
		rate          float64
		conversations int
		want          int
	}{
		{0, 1000, 0},
		{20000, 1000, minEventBuffer},
		{1000, 10, 300},
		{20000, 10, maxWindow},
	} {
		o := loadtestOptions{Rate: c.rate, Conversations: c.conversations}
		if got := o.eventBuffer(); got != c.want {
			t.Errorf("%.0f msgs/s over %d conversations: %d events buffered, want %d", c.rate, c.conversations, got, c.want)
		}
	}
}

// A load generator collects its garbage less often than by default,
// unless GOGC chooses for it.
func TestCollectLessOften(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	collectLessOften()
	if got := debug.SetGCPercent(100); got != generatorGCPercent {
		t.Errorf("GOGC unset: the generator collects at %d, want %d", got, generatorGCPercent)
	}
	t.Setenv("GOGC", "50")
	collectLessOften()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set: the generator's collector was set to %d, want it left at 100", got)
	}
}

// A message's stamps read back as the times written, to the nanosecond.
func TestStampsReadBack(t *testing.T) {
	due := time.Unix(1796685001, 906093174)
	sent := due.Add(1234567 * time.Nanosecond)
	if got, want := stamp(due), "load 1796685001906093174"; got != want {
		t.Fatalf("stamp = %q, want %q", got, want)
	}
	text := sentStamp(due, sent)
	if want := "load 1796685001906093174 1796685001907327741"; text != want {
		t.Fatalf("sentStamp = %q, want %q", text, want)
	}
	gotDue, gotSent, err := parseSentStamp(text)
	if err != nil || !gotDue.Equal(due) || !gotSent.Equal(sent) {
		t.Fatalf("parseSentStamp(%q) = %v, %v, %v", text, gotDue, gotSent, err)
	}
}
