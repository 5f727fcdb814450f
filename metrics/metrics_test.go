package metrics

import "testing"

// CommandCounter and MessageCounter count under their labels, each
// series apart from the others.
func TestCounters(t *testing.T) {
	CommandCounter("test", "PING").Inc()
	CommandCounter("test", "PING").Inc()
	CommandCounter("test", "MSG").Inc()
	MessageCounter("test").Inc()
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"PING", Value(Commands.WithLabelValues("test", "PING")), 2},
		{"MSG", Value(Commands.WithLabelValues("test", "MSG")), 1},
		{"messages", Value(Messages.WithLabelValues("test")), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s counted %v, want %v", c.name, c.got, c.want)
		}
	}
}
