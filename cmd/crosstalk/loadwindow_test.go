package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// loadtest's --window keeps up to N messages in flight in each MSN, GG,
// IMIP, MySpaceIM and SIP conversation, every one of them acknowledged
// and received.
func TestLoadtestWindow(t *testing.T) {
	n, data := loadNode(t)
	for key, want := range map[string]string{"msn": " (window 16)", "gg": " (window 16)", "imip": " (window 16)", "msim": " (window 16)", "sip": " (window 16)"} {
		t.Run(key, func(t *testing.T) {
			o := loadOptions(n, data)
			o.Window = 16
			var out bytes.Buffer
			var err error
			if key == "msn" {
				err = (&loadtestMsnCmd{Server: n.MSNPAddr, loadtestOptions: o, Phases: []string{"messages"}}).run(testContext(t), &out)
			} else {
				c := loadtestProtoCmd{Server: map[string]string{"gg": n.GGAddr, "imip": n.IMIPAddr, "msim": n.MSIMAddr, "sip": n.SIPAddr}[key], loadtestOptions: o, Phases: []string{"messages"}}
				err = c.run(testContext(t), &out, loadProtocolNamed(key))
			}
			if err != nil {
				t.Fatalf("%v after:\n%s", err, &out)
			}
			f := messageFiguresOf(t, out.String())
			if len(f) != 1 || f[0].rest != want || f[0].delivered == 0 || f[0].refused != "none" {
				t.Errorf("want %q and messages delivered in:\n%s", want, &out)
			}
		})
	}
}

func TestLoadtestWindowValidated(t *testing.T) {
	for _, w := range []int{0, -1, maxWindow + 1} {
		o := loadtestOptions{Users: 2, Workers: 1, Window: w}
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--window") {
			t.Errorf("--window %d: %v", w, err)
		}
	}
	if _, _, err := parse(t, "loadtest", "msn", "--window", "0"); err == nil {
		t.Error("loadtest msn --window 0 parsed")
	}
	o := loadtestOptions{Users: 2, Workers: 1, Window: maxWindow}
	if err := o.Validate(); err != nil {
		t.Error(err)
	}
}

// fakeConversation is both ends of a conversation in memory, counting
// what is in flight: posted and not yet confirmed, sent and not yet
// received. Its receiver is slow, so that a sender that may fills its
// window; change rewrites the nth message on its way.
type fakeConversation struct {
	mu                         sync.Mutex
	queue                      []string
	posted, confirmed, got     int
	maxUnconfirmed, maxInQueue int
	change                     int
	refuse                     error
}

func (f *fakeConversation) send(ctx context.Context, text string) error {
	if err := f.post(ctx, []string{text}); err != nil {
		return err
	}
	return f.confirm(ctx)
}

func (f *fakeConversation) post(_ context.Context, texts []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, text := range texts {
		f.posted++
		if f.posted == f.change {
			text += " changed"
		}
		f.queue = append(f.queue, text)
	}
	f.maxUnconfirmed = max(f.maxUnconfirmed, f.posted-f.confirmed)
	f.maxInQueue = max(f.maxInQueue, len(f.queue))
	return nil
}

func (f *fakeConversation) confirm(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.confirmed++
	return f.refuse
}

func (f *fakeConversation) receive(ctx context.Context) (string, error) {
	time.Sleep(100 * time.Microsecond)
	for ctx.Err() == nil {
		f.mu.Lock()
		if len(f.queue) > 0 {
			text := f.queue[0]
			f.queue = f.queue[1:]
			f.got++
			f.mu.Unlock()
			return text, nil
		}
		f.mu.Unlock()
		time.Sleep(10 * time.Microsecond)
	}
	return "", ctx.Err()
}

// waitingConversation is a fakeConversation whose client waits for each
// acknowledgement (it has no post).
type waitingConversation struct{ f *fakeConversation }

func (w waitingConversation) send(ctx context.Context, text string) error { return w.f.send(ctx, text) }

func (w waitingConversation) receive(ctx context.Context) (string, error) { return w.f.receive(ctx) }

// pipeline fills the window and never goes beyond it, confirms every
// message it posted, and has each one's latency.
func TestPipelineKeepsWindow(t *testing.T) {
	for _, window := range []int{1, 4, 32} {
		f := &fakeConversation{}
		latencies, err := pipeline(testContext(t), conversation{from: f, to: f}, window, time.Now().Add(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if f.maxUnconfirmed != window || f.maxInQueue != window || f.confirmed != f.posted || f.got != f.posted || len(latencies) != f.posted {
			t.Errorf("window %d: %+v, %d latencies", window, f, len(latencies))
		}
	}
	f := &fakeConversation{}
	if _, err := pipeline(testContext(t), conversation{from: waitingConversation{f}, to: waitingConversation{f}}, 8, time.Now().Add(20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if f.maxInQueue != 1 || f.got == 0 {
		t.Errorf("a client that waits for each acknowledgement: %+v", f)
	}
}

// pipeline fails on a message that arrives changed (or out of order, or
// not at all: the next one arrives in its place) and on a refused one.
func TestPipelineChecksOutcomes(t *testing.T) {
	f := &fakeConversation{change: 3}
	_, err := pipeline(testContext(t), conversation{from: f, to: f}, 4, time.Now().Add(time.Second))
	if err == nil || !strings.Contains(err.Error(), "changed") {
		t.Errorf("a changed message: %v", err)
	}
	refusal := errors.New("NAK")
	f = &fakeConversation{refuse: refusal}
	if _, err := pipeline(testContext(t), conversation{from: f, to: f}, 4, time.Now().Add(time.Second)); !errors.Is(err, refusal) {
		t.Errorf("a refused message: %v", err)
	}
}
