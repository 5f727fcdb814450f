package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/webchat/wire"
)

// An idle logged-in session holds no goroutine (offstack waits for its
// client): neither net/http's connection goroutine, which would hold the
// request and the HTTP connection's buffers, nor one in a method of this
// package's.
func TestIdleSessionHoldsNoGoroutine(t *testing.T) {
	e := newTestEnv(t, nil)
	ctx := testCtx(t)
	a := e.account(t, 1001, "Alice", "pw")
	c := e.login(t, ctx, a, "pw")
	for deadline := time.Now().Add(5 * time.Second); ; {
		n := goroutinesWith("net/http.(*conn).serve(") + goroutinesWith("crosstalk/webchat/server.(*")
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of net/http's connections or of the session while it is idle", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// goroutinesWith counts the goroutines whose stack mentions s.
func goroutinesWith(s string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, s) {
			n++
		}
	}
	return n
}

// A client that sends its first message with the handshake, before the
// server's answer, is understood: the bytes net/http read ahead are handed
// to the WebSocket.
func TestMessageWithHandshake(t *testing.T) {
	e := newTestEnv(t, nil)
	a := e.account(t, 1001, "Alice", "pw")
	u, err := url.Parse(e.base)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	login, err := wire.Encode(wire.Login{Type: wire.TypeLogin, ID: "1", Email: a.Email, Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	req := "GET /chat/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), maskedText(login)...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v, %v", resp, err)
	}
	msg, err := wire.DecodeServer(readUnmasked(t, br))
	if w, ok := msg.(*wire.Welcome); err != nil || !ok || w.ID != "1" || w.Account.Number != a.Number {
		t.Fatalf("first answer %#v, %v", msg, err)
	}
}

// maskedText is a client's text frame holding p (masked, as RFC 6455
// wants a client's frames), for payloads under 126 bytes.
func maskedText(p []byte) []byte {
	key := [4]byte{1, 2, 3, 4}
	f := append([]byte{0x81, 0x80 | byte(len(p))}, key[:]...)
	for i, b := range p {
		f = append(f, b^key[i%4])
	}
	return f
}

// readUnmasked reads a server's frame and returns its payload.
func readUnmasked(t *testing.T, r io.Reader) []byte {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			t.Fatal(err)
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		t.Fatal("frame too long for the test")
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeRecorder is a connection that keeps what each Write wrote, and
// the write deadline it was written by.
type writeRecorder struct {
	net.Conn
	writes    [][]byte
	deadline  time.Time
	deadlines []time.Time
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	w.deadlines = append(w.deadlines, w.deadline)
	return len(p), nil
}

func (w *writeRecorder) SetWriteDeadline(t time.Time) error {
	w.deadline = t
	return nil
}

// A batch leaves in one write, in order, however it was handed over; a
// batch larger than maxBatch in writes of at most maxBatch, each by the
// batch's deadline; outside a batch every write goes straight out, with
// no deadline.
func TestBatchWriter(t *testing.T) {
	rec := &writeRecorder{}
	w := &batchWriter{conn: rec}
	w.begin(time.Time{})
	for _, s := range []string{"ab", "c", "def"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("write %q: %d, %v", s, n, err)
		}
	}
	if len(rec.writes) != 0 {
		t.Fatalf("written before the batch ended: %q", rec.writes)
	}
	if err := w.end(); err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte("pong"))
	deadline := time.Now().Add(time.Minute)
	w.begin(deadline)
	big := bytes.Repeat([]byte{'x'}, maxBatch-1)
	_, _ = w.Write(big)
	_, _ = w.Write([]byte("yz"))
	_ = w.end()
	want := [][]byte{[]byte("abcdef"), []byte("pong"), big, []byte("yz")}
	wantDeadlines := []time.Time{{}, {}, deadline, deadline}
	if !slices.EqualFunc(rec.deadlines, wantDeadlines, time.Time.Equal) || !rec.deadline.IsZero() {
		t.Errorf("written by deadlines %v, then %v; want %v, then none", rec.deadlines, rec.deadline, wantDeadlines)
	}
	if len(rec.writes) != len(want) {
		t.Fatalf("%d writes, want %d", len(rec.writes), len(want))
	}
	for i := range want {
		if !bytes.Equal(rec.writes[i], want[i]) {
			t.Errorf("write %d: %d bytes %.10q, want %d bytes %.10q", i, len(rec.writes[i]), rec.writes[i], len(want[i]), want[i])
		}
	}
}
