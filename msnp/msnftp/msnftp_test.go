package msnftp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	cookie   = 1234567890
	passport = "bob@example.com"
)

// tcpPair returns two ends of a loopback TCP connection; dialer is the end
// that called Dial.
func tcpPair(t testing.TB) (listener, dialer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			c = nil
		}
		ch <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	l := <-ch
	if l == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { l.Close(); d.Close() })
	return l, d
}

// conns returns the sender's and the receiver's connection; with
// senderConnect the receiver listens and the sender dials.
func conns(t testing.TB, senderConnect bool) (snd, rcv net.Conn) {
	l, d := tcpPair(t)
	if senderConnect {
		return d, l
	}
	return l, d
}

func testData(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

type result struct {
	n   int64
	err error
}

// run transfers data, returning the sender's and the receiver's errors and
// what the receiver wrote.
func run(t testing.TB, snd, rcv net.Conn, sctx, rctx context.Context, sopts SendOptions, ropts ReceiveOptions, r io.Reader, w io.Writer) (sendErr error, res result) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- Send(sctx, snd, sopts, r) }()
	n, err := Receive(rctx, rcv, ropts, w)
	select {
	case sendErr = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Send hangs")
	}
	return sendErr, result{n, err}
}

func TestTransfer(t *testing.T) {
	for _, size := range []int{0, 1, MaxBlock, MaxBlock + 1, 3 << 20} {
		for _, sc := range []bool{false, true} {
			t.Run(fmt.Sprintf("size=%d/senderConnect=%v", size, sc), func(t *testing.T) {
				data := testData(size)
				snd, rcv := conns(t, sc)
				var out bytes.Buffer
				var lastS, lastR int64
				sopts := SendOptions{AuthCookie: cookie, ExpectUser: "Bob@Example.COM", Size: int64(size),
					Progress: func(n int64) { lastS = n }}
				ropts := ReceiveOptions{Passport: passport, AuthCookie: cookie, MaxSize: 4 << 20,
					Progress: func(n int64) { lastR = n }}
				serr, res := run(t, snd, rcv, t.Context(), t.Context(), sopts, ropts, bytes.NewReader(data), &out)
				if serr != nil || res.err != nil {
					t.Fatalf("Send: %v, Receive: %v", serr, res.err)
				}
				if res.n != int64(size) || sha256.Sum256(out.Bytes()) != sha256.Sum256(data) {
					t.Fatalf("received %d bytes, hash mismatch or wrong size (want %d)", res.n, size)
				}
				if lastS != int64(size) || lastR != int64(size) {
					t.Errorf("progress: sender %d, receiver %d, want %d", lastS, lastR, size)
				}
			})
		}
	}
}

func TestWrongCookie(t *testing.T) {
	snd, rcv := conns(t, false)
	serr, res := run(t, snd, rcv, t.Context(), t.Context(),
		SendOptions{AuthCookie: cookie, Size: 10}, ReceiveOptions{Passport: passport, AuthCookie: cookie + 1},
		bytes.NewReader(make([]byte, 10)), io.Discard)
	if !errors.Is(serr, ErrBadCookie) {
		t.Errorf("Send: %v, want ErrBadCookie", serr)
	}
	if res.err == nil || res.n != 0 {
		t.Errorf("Receive: %d, %v; want an error", res.n, res.err)
	}
}

func TestWrongUser(t *testing.T) {
	snd, rcv := conns(t, true)
	serr, res := run(t, snd, rcv, t.Context(), t.Context(),
		SendOptions{AuthCookie: cookie, ExpectUser: "alice@example.com", Size: 10}, ReceiveOptions{Passport: passport, AuthCookie: cookie},
		bytes.NewReader(make([]byte, 10)), io.Discard)
	if !errors.Is(serr, ErrBadUser) || res.err == nil {
		t.Errorf("Send: %v, Receive: %v", serr, res.err)
	}
}

