package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	msnclient "github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
	webclient "github.com/crosstalk-im/crosstalk/webchat/client"
	webchatserver "github.com/crosstalk-im/crosstalk/webchat/server"
	webwire "github.com/crosstalk-im/crosstalk/webchat/wire"
)

// webPeer is a user of the chat in the browser, through the web chat
// client library.
type webPeer struct {
	*inbox
	number uint32
	email  string
	c      *webclient.Client
	files  chan *webwire.File
	// statuses are file statuses no request waited for.
	statuses chan *webwire.FileStatus
}

func (p *webPeer) protocol() string          { return "webchat" }
func (p *webPeer) account() (uint32, string) { return p.number, p.email }
func (p *webPeer) follow(ctx context.Context, other peer) error {
	n, _ := other.account()
	return p.c.List(ctx, webwire.TypeAdd, webwire.Contact{Number: n})
}

func (p *webPeer) send(ctx context.Context, to peer, text string) error {
	n, _ := to.account()
	_, err := p.c.Send(ctx, webwire.Contact{Number: n}, text)
	return err
}

func (p *webPeer) run() {
	for ev := range p.c.Events() {
		switch ev := ev.(type) {
		case *webwire.Contacts:
			p.update(func() {
				for _, c := range ev.Contacts {
					p.online[fmt.Sprint(c.Number)] = c.Status != webwire.StatusOffline
				}
			})
		case *webwire.ContactChanged:
			p.update(func() { p.online[fmt.Sprint(ev.Contact.Number)] = ev.Contact.Status != webwire.StatusOffline })
		case *webwire.Presence:
			p.update(func() { p.online[fmt.Sprint(ev.From.Number)] = ev.Status != webwire.StatusOffline })
		case *webwire.Message:
			text := ev.Text
			if ev.Offline {
				text = "(offline) " + text
			}
			p.update(func() { p.messages = append(p.messages, fmt.Sprint(ev.From.Number)+": "+text) })
		case *webwire.File:
			p.files <- ev
		case *webwire.FileStatus:
			select {
			case p.statuses <- ev:
			default: // a test that does not look for them
			}
		}
	}
}

// newWebPeer makes an account and logs it in through the web chat.
func newWebPeer(t *testing.T, ctx context.Context, n *Node, number uint32, email string) *webPeer {
	t.Helper()
	addAccount(t, n, number, email, "Web "+email, "pw")
	return loginWeb(t, ctx, n, number, email)
}

// loginWeb logs an existing account in through the web chat.
func loginWeb(t *testing.T, ctx context.Context, n *Node, number uint32, email string) *webPeer {
	t.Helper()
	return loginWebAt(t, ctx, "ws://"+n.HTTPAddr+"/chat/ws", nil, number, email)
}

