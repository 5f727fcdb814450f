package hub

import (
	"testing"
	"unsafe"
)

// What an idle session keeps here stays within the size classes it was
// cut to (BenchmarkIdleSession in cmd/crosstalk measures the whole).
func TestIdleStateSize(t *testing.T) {
	if n := unsafe.Sizeof(Session{}); n > 240 {
		t.Errorf("a session keeps %d bytes, want at most 240", n)
	}
}