func TestReceiverCancels(t *testing.T) {
	snd, rcv := conns(t, false)
	rctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	size := 3 << 20
	serr, res := run(t, snd, rcv, t.Context(), rctx,
		SendOptions{AuthCookie: cookie, Size: int64(size)},
		ReceiveOptions{Passport: passport, AuthCookie: cookie, Progress: func(n int64) {
			if n >= 20000 {
				cancel()
			}
		}},
		bytes.NewReader(testData(size)), io.Discard)
	if !errors.Is(serr, ErrCancelled) {
		t.Errorf("Send: %v, want ErrCancelled", serr)
	}
	if !errors.Is(res.err, context.Canceled) || res.n >= int64(size) {
		t.Errorf("Receive: %d, %v; want context.Canceled", res.n, res.err)
	}
}

func TestSenderCancels(t *testing.T) {
	snd, rcv := conns(t, true)
	sctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	size := 3 << 20
	serr, res := run(t, snd, rcv, sctx, t.Context(),
		SendOptions{AuthCookie: cookie, Size: int64(size), Progress: func(n int64) {
			if n >= 20000 {
				cancel()
			}
		}},
		ReceiveOptions{Passport: passport, AuthCookie: cookie},
		bytes.NewReader(testData(size)), io.Discard)
	if !errors.Is(serr, context.Canceled) {
		t.Errorf("Send: %v, want context.Canceled", serr)
	}
	if !errors.Is(res.err, ErrSenderCancelled) {
		t.Errorf("Receive: %d, %v; want ErrSenderCancelled", res.n, res.err)
	}
}

func TestSizeLies(t *testing.T) {
	snd, rcv := conns(t, false)
	var out bytes.Buffer
	serr, res := run(t, snd, rcv, t.Context(), t.Context(),
		SendOptions{AuthCookie: cookie, Size: 10000}, ReceiveOptions{Passport: passport, AuthCookie: cookie},
		bytes.NewReader(testData(5000)), &out)
	if !errors.Is(serr, ErrSizeMismatch) {
		t.Errorf("Send: %v, want ErrSizeMismatch", serr)
	}
	if !errors.Is(res.err, ErrSenderCancelled) || res.n != int64(out.Len()) || res.n > 5000 {
		t.Errorf("Receive: %d, %v; want ErrSenderCancelled", res.n, res.err)
	}
}

func TestMaxSize(t *testing.T) {
	snd, rcv := conns(t, false)
	serr, res := run(t, snd, rcv, t.Context(), t.Context(),
		SendOptions{AuthCookie: cookie, Size: 1000}, ReceiveOptions{Passport: passport, AuthCookie: cookie, MaxSize: 999},
		bytes.NewReader(testData(1000)), io.Discard)
	if !errors.Is(serr, ErrCancelled) {
		t.Errorf("Send: %v, want ErrCancelled", serr)
	}
	if !errors.Is(res.err, ErrTooLarge) || res.n != 0 {
		t.Errorf("Receive: %d, %v; want ErrTooLarge", res.n, res.err)
	}
}

func TestExactSize(t *testing.T) {
	for _, tc := range []struct{ sent, invited int64 }{{999, 1000}, {1, 0}, {1000, 999}} {
		snd, rcv := conns(t, false)
		serr, res := run(t, snd, rcv, t.Context(), t.Context(),
			SendOptions{AuthCookie: cookie, Size: tc.sent},
			ReceiveOptions{Passport: passport, AuthCookie: cookie, MaxSize: tc.invited, ExactSize: true},
			bytes.NewReader(testData(int(tc.sent))), io.Discard)
		if !errors.Is(serr, ErrCancelled) {
			t.Errorf("%d for %d: Send: %v, want ErrCancelled", tc.sent, tc.invited, serr)
		}
		if !errors.Is(res.err, ErrSizeMismatch) || res.n != 0 {
			t.Errorf("%d for %d: Receive: %d, %v; want ErrSizeMismatch", tc.sent, tc.invited, res.n, res.err)
		}
	}
	snd, rcv := conns(t, false)
	serr, res := run(t, snd, rcv, t.Context(), t.Context(),
		SendOptions{AuthCookie: cookie, Size: 0}, ReceiveOptions{Passport: passport, AuthCookie: cookie, ExactSize: true},
		bytes.NewReader(nil), io.Discard)
	if serr != nil || res.err != nil || res.n != 0 {
		t.Errorf("empty file: %v, %d %v", serr, res.n, res.err)
	}
}

