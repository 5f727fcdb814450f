//go:build unix && (race || msan || asan)

package rawio

import "syscall"

// Read reads from the non-blocking descriptor fd into p, as syscall.Read,
// which tells the race detector and the sanitizers about it.
func Read(fd uintptr, p []byte) (int, error) { return syscall.Read(int(fd), p) }

// Write writes p to the non-blocking descriptor fd, as syscall.Write.
func Write(fd uintptr, p []byte) (int, error) { return syscall.Write(int(fd), p) }
