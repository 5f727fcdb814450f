package outbox

import (
	"errors"
	"io"
	"net"
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