type failWriter struct{ left int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, errors.New("disk full")
	}
	w.left -= len(p)
	return len(p), nil
}

func TestDiskFull(t *testing.T) {
	snd, rcv := conns(t, false)
	serr, res := run(t, snd, rcv, t.Context(), t.Context(),
		SendOptions{AuthCookie: cookie, Size: 100000}, ReceiveOptions{Passport: passport, AuthCookie: cookie},
		bytes.NewReader(testData(100000)), &failWriter{left: 5000})
	var be *ByeError
	if !errors.As(serr, &be) || be.Code != ByeOutOfDisk {
		t.Errorf("Send: %v, want BYE %d", serr, ByeOutOfDisk)
	}
	if res.err == nil || res.n != 5000 {
		t.Errorf("Receive: %d, %v", res.n, res.err)
	}
}

// The receiver's Commit runs once the whole file is written and before
// BYE: the sender's success means the file was kept, and a failed commit
// reaches the sender as BYE out of disk.
func TestCommit(t *testing.T) {
	for _, size := range []int{0, MaxBlock + 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			snd, rcv := conns(t, false)
			var out bytes.Buffer
			var committed []byte
			serr, res := run(t, snd, rcv, t.Context(), t.Context(),
				SendOptions{AuthCookie: cookie, Size: int64(size)},
				ReceiveOptions{Passport: passport, AuthCookie: cookie, Commit: func() error {
					committed = bytes.Clone(out.Bytes())
					return nil
				}},
				bytes.NewReader(testData(size)), &out)
			if serr != nil || res.err != nil || len(committed) != size {
				t.Fatalf("Send: %v, Receive: %v, committed %d of %d bytes", serr, res.err, len(committed), size)
			}

			snd, rcv = conns(t, false)
			failed := errors.New("cannot keep it")
			serr, res = run(t, snd, rcv, t.Context(), t.Context(),
				SendOptions{AuthCookie: cookie, Size: int64(size)},
				ReceiveOptions{Passport: passport, AuthCookie: cookie, Commit: func() error { return failed }},
				bytes.NewReader(testData(size)), io.Discard)
			var be *ByeError
			if !errors.As(serr, &be) || be.Code != ByeOutOfDisk {
				t.Errorf("Send: %v, want BYE %d", serr, ByeOutOfDisk)
			}
			if !errors.Is(res.err, failed) || res.n != int64(size) {
				t.Errorf("Receive: %d, %v", res.n, res.err)
			}
		})
	}
}

// fake plays one side by hand: it runs script on the connection with a
// line reader.
func fake(t *testing.T, c net.Conn, script func(br *bufio.Reader, c net.Conn)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		script(bufio.NewReader(c), c)
	}()
	return done
}

func expect(t *testing.T, br *bufio.Reader, want string) {
	line, err := br.ReadString('\n')
	if err != nil || strings.TrimRight(line, "\r\n") != want {
		t.Errorf("fake got %q, %v; want %q", line, err, want)
	}
}

