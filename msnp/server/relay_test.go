package server

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// legServer is a server whose relay waits only briefly for a leg.
func legServer(t *testing.T) *Server {
	s := New(Config{FileLegTimeout: 200 * time.Millisecond})
	t.Cleanup(s.relayCancel)
	return s
}

// startLeg opens a sender's port and waits on it in the background; the
// returned channel closes when the wait is over.
func startLeg(t *testing.T, s *Server) (*senderLeg, net.Listener, <-chan struct{}) {
	leg := s.newSenderLeg()
	l := listen(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.awaitSender(l, leg)
	}()
	return leg, l, done
}

func waitDone(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the sender's port is still waited on")
	}
}

func TestRelayLegNoSender(t *testing.T) {
	s := legServer(t)
	leg, l, done := startLeg(t, s)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if sc, err := leg.meet(a, bufio.NewReader(a)); err == nil {
		sc.Close()
		t.Fatal("met a sender that never connected")
	}
	waitDone(t, done)
	if nc, err := net.Dial("tcp", l.Addr().String()); err == nil {
		nc.Close()
		t.Fatal("the sender's port is still open")
	}
}

func TestRelayLegNoReceiver(t *testing.T) {
	s := legServer(t)
	_, l, done := startLeg(t, s)
	sc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if rest, err := io.ReadAll(sc); err != nil || len(rest) > 0 {
		t.Fatalf("sender's connection: %q %v, want it closed", rest, err)
	}
	waitDone(t, done)
}

func TestRelayLegMeets(t *testing.T) {
	s := legServer(t)
	leg, l, done := startLeg(t, s)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	sc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	got, err := leg.meet(a, bufio.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	waitDone(t, done)
	if _, err := got.Write([]byte("VER MSNFTP\r\n")); err != nil {
		t.Fatal(err)
	}
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := bufio.NewReader(sc).ReadString('\n'); err != nil || line != "VER MSNFTP\r\n" {
		t.Fatalf("got %q %v", line, err)
	}
}
