package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/sip/client"
)

// memFiles keeps deposited files in memory and hands over the tickets in
// outbox; it stands in for the drive.
type memFiles struct {
	max       int64
	mu        sync.Mutex
	kept      map[string][]byte // deposited files by name
	deposited chan string       // names, once kept
	outbox    map[string][]byte // files to hand over, by ticket id
	handed    chan error        // HandOver's results
}

func newMemFiles() *memFiles {
	return &memFiles{max: 1 << 20, kept: map[string][]byte{}, deposited: make(chan string, 8),
		outbox: map[string][]byte{}, handed: make(chan error, 8)}
}

func (f *memFiles) MaxFileBytes() int64 { return f.max }

func (f *memFiles) Deposit(ctx context.Context, sender, recipient uint32, name string, size int64, r io.Reader) (drive.Ticket, error) {
	data, err := io.ReadAll(io.LimitReader(r, size+1))
	if err != nil {
		return drive.Ticket{}, err
	}
	if int64(len(data)) != size {
		return drive.Ticket{}, fmt.Errorf("got %d bytes of %d", len(data), size)
	}
	f.mu.Lock()
	f.kept[name] = data
	f.mu.Unlock()
	return drive.Ticket{ID: "kept-" + name, FileName: name, FileSize: size}, nil
}

func (f *memFiles) Deliver(ctx context.Context, t drive.Ticket) bool {
	f.deposited <- t.FileName
	return true
}

func (f *memFiles) Offer(context.Context, uint32, uint32, string, int64) (drive.Ticket, error) {
	return drive.Ticket{}, errors.New("not expected")
}
func (f *memFiles) AwaitAnswer(context.Context, string) (drive.Ack, error) {
	return drive.AckUnknown, errors.New("not expected")
}
func (f *memFiles) Fill(context.Context, string, io.Reader) error { return errors.New("not expected") }
func (f *memFiles) Withdraw(context.Context, string) error        { return nil }
func (f *memFiles) Ticket(context.Context, string) (drive.Ticket, error) {
	return drive.Ticket{}, errors.New("not expected")
}

func (f *memFiles) HandOver(ctx context.Context, id string, offer func(drive.Ticket, func() (io.ReadCloser, error)) error) error {
	f.mu.Lock()
	data := f.outbox[id]
	f.mu.Unlock()
	err := offer(drive.Ticket{ID: id, FileName: id + ".bin", FileSize: int64(len(data))}, func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	f.handed <- err
	return err
}

func (f *memFiles) file(name string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.kept[name]
}

func fileData(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 3))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// fileEnv is alice on SIP and bob as a session of another protocol.
func fileEnv(t *testing.T) (*testEnv, *memFiles, *client.Client, hub.Account, *testenv.Peer) {
	return fileEnvWith(t, func(*Config) {}, client.Options{})
}

// fileEnvWith is fileEnv with the server's settings tweaked and alice's
// client options.
func fileEnvWith(t *testing.T, tweak func(*Config), opts client.Options) (*testEnv, *memFiles, *client.Client, hub.Account, *testenv.Peer) {
	files := newMemFiles()
	e := newTestEnv(t, func(c *Config) {
		c.Files = files
		c.FileAnswerTimeout = 5 * time.Second
		c.FileLegTimeout = 5 * time.Second
		tweak(c)
	})
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	e.follow(t, alice.Number, bob.Number)
	e.follow(t, bob.Number, alice.Number)
	peer := e.hubSession(t, bob, hub.StatusOnline, "")
	a := e.signInWith(t, alice, "pa", opts)
	presenceOf(t, a, "sip:user1002@example.com", client.Presence.Online)
	return e, files, a, bob, peer
}

// TestFileFromClient: a SIP client's file, plain and encrypted, whether
// it or the server connects, lands in the drive for the contact.
func TestFileFromClient(t *testing.T) {
	_, files, a, _, _ := fileEnv(t)
	ctx := testCtx(t)
	for i, opts := range []client.FileOptions{{}, {Plain: true}, {NoIncoming: true}, {Plain: true, NoIncoming: true}} {
		for _, size := range []int{0, 1, 2045, 2046, 100000} {
			name := fmt.Sprintf("f%d-%d", i, size)
			data := fileData(size)
			if err := a.SendFile(ctx, "user1002@example.com", name, int64(size), bytes.NewReader(data), opts); err != nil {
				t.Fatalf("%+v, %d bytes: %v", opts, size, err)
			}
			select {
			case got := <-files.deposited:
				if got != name || !bytes.Equal(files.file(name), data) {
					t.Fatalf("%s: deposited %s, %d bytes", name, got, len(files.file(name)))
				}
			case <-ctx.Done():
				t.Fatal("nothing deposited")
			}
		}
	}
}

// offerTo has the drive hand a file over to alice as a file from bob.
func offerTo(e *testEnv, files *memFiles, alice uint32, bob hub.Account, id string, data []byte) {
	files.mu.Lock()
	files.outbox[id] = data
	files.mu.Unlock()
	e.hub.OfferFile(bob, alice, protocolName, id)
}

