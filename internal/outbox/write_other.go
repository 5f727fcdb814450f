//go:build !unix

package outbox

// writeNonblocking writes nothing here: the write goroutine writes all.
func writeNonblocking(uintptr, []byte) int { return 0 }
