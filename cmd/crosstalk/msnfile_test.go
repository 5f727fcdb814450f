package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	driveclient "github.com/crosstalk-im/crosstalk/drive/client"
	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/hub"
	msnclient "github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/node"
)

// msnSendFile is msn send-file from an account to another.
func msnSendFile(login msnLogin, to, path string, noIncoming bool) command {
	return (&msnSendFileCmd{msnLogin: login, To: to, NoIncoming: noIncoming, File: path}).run
}

// answerFirstTicket signs a GG user in to the drive, with sender on
// their list, and has them allow or reject the first file offered to
// them; it hands on the ticket's id.
func answerFirstTicket(t *testing.T, ctx context.Context, n *node.Node, number uint32, password string, sender uint32, allow bool) (*driveclient.Client, <-chan string) {
	t.Helper()
	login := ggAs(n, number, password)
	gg, err := login.connect(ctx, testLogger(t), sender)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gg.Close() })
	dc, err := login.signIn(ctx, ggDrive{Drive: "http://" + n.HTTPAddr}, gg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dc.CloseIdleConnections)
	offered := make(chan string, 1)
	go func() {
		for ev := range gg.Events() {
			m, ok := ev.(ggclient.MPANotify)
			var change struct {
				ID  string `json:"id"`
				Ack string `json:"ack_status"`
			}
			if !ok || json.Unmarshal([]byte(m.Data), &change) != nil || change.Ack != "unknown" {
				continue
			}
			if err := dc.Answer(ctx, change.ID, allow); err != nil {
				t.Errorf("answer: %v", err)
			}
			offered <- change.ID
			return
		}
	}()
	return dc, offered
}

// "Sent" from msn send-file to a GG user means the file is in the drive:
// the moment the command returns, the GG user can download it.
func TestMSNSendFileToGG(t *testing.T) {
	for _, noIncoming := range []bool{false, true} {
		t.Run(map[bool]string{false: "sender listens", true: "sender behind NAT"}[noIncoming], func(t *testing.T) {
			ctx := testContext(t)
			n := startNode(t, nil)
			addAccount(t, n, 1001, "msn@example.com", "pw-msn")
			addAccount(t, n, 2002, "gg@example.com", "pw-gg")
			dc, offered := answerFirstTicket(t, ctx, n, 2002, "pw-gg", 1001, true)

			path, data := testFile(t, "photo.jpg", 3<<20+5)
			r := msnSendFile(msnAs(n, "msn@example.com", "pw-msn"), "gg@example.com", path, noIncoming).run(t, ctx)
			if r.err != nil {
				t.Fatalf("send-file: %v\n%s", r.err, r.errOut)
			}
			if want := "sent photo.jpg (3145733 bytes) to gg@example.com\n"; r.out.String() != want {
				t.Errorf("output %q, want %q", r.out, want)
			}
			if strings.Contains(r.errOut.String(), "\r") {
				t.Errorf("carriage return on a console that is not a terminal: %q", r.errOut)
			}
			id := <-offered
			tk, err := dc.Ticket(ctx, id)
			if err != nil || tk.Status != "completed" {
				t.Fatalf("right after sent: ticket %+v, %v", tk, err)
			}
			var got bytes.Buffer
			if k, err := dc.Download(ctx, tk, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("download: %d bytes, %v", k, err)
			}
		})
	}
}

// Two MSN users who both cannot take connections pass a file through the
// server's relay, every time: the scenario runs 20 times against one
// server, as a user runs the two commands again and again. Every other
// time the receiver has a message waiting from while it was offline, which
// the server delivers in a chat of its own as the receiver logs in: that
// chat must not keep the receiver from the sender's.
func TestMSNFileBothBehindNAT(t *testing.T) {
	n := startNode(t, nil)
	addAccount(t, n, 1001, "alice@example.com", "pw-alice")
	addAccount(t, n, 1002, "bob@example.com", "pw-bob")
	alice, err := n.Store.Account(context.Background(), 1001)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		ctx := testContext(t)
		note := fmt.Sprintf("note %d", i)
		if i%2 == 1 {
			waitFor(t, ctx, "bob to be offline", func() bool {
				st, _, err := n.Hub.Presence(ctx, 1002)
				return err == nil && st == hub.StatusOffline
			})
			if d, err := n.Hub.SendMessage(ctx, alice, 1002, hub.Message{Text: note}, ""); err != nil || d != hub.Queued {
				t.Fatalf("offline message: %v, %v", d, err)
			}
		}
		dir := t.TempDir()
		recv := command((&msnRecvFileCmd{msnLogin: msnAs(n, "bob@example.com", "pw-bob"), Dir: dir, NoIncoming: true}).run).
			start(t, ctx, "waiting for a file")
		if i%2 == 1 { // the server's chat comes first
			waitFor(t, ctx, "the message kept for bob", func() bool {
				return strings.Contains(recv.errOut.String(), "<alice@example.com>: "+note+"\n")
			})
		}
		path, data := testFile(t, "notes.txt", 100<<10+i)
		sent := msnSendFile(msnAs(n, "alice@example.com", "pw-alice"), "bob@example.com", path, true).run(t, ctx)
		if sent.err != nil {
			t.Fatalf("run %d: send-file: %v\n%s", i, sent.err, sent.errOut)
		}
		received := recv.wait()
		if received.err != nil {
			t.Fatalf("run %d: recv-file: %v\n%s", i, received.err, received.errOut)
		}
		if !strings.HasPrefix(sent.out.String(), "sent notes.txt") || !strings.HasPrefix(received.out.String(), "received notes.txt") {
			t.Fatalf("run %d: sender said %q, receiver %q", i, sent.out, received.out)
		}
		if got, err := os.ReadFile(filepath.Join(dir, "notes.txt")); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("run %d: saved file: %d bytes, %v", i, len(got), err)
		}
	}
}

// msn send-file gives up after --timeout at whichever step the contact
// stops answering, with a message that says so.
func TestMSNSendFileTimeout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer bool // bob joins the chat, then ignores the offer
		want   string
	}{
		{"contact does not join", false, "bob@example.com did not answer"},
		{"contact ignores the offer", true, "no answer from bob@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			n := startNode(t, nil)
			addAccount(t, n, 1001, "alice@example.com", "pw-alice")
			addAccount(t, n, 1002, "bob@example.com", "pw-bob")
			cl, err := msnAs(n, "bob@example.com", "pw-bob").connect(ctx, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cl.Close() })
			joined := make(chan *msnclient.Switchboard, 1)
			t.Cleanup(func() {
				select {
				case sb := <-joined:
					sb.Close()
				default:
				}
			})
			go func() {
				for ev := range cl.Events() {
					if r, ok := ev.(msnclient.Ring); ok && tc.answer {
						if sb, err := cl.Answer(ctx, r); err == nil {
							joined <- sb
						}
					}
				}
			}()
			path, _ := testFile(t, "f.bin", 1000)
			login := msnAs(n, "alice@example.com", "pw-alice")
			login.Timeout = 500 * time.Millisecond
			done := make(chan ran, 1)
			go func() { done <- msnSendFile(login, "bob@example.com", path, true).run(t, context.Background()) }()
			select {
			case r := <-done:
				if r.err == nil || !strings.Contains(r.err.Error(), tc.want) || r.out.String() != "" {
					t.Fatalf("send-file: %v (said %q), want an error saying %q", r.err, r.out, tc.want)
				}
			case <-ctx.Done():
				t.Fatal("send-file still waits, long past its --timeout")
			}
		})
	}
}
