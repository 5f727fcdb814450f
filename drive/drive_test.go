package drive_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crosstalk-im/crosstalk/bus"
	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/store"
)

// fakeTokens stands in for the GG server's live IMTokens.
type fakeTokens struct {
	mu sync.Mutex
	m  map[string]uint32
}

func (f *fakeTokens) TokenOwner(_ context.Context, tok string) (uint32, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	uin, ok := f.m[tok]
	return uin, ok
}

func (f *fakeTokens) set(tok string, uin uint32) {
	f.mu.Lock()
	f.m[tok] = uin
	f.mu.Unlock()
}

func (f *fakeTokens) revoke(tok string) {
	f.mu.Lock()
	delete(f.m, tok)
	f.mu.Unlock()
}

// recorder is a hub endpoint that keeps the notifications it gets.
type recorder struct {
	mu  sync.Mutex
	got []hub.Notification
}

func (r *recorder) Deliver(ev hub.Event) bool {
	if ev.Kind != hub.EventNotify || ev.Notification == nil {
		return true
	}
	r.mu.Lock()
	r.got = append(r.got, *ev.Notification)
	r.mu.Unlock()
	return true
}

// wait returns the first n notifications, failing after a few seconds.
func (r *recorder) wait(tb testing.TB, n int) []hub.Notification {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		got := append([]hub.Notification(nil), r.got...)
		r.mu.Unlock()
		if len(got) >= n {
			return got[:n]
		}
		if time.Now().After(deadline) {
			tb.Fatalf("got %d notifications, want %d: %+v", len(got), n, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type env struct {
	// objects holds the files when the drive keeps them in a JetStream
	// object store; nil: in dir.
	objects jetstream.ObjectStore
	st      *store.SQLite
	hub     *hub.Hub
	srv     *drive.Server
	ts      *httptest.Server
	tokens  *fakeTokens
	dir     string
	key     []byte
}

func newEnv(tb testing.TB, tweak func(*drive.Config)) *env {
	return newEnvIn(tb, "dir", tweak)
}

// storages are where the drive may keep its files: its directory (one
// node), or a JetStream object store (nodes sharing a bus).
var storages = []string{"dir", "objects"}

func newEnvIn(tb testing.TB, storage string, tweak func(*drive.Config)) *env {
	tb.Helper()
	st, h := testenv.Hub(tb, hub.Config{})
	dir := tb.TempDir()
	tokens := &fakeTokens{m: map[string]uint32{}}
	key := make([]byte, 32)
	rand.Read(key)
	cfg := drive.Config{Tickets: st, Hub: h, Dir: dir, Tokens: tokens, Key: key}
	if storage == "objects" {
		b, err := bus.Open(context.Background(), bus.Options{DataDir: tb.TempDir()})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(b.Close)
		if cfg.Objects, err = drive.OpenObjects(context.Background(), b.JS, 1); err != nil {
			tb.Fatal(err)
		}
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := drive.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	tb.Cleanup(ts.Close)
	return &env{objects: cfg.Objects, st: st, hub: h, srv: srv, ts: ts, tokens: tokens, dir: dir, key: key}
}

// account creates an account that is online through GG and records its
// MPA notifications.
func (e *env) account(tb testing.TB, uin uint32, online bool) *recorder {
	tb.Helper()
	ctx := context.Background()
	a, err := e.st.CreateAccount(ctx, hub.Account{Number: uin, Email: fmt.Sprintf("u%d@example.com", uin)}, "secret")
	if err != nil {
		tb.Fatal(err)
	}
	rec := &recorder{}
	if !online {
		return rec
	}
	s, err := e.hub.Attach(ctx, a, "gg", rec)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Detach(context.Background()) })
	return rec
}

// client is one GG user's HTTP side: cookie jar and security token.
type client struct {
	tb      testing.TB
	e       *env
	uin     uint32
	imtoken string
	hc      *http.Client
	sec     string
}

func (e *env) client(tb testing.TB, uin uint32) *client {
	jar, _ := cookiejar.New(nil)
	return &client{tb: tb, e: e, uin: uin, imtoken: fmt.Sprintf("imtoken-%d", uin), hc: &http.Client{Jar: jar}}
}

type resp struct {
	code int
	hdr  http.Header
	body []byte
}

func (r resp) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		tb.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func (r resp) result(tb testing.TB) map[string]any {
	tb.Helper()
	res, ok := r.json(tb)["result"].(map[string]any)
	if !ok {
		tb.Fatalf("no result object in %s", r.body)
	}
	return res
}

func (c *client) do(method, path string, body io.Reader, hdr map[string]string) resp {
	c.tb.Helper()
	req, err := http.NewRequest(method, c.e.ts.URL+path, body)
	if err != nil {
		c.tb.Fatal(err)
	}
	req.Header.Set("X-gged-api-version", "6")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
	if c.sec != "" {
		req.Header.Set("X-gged-security-token", c.sec)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	if br, ok := body.(*bytes.Reader); ok {
		req.ContentLength = int64(br.Len())
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.tb.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b}
}

func (c *client) signin() {
	c.tb.Helper()
	c.e.tokens.set(c.imtoken, c.uin)
	r := c.do(http.MethodPut, "/signin", nil, map[string]string{
		"Authorization":          "IMToken " + c.imtoken,
		"X-gged-user":            fmt.Sprintf("gg/pl:%d", c.uin),
		"X-gged-client-metadata": `{"id": "0123456789abcdef0123456789abcdef", "name": "host", "os_version": "WINNT x86-msvc", "client_version": "1.12.2", "type": "desktop"}`,
	})
	if r.code != http.StatusOK {
		c.tb.Fatalf("signin: %d %s", r.code, r.body)
	}
	if st := r.result(c.tb)["status"]; st != float64(0) {
		c.tb.Fatalf("signin status %v (%T)", st, st)
	}
	// The header goes out with the exact spelling the client looks for.
	raw, ok := r.hdr["X-Gged-Security-Token"]
	if !ok || raw[0] == "" {
		c.tb.Fatalf("no security token in %v", r.hdr)
	}
	c.sec = raw[0]
}

func (c *client) offer(to uint32, name string, size int64) resp {
	c.tb.Helper()
	jname, _ := json.Marshal(name)
	body := fmt.Sprintf(`{"send_ticket":{"recipient":"%d","file_name":%s,"file_size":"%d"}}`, to, jname, size)
	return c.do(http.MethodPut, "/send_ticket", strings.NewReader(body), nil)
}

func (c *client) mustOffer(to uint32, name string, size int64) map[string]any {
	c.tb.Helper()
	r := c.offer(to, name, size)
	if r.code != http.StatusOK {
		c.tb.Fatalf("send_ticket: %d %s", r.code, r.body)
	}
	return r.result(c.tb)["send_ticket"].(map[string]any)
}

func (c *client) ack(id, decision string) resp {
	return c.do(http.MethodPut, "/send_ticket/"+id, nil, map[string]string{"X-gged-ack-status": decision})
}

func outboxPath(id, name string) string {
	return "/me/file/outbox/" + id + "%2C" + url.PathEscape(name)
}

func (c *client) upload(id, name string, data []byte) resp {
	return c.do(http.MethodPut, outboxPath(id, name), bytes.NewReader(data), map[string]string{
		"X-gged-local-revision": "0",
		"X-gged-metadata":       `{"node_type": "file"}`,
	})
}

// download fetches a file the way the client does: token in the query, no
// header.
func (c *client) download(id, name string) resp {
	return c.downloadRange(id, name, "")
}

// downloadRange asks for part of a file (an HTTP Range such as
// "bytes=10-19"), or all of it when rng is empty.
func (c *client) downloadRange(id, name, rng string) resp {
	path := "/me/file/inbox/" + id + "," + url.PathEscape(name) + "?api_version=6&security_token=" + url.QueryEscape(c.sec)
	hdr := map[string]string{"X-gged-security-token": ""}
	if rng != "" {
		hdr["Range"] = rng
	}
	return c.do(http.MethodGet, path, nil, hdr)
}

func wantCode(tb testing.TB, what string, r resp, code int) {
	tb.Helper()
	if r.code != code {
		tb.Fatalf("%s: HTTP %d, want %d (%s)", what, r.code, code, r.body)
	}
}

func change(tb testing.TB, n hub.Notification) map[string]any {
	tb.Helper()
	if n.Kind != drive.KindTicketChanged {
		tb.Fatalf("notification %q, want %s", n.Kind, drive.KindTicketChanged)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(n.Data), &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func wantChange(tb testing.TB, n hub.Notification, id, ack, status string) {
	tb.Helper()
	m := change(tb, n)
	if m["id"] != id || m["ack_status"] != ack || m["send_status"] != status || len(m) != 3 {
		tb.Fatalf("send_ticket_changed %v, want {%s %s %s}", m, id, ack, status)
	}
}

// blobFiles lists what is in the drive directory.
func (e *env) blobFiles(tb testing.TB) []string {
	tb.Helper()
	if e.objects != nil {
		list, err := e.objects.List(context.Background())
		if errors.Is(err, jetstream.ErrNoObjectsFound) {
			return nil
		}
		if err != nil {
			tb.Fatal(err)
		}
		var names []string
		for _, o := range list {
			names = append(names, o.Name)
		}
		return names
	}
	entries, err := os.ReadDir(filepath.Join(e.dir, "drive"))
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	return names
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

const (
	alice uint32 = 1001 // sender
	bob   uint32 = 1002 // recipient
	carol uint32 = 1003 // bystander
)

func TestFullFlow(t *testing.T) {
	for _, storage := range storages {
		t.Run(storage, func(t *testing.T) { testFullFlow(t, storage) })
	}
}

func testFullFlow(t *testing.T, storage string) {
	for _, size := range []int{0, 1, 2045, 2046, 3<<20 + 7} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			e := newEnvIn(t, storage, nil)
			aRec := e.account(t, alice, true)
			bRec := e.account(t, bob, true)
			a, b := e.client(t, alice), e.client(t, bob)
			a.signin()
			b.signin()
			data := payload(size)
			const name = "holiday photo (1).jpg"

			tk := a.mustOffer(bob, name, int64(size))
			id, _ := tk["id"].(string)
			want := map[string]any{
				"id": id, "sender": "1001", "recipient": "1002", "file_name": name,
				"file_size": strconv.Itoa(size), "send_progress": float64(0), "ack_status": "unknown",
				"send_mode": "normal", "send_status": "in_progress",
			}
			if id == "" || fmt.Sprint(tk) != fmt.Sprint(want) {
				t.Fatalf("send_ticket reply %v, want %v", tk, want)
			}
			wantChange(t, bRec.wait(t, 1)[0], id, "unknown", "in_progress")

			// The recipient learns of the ticket and fetches it.
			r := b.do(http.MethodGet, "/send_ticket/"+id, nil, nil)
			wantCode(t, "get ticket", r, http.StatusOK)
			res := r.result(t)
			if res["status"] != float64(0) || fmt.Sprint(res["send_ticket"]) != fmt.Sprint(want) {
				t.Fatalf("get ticket %s", r.body)
			}

			// Uploading before the recipient accepts is refused.
			wantCode(t, "early upload", a.upload(id, name, data), http.StatusConflict)

			wantCode(t, "accept", b.ack(id, "allow"), http.StatusOK)
			wantChange(t, aRec.wait(t, 1)[0], id, "allowed", "in_progress")
			wantChange(t, bRec.wait(t, 2)[1], id, "allowed", "in_progress")

			r = a.upload(id, name, data)
			wantCode(t, "upload", r, http.StatusOK)
			if st := r.result(t); len(st) != 1 || st["status"] != float64(0) {
				t.Fatalf("upload reply %s", r.body)
			}
			an := aRec.wait(t, 3)
			wantChange(t, an[1], id, "allowed", "completed")
			if an[2].Kind != drive.KindScopeFilesChanged {
				t.Fatalf("sender's 3rd notification %+v", an[2])
			}
			bn := bRec.wait(t, 4)
			wantChange(t, bn[2], id, "allowed", "completed")
			if bn[3].Kind != drive.KindScopeFilesChanged {
				t.Fatalf("recipient's 4th notification %+v", bn[3])
			}

			r = b.download(id, name)
			wantCode(t, "download", r, http.StatusOK)
			if !bytes.Equal(r.body, data) {
				t.Fatalf("downloaded %d bytes, want %d", len(r.body), len(data))
			}
			sum := sha256.Sum256(r.body)
			if got := r.hdr.Get("X-Checksum-Sha256"); got != hex.EncodeToString(sum[:]) {
				t.Fatalf("checksum header %q", got)
			}
			stored, err := e.st.Ticket(context.Background(), id)
			if err != nil || stored.SHA256 != hex.EncodeToString(sum[:]) || stored.Progress != int64(size) || stored.Status != drive.StatusCompleted {
				t.Fatalf("stored ticket %+v, %v", stored, err)
			}
			r = a.do(http.MethodGet, "/send_ticket/"+id, nil, nil)
			if tk := r.result(t)["send_ticket"].(map[string]any); tk["send_status"] != "completed" || tk["send_progress"] != float64(1) {
				t.Fatalf("completed ticket %s", r.body)
			}
			if files := e.blobFiles(t); len(files) != 1 || files[0] != id {
				t.Fatalf("drive dir holds %v, want [%s]", files, id)
			}
			// A second upload of a completed ticket is refused.
			wantCode(t, "second upload", a.upload(id, name, data), http.StatusConflict)
		})
	}
}

// A download may ask for parts of the file, wherever the drive keeps it.
func TestRangedDownload(t *testing.T) {
	for _, storage := range storages {
		t.Run(storage, func(t *testing.T) {
			e := newEnvIn(t, storage, nil)
			e.account(t, alice, true)
			e.account(t, bob, true)
			a, b := e.client(t, alice), e.client(t, bob)
			a.signin()
			b.signin()
			data := payload(300 << 10)
			id := a.mustOffer(bob, "big.bin", int64(len(data)))["id"].(string)
			wantCode(t, "accept", b.ack(id, "allow"), http.StatusOK)
			wantCode(t, "upload", a.upload(id, "big.bin", data), http.StatusOK)
			for _, tc := range []struct {
				rng        string
				start, end int
			}{{"bytes=200000-200099", 200000, 200100}, {"bytes=10-19", 10, 20}, {"bytes=-7", len(data) - 7, len(data)}} {
				r := b.downloadRange(id, "big.bin", tc.rng)
				wantCode(t, tc.rng, r, http.StatusPartialContent)
				if !bytes.Equal(r.body, data[tc.start:tc.end]) {
					t.Fatalf("%s: got %d bytes, not the file's", tc.rng, len(r.body))
				}
			}
		})
	}
}

func TestReject(t *testing.T) {
	e := newEnv(t, nil)
	aRec := e.account(t, alice, true)
	bRec := e.account(t, bob, true)
	a, b := e.client(t, alice), e.client(t, bob)
	a.signin()
	b.signin()
	id := a.mustOffer(bob, "x.txt", 3)["id"].(string)
	r := b.ack(id, "reject")
	wantCode(t, "reject", r, http.StatusOK)
	if tk := r.result(t)["send_ticket"].(map[string]any); tk["ack_status"] != "rejected" {
		t.Fatalf("reject reply %s", r.body)
	}
	wantChange(t, aRec.wait(t, 1)[0], id, "rejected", "in_progress")
	wantChange(t, bRec.wait(t, 2)[1], id, "rejected", "in_progress")
	wantCode(t, "reject again", b.ack(id, "reject"), http.StatusOK)
	wantCode(t, "allow after reject", b.ack(id, "allow"), http.StatusConflict)
	wantCode(t, "bad decision", b.ack(id, "maybe"), http.StatusBadRequest)
	wantCode(t, "upload", a.upload(id, "x.txt", []byte("abc")), http.StatusConflict)
	wantCode(t, "download", b.download(id, "x.txt"), http.StatusConflict)
	if files := e.blobFiles(t); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
}

func TestOtherUsersTickets(t *testing.T) {
	e := newEnv(t, nil)
	e.account(t, alice, true)
	e.account(t, bob, true)
	e.account(t, carol, true)
	a, b, c := e.client(t, alice), e.client(t, bob), e.client(t, carol)
	a.signin()
	b.signin()
	c.signin()
	id := a.mustOffer(bob, "f.bin", 2)["id"].(string)

	wantCode(t, "carol gets", c.do(http.MethodGet, "/send_ticket/"+id, nil, nil), http.StatusNotFound)
	wantCode(t, "carol acks", c.ack(id, "allow"), http.StatusNotFound)
	wantCode(t, "sender acks", a.ack(id, "allow"), http.StatusForbidden)
	wantCode(t, "unknown ticket", b.do(http.MethodGet, "/send_ticket/0123abcd", nil, nil), http.StatusNotFound)
	wantCode(t, "accept", b.ack(id, "allow"), http.StatusOK)
	wantCode(t, "carol uploads", c.upload(id, "f.bin", []byte("hi")), http.StatusNotFound)
	wantCode(t, "recipient uploads", b.upload(id, "f.bin", []byte("hi")), http.StatusForbidden)
	wantCode(t, "wrong name", a.upload(id, "g.bin", []byte("hi")), http.StatusNotFound)
	wantCode(t, "download before upload", b.download(id, "f.bin"), http.StatusConflict)
	wantCode(t, "sender uploads", a.upload(id, "f.bin", []byte("hi")), http.StatusOK)
	wantCode(t, "carol downloads", c.download(id, "f.bin"), http.StatusNotFound)
	wantCode(t, "sender downloads", a.download(id, "f.bin"), http.StatusForbidden)
	wantCode(t, "recipient downloads", b.download(id, "f.bin"), http.StatusOK)
}

func TestPathTricks(t *testing.T) {
	e := newEnv(t, nil)
	e.account(t, alice, true)
	e.account(t, bob, true)
	a, b := e.client(t, alice), e.client(t, bob)
	a.signin()
	b.signin()
	// The name is sanitised the way the client does it.
	tk := a.mustOffer(bob, "../../etc/pass\x00wd\\x", 1)
	id := tk["id"].(string)
	if tk["file_name"] != ".._.._etc_pass_wd_x" {
		t.Fatalf("sanitised name %q", tk["file_name"])
	}
	if tk := a.mustOffer(bob, "..", 1); tk["file_name"] != "_" {
		t.Fatalf("name .. became %q", tk["file_name"])
	}
	wantCode(t, "accept", b.ack(id, "allow"), http.StatusOK)
	for _, p := range []string{
		"/me/file/outbox/" + id + "%2C..%2F..%2Fetc%2Fpasswd",
		"/me/file/outbox/" + id + "%2C..",
		"/me/file/outbox/" + id + "%2C.",
		"/me/file/outbox/" + id + "%2C",
		"/me/file/outbox/" + id + "%2Cx%5Cy",
		"/me/file/outbox/" + id + "%2Cx%00y",
		"/me/file/outbox/" + id + "%2Cx%252Fy",
		"/me/file/outbox/" + id + "%2Cx/y",
		"/me/file/outbox/" + id,
		"/me/file/outbox/..%2C" + id,
		"/me/file/outbox/" + id + "%2F..%2C.._.._etc_pass_wd_x",
		"/me/file/outbox/%2E%2E%2C.._.._etc_pass_wd_x",
		"/me/file/outbox/../../" + id + "%2C.._.._etc_pass_wd_x",
	} {
		r := a.do(http.MethodPut, p, bytes.NewReader([]byte("z")), nil)
		if r.code/100 == 2 {
			t.Errorf("PUT %s: %d", p, r.code)
		}
		r = b.do(http.MethodGet, strings.Replace(p, "outbox", "inbox", 1), nil, nil)
		if r.code/100 == 2 {
			t.Errorf("GET %s: %d", p, r.code)
		}
	}
	wantCode(t, "dotted ticket id", b.do(http.MethodGet, "/send_ticket/..%2Fsignin", nil, nil), http.StatusNotFound)
	if files := e.blobFiles(t); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
	// The real name still works.
	wantCode(t, "upload", a.upload(id, ".._.._etc_pass_wd_x", []byte("z")), http.StatusOK)
}

func TestAuth(t *testing.T) {
	e := newEnv(t, nil)
	e.account(t, alice, true)
	e.account(t, bob, true)
	a := e.client(t, alice)

	// Before signin (the client tries this first and expects 401).
	wantCode(t, "offer before signin", a.offer(bob, "f", 1), http.StatusUnauthorized)

	e.tokens.set(a.imtoken, alice)
	for _, tc := range []struct {
		auth, user string
		code       int
	}{
		{"", "gg/pl:1001", http.StatusUnauthorized},
		{"IMToken wrong", "gg/pl:1001", http.StatusUnauthorized},
		{"Bearer " + a.imtoken, "gg/pl:1001", http.StatusUnauthorized},
		{"IMToken " + a.imtoken, "gg/pl:1002", http.StatusForbidden},
		{"IMToken " + a.imtoken, "", http.StatusForbidden},
		{"IMToken " + a.imtoken, "1001", http.StatusForbidden},
	} {
		r := a.do(http.MethodPut, "/signin", nil, map[string]string{"Authorization": tc.auth, "X-gged-user": tc.user})
		wantCode(t, fmt.Sprintf("signin %q %q", tc.auth, tc.user), r, tc.code)
		if r.hdr.Get("X-gged-security-token") != "" {
			t.Fatal("security token handed out on a failed signin")
		}
	}

	a.signin()
	wantCode(t, "offer", a.offer(bob, "f", 1), http.StatusOK)
	good := a.sec
	a.sec = "forged"
	wantCode(t, "forged token", a.offer(bob, "f", 1), http.StatusUnauthorized)
	a.sec = ""
	wantCode(t, "no token", a.offer(bob, "f", 1), http.StatusUnauthorized)
	a.sec = good

	// The security token alone, without the cookie, is not enough.
	noJar := &client{tb: t, e: e, uin: alice, hc: &http.Client{}, sec: good}
	wantCode(t, "no cookie", noJar.offer(bob, "f", 1), http.StatusUnauthorized)

	// A cookie made up for another IMToken is refused.
	forged := &client{tb: t, e: e, uin: alice, hc: &http.Client{}, sec: good}
	e.tokens.set("other", alice)
	wantCode(t, "forged cookie", forged.do(http.MethodPut, "/send_ticket", strings.NewReader(`{"send_ticket":{"recipient":"1002","file_name":"f","file_size":"1"}}`),
		map[string]string{"Cookie": drive.CookieName + "=b3RoZXI." + good}), http.StatusUnauthorized)

	// The GG session ends: its IMToken dies and so does the drive session.
	e.tokens.revoke(a.imtoken)
	wantCode(t, "stale token", a.offer(bob, "f", 1), http.StatusUnauthorized)
}

func TestRecipientChecks(t *testing.T) {
	e := newEnv(t, nil)
	e.account(t, alice, true)
	e.account(t, bob, true)
	e.account(t, carol, false)
	a := e.client(t, alice)
	a.signin()
	appStatus := func(r resp) any { return r.result(t)["appStatus"] }

	r := a.offer(carol, "f", 1)
	if r.code/100 == 2 || appStatus(r) != float64(206) {
		t.Fatalf("offline recipient: %d %s", r.code, r.body)
	}
	r = a.offer(4242, "f", 1)
	if r.code/100 == 2 || appStatus(r) != float64(206) {
		t.Fatalf("unknown recipient: %d %s", r.code, r.body)
	}
	if _, err := e.st.AddToList(context.Background(), bob, alice, hub.Block, 0, 100); err != nil {
		t.Fatal(err)
	}
	r = a.offer(bob, "f", 1)
	if r.code/100 == 2 || appStatus(r) != float64(207) {
		t.Fatalf("blocked sender: %d %s", r.code, r.body)
	}
	if _, ok := r.result(t)["errorMsg"].(string); !ok {
		t.Fatalf("no errorMsg in %s", r.body)
	}
	for _, body := range []string{
		`{}`, `not json`, `{"send_ticket":{"recipient":"x","file_name":"f","file_size":"1"}}`,
		`{"send_ticket":{"recipient":"1002","file_name":"","file_size":"1"}}`,
		`{"send_ticket":{"recipient":"1002","file_name":"f","file_size":"-1"}}`,
		`{"send_ticket":{"recipient":"1001","file_name":"f","file_size":"1"}}`,
	} {
		wantCode(t, body, a.do(http.MethodPut, "/send_ticket", strings.NewReader(body), nil), http.StatusBadRequest)
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t, func(c *drive.Config) { c.MaxFileBytes = 1000; c.QuotaBytes = 1500 })
	e.account(t, alice, true)
	e.account(t, bob, true)
	a, b := e.client(t, alice), e.client(t, bob)
	a.signin()
	b.signin()

	huge := `{"send_ticket":{"recipient":"1002","file_name":"` + strings.Repeat("a", 20<<10) + `","file_size":"1"}}`
	wantCode(t, "oversize body", a.do(http.MethodPut, "/send_ticket", strings.NewReader(huge), nil), http.StatusRequestEntityTooLarge)
	wantCode(t, "file too large", a.offer(bob, "f", 1001), http.StatusRequestEntityTooLarge)

	first := a.mustOffer(bob, "f", 1000)["id"].(string)
	wantCode(t, "quota full", a.offer(bob, "g", 501), http.StatusInsufficientStorage)
	a.mustOffer(bob, "g", 500)
	wantCode(t, "quota full again", a.offer(bob, "h", 1), http.StatusInsufficientStorage)
	// Bob has his own quota.
	b.mustOffer(alice, "h", 1000)
	// A rejected ticket frees its share.
	wantCode(t, "reject", b.ack(first, "reject"), http.StatusOK)
	a.mustOffer(bob, "i", 1000)
}

func TestLyingSize(t *testing.T) {
	for _, storage := range storages {
		t.Run(storage, func(t *testing.T) { testLyingSize(t, storage) })
	}
}

func testLyingSize(t *testing.T, storage string) {
	e := newEnvIn(t, storage, nil)
	e.account(t, alice, true)
	e.account(t, bob, true)
	a, b := e.client(t, alice), e.client(t, bob)
	a.signin()
	b.signin()
	const size = 100 << 10
	id := a.mustOffer(bob, "f.bin", size)["id"].(string)
	wantCode(t, "accept", b.ack(id, "allow"), http.StatusOK)
	data := payload(size + 1)

	// Content-Length disagreeing with the ticket is refused up front.
	wantCode(t, "short length", a.upload(id, "f.bin", data[:size-1]), http.StatusBadRequest)
	wantCode(t, "long length", a.upload(id, "f.bin", data), http.StatusBadRequest)
	// Chunked bodies are counted while they stream.
	for _, n := range []int{0, size - 1, size + 1} {
		r := a.do(http.MethodPut, outboxPath(id, "f.bin"), io.MultiReader(bytes.NewReader(data[:n])), nil)
		wantCode(t, fmt.Sprintf("chunked %d bytes", n), r, http.StatusBadRequest)
		if files := e.blobFiles(t); len(files) != 0 {
			t.Fatalf("after a %d-byte upload: files %v", n, files)
		}
	}
	tk, err := e.st.Ticket(context.Background(), id)
	if err != nil || tk.Status != drive.StatusInProgress {
		t.Fatalf("ticket %+v, %v", tk, err)
	}
	wantCode(t, "download", b.download(id, "f.bin"), http.StatusConflict)
	// An honest chunked upload then works.
	r := a.do(http.MethodPut, outboxPath(id, "f.bin"), io.MultiReader(bytes.NewReader(data[:size])), nil)
	wantCode(t, "honest upload", r, http.StatusOK)
	r = b.download(id, "f.bin")
	if r.code != http.StatusOK || !bytes.Equal(r.body, data[:size]) {
		t.Fatalf("download %d, %d bytes", r.code, len(r.body))
	}
}

// An upload whose body breaks off or is malformed is the sender's fault:
// 400, no file left, and no error in the log.
func TestBrokenUploadBody(t *testing.T) {
	for _, storage := range storages {
		t.Run(storage, func(t *testing.T) { testBrokenUploadBody(t, storage) })
	}
}

func testBrokenUploadBody(t *testing.T, storage string) {
	var log testenv.LogBuffer
	e := newEnvIn(t, storage, func(c *drive.Config) { c.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	e.account(t, alice, true)
	e.account(t, bob, true)
	a, b := e.client(t, alice), e.client(t, bob)
	a.signin()
	b.signin()
	id := a.mustOffer(bob, "f.txt", 5)["id"].(string)
	wantCode(t, "accept", b.ack(id, "allow"), http.StatusOK)
	u, _ := url.Parse(e.ts.URL)
	session := a.hc.Jar.Cookies(u)[0]
	for name, rest := range map[string]string{
		"cut short":     "Content-Length: 5\r\n\r\nhel",
		"chunk garbled": "Transfer-Encoding: chunked\r\n\r\n3\r\nhel\r\nZZ\r\n",
	} {
		nc, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(nc, "PUT %s HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nX-gged-security-token: %s\r\n%s",
			outboxPath(id, "f.txt"), u.Host, session, a.sec, rest)
		nc.(*net.TCPConn).CloseWrite()
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res.Body.Close()
		nc.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: HTTP %d, want 400", name, res.StatusCode)
		}
		if files := e.blobFiles(t); len(files) != 0 {
			t.Fatalf("%s: files %v left", name, files)
		}
	}
	if strings.Contains(log.String(), "level=ERROR") {
		t.Fatalf("the sender's broken upload was logged as a server error:\n%s", log.String())
	}
	wantCode(t, "honest upload", a.upload(id, "f.txt", []byte("hello")), http.StatusOK)
}

func TestMethods(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, alice)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/signin"},
		{http.MethodPost, "/send_ticket"},
		{http.MethodDelete, "/send_ticket/abc"},
		{http.MethodGet, "/me/file/outbox/abc%2Cf"},
		{http.MethodPut, "/me/file/inbox/abc,f"},
	} {
		r := c.do(tc.method, tc.path, nil, nil)
		wantCode(t, tc.method+" "+tc.path, r, http.StatusMethodNotAllowed)
		if r.hdr.Get("Allow") == "" {
			t.Errorf("%s %s: no Allow header", tc.method, tc.path)
		}
	}
	wantCode(t, "unknown path", c.do(http.MethodGet, "/nothing", nil, nil), http.StatusNotFound)
}

func TestSweep(t *testing.T) {
	for _, storage := range storages {
		t.Run(storage, func(t *testing.T) { testSweep(t, storage) })
	}
}

func testSweep(t *testing.T, storage string) {
	var clock atomic.Int64 // nanoseconds the drive's clock is ahead of the real one
	const lifetime = time.Hour
	e := newEnvIn(t, storage, func(c *drive.Config) {
		c.TicketLifetime = lifetime
		c.Now = func() time.Time { return time.Now().Add(time.Duration(clock.Load())) }
	})
	aRec := e.account(t, alice, true)
	bRec := e.account(t, bob, true)
	a, b := e.client(t, alice), e.client(t, bob)
	a.signin()
	b.signin()
	done := a.mustOffer(bob, "done", 4)["id"].(string)
	wantCode(t, "accept", b.ack(done, "allow"), http.StatusOK)
	wantCode(t, "upload", a.upload(done, "done", []byte("abcd")), http.StatusOK)
	pending := a.mustOffer(bob, "pending", 4)["id"].(string)

	ctx := context.Background()
	if n, err := e.srv.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("early sweep: %d, %v", n, err)
	}
	// Debris: an orphaned blob (its ticket gone with a deleted account).
	const orphan = "0123456789abcdef"
	if e.objects != nil {
		if _, err := e.objects.PutBytes(ctx, orphan, []byte("x")); err != nil {
			t.Fatal(err)
		}
	} else if err := os.WriteFile(filepath.Join(e.dir, "drive", orphan), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Store(int64(lifetime + time.Minute))
	if n, err := e.srv.Sweep(ctx); err != nil || n != 2 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if files := e.blobFiles(t); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
	for _, id := range []string{done, pending} {
		wantCode(t, "swept ticket", b.do(http.MethodGet, "/send_ticket/"+id, nil, nil), http.StatusNotFound)
	}
	wantCode(t, "swept download", b.download(done, "done"), http.StatusNotFound)
	// Both sides hear that the unfinished one expired.
	for _, rec := range []*recorder{aRec, bRec} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := rec.wait(t, 1)
			rec.mu.Lock()
			got = append(got[:0:0], rec.got...)
			rec.mu.Unlock()
			last := got[len(got)-1]
			if last.Kind == drive.KindTicketChanged && strings.Contains(last.Data, pending) && strings.Contains(last.Data, `"expired"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no expiry notification: %+v", got)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"plain.txt":                  "plain.txt",
		"a b [x](1){2}-+=_;'<>,.&$!": "a b [x](1){2}-+=_;'<>,.&$!",
		"zażółć.txt":                 "za____.txt",
		"a/b\\c\x00d":                "a_b_c_d",
		"":                           "_",
		".":                          "_",
		"...":                        "_",
		"\xff\xfe":                   "__",
		"a\"b%c":                     "a_b_c",
		strings.Repeat("x", 300):     strings.Repeat("x", drive.MaxNameBytes),
	} {
		if got := drive.SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseFileRef(t *testing.T) {
	for _, tc := range []struct {
		in, id, name string
		ok           bool
	}{
		{"abc%2Cfile%20name.txt", "abc", "file name.txt", true},
		{"abc%2cfile", "abc", "file", true},
		{"abc,file,with,commas", "abc", "file,with,commas", true},
		{"abc%2Ca%2Cb", "abc", "a,b", true},
		{"abc", "", "", false},
		{"%2Cfile", "", "", false},
		{"a.b%2Cfile", "", "", false},
		{"abc%2C..", "", "", false},
		{"abc%2C%2E%2E", "", "", false},
		{"abc%2Ca%2Fb", "", "", false},
		{"abc%2Ca/b", "", "", false},
		{"abc%2Ca%5Cb", "", "", false},
		{"abc%2Ca%00b", "", "", false},
		{"abc%2Ca%zz", "", "", false},
		{"abc%2C", "", "", false},
	} {
		id, name, err := drive.ParseFileRef(tc.in)
		if (err == nil) != tc.ok || id != tc.id || name != tc.name {
			t.Errorf("ParseFileRef(%q) = %q, %q, %v", tc.in, id, name, err)
		}
	}
}

func FuzzParseFileRef(f *testing.F) {
	for _, s := range []string{"abc%2Cfile.txt", "abc,a%20b", "abc%2C..%2F..", "x%2C%00", "%2C", "a,b,c", "a%2c%2e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		id, name, err := drive.ParseFileRef(in)
		if err != nil {
			return
		}
		if id == "" || strings.ContainsAny(id, "./\\%,\x00") {
			t.Fatalf("id %q from %q", id, in)
		}
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
			t.Fatalf("name %q from %q", name, in)
		}
		if drive.SanitizeName(name) != name || filepath.Base(name) != name {
			t.Fatalf("name %q from %q is not a plain sanitised name", name, in)
		}
		// What the client would send for this ticket parses back the same.
		id2, name2, err := drive.ParseFileRef(id + "%2C" + url.PathEscape(name))
		if err != nil || id2 != id || name2 != name {
			t.Fatalf("round trip of %q/%q: %q %q %v", id, name, id2, name2, err)
		}
	})
}

func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{"a.txt", "..", "a/b", "zażółć", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := drive.SanitizeName(in)
		if out == "" || out == "." || out == ".." || len(out) > drive.MaxNameBytes ||
			strings.ContainsAny(out, "/\\\x00") || drive.SanitizeName(out) != out {
			t.Fatalf("SanitizeName(%q) = %q", in, out)
		}
	})
}

func BenchmarkUploadDownload8MiB(b *testing.B) {
	e := newEnv(b, func(c *drive.Config) { c.QuotaBytes = -1 })
	e.account(b, alice, true)
	e.account(b, bob, true)
	sender, recipient := e.client(b, alice), e.client(b, bob)
	sender.signin()
	recipient.signin()
	data := payload(8 << 20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		id := sender.mustOffer(bob, "big.bin", int64(len(data)))["id"].(string)
		if r := recipient.ack(id, "allow"); r.code != http.StatusOK {
			b.Fatalf("ack %d", r.code)
		}
		if r := sender.upload(id, "big.bin", data); r.code != http.StatusOK {
			b.Fatalf("upload %d %s", r.code, r.body)
		}
		if r := recipient.download(id, "big.bin"); r.code != http.StatusOK || len(r.body) != len(data) {
			b.Fatalf("download %d", r.code)
		}
	}
}
