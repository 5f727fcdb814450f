package server

import (
	"testing"
	"unsafe"
)

// What an idle session keeps here stays within the size classes it was
// cut to (BenchmarkIdleSession in cmd/crosstalk measures the whole).
func TestIdleStateSize(t *testing.T) {
	if n, c := unsafe.Sizeof(nsConn{}), unsafe.Sizeof(conn{}); n > 224 || c > 176 {
		t.Errorf("a notification connection keeps %d + %d bytes, want at most 224 + 176", n, c)
	}
}
