package msnftp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/crosstalk-im/crosstalk/msnp/secureftp"
)

// TestSecureTransfer: MSN_SECURE_FTP both ways of dialling, the file
// decrypted and committed once its MAC matched.
func TestSecureTransfer(t *testing.T) {
	for _, senderConnect := range []bool{false, true} {
		for _, size := range []int{0, 1, MaxBlock, MaxBlock + 1, 300000} {
			t.Run(fmt.Sprintf("%d bytes, sender connects %v", size, senderConnect), func(t *testing.T) {
				snd, rcv := conns(t, senderConnect)
				keys := secureftp.NewKeys()
				data := testData(size)
				var out bytes.Buffer
				committed := 0
				sendErr, res := run(t, snd, rcv, context.Background(), context.Background(),
					SendOptions{AuthCookie: cookie, ExpectUser: passport, Size: int64(size), Secure: &keys},
					ReceiveOptions{Passport: passport, AuthCookie: cookie, Secure: &keys, Commit: func() error {
						committed++
						return nil
					}},
					bytes.NewReader(data), &out)
				if sendErr != nil || res.err != nil || res.n != int64(size) {
					t.Fatalf("send %v, receive %d %v", sendErr, res.n, res.err)
				}
				if !bytes.Equal(out.Bytes(), data) || committed != 1 {
					t.Fatalf("%d bytes out, committed %d times", out.Len(), committed)
				}
			})
		}
	}
}

// TestSecureReceiveWire plays pidgin-sipe's sender: exact VER line,
// encrypted blocks, the MAC with its NUL after BYE. A wrong MAC keeps
// the file from being committed.
func TestSecureReceiveWire(t *testing.T) {
	for _, tamper := range []bool{false, true} {
		t.Run(fmt.Sprintf("tampered %v", tamper), func(t *testing.T) {
			snd, rcv := conns(t, false)
			keys := secureftp.NewKeys()
			data := testData(5000)
			type outcome struct {
				n   int64
				err error
			}
			done := make(chan outcome, 1)
			var out bytes.Buffer
			committed := false
			go func() {
				n, err := Receive(context.Background(), rcv, ReceiveOptions{Passport: passport, AuthCookie: cookie, Secure: &keys,
					Commit: func() error { committed = true; return nil }}, &out)
				done <- outcome{n, err}
			}()
			br := bufio.NewReader(snd)
			expect := func(want string) {
				t.Helper()
				line, err := br.ReadString('\n')
				if err != nil || line != want {
					t.Fatalf("got %q %v, want %q", line, err, want)
				}
			}
			expect("VER MSN_SECURE_FTP\r\n")
			io.WriteString(snd, "VER MSN_SECURE_FTP\r\n")
			expect(fmt.Sprintf("USR %s %d\r\n", passport, cookie))
			io.WriteString(snd, "FIL 5000\r\n")
			expect("TFR\r\n")
			sealer := keys.Seal(bytes.NewReader(data))
			enc, _ := io.ReadAll(sealer)
			if bytes.Contains(enc, data[:64]) {
				t.Fatal("data in clear")
			}
			for off := 0; off < len(enc); off += MaxBlock {
				n := min(MaxBlock, len(enc)-off)
				snd.Write(append([]byte{0, byte(n), byte(n >> 8)}, enc[off:off+n]...))
			}
			expect("BYE 16777989\r\n")
			sum := sealer.Sum()
			if tamper {
				sum[0] ^= 1
			}
			snd.Write(secureftp.MACLine(sum))
			snd.Close()
			res := <-done
			if tamper {
				if !errors.Is(res.err, secureftp.ErrBadMAC) || committed {
					t.Fatalf("tampered MAC: %v, committed %v", res.err, committed)
				}
				return
			}
			if res.err != nil || !bytes.Equal(out.Bytes(), data) || !committed {
				t.Fatalf("receive: %v, %d bytes, committed %v", res.err, out.Len(), committed)
			}
		})
	}
}

