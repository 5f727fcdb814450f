//go:build unix

package outbox

import "github.com/crosstalk-im/crosstalk/internal/rawio"

// writeNonblocking writes p to the non-blocking socket fd and returns how
// many bytes it took, 0 or less when it took none (full, or failed). It
// keeps the goroutine's processor (see rawio).
func writeNonblocking(fd uintptr, p []byte) int {
	n, err := rawio.Write(fd, p)
	if err != nil {
		return 0
	}
	return n
}
