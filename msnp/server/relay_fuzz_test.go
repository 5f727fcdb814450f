package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"github.com/crosstalk-im/crosstalk/msnp/msnftp"
)

// The ticket the fuzzed receiver may present to the relay, and the file
// the relay fetches for it.
const (
	relayFuzzReceiver = "bob@example.com"
	relayFuzzCookie   = 1234567890
	relayFuzzAuth     = 42 // the relay's AuthCookie toward the sender
	relayFuzzFile     = "hello"
	// relayFuzzMaxOut is the most the relay may write to the receiver:
	// its VER answer, FIL, the file in one block and a cancel block.
	relayFuzzMaxOut = len("VER MSNFTP\r\n") + len("FIL 5\r\n") + 3 + len(relayFuzzFile) + 3
)

// Relay tickets the fuzz target issues: none, one naming a sender that
// listens, and one whose sender connects to a port of its own.
const (
	relayNoTicket = iota
	relayDialSender
	relaySenderLeg
	relayModes
)

// FuzzRelayConn drives the MSNFTP relay's public port with whatever a
// receiver might send, with each kind of ticket waiting. The relay must
// take a ticket only from a handshake naming its receiver and cookie that
// MSNFTP accepts, answer nothing but its VER before that and no more than
// the handshake and the file after, hang up in the end, and leave no
// goroutine behind.
func FuzzRelayConn(f *testing.F) {
	for mode := range uint8(relayModes) {
		for _, seed := range []string{
			"VER MSNFTP\r\nUSR bob@example.com 1234567890\r\nTFR\r\nBYE 16777989\r\n",
			"VER MSNP8 MSNFTP\n\nUSR BOB@EXAMPLE.COM 01234567890\nTFR\nCCL\n",
			"VER MSNFTP\r\nUSR bob@example.com 1234567890\r\nCCL\r\n",
			"VER MSNFTP\r\nUSR eve@example.com 1234567890\r\nTFR\r\n",
			"VER MSNFTP\r\nUSR bob@example.com 1234567891\r\n",
			"VER MSNFTP\r\nUSR bob@example.com\r\n",
			// The relay once took the ticket for this, which msnftp.Send refuses.
			"VERSION MSNFTP\r\nUSR bob@example.com 1234567890\r\nTFR\r\n",
			"VER MSNFTP\r\n" + strings.Repeat("\r\n", 9) + "USR bob@example.com 1234567890\r\n",
			"VER " + strings.Repeat("x", 600) + " MSNFTP\r\n",
			"\x00\xff\n",
		} {
			f.Add(mode, []byte(seed))
		}
	}
	l := listen(f)
	s := New(Config{FTPListener: l, FileLegTimeout: 5 * time.Second})
	served := make(chan error, 1)
	go func() { served <- s.ServeFTP() }()
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			f.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			f.Errorf("ServeFTP: %v", err)
		}
	})

	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		// Checked last: the relay's goroutines for this connection end.
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction(offstack.WorkerFunction), goleak.IgnoreAnyFunction(offstack.PollerFunction))
		sender := startRelaySender(t, s, mode%relayModes)
		nc, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write(data)
		nc.(*net.TCPConn).CloseWrite()
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		out, err := io.ReadAll(io.LimitReader(nc, 1<<16))
		if err != nil && !isReset(err) {
			t.Fatalf("the relay did not hang up: %v", err)
		}
		taken := sender.finish()

		if len(out) > relayFuzzMaxOut {
			t.Fatalf("the relay wrote %d bytes: %q", len(out), out)
		}
		if !taken {
			if len(out) > 0 && string(out) != "VER MSNFTP\r\n" {
				t.Fatalf("the relay wrote %q without taking a ticket", out)
			}
			if sender.err == nil {
				t.Fatal("the sender finished without a ticket taken")
			}
			return
		}
		if mode%relayModes == relayNoTicket || !acceptableHandshake(data) {
			t.Fatalf("mode %d: a ticket was taken by %q", mode%relayModes, data)
		}
		if sender.err == nil && (!bytes.Contains(out, []byte(relayFuzzFile)) || !bytes.Contains(data, []byte("BYE"))) {
			t.Fatalf("the sender heard success, the receiver got %q and said %q", out, data)
		}
	})
}

