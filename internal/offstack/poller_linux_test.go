package offstack

import (
	"bufio"
	"reflect"
	"runtime"
	"testing"
	"unsafe"

	"github.com/crosstalk-im/crosstalk/metrics"
)

func TestPollerFunction(t *testing.T) {
	if name := runtime.FuncForPC(reflect.ValueOf((*poller).wait).Pointer()).Name(); name != PollerFunction {
		t.Fatalf("the poller runs %s, PollerFunction says %s", name, PollerFunction)
	}
}

// A waiting connection's record stays within the size class it was cut
// to.
func TestLoopSize(t *testing.T) {
	if n := unsafe.Sizeof(loop{}); n > 96 {
		t.Errorf("a waiting connection's record is %d bytes, want at most 96", n)
	}
}

// Each time a waiting connection becomes readable, the worker that reads
// it counts how long it waited for one, once.
func TestWakeupTimed(t *testing.T) {
	clients, _ := serveEcho(t, 1, 0)
	br := bufio.NewReader(clients[0])
	roundTrip(t, clients[0], br, "first")
	for i := range 3 {
		before := metrics.Value(metrics.WakeupSeconds)
		roundTrip(t, clients[0], br, "again")
		if got := metrics.Value(metrics.WakeupSeconds) - before; got != 1 {
			t.Fatalf("round trip %d: %v wake-ups timed, want 1", i, got)
		}
	}
}
