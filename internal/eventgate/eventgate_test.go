package eventgate

import (
	"testing"

	"github.com/crosstalk-im/crosstalk/hub"
)

func TestGateKeepsOrder(t *testing.T) {
	var g Gate
	var got []string
	deliver := func(ev hub.Event) { got = append(got, ev.Text) }
	g.Deliver(hub.Event{Text: "1"}, deliver)
	g.Deliver(hub.Event{Text: "2"}, deliver)
	if len(got) != 0 {
		t.Fatalf("delivered through a closed gate: %v", got)
	}
	g.Open(deliver)
	g.Deliver(hub.Event{Text: "3"}, deliver)
	if want := []string{"1", "2", "3"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("got %v, want %v", got, want)
	}
}
