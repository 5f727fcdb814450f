package idleread

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/race"
)

// loopback returns the two ends of a TCP connection on 127.0.0.1.
func loopback(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func TestWaitReadableLeavesTheBytes(t *testing.T) {
	client, server := loopback(t)
	if _, err := client.Write([]byte("VER 1 MSNP7\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := WaitReadable(server); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 64)
	n, err := server.Read(got)
	if err != nil || string(got[:n]) != "VER 1 MSNP7\r\n" {
		t.Fatalf("read after the wait: %q, %v", got[:n], err)
	}
}

func TestWaitReadableKeepsTheDeadline(t *testing.T) {
	_, server := loopback(t)
	_ = server.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	err := WaitReadable(server)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("wait on a silent connection: %v, want the deadline", err)
	}
}

func TestWaitReadableReturnsAtTheEnd(t *testing.T) {
	client, server := loopback(t)
	client.Close()
	if err := WaitReadable(server); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Read(make([]byte, 8)); err != io.EOF {
		t.Fatalf("read after the wait: %v, want EOF", err)
	}
}

func TestWaitReadableWakesWhenClosed(t *testing.T) {
	_, server := loopback(t)
	done := make(chan error)
	go func() { done <- WaitReadable(server) }()
	server.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("wait on a closed connection: %v", err)
	}
}

func TestWaitReadableNeedsASocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := WaitReadable(a); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("wait on a pipe: %v", err)
	}
}

// TestWaitReadsWhatItCannotWaitOn: on a source WaitReadable cannot wait
// on (a pipe, a TLS connection), Wait reads on its caller's goroutine, so
// that a read loop does not hand the wait to one of its workers; it reads
// one byte, holding no buffer while it waits.
func TestWaitReadsWhatItCannotWaitOn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	p := &readProbe{Conn: a}
	r := NewReader(p)
	heldWhileWaiting := 0
	p.onRead = func() {
		if r.Buffered() == 0 && r.buf != nil {
			heldWhileWaiting++
		}
	}
	go func() {
		_, _ = b.Write([]byte("PNG\r\n"))
		b.Close()
	}()
	r.Wait()
	if r.Buffered() == 0 {
		t.Fatal("nothing buffered after the wait")
	}
	if line, err := r.ReadSlice('\n'); err != nil || string(line) != "PNG\r\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	r.Wait()
	if _, err := r.ReadSlice('\n'); err != io.EOF {
		t.Fatalf("after the close: %v, want io.EOF", err)
	}
	if heldWhileWaiting != 0 {
		t.Fatalf("%d reads with nothing buffered held a buffer", heldWhileWaiting)
	}
}

// readProbe is a connection WaitReadable cannot wait on that lets a test
// look at its Reader before each read (on the reading goroutine).
type readProbe struct {
	net.Conn
	onRead func()
}

func (p *readProbe) Read(b []byte) (int, error) {
	p.onRead()
	return p.Conn.Read(b)
}

// probe is a socket that lets a test look at its Reader when the Reader
// waits on it (SyscallConn is called on the reading goroutine).
type probe struct {
	*net.TCPConn
	onWait func()
}

func (p *probe) SyscallConn() (syscall.RawConn, error) {
	p.onWait()
	return p.TCPConn.SyscallConn()
}

