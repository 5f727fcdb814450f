package msnftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// TestAcceptFrom: a connection from another host than the peer's is
// closed, and the peer's is taken; AcceptOne takes anyone's; a silent
// port gives up after the timeout.
func TestAcceptFrom(t *testing.T) {
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	dialFrom := func(l net.Listener, from string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatalf("cannot dial from %s: %v", from, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	l := listen()
	stranger := dialFrom(l, "127.0.0.2")
	peer := dialFrom(l, "127.0.0.1")
	nc, err := AcceptFrom(context.Background(), l, 5*time.Second, net.ParseIP("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := nc.RemoteAddr().String(); got != peer.LocalAddr().String() {
		t.Fatalf("took %s, want the peer's %s", got, peer.LocalAddr())
	}
	stranger.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := stranger.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the stranger's connection: %v, want it closed", err)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Fatal("the port stays open after the transfer's connection")
	}

	l = listen()
	anyone := dialFrom(l, "127.0.0.2")
	if nc, err := AcceptOne(context.Background(), l, 5*time.Second); err != nil || nc.RemoteAddr().String() != anyone.LocalAddr().String() {
		t.Fatalf("AcceptOne: %v, %v", nc, err)
	} else {
		nc.Close()
	}

	if _, err := AcceptOne(context.Background(), listen(), 50*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent port: %v", err)
	}
}

// TestReceiveStored: the store gets the whole file before the sender hears
// BYE; a store that fails makes the sender hear the receiver is out of
// disk, and the file's transfer fail.
func TestReceiveStored(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("store fails %v", fail), func(t *testing.T) {
			snd, rcv := conns(t, false)
			data := testData(10_000)
			var kept bytes.Buffer
			done := make(chan error, 1)
			go func() {
				done <- Send(context.Background(), snd, SendOptions{AuthCookie: cookie, Size: int64(len(data))}, bytes.NewReader(data))
			}()
			err := ReceiveStored(context.Background(), rcv, ReceiveOptions{Passport: passport, AuthCookie: cookie, MaxSize: int64(len(data)), ExactSize: true},
				time.Second, func(ctx context.Context, r io.Reader) error {
					if _, err := io.Copy(&kept, r); err != nil {
						return err
					}
					if fail {
						return errors.New("disk full")
					}
					return nil
				})
			sendErr := <-done
			if fail {
				var bye *ByeError
				if err == nil || !errors.As(sendErr, &bye) || bye.Code != ByeOutOfDisk {
					t.Fatalf("receive %v, send %v", err, sendErr)
				}
				return
			}
			if err != nil || sendErr != nil || !bytes.Equal(kept.Bytes(), data) {
				t.Fatalf("receive %v, send %v, kept %d bytes", err, sendErr, kept.Len())
			}
		})
	}
}
