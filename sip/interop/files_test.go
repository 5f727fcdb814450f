package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	driveclient "github.com/crosstalk-im/crosstalk/drive/client"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	msnclient "github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
	sipclient "github.com/crosstalk-im/crosstalk/sip/client"
)

// randomFile writes n random bytes to a file in dir and returns its path
// and contents.
func randomFile(t *testing.T, dir, name string, n int) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// sameFile checks that the file at path holds data, by SHA-256. libpurple
// says a transfer ended before it closes the file: sameFile waits for the
// file to reach the size of data first.
func sameFile(t *testing.T, ctx context.Context, path string, data []byte) {
	t.Helper()
	for {
		got, err := os.ReadFile(path)
		if err == nil && len(got) >= len(data) {
			if sha256.Sum256(got) != sha256.Sum256(data) {
				t.Fatalf("%s: %d bytes, SHA-256 differs from the %d sent", path, len(got), len(data))
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %d of %d bytes, %v", path, len(got), len(data), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestPidginSipeFiles: Debian's pidgin-sipe (alice), whose transfers are
// always MSN_SECURE_FTP, sends a file to and receives one from an MSN
// user (carol) and a user of our SIP client (dave), checked by SHA-256;
// a file it declines is a rejected ticket for its GG sender (bob).
//
// pidgin-sipe 1.25 on libpurple 2.14 never finishes a file it receives:
// libpurple leaves the end of a transfer to protocols that read for
// themselves, and pidgin-sipe does not mark it, so it neither sends BYE
// nor checks the MAC. The whole file is on its disk all the same; the
// server, waiting for BYE, gives up after its step timeout and pidgin-sipe
// reports the transfer cancelled. The file is checked on disk.
func TestPidginSipeFiles(t *testing.T) {
	requireSipe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n := startNode(t)
	alice := addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	bob := addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")
	carol := addAccount(t, n, 1003, "carol@example.com", "Carol", "pc")
	dave := addAccount(t, n, 1004, "dave@example.com", "Dave", "pd")
	for _, other := range []uint32{bob.Number, carol.Number, dave.Number} {
		follow(t, n, alice.Number, other)
		follow(t, n, other, alice.Number)
	}
	msn := loginMSN(t, ctx, n, carol, "pc")
	dc, err := sipclient.Dial(ctx, n.SIPAddr, sipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	if err := dc.SignIn(ctx, dave.Email, "pd"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sipe := startSipe(t, n, alice.Email, "pa")
	sipe.Expect(ctx, "SIGNED_ON")
	sipe.Expect(ctx, `BUDDY sip:carol@example.com available .*`)
	sipe.Expect(ctx, `BUDDY sip:dave@example.com available .*`)
	sipe.Do(ctx, "recvfiles "+dir)

	// pidgin-sipe to MSN: the file goes into the drive, which offers it to
	// carol in her chat with alice.
	path, data := randomFile(t, t.TempDir(), "do-carol.bin", 300000)
	sipe.Do(ctx, "sendfile sip:carol@example.com "+path)
	sipe.Expect(ctx, `XFER_DONE send sip:carol@example.com .*`)
	ring := testenv.Next[msnclient.Ring](t, ctx, msn.Events())
	sb, err := msn.Answer(ctx, ring)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Leave()
	from, inv, err := filetransfer.NextOffer(ctx, sb)
	if err != nil || from != alice.Email || inv.File != "do-carol.bin" || inv.FileSize != int64(len(data)) {
		t.Fatalf("carol's offer from %s: %+v %v", from, inv, err)
	}
	var got bytes.Buffer
	if _, err := filetransfer.Receive(ctx, sb, from, carol.Email, inv, &got, filetransfer.Options{}); err != nil || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("carol received %d bytes: %v", got.Len(), err)
	}

	// MSN to pidgin-sipe, in the same chat.
	data = make([]byte, 250001)
	rand.Read(data)
	if err := filetransfer.Send(ctx, sb, alice.Email, "od-carol.bin", int64(len(data)), bytes.NewReader(data), filetransfer.Options{}); err != nil {
		t.Fatal(err)
	}
	if m := sipe.Expect(ctx, `XFER_OFFER sip:carol@example.com (\d+) od-carol.bin`); m[1] != strconv.Itoa(len(data)) {
		t.Fatalf("offered %s bytes", m[1])
	}
	sipe.Expect(ctx, `XFER_(DONE|CANCEL) recv sip:carol@example.com .*`)
	sameFile(t, ctx, filepath.Join(dir, "od-carol.bin"), data)

	// pidgin-sipe to and from our SIP client.
	path, data = randomFile(t, t.TempDir(), "do-dave.bin", 100000)
	sipe.Do(ctx, "sendfile sip:dave@example.com "+path)
	offer := testenv.Next[sipclient.FileOffer](t, ctx, dc.Events())
	if offer.From != "sip:alice@example.com" || offer.Name != "do-dave.bin" || !offer.Encrypted {
		t.Fatalf("dave's offer %+v", offer)
	}
	got.Reset()
	if _, err := dc.AcceptFile(ctx, offer, &got, sipclient.FileOptions{}); err != nil || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("dave received %d bytes: %v", got.Len(), err)
	}
	sipe.Expect(ctx, `XFER_DONE send sip:dave@example.com .*`)
	data = make([]byte, 5000)
	rand.Read(data)
	if err := dc.SendFile(ctx, alice.Email, "od-dave.bin", int64(len(data)), bytes.NewReader(data), sipclient.FileOptions{}); err != nil {
		t.Fatal(err)
	}
	sipe.Expect(ctx, `XFER_(DONE|CANCEL) recv sip:dave@example.com .*`)
	sameFile(t, ctx, filepath.Join(dir, "od-dave.bin"), data)

	// A GG user's upload that pidgin-sipe declines is rejected on the
	// drive.
	sipe.Do(ctx, "recvfiles -")
	b := loginGG(t, ctx, n, bob, "pb", "", alice.Number)
	token, err := b.IMToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drv, err := driveclient.SignIn(ctx, "http://"+n.HTTPAddr, bob.Number, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drv.CloseIdleConnections)
	tk, err := drv.Offer(ctx, alice.Number, "unwanted.bin", 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := drv.Upload(ctx, tk, bytes.NewReader([]byte("abc"))); err != nil {
		t.Fatal(err)
	}
	sipe.Expect(ctx, `XFER_OFFER sip:bob@example.com 3 unwanted.bin`)
	for {
		if tk, err = drv.Ticket(ctx, tk.ID); err != nil {
			t.Fatal(err)
		}
		if tk.Ack == "rejected" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ticket still %+v", tk)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
