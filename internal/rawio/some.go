//go:build unix

package rawio

// WriteSome writes p to the non-blocking socket fd and returns how many
// bytes it took, 0 or less when it took none (full, or failed): for a
// writer that leaves the rest, and any failure, to a write that waits.
func WriteSome(fd uintptr, p []byte) int {
	n, _ := Write(fd, p)
	return n
}
