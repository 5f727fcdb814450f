//go:build unix

package outbox

import "syscall"

// writeNonblocking writes p to the non-blocking socket fd and returns how
// many bytes it took, 0 or less when it took none (full, or failed).
func writeNonblocking(fd uintptr, p []byte) int {
	n, err := syscall.Write(int(fd), p)
	if err != nil {
		return 0
	}
	return n
}