func TestReceiverLFOnly(t *testing.T) {
	snd, rcv := conns(t, false)
	data := testData(3000)
	var got bytes.Buffer
	done := fake(t, rcv, func(br *bufio.Reader, c net.Conn) {
		io.WriteString(c, "VER MSNFTP\n")
		expect(t, br, "VER MSNFTP")
		io.WriteString(c, "\nUSR bob@example.com 1234567890\n")
		expect(t, br, "FIL 3000")
		io.WriteString(c, "TFR\n")
		for got.Len() < 3000 {
			var h [3]byte
			io.ReadFull(br, h[:])
			if _, err := io.CopyN(&got, br, int64(h[1])|int64(h[2])<<8); err != nil {
				t.Error(err)
				return
			}
		}
		io.WriteString(c, "BYE 16777989\n")
	})
	if err := Send(t.Context(), snd, SendOptions{AuthCookie: cookie, Size: 3000}, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	<-done
	if !bytes.Equal(got.Bytes(), data) {
		t.Error("data mismatch")
	}
}

func TestBadVer(t *testing.T) {
	snd, rcv := conns(t, false)
	done := fake(t, rcv, func(br *bufio.Reader, c net.Conn) {
		io.WriteString(c, "VER MSNP8 CVR0\r\n")
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("sender did not close: %v", err)
		}
	})
	err := Send(t.Context(), snd, SendOptions{AuthCookie: cookie, Size: 3}, strings.NewReader("abc"))
	if !errors.Is(err, ErrProtocol) {
		t.Errorf("Send: %v, want ErrProtocol", err)
	}
	<-done
}

func TestLongLine(t *testing.T) {
	snd, rcv := conns(t, false)
	done := fake(t, rcv, func(br *bufio.Reader, c net.Conn) {
		c.Write(bytes.Repeat([]byte("A"), 100000))
		io.Copy(io.Discard, br)
	})
	err := Send(t.Context(), snd, SendOptions{AuthCookie: cookie, Size: 3}, strings.NewReader("abc"))
	if !errors.Is(err, ErrLineTooLong) {
		t.Errorf("Send: %v, want ErrLineTooLong", err)
	}
	<-done
}

// The sender vanishes mid-file: Receive fails at once.
func TestSenderDisappears(t *testing.T) {
	snd, rcv := conns(t, false)
	done := fake(t, snd, func(br *bufio.Reader, c net.Conn) {
		expect(t, br, "VER MSNFTP")
		io.WriteString(c, "VER MSNFTP\r\n")
		expect(t, br, "USR bob@example.com 1234567890")
		io.WriteString(c, "FIL 5000\r\n")
		expect(t, br, "TFR")
		c.Write([]byte{0, 0xfd, 0x07})
		c.Write(make([]byte, 1000))
	})
	start := time.Now()
	n, err := Receive(t.Context(), rcv, ReceiveOptions{Passport: passport, AuthCookie: cookie}, io.Discard)
	if err == nil || n != 0 || time.Since(start) > 5*time.Second {
		t.Errorf("Receive: %d, %v after %v", n, err, time.Since(start))
	}
	<-done
}

// The receiver vanishes mid-file: Send fails at once.
func TestReceiverDisappears(t *testing.T) {
	snd, rcv := conns(t, true)
	done := fake(t, rcv, func(br *bufio.Reader, c net.Conn) {
		io.WriteString(c, "VER MSNFTP\r\n")
		expect(t, br, "VER MSNFTP")
		io.WriteString(c, "USR bob@example.com 1234567890\r\n")
		expect(t, br, "FIL 8388608")
		io.WriteString(c, "TFR\r\n")
		io.CopyN(io.Discard, br, 10000)
	})
	start := time.Now()
	err := Send(t.Context(), snd, SendOptions{AuthCookie: cookie, Size: 8 << 20}, bytes.NewReader(make([]byte, 8<<20)))
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("Send: %v after %v", err, time.Since(start))
	}
	<-done
}

// A receiver that stays silent after the file: the step timeout ends Send.
func TestSilentReceiver(t *testing.T) {
	snd, rcv := conns(t, false)
	stop := make(chan struct{})
	done := fake(t, rcv, func(br *bufio.Reader, c net.Conn) {
		io.WriteString(c, "VER MSNFTP\r\nUSR bob@example.com 1234567890\r\nTFR\r\n")
		<-stop
	})
	err := Send(t.Context(), snd, SendOptions{AuthCookie: cookie, Size: 10, StepTimeout: 200 * time.Millisecond}, bytes.NewReader(make([]byte, 10)))
	if !isTimeout(err) {
		t.Errorf("Send: %v, want a timeout", err)
	}
	close(stop)
	<-done
}

