package outcome

import (
	"context"
	"errors"
	"testing"
	"time"
)

// An answer reaches its waiter whether it came before the wait or during
// it, only the first answer counts, a waiter whose context ended first is
// not woken later, nor is its wake channel reused while a late answer may
// still signal it, and an end without an answer ends the wait.
func TestOutcome(t *testing.T) {
	ctx := context.Background()
	never := make(chan struct{})

	var before Outcome[string]
	if !before.Complete("first") || before.Complete("second") {
		t.Fatal("Complete did not take the first answer only")
	}
	if v, err := before.Wait(ctx, never); err != nil || v != "first" {
		t.Fatalf("answered before the wait: %q %v", v, err)
	}

	var during Outcome[string]
	go func() {
		for {
			during.mu.Lock()
			waiting := during.wake != nil
			during.mu.Unlock()
			if waiting {
				during.Complete("during")
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	if v, err := during.Wait(ctx, never); err != nil || v != "during" {
		t.Fatalf("answered during the wait: %q %v", v, err)
	}

	var abandoned Outcome[string]
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := abandoned.Wait(gone, never); !errors.Is(err, context.Canceled) {
		t.Fatalf("a wait whose context ended: %v", err)
	}
	abandoned.Complete("late") // signals the abandoned channel only
	var next Outcome[string]
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	if _, err := next.Wait(short, never); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait for an answer that never comes: %v, want its deadline", err)
	}

	ended := make(chan struct{})
	close(ended)
	var unanswered Outcome[string]
	if _, err := unanswered.Wait(ctx, ended); !errors.Is(err, ErrEnded) {
		t.Fatalf("a wait after the end: %v, want ErrEnded", err)
	}
	var answered Outcome[string]
	answered.Complete("kept")
	if v, err := answered.Wait(ctx, ended); err != nil || v != "kept" {
		t.Fatalf("an answer before the end: %q %v", v, err)
	}
}

// An Outcome reset after its Wait returned, and used again while the
// answer comes from another goroutine, always gives its own answer: run
// with the race detector, this also shows nothing still touches it.
func TestOutcomeReuse(t *testing.T) {
	var o Outcome[int]
	end := make(chan struct{})
	for i := range 2000 {
		go o.Complete(i)
		if v, err := o.Wait(context.Background(), end); err != nil || v != i {
			t.Fatalf("round %d: %d %v", i, v, err)
		}
		o.Reset()
	}
}
