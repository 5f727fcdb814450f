//go:build unix

package rawio

import (
	"bytes"
	"errors"
	"syscall"
	"testing"
)

// FuzzReadWrite writes whatever bytes to a non-blocking socket pair in
// pieces of whatever size, and reads them back in pieces of another: what
// Write reports taken arrives whole and in order, Read never reports more
// than its buffer holds, and an emptied socket reads EAGAIN.
func FuzzReadWrite(f *testing.F) {
	f.Add([]byte("VER 0 MSNP7\r\n"), uint16(5), uint16(3))
	f.Add([]byte{}, uint16(0), uint16(0))
	f.Add(bytes.Repeat([]byte{0xff}, 4096), uint16(1000), uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, writeSize, readSize uint16) {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fds[0])
		defer syscall.Close(fds[1])
		for _, fd := range fds {
			if err := syscall.SetNonblock(fd, true); err != nil {
				t.Fatal(err)
			}
		}
		a, b := uintptr(fds[0]), uintptr(fds[1])
		var got []byte
		buf := make([]byte, int(readSize)%8192+1)
		drain := func() {
			for {
				n, err := Read(b, buf)
				if errors.Is(err, syscall.EAGAIN) {
					return
				}
				if err != nil || n <= 0 || n > len(buf) {
					t.Fatalf("read: %d, %v", n, err)
				}
				got = append(got, buf[:n]...)
			}
		}
		step := int(writeSize)%8192 + 1
		for rest := data; len(rest) > 0; {
			n, err := Write(a, rest[:min(step, len(rest))])
			switch {
			case errors.Is(err, syscall.EAGAIN):
				drain()
				continue
			case err != nil || n <= 0 || n > min(step, len(rest)):
				t.Fatalf("write: %d, %v", n, err)
			}
			rest = rest[n:]
		}
		drain()
		if !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes, wrote %d, or changed", len(got), len(data))
		}
	})
}
