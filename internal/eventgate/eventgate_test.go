package eventgate

import (
	"testing"

	"github.com/crosstalk-im/crosstalk/hub"
)

func TestGateKeepsOrder(t *testing.T) {
	var g Gate
	var got []string
	deliver := func(ev hub.Event) bool { got = append(got, ev.Text); return true }
	g.Deliver(hub.Event{Text: "1"}, deliver)
	g.Deliver(hub.Event{Text: "2"}, deliver)
	if len(got) != 0 {
		t.Fatalf("delivered through a closed gate: %v", got)
	}
	g.Open(deliver, func(hub.Event) { t.Fatal("a message was refused") })
	g.Deliver(hub.Event{Text: "3"}, deliver)
	if want := []string{"1", "2", "3"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestGateHandsBackWhatItCannotDeliver(t *testing.T) {
	var g Gate
	message := hub.Event{Kind: hub.EventMessage, Message: &hub.Message{Text: "hi"}}
	for range MaxHeld {
		if !g.Deliver(message, nil) {
			t.Fatal("refused before the bound")
		}
	}
	if g.Deliver(message, nil) {
		t.Fatal("held more than MaxHeld events")
	}
	var back int
	g.Discard(func(ev hub.Event) { back++ })
	if back != MaxHeld {
		t.Fatalf("%d of %d held messages handed back", back, MaxHeld)
	}
	if g.Deliver(message, func(hub.Event) bool { return false }) {
		t.Fatal("a refused event counted as taken")
	}
}