func TestIdleReaderHoldsNoBuffer(t *testing.T) {
	client, server := loopback(t)
	p := &probe{TCPConn: server}
	r := NewReader(p)
	var waits, heldWhileWaiting int
	p.onWait = func() {
		waits++
		if r.buf != nil {
			heldWhileWaiting++
		}
	}
	go func() {
		// The second line comes in two writes: the reader holds its
		// buffer (and the line's start) until the line is whole.
		_, _ = client.Write([]byte("CHG 5 NLN\r\nPNG"))
		time.Sleep(10 * time.Millisecond)
		_, _ = client.Write([]byte("\r\n"))
		time.Sleep(10 * time.Millisecond)
		_, _ = client.Write([]byte("OUT\r\n"))
		client.Close()
	}()
	var lines []string
	for {
		line, err := r.ReadSlice('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(line))
	}
	if got := strings.Join(lines, ""); got != "CHG 5 NLN\r\nPNG\r\nOUT\r\n" {
		t.Fatalf("read %q", got)
	}
	if waits < 3 || heldWhileWaiting != 0 {
		t.Fatalf("%d waits, %d of them holding a buffer; want at least 3, none holding one", waits, heldWhileWaiting)
	}
}

func TestNewReaderKeepsAReader(t *testing.T) {
	r := NewReader(strings.NewReader("x"))
	if NewReader(r) != r {
		t.Fatal("a Reader wrapped in another: bytes buffered twice")
	}
}

func TestRelease(t *testing.T) {
	r := NewReader(strings.NewReader("USR 1 MD5 I a@b\r\nOUT\r\n"))
	if _, err := r.ReadSlice('\n'); err != nil {
		t.Fatal(err)
	}
	r.Release()
	if r.buf != nil || r.Buffered() != 0 {
		t.Fatalf("released reader holds a buffer (%d bytes buffered)", r.Buffered())
	}
	if line, err := r.ReadSlice('\n'); err != io.EOF || len(line) != 0 {
		t.Fatalf("after Release: %q, %v; the buffered line should be gone", line, err)
	}
}

func TestReaderLongLine(t *testing.T) {
	long := strings.Repeat("x", BufferSize+10) + "\n"
	r := NewReader(iotest.HalfReader(strings.NewReader(long)))
	first, err := r.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) || len(first) != BufferSize {
		t.Fatalf("first slice: %d bytes, %v", len(first), err)
	}
	rest, err := r.ReadSlice('\n')
	if err != nil || len(rest) != 11 {
		t.Fatalf("rest: %d bytes, %v", len(rest), err)
	}
}

// FuzzMatchesBufio runs the same reads on a Reader and on a bufio.Reader
// of the same size over the same input and wants the same results.
func FuzzMatchesBufio(f *testing.F) {
	f.Add([]byte("VER 1 MSNP7 CVR0\r\nMSG 2 N 5\r\nhello"), []byte{0, 1, 2, 3, 4})
	f.Add(bytes.Repeat([]byte("ab\\"), 3000), []byte{2, 5, 8, 200, 17, 0})
	f.Add([]byte{}, []byte{1})
	f.Fuzz(func(t *testing.T, data, ops []byte) {
		if len(ops) == 0 || len(data) > 3*BufferSize {
			return
		}
		source := func() io.Reader {
			if ops[0]&1 == 0 {
				return iotest.OneByteReader(bytes.NewReader(data))
			}
			return iotest.HalfReader(bytes.NewReader(data))
		}
		ours, theirs := NewReader(source()), bufio.NewReaderSize(source(), BufferSize)
		for i := range 200 {
			op := ops[i%len(ops)]
			size := int(op) * 41 % (BufferSize + 200)
			var a, b []byte
			var errA, errB error
			switch op % 3 {
			case 0:
				delim := byte('\n')
				if op&4 != 0 {
					delim = '\\'
				}
				a, errA = ours.ReadSlice(delim)
				b, errB = theirs.ReadSlice(delim)
			case 1:
				a, errA = ours.Peek(size)
				b, errB = theirs.Peek(size)
			case 2:
				pa, pb := make([]byte, size), make([]byte, size)
				na, ea := ours.Read(pa)
				nb, eb := theirs.Read(pb)
				a, errA, b, errB = pa[:na], ea, pb[:nb], eb
			}
			if !bytes.Equal(a, b) || errA != errB {
				t.Fatalf("op %d (%d, size %d): got %q, %v; bufio %q, %v", i, op, size, a, errA, b, errB)
			}
			if ours.Buffered() != theirs.Buffered() {
				t.Fatalf("op %d: %d bytes buffered, bufio %d", i, ours.Buffered(), theirs.Buffered())
			}
			if errA == io.EOF && ours.Buffered() == 0 {
				return
			}
		}
	})
}

