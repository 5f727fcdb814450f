package drive_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
)

// fuzzMaxFile is the drive's file limit in FuzzHandler, small enough for
// the fuzzer to cross.
const fuzzMaxFile = 1024

// fuzzTickets are the tickets between alice and bob that FuzzHandler
// restores before each request: one waiting for bob's answer, one allowed
// and waiting for the upload, and one whose file is in.
var fuzzTickets = []drive.Ticket{
	{ID: strings.Repeat("a", 32), FileName: "offer.txt", Ack: drive.AckUnknown, Status: drive.StatusInProgress},
	{ID: strings.Repeat("b", 32), FileName: "up.txt", Ack: drive.AckAllowed, Status: drive.StatusInProgress},
	{ID: strings.Repeat("c", 32), FileName: "done.txt", Ack: drive.AckAllowed, Status: drive.StatusCompleted},
}

const fuzzFile = "hello"

// discard is a hub endpoint for sessions whose events nobody reads.
type discard struct{}

func (discard) Deliver(hub.Event) bool { return true }

// fuzzDrive is the drive FuzzHandler serves: alice and bob online through
// GG and signed in, and fuzzTickets.
type fuzzDrive struct {
	*env
	cookies   map[uint32]string // drive session cookie by account
	secTokens map[uint32]string // security token by account
}

func newFuzzDrive(f *testing.F) *fuzzDrive {
	fd := &fuzzDrive{cookies: map[uint32]string{}, secTokens: map[uint32]string{}}
	fd.env = newEnv(f, func(c *drive.Config) {
		c.MaxFileBytes = fuzzMaxFile
		c.Key = bytes.Repeat([]byte{7}, 32) // the same cookies and links every run
	})
	ctx := context.Background()
	for _, uin := range []uint32{alice, bob} {
		a, err := fd.st.CreateAccount(ctx, hub.Account{Number: uin, Email: fmt.Sprintf("u%d@example.com", uin)}, "secret")
		if err != nil {
			f.Fatal(err)
		}
		s, err := fd.hub.Attach(ctx, a, "gg", discard{})
		if err != nil {
			f.Fatal(err)
		}
		if err := s.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { s.Detach(context.Background()) })
		token := fmt.Sprintf("imtoken-%d", uin)
		fd.tokens.set(token, uin)
		req := httptest.NewRequest(http.MethodPut, "/signin", nil)
		req.Header.Set("Authorization", "IMToken "+token)
		req.Header.Set("X-gged-user", fmt.Sprintf("gg/pl:%d", uin))
		rec := httptest.NewRecorder()
		fd.srv.Handler().ServeHTTP(rec, req)
		res := rec.Result()
		if res.StatusCode != http.StatusOK || len(res.Cookies()) != 1 {
			f.Fatalf("signin of %d: %d %s", uin, res.StatusCode, rec.Body)
		}
		fd.cookies[uin] = res.Cookies()[0].Value
		fd.secTokens[uin] = rec.Header()["X-gged-security-token"][0]
	}
	now := time.Now().UTC()
	for _, t := range fuzzTickets {
		t.Sender, t.Recipient, t.FileSize = alice, bob, int64(len(fuzzFile))
		t.Created, t.Expires = now, now.Add(time.Hour)
		if err := fd.st.CreateTicket(ctx, t, 0); err != nil {
			f.Fatal(err)
		}
	}
	fd.restore(f)
	return fd
}

// blobDir is where the drive keeps files.
func (fd *fuzzDrive) blobDir() string { return filepath.Join(fd.dir, "drive") }

