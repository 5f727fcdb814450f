package metrics

import (
	"testing"
	"time"
)

// BenchmarkMessageRelayObserve measures what timing one relayed message
// costs the server: reading the clock and observing the histogram.
func BenchmarkMessageRelayObserve(b *testing.B) {
	h := MessageRelaySeconds.WithLabelValues("bench")
	readAt := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		h.Observe(time.Since(readAt).Seconds())
	}
}

// BenchmarkCommandCounter measures counting one command: its counter
// looked up once and kept, against looking it up by its labels each time.
func BenchmarkCommandCounter(b *testing.B) {
	b.Run("kept", func(b *testing.B) {
		c := NewCounters(Commands, "bench")
		for b.Loop() {
			c.Of("MESG").Inc()
		}
	})
	b.Run("by-labels", func(b *testing.B) {
		for b.Loop() {
			Commands.WithLabelValues("bench", "MESG").Inc()
		}
	})
}