// TestReaderReadsASocketAtOnce: what a socket holds is read in one system
// call, into a buffer taken once the bytes are there, not after a wait
// that looks at them first.
func TestReaderReadsASocketAtOnce(t *testing.T) {
	client, server := loopback(t)
	if _, err := client.Write([]byte("VER 1 MSNP7\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := WaitReadable(server); err != nil {
		t.Fatal(err)
	}
	s := &countingSocket{TCPConn: server}
	r := NewReader(s)
	if line, err := r.ReadSlice('\n'); err != nil || string(line) != "VER 1 MSNP7\r\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	if s.calls != 1 {
		t.Fatalf("%d calls on the socket for bytes it held, want 1", s.calls)
	}
}

// countingSocket counts the system calls made on a socket, through its
// Read or its RawConn.
type countingSocket struct {
	*net.TCPConn
	calls    int
	rawConns int // SyscallConn calls
}

func (s *countingSocket) Read(p []byte) (int, error) {
	s.calls++
	return s.TCPConn.Read(p)
}

func (s *countingSocket) SyscallConn() (syscall.RawConn, error) {
	s.rawConns++
	rc, err := s.TCPConn.SyscallConn()
	return countingRawConn{RawConn: rc, calls: &s.calls}, err
}

type countingRawConn struct {
	syscall.RawConn
	calls *int
}

func (rc countingRawConn) Read(f func(fd uintptr) bool) error {
	return rc.RawConn.Read(func(fd uintptr) bool {
		*rc.calls++
		return f(fd)
	})
}

// TestReaderSocketErrors: a socket read directly fails as net.Conn's Read
// does: io.EOF at the end, the deadline and the close as net errors that
// name the connection.
func TestReaderSocketErrors(t *testing.T) {
	t.Run("end", func(t *testing.T) {
		client, server := loopback(t)
		_, _ = client.Write([]byte("OUT\r\n"))
		client.Close()
		r := NewReader(server)
		if line, err := r.ReadSlice('\n'); err != nil || string(line) != "OUT\r\n" {
			t.Fatalf("read %q, %v", line, err)
		}
		if _, err := r.ReadSlice('\n'); err != io.EOF {
			t.Fatalf("at the end: %v, want io.EOF", err)
		}
		if r.buf != nil {
			t.Fatal("the end left a buffer held")
		}
	})
	t.Run("deadline", func(t *testing.T) {
		_, server := loopback(t)
		_ = server.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		r := NewReader(server)
		_, err := r.ReadSlice('\n')
		var ne net.Error
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() || !strings.HasPrefix(err.Error(), "read tcp ") {
			t.Fatalf("silent connection: %v, want a timeout naming the connection", err)
		}
		if r.buf != nil {
			t.Fatal("the wait held a buffer")
		}
	})
	t.Run("closed", func(t *testing.T) {
		_, server := loopback(t)
		r := NewReader(server)
		done := make(chan error)
		go func() {
			_, err := r.ReadSlice('\n')
			done <- err
		}()
		time.Sleep(10 * time.Millisecond)
		server.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("closed connection: %v", err)
		}
	})
}