func handed(t *testing.T, files *memFiles) error {
	t.Helper()
	select {
	case err := <-files.handed:
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("HandOver did not return")
		return nil
	}
}

// TestFileToClient: a contact's file reaches the SIP client, encrypted
// or not, whether the client listens or the server does; a declined one
// is drive.ErrDeclined for the drive.
func TestFileToClient(t *testing.T) {
	e, files, a, bob, _ := fileEnv(t)
	ctx := testCtx(t)
	alice := uint32(1001)
	for i, opts := range []client.FileOptions{{}, {Plain: true}, {Listen: true}, {Plain: true, Listen: true}} {
		for _, size := range []int{0, 2046, 100000} {
			id := fmt.Sprintf("t%d-%d", i, size)
			data := fileData(size)
			offerTo(e, files, alice, bob, id, data)
			offer := next[client.FileOffer](t, a)
			if offer.From != "sip:user1002@example.com" || offer.Name != id+".bin" || offer.Size != int64(size) || !offer.Encrypted {
				t.Fatalf("offer %+v", offer)
			}
			var got bytes.Buffer
			if n, err := a.AcceptFile(ctx, offer, &got, opts); err != nil || n != int64(size) {
				t.Fatalf("%+v, %d bytes: %d, %v", opts, size, n, err)
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("%s: received data differs", id)
			}
			if err := handed(t, files); err != nil {
				t.Fatalf("%s: HandOver: %v", id, err)
			}
		}
	}
	offerTo(e, files, alice, bob, "declined", fileData(10))
	if err := a.DeclineFile(ctx, next[client.FileOffer](t, a)); err != nil {
		t.Fatal(err)
	}
	if err := handed(t, files); !errors.Is(err, drive.ErrDeclined) {
		t.Fatalf("declined: %v", err)
	}
}

// TestFileFailures: what goes wrong reaches each side in its terms.
func TestFileFailures(t *testing.T) {
	e, files, a, bob, _ := fileEnv(t)
	ctx := testCtx(t)
	files.max = 1000

	// Too large for the drive: the client hears CANCEL FAIL at once.
	var ce *client.CancelError
	if err := a.SendFile(ctx, "user1002@example.com", "big", 1001, bytes.NewReader(fileData(1001)), client.FileOptions{}); !errors.As(err, &ce) || ce.Code != "FAIL" {
		t.Fatalf("too large: %v", err)
	}

	// The client gives up in the middle: nothing is deposited.
	sctx, cancel := context.WithCancel(ctx)
	r := &stopAfter{r: bytes.NewReader(fileData(900)), n: 300, stop: cancel}
	if err := a.SendFile(sctx, "user1002@example.com", "half", 900, r, client.FileOptions{StepTimeout: 2 * time.Second}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled send: %v", err)
	}
	select {
	case name := <-files.deposited:
		t.Fatalf("%s deposited", name)
	case <-time.After(300 * time.Millisecond):
	}

	// The client does not answer an offer: it hears CANCEL TIMEOUT.
	files.max = 1 << 20
	offerTo(e, files, 1001, bob, "ignored", fileData(10))
	offer := next[client.FileOffer](t, a)
	if c := next[client.FileCancelled](t, a); c.Cookie != offer.Cookie || c.Code != "TIMEOUT" {
		t.Fatalf("cancelled %+v, offer %+v", c, offer)
	}
	if err := handed(t, files); err == nil {
		t.Fatal("unanswered offer succeeded")
	}

	// The client cancels while receiving: the drive hears the failure.
	offerTo(e, files, 1001, bob, "dropped", fileData(500000))
	offer = next[client.FileOffer](t, a)
	rctx, rcancel := context.WithCancel(ctx)
	if _, err := a.AcceptFile(rctx, offer, &cancelWriter{n: 5000, cancel: rcancel}, client.FileOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled receive: %v", err)
	}
	if err := handed(t, files); err == nil {
		t.Fatal("cancelled transfer succeeded")
	}
}

// stopAfter reads n bytes of r, then cancels and waits for the
// cancellation to be seen.
type stopAfter struct {
	r    io.Reader
	n    int
	stop context.CancelFunc
}

func (s *stopAfter) Read(p []byte) (int, error) {
	if s.n <= 0 {
		s.stop()
		time.Sleep(50 * time.Millisecond)
		return 0, context.Canceled
	}
	p = p[:min(len(p), s.n)]
	n, err := s.r.Read(p)
	s.n -= n
	return n, err
}

// cancelWriter cancels once n bytes were written.
type cancelWriter struct {
	n      int
	cancel context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.n -= len(p)
	if w.n <= 0 {
		w.cancel()
	}
	return len(p), nil
}

