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
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	msnclient "github.com/crosstalk-im/crosstalk/msnp/client"
)

// "Sent" from msn send-file to a GG user means the file is in the drive:
// the moment the command returns, the GG user can download it.
func TestMSNSendFileToGG(t *testing.T) {
	for _, noIncoming := range []bool{false, true} {
		t.Run(map[bool]string{false: "sender listens", true: "sender behind NAT"}[noIncoming], func(t *testing.T) {
			ctx := testContext(t)
			n := startNode(t, nil)
			addAccount(t, n, 1001, "msn@example.com", "pw-msn")
			addAccount(t, n, 2002, "gg@example.com", "pw-gg")
			gg, err := ggclient.Dial(ctx, n.GGAddr, ggclient.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { gg.Close() })
			if err := gg.Login(ctx, 2002, "pw-gg", wire.StatusAvail, ""); err != nil {
				t.Fatal(err)
			}
			if err := gg.NotifyList(ctx, []wire.Contact{{UIN: 1001, Type: wire.UserNormal}}); err != nil {
				t.Fatal(err)
			}
			token, err := gg.IMToken(ctx)
			if err != nil {
				t.Fatal(err)
			}
			dc, err := driveclient.SignIn(ctx, "http://"+n.HTTPAddr, 2002, token, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(dc.CloseIdleConnections)
			// The GG user allows the first file offered.
			offered := make(chan string, 1)
			go func() {
				defer close(offered)
				for ev := range gg.Events() {
					m, ok := ev.(ggclient.MPANotify)
					var change struct {
						ID  string `json:"id"`
						Ack string `json:"ack_status"`
					}
					if !ok || json.Unmarshal([]byte(m.Data), &change) != nil || change.Ack != "unknown" {
						continue
					}
					if err := dc.Answer(ctx, change.ID, true); err != nil {
						t.Errorf("allow: %v", err)
					}
					offered <- change.ID
					return
				}
			}()

			path, data := testFile(t, "photo.jpg", 3<<20+5)
			cmd := &msnSendFileCmd{
				msnLogin:   msnLogin{Server: n.MSNPAddr, Login: "msn@example.com", Password: "pw-msn", Timeout: 10 * time.Second},
				To:         "gg@example.com",
				NoIncoming: noIncoming,
				File:       path,
			}
			con, out, errOut := testConsole()
			if err := cmd.run(ctx, testLogger(t), con); err != nil {
				t.Fatalf("send-file: %v\n%s", err, errOut)
			}
			if want := "sent photo.jpg (3145733 bytes) to gg@example.com\n"; out.String() != want {
				t.Errorf("output %q, want %q", out, want)
			}
			if strings.Contains(errOut.String(), "\r") {
				t.Errorf("carriage return on a console that is not a terminal: %q", errOut)
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
		dir := t.TempDir()
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
		recv := &msnRecvFileCmd{
			msnLogin:   msnLogin{Server: n.MSNPAddr, Login: "bob@example.com", Password: "pw-bob", Timeout: 10 * time.Second},
			Dir:        dir,
			NoIncoming: true,
		}
		rcon, rout, rerrOut := testConsole()
		received := make(chan error, 1)
		go func() { received <- recv.run(ctx, testLogger(t), rcon) }()
		waitFor(t, ctx, "the receiver to log in", func() bool { return strings.Contains(rerrOut.String(), "waiting for a file") })

		path, data := testFile(t, "notes.txt", 100<<10+i)
		send := &msnSendFileCmd{
			msnLogin:   msnLogin{Server: n.MSNPAddr, Login: "alice@example.com", Password: "pw-alice", Timeout: 10 * time.Second},
			To:         "bob@example.com",
			NoIncoming: true,
			File:       path,
		}
		scon, sout, serrOut := testConsole()
		if err := send.run(ctx, testLogger(t), scon); err != nil {
			t.Fatalf("run %d: send-file: %v\n%s", i, err, serrOut)
		}
		if err := <-received; err != nil {
			t.Fatalf("run %d: recv-file: %v\n%s", i, err, rerrOut)
		}
		if !strings.HasPrefix(sout.String(), "sent notes.txt") || !strings.HasPrefix(rout.String(), "received notes.txt") {
			t.Fatalf("run %d: sender said %q, receiver %q", i, sout, rout)
		}
		if got, err := os.ReadFile(filepath.Join(dir, "notes.txt")); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("run %d: saved file: %d bytes, %v", i, len(got), err)
		}
		if i%2 == 1 && !strings.Contains(rerrOut.String(), "<alice@example.com>: "+note+"\n") {
			t.Errorf("run %d: the receiver did not show the message kept for it: %q", i, rerrOut)
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
			bob := msnLogin{Server: n.MSNPAddr, Login: "bob@example.com", Password: "pw-bob", Timeout: 10 * time.Second}
			cl, err := bob.connect(ctx, testLogger(t))
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
			cmd := &msnSendFileCmd{
				msnLogin:   msnLogin{Server: n.MSNPAddr, Login: "alice@example.com", Password: "pw-alice", Timeout: 500 * time.Millisecond},
				To:         "bob@example.com",
				NoIncoming: true,
				File:       path,
			}
			con, out, _ := testConsole()
			done := make(chan error, 1)
			go func() { done <- cmd.run(context.Background(), testLogger(t), con) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) || out.String() != "" {
					t.Fatalf("send-file: %v (said %q), want an error saying %q", err, out, tc.want)
				}
			case <-ctx.Done():
				t.Fatal("send-file still waits, long past its --timeout")
			}
		})
	}
}
