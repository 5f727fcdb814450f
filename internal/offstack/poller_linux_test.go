package offstack

import (
	"reflect"
	"runtime"
	"testing"
	"unsafe"
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
