package metrics

import "testing"

// Counters count under their labels, each series apart from the others.
func TestCounters(t *testing.T) {
	c := NewCounters(Commands, "test")
	c.Of("PING").Inc()
	c.Of("PING").Inc()
	c.Of("MSG").Inc()
	if got := Value(Commands.WithLabelValues("test", "PING")); got != 2 {
		t.Errorf("PING counted %v, want 2", got)
	}
	if got := Value(Commands.WithLabelValues("test", "MSG")); got != 1 {
		t.Errorf("MSG counted %v, want 1", got)
	}
}
