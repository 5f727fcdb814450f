package offstack

import (
	"reflect"
	"runtime"
	"testing"
)

func TestPollerFunction(t *testing.T) {
	if name := runtime.FuncForPC(reflect.ValueOf((*poller).wait).Pointer()).Name(); name != PollerFunction {
		t.Fatalf("the poller runs %s, PollerFunction says %s", name, PollerFunction)
	}
}
