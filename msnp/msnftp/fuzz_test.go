package msnftp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// fuzzPair dials ln and returns both ends as TCP connections.
func fuzzPair(t *testing.T, ln net.Listener) (accepted, dialed *net.TCPConn) {
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a == nil {
		t.Fatal("accept failed")
	}
	return a.(*net.TCPConn), d.(*net.TCPConn)
}

func listen(f *testing.F) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close() })
	return ln
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// FuzzReceive feeds Receive arbitrary bytes from a fake sender after a
// correct handshake announcing size.
func FuzzReceive(f *testing.F) {
	f.Add(uint16(5), uint16(0), []byte{0, 5, 0, 'h', 'e', 'l', 'l', 'o'})
	f.Add(uint16(5), uint16(0), []byte{0, 2, 0, 'h', 'e', 0, 3, 0, 'l', 'l', 'o', 0, 0, 0})
	f.Add(uint16(5), uint16(0), []byte{0, 6, 0, 'h', 'e', 'l', 'l', 'o', '!'})
	f.Add(uint16(3000), uint16(0), append([]byte{0, 0xfe, 0x07}, make([]byte, 2046)...))
	f.Add(uint16(5), uint16(0), []byte{1, 0, 0})
	f.Add(uint16(5), uint16(0), []byte{2, 1, 0, 0})
	f.Add(uint16(10), uint16(4), []byte{})
	f.Add(uint16(0), uint16(0), []byte{})
	ln := listen(f)
	f.Fuzz(func(t *testing.T, size, maxSize uint16, data []byte) {
		snd, rcv := fuzzPair(t, ln)
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer snd.Close()
			snd.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(snd)
			br.ReadString('\n') // VER
			io.WriteString(snd, "VER MSNFTP\r\n")
			br.ReadString('\n') // USR
			fmt.Fprintf(snd, "FIL %d\r\n", size)
			if line, _ := br.ReadString('\n'); line == "TFR\r\n" {
				snd.Write(data)
			}
			snd.CloseWrite()
			io.Copy(io.Discard, br)
		}()
		ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
		defer cancel()
		var w countWriter
		start := time.Now()
		n, err := Receive(ctx, rcv, ReceiveOptions{Passport: passport, AuthCookie: cookie, MaxSize: int64(maxSize), StepTimeout: 2 * time.Second}, &w)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Receive took %v", d)
		}
		if n != w.n || n > int64(size) {
			t.Errorf("Receive returned %d, wrote %d, announced %d", n, w.n, size)
		}
		if err == nil && n != int64(size) {
			t.Errorf("success with %d of %d bytes", n, size)
		}
		<-done
	})
}

// FuzzSend feeds Send arbitrary bytes from a fake receiver.
func FuzzSend(f *testing.F) {
	f.Add([]byte("VER MSNFTP\r\nUSR bob@example.com 1234567890\r\nTFR\r\nBYE 16777989\r\n"))
	f.Add([]byte("VER MSNFTP\nUSR bob@example.com 1234567890\nTFR\nCCL\n"))
	f.Add([]byte("VER MSNFTP\r\nUSR bob@example.com 1234567890\r\nTFR\r\nBYE 2147942405\r\n"))
	f.Add([]byte("VER MSNFTP\r\nUSR bob@example.com 1\r\n"))
	f.Add([]byte("VER MSNFTP\r\nUSR bob@example.com 1234567890\r\nCCL\r\n"))
	f.Add([]byte("VER MSNFTP\r\n\r\n\r\nUSR bob@example.com 1234567890\r\nTFR\r\nBYE\r\n"))
	f.Add([]byte("VER MSNFTP\r\nUSR bob@example.com 1234567890\r\nTFR\r\nBYE x\r\n"))
	f.Add([]byte("VER MSNFTP\r\nUSR bob@example.com 1234567890\r\nTFR\r\n" + string(bytes.Repeat([]byte{'A'}, 600))))
	f.Add([]byte{})
	ln := listen(f)
	payload := make([]byte, 5000)
	f.Fuzz(func(t *testing.T, data []byte) {
		snd, rcv := fuzzPair(t, ln)
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer rcv.Close()
			rcv.SetDeadline(time.Now().Add(10 * time.Second))
			rcv.Write(data)
			rcv.CloseWrite()
			io.Copy(io.Discard, rcv)
		}()
		ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
		defer cancel()
		start := time.Now()
		Send(ctx, snd, SendOptions{AuthCookie: cookie, ExpectUser: passport, Size: int64(len(payload)), StepTimeout: 2 * time.Second}, bytes.NewReader(payload))
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Send took %v", d)
		}
		<-done
	})
}
