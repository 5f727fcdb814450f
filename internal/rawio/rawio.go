//go:build unix && !race && !msan && !asan

// Package rawio reads and writes non-blocking sockets without telling the
// Go scheduler that a system call is under way. syscall.Read and Write
// hand the goroutine's processor over for the call's length; a write to a
// loopback socket runs the receiver's TCP processing too, long enough that
// the runtime's monitor takes the processor away and wakes another thread
// to run it, and the writer then waits for a processor of its own: thread
// switches on every reply. A call on a non-blocking socket never waits
// (EAGAIN instead), so it may keep its processor like any other short
// computation, as RawSyscall does. Builds with the race, memory or address
// sanitizer keep the syscall package's calls, whose annotations those
// tools need.
package rawio

import (
	"syscall"
	"unsafe"
)

// Read reads from the non-blocking descriptor fd into p, as syscall.Read.
func Read(fd uintptr, p []byte) (int, error) {
	return call(syscall.SYS_READ, fd, p)
}

// Write writes p to the non-blocking descriptor fd, as syscall.Write.
func Write(fd uintptr, p []byte) (int, error) {
	return call(syscall.SYS_WRITE, fd, p)
}

func call(trap, fd uintptr, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, errno := syscall.RawSyscall(trap, fd, uintptr(ptr), uintptr(len(p)))
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}
