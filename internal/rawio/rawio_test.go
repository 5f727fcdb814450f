//go:build unix

package rawio

import (
	"errors"
	"syscall"
	"testing"
)

// TestReadWrite: bytes written to one end of a non-blocking socket pair
// are read at the other; an empty socket reports EAGAIN, and a closed
// descriptor EBADF, as the syscall package does.
func TestReadWrite(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	for _, fd := range fds {
		if err := syscall.SetNonblock(fd, true); err != nil {
			t.Fatal(err)
		}
	}
	a, b := uintptr(fds[0]), uintptr(fds[1])
	buf := make([]byte, 16)
	if n, err := Read(b, buf); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("read of an empty socket: %d, %v", n, err)
	}
	if n, err := Write(a, []byte("VER 0 MSNP7\r\n")); n != 13 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if n, err := Write(a, nil); n != 0 || err != nil {
		t.Fatalf("empty write: %d, %v", n, err)
	}
	if n, err := Read(b, buf); n != 13 || err != nil || string(buf[:n]) != "VER 0 MSNP7\r\n" {
		t.Fatalf("read: %d %q, %v", n, buf[:max(n, 0)], err)
	}
	syscall.Close(fds[1])
	if n, err := Read(b, buf); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("read of a closed descriptor: %d, %v", n, err)
	}
	if n, err := Read(a, buf); n != 0 || err != nil {
		t.Fatalf("read after the peer closed: %d, %v (want 0, nil: the end)", n, err)
	}
}