// restore puts fuzzTickets and their files back as they were, and removes
// tickets other than them.
func (fd *fuzzDrive) restore(tb testing.TB) {
	ctx := context.Background()
	sum := sha256.Sum256([]byte(fuzzFile))
	for _, want := range fuzzTickets {
		if want.Status == drive.StatusCompleted {
			want.Progress, want.SHA256 = int64(len(fuzzFile)), hex.EncodeToString(sum[:])
		}
		_, err := fd.st.UpdateTicket(ctx, want.ID, func(t *drive.Ticket) error {
			t.Ack, t.Status, t.Progress, t.SHA256 = want.Ack, want.Status, want.Progress, want.SHA256
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		blob := filepath.Join(fd.blobDir(), want.ID)
		if want.Status == drive.StatusCompleted {
			err = os.WriteFile(blob, []byte(fuzzFile), 0o600)
		} else if err = os.Remove(blob); os.IsNotExist(err) {
			err = nil
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// FuzzHandler sends the drive's HTTP handler any request (as raw HTTP,
// which net/http parses as its server would), signed in as nobody, alice
// (the sender of every ticket) or bob (their recipient). However wrong
// the request, the drive answers it without a 5xx (the store is healthy,
// so every failure is the client's), in its JSON error shape, within its
// size limits, lets only signed-in callers at tickets and files, leaves
// no partial file, and no goroutine behind.
func FuzzHandler(f *testing.F) {
	fd := newFuzzDrive(f)
	offer, up, done := fuzzTickets[0].ID, fuzzTickets[1].ID, fuzzTickets[2].ID
	doneTicket, err := fd.st.Ticket(context.Background(), done)
	if err != nil {
		f.Fatal(err)
	}
	link := fd.srv.LinkPath(doneTicket)
	for _, seed := range []struct {
		as  uint8
		req string
	}{
		{0, "PUT /signin HTTP/1.1\r\nHost: d\r\nAuthorization: IMToken imtoken-1001\r\nX-gged-user: gg/pl:1001\r\n\r\n"},
		{0, "PUT /signin HTTP/1.1\r\nHost: d\r\nAuthorization: IMToken imtoken-1001\r\nX-gged-user: gg/pl:1002\r\n\r\n"},
		{1, "PUT /send_ticket HTTP/1.1\r\nHost: d\r\nContent-Length: 69\r\n\r\n" + `{"send_ticket":{"recipient":"1002","file_name":"a.txt","file_size":5}}`},
		{1, "PUT /send_ticket HTTP/1.1\r\nHost: d\r\nContent-Length: 72\r\n\r\n" + `{"send_ticket":{"recipient":1002,"file_name":"../x","file_size":"99999"}}`},
		{1, "PUT /send_ticket HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"sen\r\n0\r\n\r\n"},
		{2, "GET /send_ticket/" + offer + " HTTP/1.1\r\nHost: d\r\n\r\n"},
		{2, "PUT /send_ticket/" + offer + " HTTP/1.1\r\nHost: d\r\nX-gged-ack-status: allow\r\n\r\n"},
		{1, "PUT /send_ticket/" + offer + " HTTP/1.1\r\nHost: d\r\nX-gged-ack-status: reject\r\n\r\n"},
		{1, "PUT /me/file/outbox/" + up + "%2Cup.txt HTTP/1.1\r\nHost: d\r\nContent-Length: 5\r\n\r\nhello"},
		{1, "PUT /me/file/outbox/" + up + "%2Cup.txt HTTP/1.1\r\nHost: d\r\nContent-Length: 5\r\n\r\nhel"},
		{1, "PUT /me/file/outbox/" + up + "%2Cup.txt HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"},
		{1, "PUT /me/file/outbox/" + up + "%2Cup.txt HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\nZ\r\n"},
		{2, "GET /me/file/inbox/" + done + ",done.txt HTTP/1.1\r\nHost: d\r\nRange: bytes=1-2\r\n\r\n"},
		{0, "GET /me/file/inbox/" + done + ",done.txt?security_token=x HTTP/1.1\r\nHost: d\r\nCookie: gged_session=a.b\r\n\r\n"},
		{0, "HEAD " + link + " HTTP/1.1\r\nHost: d\r\n\r\n"},
		{0, "GET /link/" + done + "/00/done.txt HTTP/1.1\r\nHost: d\r\n\r\n"},
		{1, "DELETE /send_ticket HTTP/1.1\r\nHost: d\r\n\r\n"},
		{2, "GET /me/file/inbox/%2e%2e%2Cpasswd HTTP/1.1\r\nHost: d\r\n\r\n"},
	} {
		f.Add(seed.as, []byte(seed.req))
	}
	handler := fd.srv.Handler()
	f.Fuzz(func(t *testing.T, as uint8, raw []byte) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return // net/http would not hand it to the handler
		}
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		if uin := []uint32{0, alice, bob}[as%3]; uin != 0 {
			req.AddCookie(&http.Cookie{Name: drive.CookieName, Value: fd.cookies[uin]})
			req.Header.Set("X-gged-security-token", fd.secTokens[uin])
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		res := rec.Result()
		body := rec.Body.Bytes()
		path := req.URL.EscapedPath()

		if res.StatusCode >= 500 {
			t.Fatalf("%s %s: HTTP %d %s", req.Method, path, res.StatusCode, body)
		}
		if len(body) > fuzzMaxFile+1024 {
			t.Fatalf("%s %s: %d bytes of answer", req.Method, path, len(body))
		}
		if n := res.Header.Get("Content-Length"); n != "" && req.Method != http.MethodHead && n != fmt.Sprint(len(body)) {
			t.Fatalf("%s %s: Content-Length %s for %d bytes", req.Method, path, n, len(body))
		}
		if res.StatusCode >= 400 && req.Method != http.MethodHead {
			var e struct {
				Result struct {
					AppStatus int    `json:"appStatus"`
					ErrorMsg  string `json:"errorMsg"`
				} `json:"result"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Result.AppStatus < 400 || e.Result.ErrorMsg == "" ||
				!strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("%s %s: HTTP %d answered %q", req.Method, path, res.StatusCode, body)
			}
		}
		if res.StatusCode < 300 && path != "/signin" && !strings.HasPrefix(path, "/link/") {
			c, err := req.Cookie(drive.CookieName)
			if err != nil || (c.Value != fd.cookies[alice] && c.Value != fd.cookies[bob]) {
				t.Fatalf("%s %s: HTTP %d without a session", req.Method, path, res.StatusCode)
			}
		}
		if res.StatusCode < 300 && res.Header.Get("Content-Type") == "application/octet-stream" && !strings.Contains(fuzzFile, string(body)) {
			t.Fatalf("%s %s: served %q, not (part of) the file", req.Method, path, body)
		}
		fd.checkFiles(t)
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			fd.dropCreated(t, path, res.StatusCode, body)
			fd.restore(t)
		}
	})
}

// checkFiles fails on a partial upload left behind, or a file whose
// ticket is not completed.
func (fd *fuzzDrive) checkFiles(t *testing.T) {
	entries, err := os.ReadDir(fd.blobDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		tk, err := fd.st.Ticket(context.Background(), e.Name())
		if err != nil || tk.Status != drive.StatusCompleted {
			t.Fatalf("file %s left in the drive (%v)", e.Name(), err)
		}
	}
}

// dropCreated deletes a ticket the request created.
func (fd *fuzzDrive) dropCreated(t *testing.T, path string, code int, body []byte) {
	if path != "/send_ticket" || code != http.StatusOK {
		return
	}
	var created struct {
		Result struct {
			SendTicket struct {
				ID string `json:"id"`
			} `json:"send_ticket"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.Result.SendTicket.ID == "" {
		t.Fatalf("send_ticket answered %q", body)
	}
	if err := fd.st.DeleteTicket(context.Background(), created.Result.SendTicket.ID); err != nil {
		t.Fatal(err)
	}
}