// A sender that stalls mid-file: the receiver gives up with BYE ByeTimeout.
func TestSilentSender(t *testing.T) {
	snd, rcv := conns(t, false)
	done := fake(t, snd, func(br *bufio.Reader, c net.Conn) {
		io.WriteString(c, "VER MSNFTP\r\nFIL 10\r\n")
		c.Write([]byte{0, 5, 0, 1, 2, 3, 4, 5})
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Errorf("no BYE: %v", err)
				return
			}
			if strings.HasPrefix(line, "BYE") {
				if line != "BYE 2164261694\r\n" {
					t.Errorf("got %q", line)
				}
				return
			}
		}
	})
	n, err := Receive(t.Context(), rcv, ReceiveOptions{Passport: passport, AuthCookie: cookie, StepTimeout: 200 * time.Millisecond}, io.Discard)
	if !isTimeout(err) || n != 5 {
		t.Errorf("Receive: %d, %v", n, err)
	}
	<-done
}

// countConn counts the writes made on a connection.
type countConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// writeLog counts the writes made to it and keeps what they carried.
type writeLog struct {
	bytes.Buffer
	writes int
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// Blocks are small: the sender writes many in one system call, and the
// receiver gathers the data of many into one write to the file.
func TestBlocksGathered(t *testing.T) {
	const size = 1 << 20
	data := testData(size)
	snd, rcv := conns(t, false)
	var sendWrites atomic.Int64
	var out writeLog
	serr, res := run(t, countConn{snd, &sendWrites}, rcv, t.Context(), t.Context(),
		SendOptions{AuthCookie: cookie, Size: size}, ReceiveOptions{Passport: passport, AuthCookie: cookie},
		bytes.NewReader(data), &out)
	if serr != nil || res.err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("Send: %v, Receive: %d, %v", serr, res.n, res.err)
	}
	blocks := (size + MaxBlock - 1) / MaxBlock
	// VER and FIL, then the blocks.
	if n := sendWrites.Load(); n > int64(2+(blocks+sendBatch-1)/sendBatch) {
		t.Errorf("the sender wrote %d times for %d blocks", n, blocks)
	}
	// However the network cuts the stream, a write to the file takes all
	// the blocks one read brought in; a read brings at most
	// receiveBuffer bytes, and usually far more than one block.
	if out.writes > blocks/4 {
		t.Errorf("the receiver wrote %d times for %d blocks", out.writes, blocks)
	}
}

// heldReader reads from r once open is closed.
type heldReader struct {
	open <-chan struct{}
	r    io.Reader
}

func (h heldReader) Read(p []byte) (int, error) {
	<-h.open
	return h.r.Read(p)
}

// A batch of blocks goes out with what the reader has, without waiting for
// the reader to fill it: here the rest of the file comes only once the
// receiver has the first blocks.
func TestSendDoesNotWaitForABatch(t *testing.T) {
	const first, size = 10*MaxBlock + 7, 200 << 10
	data := testData(size)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	open := make(chan struct{})
	var once sync.Once
	snd, rcv := conns(t, false)
	var out bytes.Buffer
	serr, res := run(t, snd, rcv, ctx, ctx,
		SendOptions{AuthCookie: cookie, Size: size},
		ReceiveOptions{Passport: passport, AuthCookie: cookie, Progress: func(n int64) {
			if n >= 10*MaxBlock {
				once.Do(func() { close(open) })
			}
		}},
		io.MultiReader(bytes.NewReader(data[:first]), heldReader{open, bytes.NewReader(data[first:])}), &out)
	if serr != nil || res.err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("Send: %v, Receive: %d, %v", serr, res.n, res.err)
	}
}

