package server

import (
	"bytes"
	"context"
	"errors"
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

// fakeFiles is a drive that keeps deposits in memory, bridges to
// whoever bridges says, and answers GG offers with answer (none: it
// waits until the offer ends).
type fakeFiles struct {
	bridges bool
	answer  drive.Ack

	mu        sync.Mutex
	deposited map[string][]byte // by file name
	bridged   []string          // ticket ids
}

func (f *fakeFiles) Offer(_ context.Context, sender, recipient uint32, name string, size int64) (drive.Ticket, error) {
	return drive.Ticket{ID: "gg-" + name, Sender: sender, Recipient: recipient, FileName: name, FileSize: size}, nil
}

func (f *fakeFiles) AwaitAnswer(ctx context.Context, id string) (drive.Ack, error) {
	if f.answer == "" || f.answer == drive.AckUnknown {
		<-ctx.Done()
		return drive.AckUnknown, ctx.Err()
	}
	return f.answer, nil
}

func (f *fakeFiles) Fill(_ context.Context, id string, r io.Reader) error {
	return f.keep(id, r)
}

func (f *fakeFiles) Withdraw(context.Context, string) error { return nil }

func (f *fakeFiles) Deposit(_ context.Context, sender, recipient uint32, name string, size int64, r io.Reader) (drive.Ticket, error) {
	data, err := io.ReadAll(io.LimitReader(r, size+1))
	if err != nil || int64(len(data)) != size {
		return drive.Ticket{}, errors.New("wrong size")
	}
	return drive.Ticket{ID: "t-" + name, FileName: name, FileSize: size}, f.keep(name, bytes.NewReader(data))
}

func (f *fakeFiles) keep(name string, r io.Reader) error {
	data, err := io.ReadAll(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deposited == nil {
		f.deposited = map[string][]byte{}
	}
	f.deposited[name] = data
	return err
}

func (f *fakeFiles) Bridge(_ context.Context, t drive.Ticket) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bridged = append(f.bridged, t.ID)
	return true
}

func (f *fakeFiles) Bridges(map[string]hub.Status) bool { return f.bridges }

func (f *fakeFiles) Link(_ context.Context, id string, recipient uint32) (drive.Ticket, string, error) {
	if id != "ready" {
		return drive.Ticket{}, "", drive.ErrNoTicket
	}
	return drive.Ticket{ID: id, FileName: "photo <1>.jpg", FileSize: 7, Recipient: recipient}, "http://files.example/link/ready", nil
}

func (f *fakeFiles) MaxFileBytes() int64 { return 1000 }

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
	if _, err := e.store.AddToList(ctx, 1002, 1001, hub.Block, -1, 100); err != nil {
		t.Fatal(err)
	}
	if got := send(1); got != wire.CodeRefused {
		t.Errorf("to a blocker: %q", got)
	}

	plain := newTestEnv(t, nil)
	carol := plain.account(t, 1003, "Carol", "pc")
	cc := plain.login(t, ctx, carol, "pc")
	if _, err := cc.SendFile(ctx, to(1003), "a", 1, strings.NewReader("a")); errorCode(err) != wire.CodeUnavailable {
		t.Errorf("without a drive: %v", err)
	}
}

