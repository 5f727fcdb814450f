package outbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
	"github.com/crosstalk-im/crosstalk/internal/race"
)

func TestOrderAndCloseAfter(t *testing.T) {
	server, client := fakeserver.TCPPair(t)
	o := New(server, 1<<20, time.Second)
	for _, s := range []string{"one ", "two ", "three "} {
		if err := o.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	o.CloseAfter([]byte("OUT SSD\r\n"))
	if err := o.Write([]byte("late")); err == nil {
		t.Fatal("write after CloseAfter succeeded")
	}
	got, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "one two three OUT SSD\r\n" {
		t.Fatalf("client read %q", got)
	}
	o.Wait()
}

func TestOverflowClosesConnection(t *testing.T) {
	server, client := fakeserver.TCPPair(t)
	o := New(server, 1<<16, 100*time.Millisecond)
	chunk := make([]byte, 1<<15)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = o.Write(chunk)
	}
	if !errors.Is(err, ErrOverflow) && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("writing to a client that never reads: %v", err)
	}
	if o.Err() == nil {
		t.Fatal("outbox did not record why it closed")
	}
	o.Wait()
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, client); err != nil {
		t.Fatalf("connection was not closed: %v", err)
	}
}

// receipts records every tracked write's fate by its index.
type receipts struct {
	mu    sync.Mutex
	fates map[int][]bool
}

func (r *receipts) track(i int) Receipt {
	return func(written bool) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fates == nil {
			r.fates = make(map[int][]bool)
		}
		r.fates[i] = append(r.fates[i], written)
	}
}

// expect checks that tracked write i settled once, as written[i] says.
func (r *receipts) expect(t *testing.T, written ...bool) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, want := range written {
		if f := r.fates[i]; len(f) != 1 || f[0] != want {
			t.Errorf("write %d settled as %v, want [%v]", i, f, want)
		}
	}
}

func TestReceiptsWhenWritten(t *testing.T) {
	server, client := fakeserver.TCPPair(t)
	o := New(server, 1<<20, time.Second)
	var r receipts
	for i := range 10 {
		if err := o.WriteTracked([]byte("message\n"), r.track(i)); err != nil {
			t.Fatal(err)
		}
	}
	o.CloseAfter(nil)
	got, err := io.ReadAll(client)
	if err != nil || len(got) != 80 {
		t.Fatalf("client read %d bytes, %v", len(got), err)
	}
	o.Wait()
	r.expect(t, slices.Repeat([]bool{true}, 10)...)
}

// A client that stops reading: every tracked write is settled exactly once,
// and the ones settled as written are exactly a prefix of what the client
// can still read from its socket.
func TestReceiptsWhenClientStopsReading(t *testing.T) {
	server, client := fakeserver.TCPPair(t)
	o := New(server, 4096, 200*time.Millisecond)
	var r receipts
	const n = 5000
	chunk := bytes.Repeat([]byte("x"), 999)
	accepted := 0
	for i := range n {
		line := append(append([]byte(nil), chunk...), '\n')
		if err := o.WriteTracked(line, r.track(i)); err != nil {
			break
		}
		accepted++
	}
	if accepted == n {
		t.Fatal("the outbox never overflowed")
	}
	o.Wait()
	got, _ := io.ReadAll(client)
	lines := bytes.Count(got, []byte("\n"))
	r.mu.Lock()
	defer r.mu.Unlock()
	written := 0
	for i := range n {
		f := r.fates[i]
		if i >= accepted {
			if len(f) != 0 {
				t.Fatalf("write %d was never queued but settled %v", i, f)
			}
			continue
		}
		if len(f) != 1 {
			t.Fatalf("write %d settled %d times", i, len(f))
		}
		if f[0] {
			if written != i {
				t.Fatalf("write %d written after a dropped one", i)
			}
			written++
		}
	}
	if written > lines {
		t.Fatalf("%d writes settled as written, the client got %d lines", written, lines)
	}
}