// loginWebAt logs an existing account in through the web chat at url,
// through hc (nil: the default client).
func loginWebAt(t *testing.T, ctx context.Context, url string, hc *http.Client, number uint32, email string) *webPeer {
	t.Helper()
	c, err := webclient.Dial(ctx, url, webclient.Options{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Login(ctx, email, "pw"); err != nil {
		t.Fatalf("web login %s: %v", email, err)
	}
	p := &webPeer{inbox: newInbox(), number: number, email: email, c: c, files: make(chan *webwire.File, 16),
		statuses: make(chan *webwire.FileStatus, 16)}
	go p.run()
	return p
}

// TestWebchatOfflineMessages: what a GG user sends a web user who is away
// waits in the mailbox and comes at the web user's next login, marked as
// such; what the web user sends an absent GG user is "stored" and comes
// at theirs.
func TestWebchatOfflineMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")
	addAccount(t, n, 1002, "gg@example.com", "Gie", "pw")
	web := newWebPeer(t, ctx, n, 1006, "web@example.com")
	gc := loginGG(t, ctx, n.GGAddr, 1002, "pw", wire.StatusAvail, "", 1006)
	gg := &ggPeer{inbox: newInbox(), number: 1002, email: "gg@example.com", c: gc}
	go gg.run()
	if err := web.follow(ctx, gg); err != nil {
		t.Fatal(err)
	}
	gg.wait(t, ctx, "the web user online", func() bool { return gg.online["1006"] })

	if err := web.c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	gg.wait(t, ctx, "the web user offline", func() bool { return !gg.online["1006"] })
	ack, err := gc.SendMessage(ctx, 1006, "zostawiam wiadomość")
	if err != nil || ack.Status != wire.AckQueued {
		t.Fatalf("GG to the absent web user: %+v, %v", ack, err)
	}
	back := loginWeb(t, ctx, n, 1006, "web@example.com")
	back.wait(t, ctx, "the offline message", back.has("1002: (offline) zostawiam wiadomość"))
	back.wait(t, ctx, "the GG user online", func() bool { return back.online["1002"] })

	if err := gc.Close(); err != nil {
		t.Fatal(err)
	}
	back.wait(t, ctx, "the GG user offline", func() bool { return !back.online["1002"] })
	res, err := back.c.Send(ctx, webwire.Contact{Number: 1002}, "see you")
	if err != nil || res != webwire.ResultStored {
		t.Fatalf("web to the absent GG user: %q, %v", res, err)
	}
	gc2 := loginGG(t, ctx, n.GGAddr, 1002, "pw", wire.StatusAvail, "", 1006)
	if m := nextGG[ggclient.Message](t, ctx, gc2); m.From != 1006 || m.Text != "see you" {
		t.Fatalf("GG got %+v", m)
	}
}

// webMSNGG is msnGG with a web user (3003) who has both on their list.
func webMSNGG(t *testing.T, ctx context.Context) (*msnGG, *webPeer) {
	t.Helper()
	c := newMSNGG(t, ctx, Options{})
	web := newWebPeer(t, ctx, c.n, 3003, "web@example.com")
	for _, n := range []uint32{1001, 2002} {
		if err := web.c.List(ctx, webwire.TypeAdd, webwire.Contact{Number: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.mc.Add(ctx, msnclient.ListForward, "web@example.com", "Web", 0); err != nil {
		t.Fatal(err)
	}
	if err := c.gg.AddNotify(ctx, wire.Contact{UIN: 3003, Type: wire.UserNormal}); err != nil {
		t.Fatal(err)
	}
	web.wait(t, ctx, "MSN and GG online", func() bool { return web.online["1001"] && web.online["2002"] })
	return c, web
}

// webFile waits for the web user's next file and checks what its link
// serves.
func webFile(t *testing.T, ctx context.Context, web *webPeer, from uint32, name string, data []byte) {
	t.Helper()
	var f *webwire.File
	select {
	case f = <-web.files:
	case <-ctx.Done():
		t.Fatalf("no file %s: %v", name, ctx.Err())
	}
	if f.From.Number != from || f.Name != name || f.Size != int64(len(data)) || !strings.HasPrefix(f.URL, "http://") {
		t.Fatalf("file %+v, want %s from %d", f, name, from)
	}
	got, err := web.c.Download(ctx, f.URL, int64(len(data))+1)
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("%s: %d bytes, %v", name, len(got), err)
	}
}

// TestWebchatFiles sends a file each way between a web user and a GG
// user and an MSN user, through the drive: GG's own tickets, MSN's own
// file transfer, and the web chat's offers, uploads and links.
func TestWebchatFiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, web := webMSNGG(t, ctx)

	// Web to GG: the GG user allows the drive ticket, then the upload goes.
	toGG := randomBytes(100_000)
	sent := make(chan *webwire.FileStatus, 1)
	go func() {
		st, err := web.c.SendFile(ctx, webwire.Contact{Number: 2002}, "web-to-gg.bin", int64(len(toGG)), bytes.NewReader(toGG))
		if err != nil {
			t.Errorf("web to GG: %v", err)
		}
		sent <- st
	}()
	tk := c.allowNext(t, ctx)
	if st := <-sent; st == nil || st.Status != webwire.FileSent || st.Ticket != tk.ID {
		t.Fatalf("web to GG: %+v, ticket %s", st, tk.ID)
	}
	nextTicketEvent(t, ctx, c.gg, "allowed", "completed")
	var got bytes.Buffer
	if _, err := c.dc.Download(ctx, tk, &got); err != nil || tk.FileName != "web-to-gg.bin" || sha256.Sum256(got.Bytes()) != sha256.Sum256(toGG) {
		t.Fatalf("GG download of %+v: %d bytes, %v", tk, got.Len(), err)
	}

	// GG to web: allowed at once (the web chat has no decision step), and
	// announced with its link once uploaded.
	fromGG := randomBytes(70_000)
	offer, err := c.dc.Offer(ctx, 3003, "gg-to-web.bin", int64(len(fromGG)))
	if err != nil || offer.Ack != "allowed" {
		t.Fatalf("GG offer to web: %+v, %v", offer, err)
	}
	if err := c.dc.Upload(ctx, offer, bytes.NewReader(fromGG)); err != nil {
		t.Fatal(err)
	}
	webFile(t, ctx, web, 2002, "gg-to-web.bin", fromGG)

	// MSN to web: the server takes MSNFTP's receiving end.
	sb, err := c.mc.StartChat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	if _, err := sb.Call(ctx, "web@example.com"); err != nil {
		t.Fatal(err)
	}
	next[msnclient.Joined](t, ctx, sb.Events())
	fromMSN := randomBytes(50_000)
	if err := filetransfer.Send(ctx, sb, "web@example.com", "msn-to-web.bin", int64(len(fromMSN)), bytes.NewReader(fromMSN), filetransfer.Options{}); err != nil {
		t.Fatalf("MSN to web: %v", err)
	}
	webFile(t, ctx, web, 1001, "msn-to-web.bin", fromMSN)

	// Web to MSN: deposited, then offered through MSN's file transfer.
	toMSN := randomBytes(60_000)
	st, err := web.c.SendFile(ctx, webwire.Contact{Number: 1001}, "web-to-msn.bin", int64(len(toMSN)), bytes.NewReader(toMSN))
	if err != nil || st.Status != webwire.FileSent {
		t.Fatalf("web to MSN: %+v, %v", st, err)
	}
	from, inv, err := filetransfer.NextOffer(ctx, sb)
	if err != nil || from != "web@example.com" || inv.File != "web-to-msn.bin" || inv.FileSize != int64(len(toMSN)) {
		t.Fatalf("MSN offer from %s: %+v %v", from, inv, err)
	}
	got.Reset()
	if k, err := filetransfer.Receive(ctx, sb, from, "msn@example.com", inv, &got, filetransfer.Options{}); err != nil ||
		k != int64(len(toMSN)) || sha256.Sum256(got.Bytes()) != sha256.Sum256(toMSN) {
		t.Fatalf("MSN receive: %d, %v", k, err)
	}
}

// TestWebchatFileDeclined: a GG user who refuses the ticket leaves the web
// sender with "declined" and nothing to upload.
func TestWebchatFileDeclined(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, web := webMSNGG(t, ctx)
	sent := make(chan *webwire.FileStatus, 1)
	go func() {
		st, err := web.c.SendFile(ctx, webwire.Contact{Number: 2002}, "no.bin", 10, bytes.NewReader(make([]byte, 10)))
		if err != nil {
			t.Errorf("web to GG: %v", err)
		}
		sent <- st
	}()
	ev := nextTicketEvent(t, ctx, c.gg, "unknown", "in_progress")
	if err := c.dc.Answer(ctx, ev["id"].(string), false); err != nil {
		t.Fatal(err)
	}
	if st := <-sent; st == nil || st.Status != webwire.FileDeclined {
		t.Fatalf("declined offer: %+v", st)
	}
}

// TestWebchatPage: the page and its assets come with a strict Content
// Security Policy and no inline script; a plain GET of the socket is not
// upgraded.
func TestWebchatPage(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	base := "http://" + n.HTTPAddr
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(body)
	}
	resp, page := get("/chat")
	if resp.Request.URL.Path != "/chat/" || resp.StatusCode != http.StatusOK || !strings.Contains(page, `<script src="app.js" defer></script>`) {
		t.Fatalf("/chat: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "connect-src 'self' ws://" + n.HTTPAddr} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(strings.ReplaceAll(page, `<script src="app.js" defer></script>`, ""), "<script") {
		t.Error("the page has an inline script")
	}
	for _, asset := range []string{"/chat/app.js", "/chat/style.css"} {
		if resp, _ := get(asset); resp.StatusCode != http.StatusOK || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d", asset, resp.StatusCode)
		}
	}
	if _, js := get("/chat/app.js"); strings.Contains(js, "innerHTML") {
		t.Error("app.js uses innerHTML")
	}
	if resp, _ := get("/chat/ws"); resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("GET /chat/ws: %d", resp.StatusCode)
	}
	if resp, _ := get("/chat/secret.txt"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown asset: %d", resp.StatusCode)
	}
}

