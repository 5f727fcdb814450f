package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	driveclient "github.com/crosstalk-im/crosstalk/drive/client"
	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
)

// driveUser is a GG client together with its drive HTTP session.
type driveUser struct {
	gg    *ggclient.Client
	uin   uint32
	http  *http.Client
	base  string
	token string // X-gged-security-token
}

func signIn(t *testing.T, ctx context.Context, n *Node, gg *ggclient.Client, uin uint32) *driveUser {
	t.Helper()
	imtoken, err := gg.IMToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	u := &driveUser{gg: gg, uin: uin, http: &http.Client{Jar: jar, Timeout: 10 * time.Second}, base: "http://" + n.HTTPAddr}
	t.Cleanup(u.http.CloseIdleConnections)
	resp := u.do(t, "PUT", "/signin", nil, map[string]string{
		"Authorization": "IMToken " + imtoken,
		"X-gged-user":   fmt.Sprintf("gg/pl:%d", uin),
	})
	u.token = resp.Header.Get("X-gged-security-token")
	if resp.StatusCode != http.StatusOK || u.token == "" {
		t.Fatalf("signin: %d token %q", resp.StatusCode, u.token)
	}
	return u
}

func (u *driveUser) do(t *testing.T, method, path string, body []byte, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-gged-api-version", "6")
	if u.token != "" {
		req.Header.Set("X-gged-security-token", u.token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := u.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readJSON(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("%d: %v", resp.StatusCode, err)
	}
	return v
}

// nextTicketEvent waits for an edisc/send_ticket_changed notification.
func nextTicketEvent(t *testing.T, ctx context.Context, c *ggclient.Client, ack, status string) map[string]any {
	t.Helper()
	for {
		ev := nextGG[ggclient.MPANotify](t, ctx, c)
		if ev.Subtype != "edisc/send_ticket_changed" {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(ev.Data), &v); err != nil {
			t.Fatal(err)
		}
		if v["ack_status"] == ack && v["send_status"] == status {
			return v
		}
	}
}

// driveUsers makes Gary (2001) and Gosia (2002), each the other's contact,
// logs them in over GG and signs them in to the drive.
func driveUsers(t *testing.T, ctx context.Context, n *Node) (gary, gosia *driveUser) {
	t.Helper()
	addAccount(t, n, 2001, "gary@example.com", "Gary", "pg")
	addAccount(t, n, 2002, "gosia@example.com", "Gosia", "ph")
	gary = signIn(t, ctx, n, loginGG(t, ctx, n.GGAddr, 2001, "pg", wire.StatusAvail, "", 2002), 2001)
	gosia = signIn(t, ctx, n, loginGG(t, ctx, n.GGAddr, 2002, "ph", wire.StatusAvail, "", 2001), 2002)
	return gary, gosia
}

// offerAccepted has sender offer recipient a file (offer is the JSON of
// PUT /send_ticket) and recipient accept it, with the notifications
// arriving over both GG sessions; it returns the ticket's id and file name.
func offerAccepted(t *testing.T, ctx context.Context, sender, recipient *driveUser, offer string) (id, name string) {
	t.Helper()
	resp := sender.do(t, "PUT", "/send_ticket", []byte(offer), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("send_ticket: %d", resp.StatusCode)
	}
	created := readJSON(t, resp)["result"].(map[string]any)["send_ticket"].(map[string]any)
	id, name = created["id"].(string), created["file_name"].(string)
	if ev := nextTicketEvent(t, ctx, recipient.gg, "unknown", "in_progress"); ev["id"] != id {
		t.Fatalf("notification for %v, ticket %s", ev["id"], id)
	}
	if resp := recipient.do(t, "PUT", "/send_ticket/"+id, nil, map[string]string{"X-gged-ack-status": "allow"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("accept: %d", resp.StatusCode)
	}
	nextTicketEvent(t, ctx, sender.gg, "allowed", "in_progress")
	return id, name
}

// TestDriveBetweenGGUsers walks the GG drive flow of seed 000 through a
// node: sign in with the session's IMToken, offer, accept, upload,
// download, with the MPA notifications arriving over the GG sessions.
func TestDriveBetweenGGUsers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")
	sender, recipient := driveUsers(t, ctx, n)

	data := make([]byte, 2<<20+3)
	rand.Read(data)
	id, name := offerAccepted(t, ctx, sender, recipient, fmt.Sprintf(`{"send_ticket":{"recipient":"2002","file_name":"zdjęcie.jpg","file_size":"%d"}}`, len(data)))
	got := readJSON(t, recipient.do(t, "GET", "/send_ticket/"+id, nil, nil))
	if tk := got["result"].(map[string]any)["send_ticket"].(map[string]any); tk["sender"] != "2001" || tk["file_size"] != fmt.Sprint(len(data)) {
		t.Fatalf("ticket seen by the recipient: %v", tk)
	}

	ref := id + "%2C" + url.PathEscape(name)
	if resp := sender.do(t, "PUT", "/me/file/outbox/"+ref, data, nil); resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	nextTicketEvent(t, ctx, recipient.gg, "allowed", "completed")

	resp := recipient.do(t, "GET", "/me/file/inbox/"+id+","+url.PathEscape(name), nil, nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || sha256.Sum256(body) != sha256.Sum256(data) {
		t.Fatalf("download: %d, %d bytes", resp.StatusCode, len(body))
	}
	// The sender may not download the recipient's copy, and a stranger's
	// request for the ticket finds nothing.
	if resp := sender.do(t, "GET", "/me/file/inbox/"+id+","+url.PathEscape(name), nil, nil); resp.StatusCode == http.StatusOK {
		t.Fatal("sender downloaded from the recipient's inbox")
	}
}

// TestDriveClient runs the drive client library against a node: an offer
// to someone offline, a rejection, and empty and one-byte files.
func TestDriveClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")
	addAccount(t, n, 2001, "gary@example.com", "Gary", "pg")
	addAccount(t, n, 2002, "gosia@example.com", "Gosia", "ph")
	addAccount(t, n, 2003, "away@example.com", "Away", "pa")
	open := func(gg *ggclient.Client, uin uint32) *driveclient.Client {
		token, err := gg.IMToken(ctx)
		if err != nil {
			t.Fatal(err)
		}
		dc, err := driveclient.SignIn(ctx, "http://"+n.HTTPAddr, uin, token, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(dc.CloseIdleConnections)
		return dc
	}
	gary := loginGG(t, ctx, n.GGAddr, 2001, "pg", wire.StatusAvail, "", 2002)
	gosia := loginGG(t, ctx, n.GGAddr, 2002, "ph", wire.StatusAvail, "", 2001)
	send, recv := open(gary, 2001), open(gosia, 2002)

	var de *driveclient.Error
	if _, err := send.Offer(ctx, 2003, "x.txt", 1); !errors.As(err, &de) || de.AppStatus != 206 {
		t.Fatalf("offer to someone offline: %v", err)
	}
	offer, err := send.Offer(ctx, 2002, "no.txt", 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := recv.Answer(ctx, offer.ID, false); err != nil {
		t.Fatal(err)
	}
	nextTicketEvent(t, ctx, gary, "rejected", "in_progress")
	if err := send.Upload(ctx, offer, bytes.NewReader([]byte("hello"))); err == nil {
		t.Fatal("uploaded a rejected file")
	}
	for _, size := range []int{0, 1} {
		data := bytes.Repeat([]byte{'x'}, size)
		offer, err := send.Offer(ctx, 2002, fmt.Sprintf("file-%d.txt", size), int64(size))
		if err != nil {
			t.Fatal(err)
		}
		if err := recv.Answer(ctx, offer.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := send.Upload(ctx, offer, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if k, err := recv.Download(ctx, offer, &got); err != nil || k != int64(size) || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("%d-byte file: %d %v", size, k, err)
		}
	}
}