func TestReceiptsOnClose(t *testing.T) {
	server, _ := fakeserver.TCPPair(t)
	o := New(server, 1<<20, time.Second)
	o.Close()
	var r receipts
	if err := o.WriteTracked([]byte("late"), r.track(0)); err == nil {
		t.Fatal("write after Close succeeded")
	}
	if f := r.fates[0]; len(f) != 0 {
		t.Fatalf("a refused write's receipt was called: %v", f)
	}
}

// countingConn counts the writes that reach a connection. With failAt
// set, a write hands on at most the bytes up to that offset of the stream
// and then fails, as a connection does when the client goes.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
	sent   int
	failAt int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	if c.failAt > 0 && c.sent+len(p) > c.failAt {
		n, _ := c.Conn.Write(p[:c.failAt-c.sent])
		c.sent += n
		return n, errors.New("connection reset")
	}
	n, err := c.Conn.Write(p)
	c.sent += n
	return n, err
}

func (c *countingConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// What a command's handler queues while the outbox is held, and what
// other goroutines queue meanwhile, leaves in one write, in order.
func TestHoldWritesOnce(t *testing.T) {
	server, client := fakeserver.TCPPair(t)
	conn := &countingConn{Conn: server}
	o := New(conn, 1<<20, time.Second)
	var r receipts
	o.Hold()
	o.Write([]byte("USR 5 OK alice@example.com Alice\r\n"))
	var wg sync.WaitGroup
	wg.Go(func() { o.WriteTracked([]byte("NLN NLN bob@example.com Bob\r\n"), r.track(0)) })
	wg.Wait()
	o.WriteTracked([]byte("MSG Hotmail Hotmail 3\r\nhi!"), r.track(1))
	o.mu.Lock()
	writing := o.writing
	o.mu.Unlock()
	if writing || conn.count() != 0 {
		t.Fatalf("writing while held (%d writes so far)", conn.count())
	}
	o.Release()
	want := "USR 5 OK alice@example.com Alice\r\nNLN NLN bob@example.com Bob\r\nMSG Hotmail Hotmail 3\r\nhi!"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != want {
		t.Fatalf("client read %q, %v", got, err)
	}
	o.Wait()
	if n := conn.count(); n != 1 {
		t.Errorf("%d writes for three held ones, want 1", n)
	}
	r.expect(t, true, true)
}

// A write that fails part way through what a hold kept settles the
// tracked writes it carried all through as written, and every other one
// as dropped, each once.
func TestHoldReceiptsOnFailedWrite(t *testing.T) {
	server, _ := fakeserver.TCPPair(t)
	frames := []string{"first\r\n", "second\r\n", "third\r\n"}
	conn := &countingConn{Conn: server, failAt: len(frames[0]) + 3}
	o := New(conn, 1<<20, time.Second)
	var r receipts
	o.Hold()
	for i, f := range frames {
		if err := o.WriteTracked([]byte(f), r.track(i)); err != nil {
			t.Fatal(err)
		}
	}
	o.Release()
	o.Wait()
	if o.Err() == nil {
		t.Error("the failed write was not recorded")
	}
	if n := conn.count(); n != 1 {
		t.Errorf("%d writes, want 1", n)
	}
	r.expect(t, true, false, false)
}

// Wait writes what is held (a writer waiting for its receipts must get
// them), and so do CloseAfter and a hold that grew to maxHeldBytes.
func TestHoldEndsEarly(t *testing.T) {
	t.Run("Wait", func(t *testing.T) {
		server, _ := fakeserver.TCPPair(t)
		o := New(server, 1<<20, time.Second)
		var r receipts
		o.Hold()
		o.WriteTracked([]byte("message\r\n"), r.track(0))
		o.Wait()
		r.expect(t, true)
	})
	t.Run("CloseAfter", func(t *testing.T) {
		server, client := fakeserver.TCPPair(t)
		o := New(server, 1<<20, time.Second)
		o.Hold()
		o.Write([]byte("reply\r\n"))
		o.CloseAfter([]byte("OUT\r\n"))
		if got, err := io.ReadAll(client); err != nil || string(got) != "reply\r\nOUT\r\n" {
			t.Errorf("client read %q, %v", got, err)
		}
	})
	t.Run("maxHeldBytes", func(t *testing.T) {
		server, client := fakeserver.TCPPair(t)
		o := New(server, 1<<20, time.Second)
		o.Hold()
		defer o.Release()
		o.Write(bytes.Repeat([]byte("x"), maxHeldBytes-1))
		o.Write([]byte("y"))
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(client, make([]byte, maxHeldBytes)); err != nil {
			t.Errorf("a full hold was not written: %v", err)
		}
	})
}

// wakeFunc is a Waker that calls itself.
type wakeFunc func()

func (f wakeFunc) Wake() { f() }

// A reader that waits without a goroutine learns when the outbox closes
// the connection or ends its reads: Close, CloseAfter's last words and an
// overflow each wake it; CloseWriteAfter, whose reader reads on, does not.
func TestWakeReader(t *testing.T) {
	cases := []struct {
		name  string
		close func(o *Outbox)
		wakes bool
	}{
		{"Close", func(o *Outbox) { o.Close() }, true},
		{"CloseAfter", func(o *Outbox) { o.CloseAfter([]byte("bye")); o.Wait() }, true},
		{"overflow", func(o *Outbox) { _ = o.Write(make([]byte, 2<<10)) }, true},
		{"CloseWriteAfter", func(o *Outbox) { o.CloseWriteAfter([]byte("bye")); o.Wait() }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			server, _ := fakeserver.TCPPair(t)
			o := New(server, 1<<10, time.Second)
			var wakes int
			o.WakeReader(wakeFunc(func() { wakes++ }))
			tc.close(o)
			// A reader that comes after the close is woken at once.
			late := New(server, 1<<10, time.Second)
			tc.close(late)
			lateWakes := 0
			late.WakeReader(wakeFunc(func() { lateWakes++ }))
			if lateWakes != 1 {
				t.Fatalf("a reader after the close was woken %d times, want once", lateWakes)
			}
			if got := wakes > 0; got != tc.wakes {
				t.Fatalf("woken %d times, want woken: %v", wakes, tc.wakes)
			}
			if tc.wakes {
				return
			}
			// Its reader reads on until Finish closes for good.
			o.Close()
			if wakes == 0 {
				t.Fatal("the close that ended the lingering did not wake the reader")
			}
		})
	}
}