// TestWebchatOutlivesHTTPTimeouts: a web chat session is not an HTTP
// request: the HTTP service's write, stall and idle timeouts do not cut
// it, only the web chat's own idle timeout does.
func TestWebchatOutlivesHTTPTimeouts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	short := 200 * time.Millisecond
	n := startNodeWith(t, Options{DataDir: t.TempDir(),
		HTTP:    HTTPLimits{WriteTimeout: short, StallTimeout: short, IdleTimeout: short, HeaderTimeout: short},
		Webchat: webchatserver.Config{IdleTimeout: time.Minute}})
	web := newWebPeer(t, ctx, n, 1006, "web@example.com")
	time.Sleep(5 * short)
	if err := web.c.Ping(ctx); err != nil {
		t.Fatalf("after the HTTP timeouts: %v", err)
	}
}

// TestWebchatUploadAcrossNodes: the upload URL a web user's node hands
// out works on another node of the cluster (a load balancer need not be
// sticky), and the file reaches a web user on that node; a URL signed
// with another key does not.
func TestWebchatUploadAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	natsURL := testenv.NATS(t)
	dir := t.TempDir()
	n1 := startNodeWith(t, Options{DataDir: dir, NatsURL: natsURL})
	n2 := startNodeWith(t, Options{DataDir: dir, NatsURL: natsURL})
	sender := newWebPeer(t, ctx, n1, 1006, "web@example.com")
	receiver := newWebPeer(t, ctx, n2, 1007, "other@example.com")
	if err := receiver.follow(ctx, sender); err != nil {
		t.Fatal(err)
	}
	answer, err := sender.c.OfferFile(ctx, webwire.Contact{Number: 1007}, "across.bin", 40_000)
	if err != nil {
		t.Fatal(err)
	}
	up, ok := answer.(*webwire.FileUpload)
	if !ok {
		t.Fatalf("offer answered %+v", answer)
	}
	put := func(url string, body []byte) (int, webwire.FileStatus) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st webwire.FileStatus
		_ = json.NewDecoder(resp.Body).Decode(&st)
		return resp.StatusCode, st
	}
	data := randomBytes(40_000)
	other := startNode(t, t.TempDir(), "") // a service of its own: another key
	if code, _ := put("http://"+other.HTTPAddr+"/chat/"+up.URL, data); code != http.StatusNotFound {
		t.Fatalf("on a node of another service: %d", code)
	}
	if code, st := put("http://"+n2.HTTPAddr+"/chat/"+up.URL, data); code != http.StatusOK || st.Status != webwire.FileSent {
		t.Fatalf("on the other node: %d %+v", code, st)
	}
	webFile(t, ctx, receiver, 1006, "across.bin", data)
}
