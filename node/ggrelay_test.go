package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	driveclient "github.com/crosstalk-im/crosstalk/drive/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	msnclient "github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
)

// An MSN user sends a file to a GG user: the GG user gets a drive ticket,
// allows it, and the server receives the file over MSNFTP into it; a
// second offer, rejected on the drive, comes back to the sender as
// CANCEL REJECT.
func TestMSNFileToGG(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")

	addAccount(t, n, 1001, "msn@example.com", "Em", "pw")
	addAccount(t, n, 2002, "gosia@example.com", "Gosia", "ph")
	mc := login(t, ctx, n.MSNPAddr, "msn@example.com", "pw")
	go func() {
		for range mc.Events() {
		}
	}()
	gg := loginGG(t, ctx, n.GGAddr, 2002, "ph", wire.StatusAvail, "", 1001)
	token, err := gg.IMToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := driveclient.SignIn(ctx, "http://"+n.HTTPAddr, 2002, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dc.CloseIdleConnections)
	if _, err := mc.Add(ctx, msnclient.ListForward, "gosia@example.com", "x", 0); err != nil {
		t.Fatal(err)
	}

	sb, err := mc.StartChat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Call(ctx, "gosia@example.com"); err != nil {
		t.Fatal(err)
	}
	next[msnclient.Joined](t, ctx, sb.Events())

	data := make([]byte, 5000)
	for i := range data {
		data[i] = byte(i*37 + i>>7)
	}
	opts := filetransfer.Options{AnswerTimeout: 20 * time.Second}
	sent := make(chan error, 1)
	go func() {
		sent <- filetransfer.Send(ctx, sb, "gosia@example.com", "report.pdf", int64(len(data)), bytes.NewReader(data), opts)
	}()

	ev := nextTicketEvent(t, ctx, gg, "unknown", "in_progress")
	id, _ := ev["id"].(string)
	tk, err := dc.Ticket(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Sender != 1001 || tk.Recipient != 2002 || tk.FileSize != 5000 || tk.FileName != "report.pdf" {
		t.Fatalf("ticket %+v", tk)
	}
	if err := dc.Answer(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	nextTicketEvent(t, ctx, gg, "allowed", "completed")
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	var got bytes.Buffer
	if k, err := dc.Download(ctx, tk, &got); err != nil || k != int64(len(data)) || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("download: %d bytes, %v", k, err)
	}

	go func() {
		sent <- filetransfer.Send(ctx, sb, "gosia@example.com", "second.bin", 10, bytes.NewReader(make([]byte, 10)), opts)
	}()
	ev = nextTicketEvent(t, ctx, gg, "unknown", "in_progress")
	if err := dc.Answer(ctx, ev["id"].(string), false); err != nil {
		t.Fatal(err)
	}
	var rej *filetransfer.RejectedError
	if err := <-sent; !errors.As(err, &rej) || rej.Code != invite.CancelReject {
		t.Fatalf("rejected send: %v", err)
	}
}
