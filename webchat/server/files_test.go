package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/webchat/wire"
)

// fakeFiles is a drive that keeps tickets and files in memory, bridges
// to whoever bridges says, and answers GG offers with answer (none: it
// waits until the offer ends).
type fakeFiles struct {
	bridges bool
	answer  drive.Ack
	refuse  error // what Offer and Reserve fail with, if anything

	mu        sync.Mutex
	tickets   map[string]*drive.Ticket
	data      map[string][]byte // by ticket id
	bridged   []string
	withdrawn []string
}

func (f *fakeFiles) create(sender, recipient uint32, name string, size int64, ack drive.Ack) (drive.Ticket, error) {
	if f.refuse != nil {
		return drive.Ticket{}, f.refuse
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tickets == nil {
		f.tickets, f.data = map[string]*drive.Ticket{}, map[string][]byte{}
	}
	t := &drive.Ticket{ID: fmt.Sprintf("t%d-%s", len(f.tickets), name), Sender: sender, Recipient: recipient,
		FileName: name, FileSize: size, Ack: ack, Status: drive.StatusInProgress}
	f.tickets[t.ID] = t
	return *t, nil
}

func (f *fakeFiles) Offer(_ context.Context, sender, recipient uint32, name string, size int64) (drive.Ticket, error) {
	return f.create(sender, recipient, name, size, drive.AckUnknown)
}

func (f *fakeFiles) Reserve(_ context.Context, sender, recipient uint32, name string, size int64) (drive.Ticket, error) {
	return f.create(sender, recipient, name, size, drive.AckAllowed)
}

func (f *fakeFiles) AwaitAnswer(ctx context.Context, id string) (drive.Ack, error) {
	f.mu.Lock()
	answer := f.answer
	if answer != "" && answer != drive.AckUnknown {
		f.tickets[id].Ack = answer
	}
	f.mu.Unlock()
	if answer == "" || answer == drive.AckUnknown {
		<-ctx.Done()
		return drive.AckUnknown, ctx.Err()
	}
	return answer, nil
}

func (f *fakeFiles) Fill(_ context.Context, id string, r io.Reader) error {
	f.mu.Lock()
	t := *f.tickets[id]
	f.mu.Unlock()
	if t.Ack != drive.AckAllowed || t.Status != drive.StatusInProgress {
		return errors.New("not fillable")
	}
	data, err := io.ReadAll(io.LimitReader(r, t.FileSize+1))
	if err != nil || int64(len(data)) != t.FileSize {
		return errors.New("wrong size")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tickets[id].Status = drive.StatusCompleted
	f.data[id] = data
	return nil
}

func (f *fakeFiles) Withdraw(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.tickets[id]; t != nil && t.Status == drive.StatusInProgress && t.Ack != drive.AckRejected {
		t.Ack = drive.AckRejected
		f.withdrawn = append(f.withdrawn, id)
	}
	return nil
}

func (f *fakeFiles) Ticket(_ context.Context, id string) (drive.Ticket, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.tickets[id]; t != nil {
		return *t, nil
	}
	return drive.Ticket{}, drive.ErrNoTicket
}

func (f *fakeFiles) Bridge(_ context.Context, t drive.Ticket) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bridged = append(f.bridged, t.ID)
	return t.Status == drive.StatusCompleted
}

func (f *fakeFiles) Bridges(map[string]hub.Status) bool { return f.bridges }

func (f *fakeFiles) Link(_ context.Context, id string, recipient uint32) (drive.Ticket, string, error) {
	if id != "ready" {
		return drive.Ticket{}, "", drive.ErrNoTicket
	}
	return drive.Ticket{ID: id, FileName: "photo <1>.jpg", FileSize: 7, Recipient: recipient}, "http://files.example/link/ready", nil
}

func (f *fakeFiles) MaxFileBytes() int64 { return 1000 }

// state reads what the fake holds, under its lock.
func (f *fakeFiles) state(read func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	read()
}

// online attaches a user of another protocol, visibly online.
func online(t *testing.T, h *hub.Hub, a hub.Account) *testenv.Peer {
	t.Helper()
	p := testenv.Attach(t, h, a)
	if err := p.SetPresence(context.Background(), hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFileOfferRefused: offers the server cannot carry are answered with
// their error code.
func TestFileOfferRefused(t *testing.T) {
	ctx := testCtx(t)
	files := &fakeFiles{}
	e := newTestEnv(t, func(c *Config) { c.Files = files })
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	ac := e.login(t, ctx, alice, "pa")
	send := func(size int64) string {
		t.Helper()
		_, err := ac.SendFile(ctx, to(1002), "a.txt", size, bytes.NewReader(make([]byte, size)))
		return errorCode(err)
	}
	if got := send(1); got != wire.CodeOffline {
		t.Errorf("to an absent recipient: %q", got)
	}
	online(t, e.hub, bob)
	if got := send(1); got != wire.CodeOffline {
		t.Errorf("to a recipient the drive cannot reach: %q", got)
	}
	files.bridges = true
	if got := send(1001); got != wire.CodeTooLarge {
		t.Errorf("too large: %q", got)
	}
	files.refuse = drive.ErrNotAllowed
	if got := send(1); got != wire.CodeRefused {
		t.Errorf("to a blocker: %q", got)
	}
	files.refuse = fmt.Errorf("create: %w", drive.ErrQuota)
	if got := send(1); got != wire.CodeQuota {
		t.Errorf("over the quota: %q", got)
	}

	plain := newTestEnv(t, nil)
	carol := plain.account(t, 1003, "Carol", "pc")
	cc := plain.login(t, ctx, carol, "pc")
	if _, err := cc.SendFile(ctx, to(1003), "a", 1, strings.NewReader("a")); errorCode(err) != wire.CodeUnavailable {
		t.Errorf("without a drive: %v", err)
	}
}

// TestFileUpload: an offer to a recipient the drive bridges to gets an
// upload URL at once; the bytes fill the ticket, which is bridged, and the
// PUT answers "sent". A body of the wrong size fails and may be tried
// again; a used URL, a forged one and a GET do not work.
func TestFileUpload(t *testing.T) {
	ctx := testCtx(t)
	files := &fakeFiles{bridges: true}
	e := newTestEnv(t, func(c *Config) { c.Files = files })
	alice := e.account(t, 1001, "Alice", "pa")
	online(t, e.hub, e.account(t, 1002, "Bob", "pb"))
	ac := e.login(t, ctx, alice, "pa")
	st, err := ac.SendFile(ctx, to(1002), "notes.txt", 5, strings.NewReader("hello"))
	if err != nil || st.Status != wire.FileSent || st.Ticket != "t0-notes.txt" || st.ID == "" {
		t.Fatalf("send: %+v, %v", st, err)
	}
	files.state(func() {
		if string(files.data["t0-notes.txt"]) != "hello" || strings.Join(files.bridged, ",") != "t0-notes.txt" {
			t.Fatalf("filled %q, bridged %v", files.data, files.bridged)
		}
	})

	// Sending many files one after another: finished offers make room.
	for i := range maxFileOffers + 2 {
		if st, err := ac.SendFile(ctx, to(1002), fmt.Sprintf("f%d", i), 1, strings.NewReader("x")); err != nil || st.Status != wire.FileSent {
			t.Fatalf("file %d: %+v, %v", i, st, err)
		}
	}

	// By hand (this login takes over from ac).
	up := e.offerByHand(t, ctx, alice, "pa", `{"type":"file_offer","id":"a","to":{"number":1002},"name":"retry.txt","size":10}`)
	put := func(method, url, body string) (int, string) {
		t.Helper()
		code, st := e.upload(t, ctx, method, url, body)
		return code, st.ID + " " + st.Status
	}
	if code, st := put(http.MethodPut, up.URL, "short"); code != http.StatusBadRequest || st != "a "+wire.FileFailed {
		t.Errorf("a short body: %d %q", code, st)
	}
	if code, st := put(http.MethodPut, up.URL, "0123456789"); code != http.StatusOK || st != "a "+wire.FileSent {
		t.Errorf("tried again: %d %q", code, st)
	}
	if code, _ := put(http.MethodPut, up.URL, "0123456789"); code != http.StatusNotFound {
		t.Errorf("the URL again: %d", code)
	}
	forged := strings.Replace(up.URL, "upload/", "upload/x", 1)
	if code, _ := put(http.MethodPut, forged, "0123456789"); code != http.StatusNotFound {
		t.Errorf("a forged URL: %d", code)
	}
	if code, _ := put(http.MethodGet, up.URL, ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", code)
	}

}

// TestFileDeclinedByGG: a recipient online through GG answers the drive
// ticket first; a refusal reaches the sender as "declined".
func TestFileDeclinedByGG(t *testing.T) {
	ctx := testCtx(t)
	files := &fakeFiles{answer: drive.AckRejected}
	e := newTestEnv(t, func(c *Config) { c.Files = files })
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	gg := &ggEndpoint{}
	s, err := e.hub.Attach(ctx, bob, drive.ProtocolGG, gg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Detach(context.Background())
	if err := s.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	ac := e.login(t, ctx, alice, "pa")
	st, err := ac.SendFile(ctx, to(1002), "no.txt", 2, strings.NewReader("no"))
	if err != nil || st.Status != wire.FileDeclined || st.Ticket != "t0-no.txt" {
		t.Fatalf("declined: %+v, %v", st, err)
	}
	files.answer = drive.AckAllowed
	st, err = ac.SendFile(ctx, to(1002), "yes.txt", 3, strings.NewReader("yes"))
	if err != nil || st.Status != wire.FileSent || st.Ticket != "t1-yes.txt" {
		t.Fatalf("allowed: %+v, %v", st, err)
	}
	files.state(func() {
		if string(files.data["t1-yes.txt"]) != "yes" || len(files.bridged) != 0 {
			t.Fatalf("filled %q, bridged %v", files.data, files.bridged)
		}
	})
}

// ggEndpoint stands for a GG session that takes every event.
type ggEndpoint struct{}

func (*ggEndpoint) Deliver(hub.Event) bool { return true }

// TestFileArrives: a hub file event for the web chat becomes a "file"
// with the drive's link; one for another protocol does not.
func TestFileArrives(t *testing.T) {
	ctx := testCtx(t)
	e := newTestEnv(t, func(c *Config) { c.Files = &fakeFiles{} })
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	ac := e.login(t, ctx, alice, "pa")
	e.hub.OfferFile(bob, 1001, "msnp", "ready")
	e.hub.OfferFile(bob, 1001, protocolName, "ready")
	f := next[*wire.File](t, ctx, ac)
	if f.From.Number != 1002 || f.Name != "photo <1>.jpg" || f.Size != 7 || f.URL != "http://files.example/link/ready" {
		t.Fatalf("file %+v", f)
	}
	if err := ac.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ac.Events():
		t.Fatalf("a second event: %#v", ev)
	default:
	}
}

// TestFileAnswerTimeout: a GG recipient who never answers leaves the
// sender with "cancelled"; an upload URL not used in time expires.
func TestFileAnswerTimeout(t *testing.T) {
	ctx := testCtx(t)
	files := &fakeFiles{bridges: true} // answer unknown: AwaitAnswer waits
	e := newTestEnv(t, func(c *Config) { c.Files = files; c.FileAnswerTimeout = 300 * time.Millisecond })
	alice := e.account(t, 1001, "Alice", "pa")
	bob := e.account(t, 1002, "Bob", "pb")
	s, err := e.hub.Attach(ctx, bob, drive.ProtocolGG, &ggEndpoint{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	ac := e.login(t, ctx, alice, "pa")
	st, err := ac.SendFile(ctx, to(1002), "late.txt", 1, strings.NewReader("x"))
	if err != nil || st.Status != wire.FileCancelled {
		t.Fatalf("unanswered: %+v, %v", st, err)
	}
	files.state(func() {
		if strings.Join(files.withdrawn, ",") != "t0-late.txt" {
			t.Fatalf("withdrawn %v", files.withdrawn)
		}
	})
	s.Detach(ctx)

	// Bob on another protocol: the URL comes at once, and is left unused.
	online(t, e.hub, bob)
	up := e.offerByHand(t, ctx, alice, "pa", `{"type":"file_offer","id":"f","to":{"number":1002},"name":"a.txt","size":1}`)
	time.Sleep(500 * time.Millisecond)
	if code, _ := e.upload(t, ctx, http.MethodPut, up.URL, "x"); code != http.StatusNotFound {
		t.Fatalf("an expired upload URL: %d", code)
	}
	files.state(func() {
		if strings.Join(files.withdrawn, ",") != "t0-late.txt,t1-a.txt" {
			t.Fatalf("withdrawn %v", files.withdrawn)
		}
	})
}

// offerByHand logs a socket of its own in as a and sends offer (a
// file_offer's JSON); it returns the upload URL the server hands out.
func (e *testEnv) offerByHand(t *testing.T, ctx context.Context, a hub.Account, password, offer string) *wire.FileUpload {
	t.Helper()
	raw, _, err := websocket.Dial(ctx, e.socketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.CloseNow() })
	for _, msg := range []string{`{"type":"login","email":"` + a.Email + `","password":"` + password + `"}`, offer} {
		if err := raw.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	for {
		_, data, err := raw.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m, _ := wire.DecodeServer(data); m != nil {
			if up, ok := m.(*wire.FileUpload); ok {
				return up
			}
		}
	}
}

// upload sends body to an upload URL (relative to the service) and
// returns the HTTP status and the offer's status from the answer.
func (e *testEnv) upload(t *testing.T, ctx context.Context, method, url, body string) (int, wire.FileStatus) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, e.base+url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st wire.FileStatus
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return resp.StatusCode, st
}
