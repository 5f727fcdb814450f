package clientconn

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

var errClosed = errors.New("test client: connection closed")

// event is what the test client's reader makes of a line, or its end.
type event struct {
	line  string
	cause error // set on the last event
}

// pair connects a core to a server socket over loopback and runs a reader
// that turns every line into an event.
func pair(t *testing.T, buffer int) (*Conn[event], net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c := New[event](nc, buffer, errClosed, time.Second)
	rd := bufio.NewReader(nc)
	go c.Run(func() error {
		line, err := rd.ReadString('\n')
		if err != nil {
			return err
		}
		if !c.Emit(event{line: strings.TrimSpace(line)}) {
			return errors.New("overflow")
		}
		return nil
	}, func(cause error) event { return event{cause: cause} })
	t.Cleanup(c.Close)
	return c, srv
}

func next(t *testing.T, c *Conn[event]) event {
	t.Helper()
	select {
	case ev := <-c.Events():
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
		return event{}
	}
}

// Events arrive in order; Close ends the connection with the client's
// closed error, queues the last event before Done, and every call after it
// says the connection is closed.
func TestEventsAndClose(t *testing.T) {
	c, srv := pair(t, 8)
	if _, err := io.WriteString(srv, "one\ntwo\n"); err != nil {
		t.Fatal(err)
	}
	if a, b := next(t, c), next(t, c); a.line != "one" || b.line != "two" {
		t.Fatalf("events %+v %+v", a, b)
	}
	if c.Err() != nil {
		t.Fatalf("Err while up: %v", c.Err())
	}
	c.Close()
	select {
	case <-c.Done():
	default:
		t.Fatal("Done open after Close")
	}
	if last := next(t, c); last.cause != errClosed {
		t.Fatalf("last event %+v", last)
	}
	if _, ok := <-c.Events(); ok {
		t.Fatal("events after the last one")
	}
	if c.Err() != errClosed || c.ClosedErr() != errClosed {
		t.Fatalf("Err %v, ClosedErr %v", c.Err(), c.ClosedErr())
	}
	called := false
	if err := c.Send(context.Background(), func() ([]byte, error) { called = true; return nil, nil }); err != errClosed || called {
		t.Fatalf("Send after Close: %v, prepare called %v", err, called)
	}
	c.Close() // a second Close is harmless
}

// The peer hanging up is the cause; the closed error wraps it, and the
// first cause recorded wins over later ones.
func TestCauseOfTheEnd(t *testing.T) {
	c, srv := pair(t, 8)
	srv.Close()
	if last := next(t, c); !errors.Is(last.cause, io.EOF) {
		t.Fatalf("last event %+v", last)
	}
	<-c.Done()
	if err := c.ClosedErr(); !errors.Is(err, errClosed) || !errors.Is(err, io.EOF) {
		t.Fatalf("ClosedErr %v", err)
	}
	c.Fail(errors.New("later"))
	if !errors.Is(c.Err(), io.EOF) {
		t.Fatalf("Err %v after a later Fail", c.Err())
	}
}

// A full event buffer reports false, which the reader turns into the end.
func TestEmitFull(t *testing.T) {
	c, srv := pair(t, 1)
	if _, err := io.WriteString(srv, "one\ntwo\n"); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if c.Err() == nil || c.Err().Error() != "overflow" {
		t.Fatalf("Err %v", c.Err())
	}
	if ev := next(t, c); ev.line != "one" {
		t.Fatalf("kept %+v", ev)
	}
}