// TestFileUpload: an offer to a recipient the drive bridges to gets a
// one-time upload URL; the bytes are deposited and bridged, and the
// sender hears "sent". The URL does not work twice, and a body of the
// wrong size fails.
func TestFileUpload(t *testing.T) {
	ctx := testCtx(t)
	files := &fakeFiles{bridges: true}
	e := newTestEnv(t, func(c *Config) { c.Files = files })
	alice := e.account(t, 1001, "Alice", "pa")
	online(t, e.hub, e.account(t, 1002, "Bob", "pb"))
	ac := e.login(t, ctx, alice, "pa")
	st, err := ac.SendFile(ctx, to(1002), "notes.txt", 5, strings.NewReader("hello"))
	if err != nil || st.Status != wire.FileSent || st.Ticket != "t-notes.txt" {
		t.Fatalf("send: %+v, %v", st, err)
	}
	files.mu.Lock()
	got, bridged := string(files.deposited["notes.txt"]), strings.Join(files.bridged, ",")
	files.mu.Unlock()
	if got != "hello" || bridged != "t-notes.txt" {
		t.Fatalf("deposited %q, bridged %q", got, bridged)
	}

	// By hand: a body of the wrong size fails, and no URL works twice.
	raw, _, err := websocket.Dial(ctx, e.socketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.CloseNow()
	// read returns the next message of type T.
	read := func(typ string) any {
		t.Helper()
		for {
			_, data, err := raw.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m, err := wire.DecodeServer(data); err == nil && strings.Contains(string(data), `"type":"`+typ+`"`) {
				return m
			}
		}
	}
	write := func(msg string) {
		t.Helper()
		if err := raw.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"type":"login","email":"` + alice.Email + `","password":"pa"}`)
	read(wire.TypeWelcome)
	put := func(url, body string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, e.base+url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	write(`{"type":"file_offer","id":"a","to":{"number":1002},"name":"short.txt","size":10}`)
	url := read(wire.TypeFileUpload).(*wire.FileUpload).URL
	if code := put(url, "short"); code != http.StatusBadRequest {
		t.Errorf("a short body: %d", code)
	}
	if st := read(wire.TypeFileStatus).(*wire.FileStatus); st.ID != "a" || st.Status != wire.FileFailed {
		t.Errorf("after a short body: %+v", st)
	}
	if code := put(url, "0123456789"); code != http.StatusNotFound {
		t.Errorf("the URL again: %d", code)
	}
	write(`{"type":"file_offer","id":"b","to":{"number":1002},"name":"ok.txt","size":2}`)
	url = read(wire.TypeFileUpload).(*wire.FileUpload).URL
	if code := put(url, "ok"); code != http.StatusNoContent {
		t.Errorf("upload: %d", code)
	}
	if code := put(url, "ok"); code != http.StatusNotFound {
		t.Errorf("the URL again: %d", code)
	}
	if code := put("upload/0123456789abcdef0123456789abcdef", "x"); code != http.StatusNotFound {
		t.Errorf("an unknown upload: %d", code)
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
	if err != nil || st.Status != wire.FileDeclined || st.Ticket != "gg-no.txt" {
		t.Fatalf("declined: %+v, %v", st, err)
	}
	files.answer = drive.AckAllowed
	st, err = ac.SendFile(ctx, to(1002), "yes.txt", 3, strings.NewReader("yes"))
	if err != nil || st.Status != wire.FileSent || st.Ticket != "gg-yes.txt" {
		t.Fatalf("allowed: %+v, %v", st, err)
	}
	files.mu.Lock()
	defer files.mu.Unlock()
	if string(files.deposited["gg-yes.txt"]) != "yes" || len(files.bridged) != 0 {
		t.Fatalf("filled %q, bridged %v", files.deposited["gg-yes.txt"], files.bridged)
	}
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
	s.Detach(ctx)

	// Bob on another protocol: the URL comes at once, and is left unused.
	online(t, e.hub, bob)
	raw, _, err := websocket.Dial(ctx, e.socketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.CloseNow()
	for _, msg := range []string{
		`{"type":"login","email":"` + alice.Email + `","password":"pa"}`,
		`{"type":"file_offer","id":"f","to":{"number":1002},"name":"a.txt","size":1}`,
	} {
		if err := raw.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	var up *wire.FileUpload
	for up == nil {
		_, data, err := raw.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := wire.DecodeServer(data)
		up, _ = m.(*wire.FileUpload)
	}
	time.Sleep(500 * time.Millisecond)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, e.base+up.URL, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("an expired upload URL: %d", resp.StatusCode)
	}
}
