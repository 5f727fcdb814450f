package outbox

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

func pipe(t *testing.T) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

func TestOrderAndCloseAfter(t *testing.T) {
	server, client := pipe(t)
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
	server, client := pipe(t)
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

func TestReceiptsWhenWritten(t *testing.T) {
	server, client := pipe(t)
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
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range 10 {
		if f := r.fates[i]; len(f) != 1 || !f[0] {
			t.Errorf("write %d settled as %v, want [true]", i, f)
		}
	}
}

// A client that stops reading: every tracked write is settled exactly once,
// and the ones settled as written are exactly a prefix of what the client
// can still read from its socket.
func TestReceiptsWhenClientStopsReading(t *testing.T) {
	server, client := pipe(t)
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
	server, _ := pipe(t)
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