// relaySender is the sender's side of one fuzzed transfer.
type relaySender struct {
	s      *Server
	ticket bool // one was issued
	done   chan struct{}
	err    error  // Send's result, once done is closed
	giveUp func() // ends the sender's wait when no ticket was taken
}

// startRelaySender issues the relay ticket for mode and starts a sender
// that the relay can reach through it.
func startRelaySender(t *testing.T, s *Server, mode uint8) *relaySender {
	rs := &relaySender{s: s, ticket: mode != relayNoTicket, done: make(chan struct{}), err: errors.New("no sender")}
	if !rs.ticket {
		close(rs.done)
		rs.giveUp = func() {}
		return rs
	}
	send := func(nc net.Conn) error {
		return msnftp.Send(t.Context(), nc, msnftp.SendOptions{
			AuthCookie: relayFuzzAuth, ExpectUser: relayFuzzReceiver, Size: int64(len(relayFuzzFile)), StepTimeout: 5 * time.Second,
		}, strings.NewReader(relayFuzzFile))
	}
	tk := relayTicket{auth: relayFuzzAuth, receiver: relayFuzzReceiver, size: int64(len(relayFuzzFile)), expires: time.Now().Add(time.Minute)}
	switch mode {
	case relayDialSender:
		sl := listen(t)
		tk.addr = sl.Addr().String()
		rs.giveUp = func() { sl.Close() }
		go func() {
			defer close(rs.done)
			defer sl.Close()
			nc, err := sl.Accept()
			if err != nil {
				rs.err = err
				return
			}
			rs.err = send(nc)
		}()
	case relaySenderLeg:
		ll := listen(t)
		tk.leg = s.newSenderLeg()
		rs.giveUp = tk.leg.cancel
		waited := make(chan struct{})
		go func() {
			defer close(waited)
			s.awaitSender(ll, tk.leg)
		}()
		go func() {
			defer close(rs.done)
			defer func() { <-waited }()
			nc, err := net.Dial("tcp", ll.Addr().String())
			if err != nil {
				rs.err = err
				return
			}
			rs.err = send(nc)
		}()
	}
	s.relay.mu.Lock()
	s.relay.tickets[relayFuzzCookie] = tk
	s.relay.mu.Unlock()
	return rs
}

// finish reports whether the relay took the ticket; if not it withdraws
// it and stops the sender waiting. It returns once the sender is done.
func (rs *relaySender) finish() (taken bool) {
	rs.s.relay.mu.Lock()
	_, waiting := rs.s.relay.tickets[relayFuzzCookie]
	delete(rs.s.relay.tickets, relayFuzzCookie)
	rs.s.relay.mu.Unlock()
	if waiting {
		rs.giveUp()
	}
	<-rs.done
	return rs.ticket && !waiting
}

// acceptableHandshake reports whether data opens with the handshake a
// relay ticket may be taken for: VER naming MSNFTP, then USR with the
// ticket's receiver and cookie, blank lines aside.
func acceptableHandshake(data []byte) bool {
	var lines [][]string
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) > 0 {
			lines = append(lines, f)
		}
		if len(lines) == 2 {
			break
		}
	}
	if len(lines) < 2 || lines[0][0] != "VER" || !strings.Contains(" "+strings.Join(lines[0], " ")+" ", " MSNFTP ") {
		return false
	}
	usr := lines[1]
	cookie, err := strconv.ParseUint(safeField(usr, 2), 10, 32)
	return len(usr) == 3 && usr[0] == "USR" && strings.EqualFold(usr[1], relayFuzzReceiver) && err == nil && cookie == relayFuzzCookie
}

func safeField(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}