// The sender cancels right behind some data: that data is written before
// Receive returns.
func TestDataBeforeCancelWritten(t *testing.T) {
	snd, rcv := conns(t, false)
	done := fake(t, snd, func(br *bufio.Reader, c net.Conn) {
		io.WriteString(c, "VER MSNFTP\r\n")
		expect(t, br, "VER MSNFTP")
		expect(t, br, "USR bob@example.com 1234567890")
		io.WriteString(c, "FIL 100\r\n")
		expect(t, br, "TFR")
		c.Write([]byte{0, 5, 0, 'h', 'e', 'l', 'l', 'o', 0, 1, 0, '!', 1, 0, 0})
		io.Copy(io.Discard, br)
	})
	var out bytes.Buffer
	n, err := Receive(t.Context(), rcv, ReceiveOptions{Passport: passport, AuthCookie: cookie}, &out)
	if !errors.Is(err, ErrSenderCancelled) || n != 6 || out.String() != "hello!" {
		t.Errorf("Receive: %d %q, %v; want 6 \"hello!\", ErrSenderCancelled", n, out.String(), err)
	}
	<-done
}

// recConn records every Write, in the order they happen across both ends.
type recConn struct {
	net.Conn
	who string
	mu  *sync.Mutex
	log *[]string
}

func (c recConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if len(b) > 0 && b[0] < ' ' {
		for p := b; len(p) >= 3; {
			n := int(p[1]) | int(p[2])<<8
			*c.log = append(*c.log, fmt.Sprintf("%s [block %d, %d bytes]", c.who, p[0], n))
			p = p[min(len(p), 3+n):]
		}
	} else {
		for line := range strings.Lines(string(b)) {
			*c.log = append(*c.log, c.who+" "+strings.TrimRight(line, "\r\n"))
		}
	}
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func TestGoldenTranscript(t *testing.T) {
	snd, rcv := conns(t, false)
	var mu sync.Mutex
	var log []string
	data := testData(MaxBlock + 1)
	var out bytes.Buffer
	serr, res := run(t, recConn{snd, "S:", &mu, &log}, recConn{rcv, "R:", &mu, &log}, t.Context(), t.Context(),
		SendOptions{AuthCookie: cookie, Size: int64(len(data))}, ReceiveOptions{Passport: passport, AuthCookie: cookie},
		bytes.NewReader(data), &out)
	if serr != nil || res.err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("Send: %v, Receive: %v", serr, res.err)
	}
	got := strings.Join(log, "\n") + "\n"
	path := filepath.Join("testdata", "transcript_2046.txt")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("transcript:\n%s\nwant:\n%s", got, want)
	}
}

func BenchmarkTransfer(b *testing.B) {
	const size = 8 << 20
	data := testData(size)
	b.SetBytes(size)
	for b.Loop() {
		snd, rcv := conns(b, false)
		serr, res := run(b, snd, rcv, b.Context(), b.Context(),
			SendOptions{AuthCookie: cookie, Size: size}, ReceiveOptions{Passport: passport, AuthCookie: cookie},
			bytes.NewReader(data), io.Discard)
		if serr != nil || res.err != nil || res.n != size {
			b.Fatal(serr, res)
		}
	}
}

// TestCancelledAfterStop: asking whether a transfer was cancelled never
// blocks, whether the context watcher ran, was stopped before it could, or
// the connection was closed first.
func TestCancelledAfterStop(t *testing.T) {
	for _, first := range []string{"close", "cancelled twice"} {
		a, b := net.Pipe()
		defer b.Close()
		ctx, cancel := context.WithCancel(context.Background())
		p := newPeer(ctx, a, time.Second, bufio.NewReaderSize(a, 64))
		if first == "close" {
			p.close()
		}
		cancel()
		done := make(chan struct{})
		go func() {
			p.cancelled()
			p.cancelled()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: cancelled() blocks", first)
		}
		p.close()
	}
}