// A write the socket has room for leaves on the writer's goroutine: its
// receipt is settled before WriteTracked returns, and no write goroutine
// starts. A write the socket refuses at once (here: a write deadline
// already past) goes to the write goroutine, which writes it.
func TestWriteWithoutWaiting(t *testing.T) {
	server, client := fakeserver.TCPPair(t)
	o := New(server, 1<<20, time.Second)
	var r receipts
	if err := o.WriteTracked([]byte("first\r\n"), r.track(0)); err != nil {
		t.Fatal(err)
	}
	r.expect(t, true)
	o.mu.Lock()
	writing := o.writing
	o.mu.Unlock()
	if writing {
		t.Error("a write goroutine started for a write the socket had room for")
	}
	_ = server.SetWriteDeadline(time.Now().Add(-time.Second))
	if err := o.WriteTracked([]byte("second\r\n"), r.track(1)); err != nil {
		t.Fatal(err)
	}
	o.Wait()
	r.expect(t, true, true)
	want := "first\r\nsecond\r\n"
	got := make([]byte, len(want))
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != want {
		t.Fatalf("client read %q, %v", got, err)
	}
}

// Last words the socket has room for close the connection on the
// caller's goroutine: no write goroutine starts for a connection that
// ends, and the client still reads them, then the end.
func TestCloseAfterWithoutWaiting(t *testing.T) {
	server, client := fakeserver.TCPPair(t)
	o := New(server, 1<<20, time.Second)
	var wakes int
	o.WakeReader(wakeFunc(func() { wakes++ }))
	o.CloseAfter([]byte("OUT\r\n"))
	o.mu.Lock()
	writing, closed := o.writing, o.closed
	o.mu.Unlock()
	if writing || !closed {
		t.Fatalf("after CloseAfter: write goroutine %v, closed %v; want none, closed", writing, closed)
	}
	if wakes != 1 {
		t.Fatalf("reader woken %d times, want once", wakes)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(client); err != nil || string(got) != "OUT\r\n" {
		t.Fatalf("client read %q, %v", got, err)
	}
	o.Close() // ends the lingering, as Finish does
}

// Write keeps no reference to the caller's bytes, held or not taken by the
// socket at once: the caller may build the next command in them.
func TestWriteKeepsNoReference(t *testing.T) {
	server, client := fakeserver.TCPPair(t)
	o := New(server, 64<<20, 10*time.Second)
	buf := []byte("one ")
	o.Hold()
	if err := o.Write(buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXX")
	o.Release()
	// More than the socket takes at once, so that the rest waits.
	big := bytes.Repeat([]byte("a"), 16<<20)
	if err := o.Write(big); err != nil {
		t.Fatal(err)
	}
	for i := range big {
		big[i] = 'b'
	}
	o.CloseAfter(nil)
	got, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	if want := "one " + strings.Repeat("a", 16<<20); string(got) != want {
		t.Fatalf("client read %d bytes, %q…, changed after Write returned", len(got), got[:min(len(got), 16)])
	}
	o.Wait()
}

// TestBatchesShareBuffers: outboxes that hold batch after batch, each
// written while another fills, take their buffers from the pool that the
// last written ones went back to, never a caller's bytes, and every
// client reads its own bytes, whole and in order.
func TestBatchesShareBuffers(t *testing.T) {
	const outboxes, batches, perBatch, unheld = 4, 200, 32, 4
	var wg sync.WaitGroup
	for i := range outboxes {
		server, client := fakeserver.TCPPair(t)
		o := New(server, 1<<20, 10*time.Second)
		var want bytes.Buffer
		line := make([]byte, 0, 64)
		for b := range batches {
			for m := range perBatch + unheld {
				line = fmt.Appendf(line[:0], "MSG %d %d %d\r\n", i, b, m)
				want.Write(line)
			}
		}
		wg.Go(func() {
			for b := range batches {
				o.Hold()
				for m := range perBatch {
					line = fmt.Appendf(line[:0], "MSG %d %d %d\r\n", i, b, m)
					if err := o.Write(line); err != nil {
						t.Error(err)
						return
					}
				}
				o.Release()
				// Written at once from the caller's bytes, which it
				// then uses again: none of them is the pool's.
				for m := perBatch; m < perBatch+unheld; m++ {
					line = fmt.Appendf(line[:0], "MSG %d %d %d\r\n", i, b, m)
					if err := o.Write(line); err != nil {
						t.Error(err)
						return
					}
				}
			}
			o.CloseAfter(nil)
		})
		wg.Go(func() {
			got, err := io.ReadAll(client)
			if err != nil || !bytes.Equal(got, want.Bytes()) {
				t.Errorf("client %d read %d bytes (%v), want %d: the first that differs at %d", i, len(got), err, want.Len(), firstDifference(got, want.Bytes()))
			}
		})
	}
	wg.Wait()
}

func firstDifference(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// A held write that the socket takes at release costs no allocation: its
// buffer comes from the pool and goes back to it, box and all.
func TestHeldWriteWithoutAllocating(t *testing.T) {
	if race.Enabled {
		t.Skip("the race detector drops pooled buffers at random")
	}
	server, client := fakeserver.TCPPair(t)
	go io.Copy(io.Discard, client)
	o := New(server, 1<<20, 10*time.Second)
	line := []byte("MSG a@b.c Alice 5\r\nhello")
	write := func() {
		o.Hold()
		if err := o.Write(line); err != nil {
			t.Fatal(err)
		}
		o.Release()
	}
	write()
	if allocs := testing.AllocsPerRun(100, write); allocs != 0 {
		t.Fatalf("%.2f allocations a held write, want 0", allocs)
	}
}