// Concurrent sends go out whole and in the order of their prepare calls;
// a prepare that fails writes nothing.
func TestSendOrderAndWholeness(t *testing.T) {
	c, srv := pair(t, 8)
	if err := c.Send(context.Background(), func() ([]byte, error) { return nil, errors.New("cannot encode") }); err == nil || err.Error() != "cannot encode" {
		t.Fatalf("prepare error: %v", err)
	}
	if c.Err() != nil {
		t.Fatalf("a prepare error ended the connection: %v", c.Err())
	}
	var (
		mu    sync.Mutex
		order []string
		wg    sync.WaitGroup
	)
	for i := range 50 {
		wg.Go(func() {
			err := c.Send(context.Background(), func() ([]byte, error) {
				line := strings.Repeat(string(rune('a'+i%26)), 1000+i) + "\n"
				mu.Lock()
				order = append(order, line)
				mu.Unlock()
				return []byte(line), nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := c.Write(context.Background(), []byte("end\n")); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(srv)
	for i, want := range append(order, "end\n") {
		got, err := rd.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("line %d: %d bytes, %v; want %d bytes", i, len(got), err, len(want))
		}
	}
}

// Await takes a value, a context's end or the connection's end; a value
// there before the end still wins.
func TestAwait(t *testing.T) {
	c, _ := pair(t, 8)
	ready := make(chan int, 1)
	ready <- 7
	if v, err := Await(context.Background(), c, ready); v != 7 || err != nil {
		t.Fatalf("Await %v, %v", v, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Await(ctx, c, make(chan int)); err != context.Canceled {
		t.Fatalf("Await with a done context: %v", err)
	}
	ready <- 8
	c.Close()
	if v, err := Await(context.Background(), c, ready); v != 8 || err != nil {
		t.Fatalf("Await of a value before the end: %v, %v", v, err)
	}
	if _, err := Await(context.Background(), c, make(chan int)); err != errClosed {
		t.Fatalf("Await after the end: %v", err)
	}
}

// A write cut off by the caller's deadline reports that deadline
// (context.DeadlineExceeded), not the socket's timeout, and ends the
// connection with it.
func TestSendPastDeadline(t *testing.T) {
	c, _ := pair(t, 8)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	err := c.Send(ctx, func() ([]byte, error) { return []byte("late\n"), nil })
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errClosed) {
		t.Fatalf("Send = %v", err)
	}
	<-c.Done()
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v", c.Err())
	}
}

// While held, what is sent waits and so do the events; Flush writes it all
// in one write, in the order sent, and hands the events over after it.
// SendAppend frames in the kept buffer, held or not.
func TestHoldAndFlush(t *testing.T) {
	c, srv := pair(t, 8)
	c.Hold()
	if err := c.Write(context.Background(), []byte("one\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendAppend(context.Background(), func(dst []byte) ([]byte, error) { return append(dst, "two\n"...), nil }); err != nil {
		t.Fatal(err)
	}
	if err := c.SendAppend(context.Background(), func(dst []byte) ([]byte, error) { return append(dst, "lost"...), errors.New("no") }); err == nil {
		t.Fatal("SendAppend kept its frame's error")
	}
	if !c.Emit(event{line: "held"}) {
		t.Fatal("Emit while held")
	}
	select {
	case ev := <-c.Events():
		t.Fatalf("event %+v before Flush", ev)
	default:
	}
	_ = srv.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b [64]byte
	if n, err := srv.Read(b[:]); n > 0 || err == nil {
		t.Fatalf("read %q, %v before Flush", b[:n], err)
	}
	if err := c.Flush(errors.New("overflow")); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, c); ev.line != "held" {
		t.Fatalf("event %+v", ev)
	}
	_ = srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(srv, b[:len("one\ntwo\n")]); err != nil || string(b[:len("one\ntwo\n")]) != "one\ntwo\n" {
		t.Fatalf("read %q, %v", b[:len("one\ntwo\n")], err)
	}
	// Not held: written at once.
	if err := c.SendAppend(context.Background(), func(dst []byte) ([]byte, error) { return append(dst, "three\n"...), nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(srv, b[:len("three\n")]); err != nil || string(b[:len("three\n")]) != "three\n" {
		t.Fatalf("read %q, %v", b[:len("three\n")], err)
	}
	if !c.Emit(event{line: "now"}) {
		t.Fatal("Emit")
	}
	if ev := next(t, c); ev.line != "now" {
		t.Fatalf("event %+v", ev)
	}
}

// Flush gives its overflow error when the held events do not fit.
func TestFlushOverflow(t *testing.T) {
	c, _ := pair(t, 1)
	c.Hold()
	c.Emit(event{line: "one"})
	c.Emit(event{line: "two"})
	overflow := errors.New("overflow")
	if err := c.Flush(overflow); err != overflow {
		t.Fatalf("Flush = %v", err)
	}
}