// TestSecureSendWire plays pidgin-sipe's receiver: the sender answers the
// exact VER, sends encrypted blocks, and the MAC line with a NUL after BYE.
func TestSecureSendWire(t *testing.T) {
	snd, rcv := conns(t, true)
	keys := secureftp.NewKeys()
	data := testData(4100)
	done := make(chan error, 1)
	go func() {
		done <- Send(context.Background(), snd, SendOptions{AuthCookie: cookie, Size: int64(len(data)), Secure: &keys}, bytes.NewReader(data))
	}()
	br := bufio.NewReader(rcv)
	expect := func(want string) {
		t.Helper()
		line, err := br.ReadString('\n')
		if err != nil || line != want {
			t.Fatalf("got %q %v, want %q", line, err, want)
		}
	}
	io.WriteString(rcv, "VER MSN_SECURE_FTP\r\n")
	expect("VER MSN_SECURE_FTP\r\n")
	fmt.Fprintf(rcv, "USR %s %d\r\n", passport, cookie)
	expect("FIL 4100\r\n")
	io.WriteString(rcv, "TFR\r\n")
	var plain bytes.Buffer
	opener := keys.Open(&plain)
	for plain.Len() < len(data) {
		var hdr [3]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil || hdr[0] != 0 {
			t.Fatalf("block header % x %v", hdr, err)
		}
		block := make([]byte, int(hdr[1])|int(hdr[2])<<8)
		if _, err := io.ReadFull(br, block); err != nil {
			t.Fatal(err)
		}
		opener.Write(block)
	}
	if !bytes.Equal(plain.Bytes(), data) {
		t.Fatal("decrypted data differs")
	}
	io.WriteString(rcv, "BYE 16777989\r\n")
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasSuffix(line, "\x00\r\n") {
		t.Fatalf("MAC line %q %v", line, err)
	}
	if err := opener.Check([]byte(line)); err != nil {
		t.Fatal(err)
	}
	rcv.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestSecureVersionMismatch: a plain receiver meets a secure sender, and
// the other way round; neither goes on.
func TestSecureVersionMismatch(t *testing.T) {
	keys := secureftp.NewKeys()
	snd, rcv := conns(t, false)
	sendErr, _ := run(t, snd, rcv, context.Background(), context.Background(),
		SendOptions{AuthCookie: cookie, Size: 10, Secure: &keys}, ReceiveOptions{Passport: passport, AuthCookie: cookie},
		bytes.NewReader(testData(10)), io.Discard)
	if !errors.Is(sendErr, ErrProtocol) {
		t.Fatalf("secure sender, plain receiver: %v", sendErr)
	}
	snd, rcv = conns(t, false)
	_, res := run(t, snd, rcv, context.Background(), context.Background(),
		SendOptions{AuthCookie: cookie, Size: 10}, ReceiveOptions{Passport: passport, AuthCookie: cookie, Secure: &keys},
		bytes.NewReader(testData(10)), io.Discard)
	if res.err == nil {
		t.Fatal("plain sender, secure receiver: no error")
	}
}

// TestSecureReceiverCancels: CCL during a secure transfer ends the sender.
func TestSecureReceiverCancels(t *testing.T) {
	snd, rcv := conns(t, false)
	keys := secureftp.NewKeys()
	ctx, cancel := context.WithCancel(context.Background())
	w := &cancelAfter{n: 5000, cancel: cancel}
	sendErr, res := run(t, snd, rcv, context.Background(), ctx,
		SendOptions{AuthCookie: cookie, Size: 1 << 20, Secure: &keys}, ReceiveOptions{Passport: passport, AuthCookie: cookie, Secure: &keys},
		bytes.NewReader(testData(1<<20)), w)
	if !errors.Is(sendErr, ErrCancelled) || !errors.Is(res.err, context.Canceled) {
		t.Fatalf("send %v, receive %v", sendErr, res.err)
	}
}

// cancelAfter cancels once n bytes were written.
type cancelAfter struct {
	n      int
	cancel context.CancelFunc
}

func (w *cancelAfter) Write(p []byte) (int, error) {
	w.n -= len(p)
	if w.n <= 0 {
		w.cancel()
	}
	return len(p), nil
}

func BenchmarkSecureTransfer(b *testing.B) {
	const size = 8 << 20
	data := testData(size)
	keys := secureftp.NewKeys()
	b.SetBytes(size)
	for b.Loop() {
		snd, rcv := conns(b, false)
		serr, res := run(b, snd, rcv, b.Context(), b.Context(),
			SendOptions{AuthCookie: cookie, Size: size, Secure: &keys}, ReceiveOptions{Passport: passport, AuthCookie: cookie, Secure: &keys},
			bytes.NewReader(data), io.Discard)
		if serr != nil || res.err != nil || res.n != size {
			b.Fatal(serr, res)
		}
	}
}
