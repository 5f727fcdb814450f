package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	driveclient "github.com/crosstalk-im/crosstalk/drive/client"
	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	msnpclient "github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/node"
	"github.com/crosstalk-im/crosstalk/web"
)

// A person signs up and opens the browser chat from the account page
// without typing the password again; there they get a GG user's offline
// message, see the GG user come online, talk and see typing both ways with
// the GG user and with an MSN user whose contact request they accept,
// send the GG user a file through the page's file input and get one back
// by its link; an admin's kick and then the person's sign-out from the
// web pages in another tab each end the chat session. The other users run
// the project's own GG, GG drive and MSN clients; the page runs in a real
// Chromium under its Content Security Policy, and a script exception or
// a blocked resource fails the test.
func TestBrowserChat(t *testing.T) {
	e := start(t, node.Options{Web: web.Config{Registration: web.RegistrationOpen}})
	e.account(1000, "admin@example.com", "Admin", "admin-secret", true)
	e.account(2001, "gosia@example.com", "Gosia", "gosia-secret", false)
	e.account(2002, "em@example.com", "Em <b>MSN</b>", "em-secret", false)
	ctx := newBrowser(t)
	shots := artifactDir(t)
	console := watchConsole(ctx)
	cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	run(t, ctx, "sign up", append(fillSignUp(e.base, "web@example.com", "Wera", "wera-secret"),
		chromedp.Click(chromedp.CSS("#signup-submit")),
		chromedp.WaitVisible(chromedp.CSS("#number")),
	)...)
	n, err := strconv.ParseUint(value(t, ctx, chromedp.Text(chromedp.CSS("#number"))), 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	me := uint32(n)

	// While the person is not in the chat, the GG user writes to them.
	gg := e.ggLogin(2001, "gosia-secret")
	if ack, err := gg.SendMessage(cctx, me, "wiadomość na później"); err != nil || ack.Status != wire.AckQueued {
		t.Fatalf("GG to the absent web user: %+v, %v", ack, err)
	}
	gg.Close()

	run(t, ctx, "open the chat from the account page",
		chromedp.Navigate(e.base+"/web/account"),
		chromedp.WaitVisible(chromedp.CSS("#open-chat")),
		chromedp.Click(chromedp.CSS("#open-chat")),
		chromedp.WaitVisible(chromedp.CSS("#chat")),
	)
	if who := value(t, ctx, chromedp.Text(chromedp.CSS("#me"))); who != fmt.Sprintf("Wera (%d)", me) {
		t.Fatalf("the chat shows %q signed in", who)
	}
	gosia := `#contacts li[data-number="2001"]`
	run(t, ctx, "the offline message",
		chromedp.WaitVisible(chromedp.CSS(gosia+".unread")),
		chromedp.Click(chromedp.CSS(gosia)),
	)
	waitPage(t, ctx, "the offline message, marked", hasLine("wiadomość na później")+` && document.querySelector("#messages").textContent.includes("while you were away")`)
	run(t, ctx, "follow the GG user",
		screenshot(t, shots, "chat-1-offline-message.png"),
		chromedp.SendKeys(chromedp.CSS("#add-contact"), "2001"),
		chromedp.Click(chromedp.CSS(`#add-form button`)),
	)
	waitPage(t, ctx, "the GG user listed offline", dot(2001, "offline"))

	gg = e.ggLogin(2001, "gosia-secret")
	waitPage(t, ctx, "the GG user online", dot(2001, "online"))
	run(t, ctx, "GG online", screenshot(t, shots, "chat-2-gg-online.png"))

	// Messages and typing with the GG user.
	run(t, ctx, "type to the GG user", chromedp.Click(chromedp.CSS(gosia)), chromedp.SendKeys(chromedp.CSS("#text"), "hello Gosia"))
	if ty := testenv.Next[ggclient.Typing](t, cctx, gg.Events()); ty.From != me || ty.Length == 0 {
		t.Fatalf("GG typing: %+v", ty)
	}
	run(t, ctx, "send to the GG user", chromedp.Click(chromedp.CSS(`#send-form button[type="submit"]`)))
	if m := testenv.Next[ggclient.Message](t, cctx, gg.Events()); m.From != me || m.Text != "hello Gosia" {
		t.Fatalf("GG got %+v", m)
	}
	waitPage(t, ctx, "the message delivered", `document.querySelector("#messages li.mine:last-child .meta").textContent.includes("delivered")`)
	if err := gg.SendTyping(cctx, me, 4); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the GG user typing", `document.querySelector("#typing").textContent === "Gosia is typing…"`)
	run(t, ctx, "GG typing", screenshot(t, shots, "chat-3-gg-typing.png"))
	if _, err := gg.SendMessage(cctx, me, "hej, co słychać?"); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the GG user's message", hasLine("hej, co słychać?")+` && document.querySelector("#typing").textContent === ""`)
	run(t, ctx, "GG conversation", screenshot(t, shots, "chat-4-gg-conversation.png"))

	// A file to the GG user through the page's file input: the GG user
	// allows the drive ticket, the page uploads, the GG user downloads.
	dc := e.ggDrive(cctx, gg, 2001)
	toGG := randomBytes(t, 150_000)
	upload := filepath.Join(t.TempDir(), "do-gosi.bin")
	if err := os.WriteFile(upload, toGG, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "choose a file for the GG user", chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{upload}))
	tk := allowNextTicket(t, cctx, gg, dc)
	waitPage(t, ctx, "the file sent", `document.querySelector("#notice").textContent === "File sent."`)
	var got bytes.Buffer
	if _, err := dc.Download(cctx, tk, &got); err != nil || tk.FileName != "do-gosi.bin" || tk.Sender != me ||
		sha256.Sum256(got.Bytes()) != sha256.Sum256(toGG) {
		t.Fatalf("GG download of %+v: %d bytes, %v", tk, got.Len(), err)
	}
	run(t, ctx, "file sent", screenshot(t, shots, "chat-5-file-sent.png"))

	// A file from the GG user: the page shows its link, which serves it.
	fromGG := randomBytes(t, 90_000)
	offer, err := dc.Offer(cctx, me, "od-gosi.bin", int64(len(fromGG)))
	if err != nil {
		t.Fatal(err)
	}
	if err := dc.Upload(cctx, offer, bytes.NewReader(fromGG)); err != nil {
		t.Fatal(err)
	}
	link := `#messages a[download]`
	run(t, ctx, "the GG user's file", chromedp.WaitVisible(chromedp.CSS(link)), screenshot(t, shots, "chat-6-file-received.png"))
	if label := value(t, ctx, chromedp.Text(chromedp.CSS(link))); label != fmt.Sprintf("od-gosi.bin (%d bytes)", len(fromGG)) {
		t.Fatalf("file link reads %q", label)
	}
	href := value(t, ctx, chromedp.Evaluate[string](`document.querySelector("#messages a[download]").href`))
	if data := fetch(t, href); sha256.Sum256(data) != sha256.Sum256(fromGG) {
		t.Fatalf("the link %s serves %d other bytes", href, len(data))
	}

	// An MSN user asks to add the person, who accepts, then they talk.
	mc := e.msnLogin(cctx, "em@example.com", "em-secret")
	if _, err := mc.Add(cctx, msnpclient.ListForward, "web@example.com", "Wera", 0); err != nil {
		t.Fatal(err)
	}
	request := `#requests li[data-number="2002"]`
	run(t, ctx, "the MSN user's request",
		chromedp.WaitVisible(chromedp.CSS(request)),
		screenshot(t, shots, "chat-7-request.png"),
		chromedp.Click(chromedp.CSS(request+` button`)), // Accept
	)
	waitPage(t, ctx, "the MSN user online", dot(2002, "online")+` && document.querySelector("#requests li") === null`)
	em := `#contacts li[data-number="2002"]`
	if name := value(t, ctx, chromedp.Text(chromedp.CSS(em+" .name"))); name != "Em <b>MSN</b>" {
		t.Fatalf("the MSN user's name shows as %q", name)
	}
	run(t, ctx, "write to the MSN user",
		chromedp.Click(chromedp.CSS(em)),
		chromedp.SendKeys(chromedp.CSS("#text"), "hello Em"),
		chromedp.Click(chromedp.CSS(`#send-form button[type="submit"]`)),
	)
	ring := testenv.Next[msnpclient.Ring](t, cctx, mc.Events())
	sb, err := mc.Answer(cctx, ring)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	if m := nextText(t, cctx, sb); m.From != "web@example.com" || m.Text != "hello Em" {
		t.Fatalf("MSN got %+v", m)
	}
	if err := sb.SendTyping(cctx); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the MSN user typing", `document.querySelector("#typing").textContent === "Em <b>MSN</b> is typing…"`)
	if err := sb.SendText(cctx, "hi <i>Wera</i>"); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the MSN user's message", hasLine("hi <i>Wera</i>")+` && document.querySelector("#messages i, #contacts b") === null`)
	run(t, ctx, "MSN conversation", screenshot(t, shots, "chat-8-msn-conversation.png"))

	// An admin kicks the web chat session.
	admin := e.apiToken("admin@example.com", "admin-secret")
	b := e.browser()
	var chat string
	for _, s := range apiJSON[[]sessionJSON](t, b, "GET", "/api/admin/v1/sessions", admin, nil, http.StatusOK) {
		if s.Account == me && s.Protocol == "webchat" {
			chat = s.ID
		}
	}
	if chat == "" {
		t.Fatal("the admin API lists no web chat session")
	}
	if status, data := b.api("DELETE", "/api/admin/v1/sessions/"+chat, admin, "", nil); status != http.StatusNoContent {
		t.Fatalf("kick: %d %s", status, data)
	}
	waitPage(t, ctx, "the kick said", signedOut("ended by an administrator"))
	run(t, ctx, "kicked", screenshot(t, shots, "chat-9-kicked.png"))

	// Still signed in to the web pages, a reload opens the chat again;
	// signing out of the pages in another tab ends it.
	run(t, ctx, "open the chat again", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#chat")))
	waitPage(t, ctx, "the contacts again", dot(2002, "online"))
	tab, closeTab := chromedp.NewContext(ctx)
	defer closeTab()
	run(t, tab, "sign out in another tab",
		chromedp.Navigate(e.base+"/web/account"),
		chromedp.Click(chromedp.CSS("#signout")),
		chromedp.WaitVisible(chromedp.CSS("#signin-form")),
	)
	waitPage(t, ctx, "the sign-out said", signedOut("you signed out of the web pages"))
	run(t, ctx, "signed out", screenshot(t, shots, "chat-10-signed-out.png"))
	run(t, ctx, "the chat page after signing out", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	if token := value(t, ctx, chromedp.Evaluate[string](`document.querySelector('meta[name="crosstalk-chat-token"]').content`)); token != "" {
		t.Fatal("a signed-out browser got a chat token")
	}

	e.noSecrets("wera-secret", "gosia-secret", "em-secret", "admin-secret", admin)
	console.check(t)
}

// signedOut is true once the chat page says the server ended its session
// for the reason given.
func signedOut(reason string) string {
	return fmt.Sprintf(`document.querySelector("#notice").textContent.startsWith(%q)`, "Signed out: "+reason+".")
}

// waitPage waits until the page's script expression is true.
func waitPage(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("waiting for %s in the page: %v", what, err)
	}
}

// hasLine is a script expression: a line of the open conversation holds
// text.
func hasLine(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#messages li")].some((li) => li.textContent.includes(%q))`, text)
}

// dot is a script expression: the contact list shows number with status.
func dot(number uint32, status string) string {
	return fmt.Sprintf(`document.querySelector('#contacts li[data-number="%d"] .dot.%s') !== null`, number, status)
}

// nextText returns the next text message of a switchboard.
func nextText(t *testing.T, ctx context.Context, sb *msnpclient.Switchboard) msnpclient.Message {
	t.Helper()
	for {
		if m := testenv.Next[msnpclient.Message](t, ctx, sb.Events()); m.ContentType == "text/plain" {
			return m
		}
	}
}

// msnLogin logs an MSN client in, online.
func (e *env) msnLogin(ctx context.Context, email, password string) *msnpclient.Client {
	e.t.Helper()
	c, err := msnpclient.Dial(ctx, e.n.MSNPAddr, msnpclient.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, email, password); err != nil {
		e.t.Fatalf("MSN login %s: %v", email, err)
	}
	if _, err := c.Sync(ctx, 0); err != nil {
		e.t.Fatal(err)
	}
	if err := c.SetStatus(ctx, msnpclient.StatusOnline); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// ggDrive signs a logged-in GG client in to the drive.
func (e *env) ggDrive(ctx context.Context, gg *ggclient.Client, uin uint32) *driveclient.Client {
	e.t.Helper()
	token, err := gg.IMToken(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	dc, err := driveclient.SignIn(ctx, e.base, uin, token, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(dc.CloseIdleConnections)
	return dc
}

// allowNextTicket waits for the drive's notice of a file offered to the
// GG user and allows it.
func allowNextTicket(t *testing.T, ctx context.Context, gg *ggclient.Client, dc *driveclient.Client) driveclient.Ticket {
	t.Helper()
	for {
		ev := testenv.Next[ggclient.MPANotify](t, ctx, gg.Events())
		var v struct {
			ID   string `json:"id"`
			Ack  string `json:"ack_status"`
			Send string `json:"send_status"`
		}
		if ev.Subtype != "edisc/send_ticket_changed" || json.Unmarshal([]byte(ev.Data), &v) != nil || v.Ack != "unknown" || v.Send != "in_progress" {
			continue
		}
		tk, err := dc.Ticket(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := dc.Answer(ctx, tk.ID, true); err != nil {
			t.Fatal(err)
		}
		return tk
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// fetch GETs a URL without cookies and returns its body.
func fetch(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	return data
}