// ReadReady reads what a socket holds without waiting for more: nothing
// (and no buffer held) while the client is silent, its bytes in one read
// once it spoke, its end once it left; a source that is no socket is left
// for the next read to wait on.
func TestReadReady(t *testing.T) {
	client, server := loopback(t)
	r := NewReader(server)
	if r.ReadReady(nil) {
		t.Fatal("ready on a silent socket")
	}
	if r.buf != nil {
		t.Fatal("a silent socket left a buffer held")
	}
	if _, err := client.Write([]byte("PNG\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := WaitReadable(server); err != nil {
		t.Fatal(err)
	}
	if !r.ReadReady(nil) || r.Buffered() != len("PNG\r\n") {
		t.Fatalf("after the client spoke: %d bytes buffered, want %d", r.Buffered(), len("PNG\r\n"))
	}
	if !r.ReadReady(nil) {
		t.Fatal("not ready with a line buffered")
	}
	if line, err := r.ReadSlice('\n'); err != nil || string(line) != "PNG\r\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	client.Close()
	if err := WaitReadable(server); err != nil {
		t.Fatal(err)
	}
	if !r.ReadReady(nil) {
		t.Fatal("not ready at the end")
	}
	if _, err := r.ReadSlice('\n'); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if !NewReader(a).ReadReady(nil) {
		t.Fatal("a pipe, which the next read waits on, not ready")
	}
}

// MayHaveMore holds while the last read filled the buffer, so the socket
// may hold more, and not once a read took less than there was room for.
func TestMayHaveMore(t *testing.T) {
	client, server := loopback(t)
	r := NewReader(server)
	if _, err := client.Write(bytes.Repeat([]byte("x"), BufferSize+10)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Peek(BufferSize); err != nil {
		t.Fatal(err)
	}
	if !r.MayHaveMore() {
		t.Fatal("a read that filled the buffer: MayHaveMore false")
	}
	if _, err := r.Read(make([]byte, BufferSize)); err != nil {
		t.Fatal(err)
	}
	if err := WaitReadable(server); err != nil {
		t.Fatal(err)
	}
	if !r.ReadReady(nil) || r.Buffered() != 10 {
		t.Fatalf("the rest: %d bytes buffered, want 10", r.Buffered())
	}
	if r.MayHaveMore() {
		t.Fatal("a read of less than the room: MayHaveMore true")
	}
}

// A frame reader made over a Reader reads through that Reader, so that
// nothing is buffered twice; over anything else it sets up its own.
func TestWithinSharesAReader(t *testing.T) {
	shared := NewReader(strings.NewReader("one\ntwo\n"))
	var own Reader
	if got := Within(&own, shared); got != shared {
		t.Fatalf("Within over a Reader = %p, want that Reader %p", got, shared)
	}
	if got := Within(&own, strings.NewReader("x\n")); got != &own {
		t.Fatalf("Within over a strings.Reader = %p, want own %p", got, &own)
	}
	if line, err := own.ReadSlice('\n'); string(line) != "x\n" || err != nil {
		t.Fatalf("own read %q, %v; want \"x\\n\"", line, err)
	}
}

// ReadReady reads through the RawConn its caller holds: the source is
// not asked for one.
func TestReadReadyThroughHeldRawConn(t *testing.T) {
	client, server := loopback(t)
	s := &countingSocket{TCPConn: server}
	r := NewReader(s)
	rc, err := server.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if r.ReadReady(rc) || s.rawConns != 0 {
		t.Fatalf("on a silent socket: asked the source for %d RawConns, want none", s.rawConns)
	}
	if _, err := client.Write([]byte("PNG\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := WaitReadable(server); err != nil {
		t.Fatal(err)
	}
	if !r.ReadReady(rc) || r.Buffered() != len("PNG\r\n") {
		t.Fatalf("after the client spoke: %d bytes buffered, want %d", r.Buffered(), len("PNG\r\n"))
	}
	if s.rawConns != 0 {
		t.Fatalf("asked the source for %d RawConns, want none", s.rawConns)
	}
}

// A Reader over a *net.TCPConn itself, as net.Dial makes it, reads with
// no allocation: the socket's RawConn is made once, not on every read.
func TestDialedSocketReadsWithoutAllocating(t *testing.T) {
	if race.Enabled {
		t.Skip("the race detector drops pooled buffers at random")
	}
	client, server := loopback(t)
	r := NewReader(server)
	line := []byte("PNG\r\n")
	read := func() {
		if _, err := client.Write(line); err != nil {
			t.Fatal(err)
		}
		if got, err := r.ReadSlice('\n'); err != nil || string(got) != string(line) {
			t.Fatalf("read %q, %v", got, err)
		}
	}
	read()
	if allocs := testing.AllocsPerRun(100, read); allocs != 0 {
		t.Fatalf("%.2f allocations a line read, want 0", allocs)
	}
}
