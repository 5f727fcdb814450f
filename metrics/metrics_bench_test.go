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