// TestMaxFileTransfers: past Config.MaxFileTransfers invitations under
// way on a connection, another file is not offered.
func TestMaxFileTransfers(t *testing.T) {
	files := newMemFiles()
	e := newTestEnv(t, func(c *Config) { c.Files = files; c.MaxFileTransfers = 1 })
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	e.follow(t, alice.Number, bob.Number)
	e.follow(t, bob.Number, alice.Number)
	e.hubSession(t, bob, hub.StatusOnline, "")
	a := e.signIn(t, alice, "pa")
	ctx := testCtx(t)

	offerTo(e, files, alice.Number, bob, "first", fileData(10))
	first := next[client.FileOffer](t, a)
	offerTo(e, files, alice.Number, bob, "second", fileData(10))
	if err := handed(t, files); err == nil || !strings.Contains(err.Error(), "too many file transfers") {
		t.Fatalf("second offer: %v", err)
	}
	if err := a.DeclineFile(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := handed(t, files); !errors.Is(err, drive.ErrDeclined) {
		t.Fatalf("first offer: %v", err)
	}
	// The invitation is over: there is room again.
	offerTo(e, files, alice.Number, bob, "third", fileData(10))
	var got bytes.Buffer
	if _, err := a.AcceptFile(ctx, next[client.FileOffer](t, a), &got, client.FileOptions{}); err != nil || got.Len() != 10 {
		t.Fatalf("third: %d bytes, %v", got.Len(), err)
	}
	if err := handed(t, files); err != nil {
		t.Fatal(err)
	}
}

// TestFileRefusedAfterwards: a recipient refuses a file the drive already
// keeps (the drive marks its ticket rejected): the client hears CANCEL
// REJECT from them, once.
func TestFileRefusedAfterwards(t *testing.T) {
	e, files, a, bob, _ := fileEnv(t)
	ctx := testCtx(t)
	if err := a.SendFile(ctx, "user1002@example.com", "late.txt", 4, bytes.NewReader([]byte("late")), client.FileOptions{}); err != nil {
		t.Fatal(err)
	}
	<-files.deposited
	rejected := hub.Notification{Kind: drive.KindTicketChanged, Data: `{"id":"kept-late.txt","ack_status":"rejected","send_status":"completed"}`}
	e.hub.Notify(1001, hub.Notification{Kind: drive.KindTicketChanged, Data: `{"id":"someone-else","ack_status":"rejected"}`})
	e.hub.Notify(1001, rejected)
	e.hub.Notify(1001, rejected)
	if c := next[client.FileCancelled](t, a); c.From != "sip:"+bob.Email || c.Code != "REJECT" {
		t.Fatalf("cancelled %+v", c)
	}
	// The second notice finds nothing to tell: a message sent after it
	// arrives with no CANCEL before it.
	if _, err := e.hub.SendMessage(ctx, bob, 1001, hub.Message{Text: "after"}, ""); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-a.Events():
			switch ev := ev.(type) {
			case client.FileCancelled:
				t.Fatalf("told twice: %+v", ev)
			case client.Message:
				if ev.Text == "after" {
					return
				}
			}
		case <-ctx.Done():
			t.Fatal("no message after the notices")
		}
	}
}

// TestFileHost: behind NAT, the server's ACCEPTs name Config.FileHost (a
// loopback alias here) for its file ports, both ways, and the transfers
// go through ports reached at that address.
func TestFileHost(t *testing.T) {
	const host = "127.0.0.2"
	var mu sync.Mutex
	var dialed []string
	record := &net.Dialer{ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
		mu.Lock()
		dialed = append(dialed, address)
		mu.Unlock()
		return nil
	}}
	e, files, a, bob, _ := fileEnvWith(t, func(c *Config) { c.FileHost = host }, client.Options{Dialer: record})
	ctx := testCtx(t)
	lastDial := func() string {
		mu.Lock()
		defer mu.Unlock()
		return dialed[len(dialed)-1]
	}
	for _, opts := range []client.FileOptions{{}, {Plain: true}} {
		data := fileData(5000)
		if err := a.SendFile(ctx, "user1002@example.com", "up", int64(len(data)), bytes.NewReader(data), opts); err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		if got := <-files.deposited; got != "up" || !bytes.Equal(files.file("up"), data) {
			t.Fatalf("%+v: deposited %s, %d bytes", opts, got, len(files.file("up")))
		}
		if h, _, _ := net.SplitHostPort(lastDial()); h != host {
			t.Fatalf("%+v: the client was sent to %s", opts, lastDial())
		}

		offerTo(e, files, 1001, bob, "down", data)
		var got bytes.Buffer
		if _, err := a.AcceptFile(ctx, next[client.FileOffer](t, a), &got, opts); err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("%+v: received %d bytes, %v", opts, got.Len(), err)
		}
		if err := handed(t, files); err != nil {
			t.Fatal(err)
		}
		if h, _, _ := net.SplitHostPort(lastDial()); h != host {
			t.Fatalf("%+v: the client was sent to %s", opts, lastDial())
		}
	}
}
