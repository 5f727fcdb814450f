package readbatch

import (
	"context"
	"slices"
	"testing"
)

// holder notes its holds and releases in a shared log.
type holder struct {
	name string
	log  *[]string
}

func (h *holder) Hold()    { *h.log = append(*h.log, "hold "+h.name) }
func (h *holder) Release() { *h.log = append(*h.log, "release "+h.name) }

// A command alone runs without a batch; one with more behind it starts
// one, which the commands after it share until End, which releases the
// connections held in it, in the order they were first held, before the
// reader's own output, and leaves no batch behind.
func TestBatchSpansBufferedCommands(t *testing.T) {
	var log []string
	own, gg, msn := &holder{"own", &log}, &holder{"gg", &log}, &holder{"msn", &log}
	base := context.Background()
	var b Batch
	if ctx := b.Context(base, false); ctx != base {
		t.Fatal("a lone command got a batch")
	}
	b.End(own)
	first := b.Context(base, true)
	if first == base {
		t.Fatal("a command with more behind it got no batch")
	}
	b.run.held.Hold(gg)
	if last := b.Context(base, false); last != first {
		t.Fatal("the last command of a batch got a context of its own")
	}
	b.run.held.Hold(msn)
	b.run.held.Hold(gg)
	b.End(own)
	want := []string{"release own", "hold gg", "hold msn", "release gg", "release msn", "release own"}
	if !slices.Equal(log, want) {
		t.Fatalf("log %q, want %q", log, want)
	}
	if b.run != nil || b.Context(base, false) != base {
		t.Fatal("the batch outlived End")
	}
}
