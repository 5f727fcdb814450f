package server

import (
	"testing"
	"unsafe"
)

// What an idle session keeps here stays within the size classes it was
// cut to (BenchmarkIdleSession in cmd/crosstalk measures the whole).
func TestIdleStateSize(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 320 {
		t.Errorf("a connection keeps %d bytes, want at most 320", n)
	}
}
