package server

import (
	"testing"
	"unsafe"
)

// What an idle session keeps here stays within the size classes it was
// cut to (BenchmarkIdleSession in cmd/crosstalk measures the whole).
func TestIdleStateSize(t *testing.T) {
	if c, f := unsafe.Sizeof(conn{}), unsafe.Sizeof(frames{}); c > 256 || f > 104 {
		t.Errorf("a connection keeps %d + %d bytes, want at most 256 + 104", c, f)
	}
}
