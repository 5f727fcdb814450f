package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	driveclient "github.com/crosstalk-im/crosstalk/drive/client"
	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	msnclient "github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/msnftp"
	msnpserver "github.com/crosstalk-im/crosstalk/msnp/server"
)

// The sizes every file path is tried with: empty, one byte, one full
// MSNFTP block, one byte more, and several MiB.
var fileSizes = []int{0, 1, 2045, 2046, 3 << 20}

// sizesAndNAT is every size with an MSN sender that can take connections
// and one that cannot (Connectivity: N, so the server listens).
func sizesAndNAT() (out []struct {
	name string
	size int
	nat  bool
}) {
	for _, nat := range []bool{false, true} {
		for _, size := range fileSizes {
			out = append(out, struct {
				name string
				size int
				nat  bool
			}{fmt.Sprintf("%d bytes, sender behind NAT %v", size, nat), size, nat})
		}
	}
	return out
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// msnGG is a node with an MSN user (1001, msn@example.com) and a GG user
// (2002, signed in to the drive) who have each other on their lists; sb
// is the MSN user's chat with the GG user.
type msnGG struct {
	n   *Node
	dir string
	mc  *msnclient.Client
	sb  *msnclient.Switchboard
	gg  *ggclient.Client
	dc  *driveclient.Client
}

func newMSNGG(t *testing.T, ctx context.Context, o Options) *msnGG {
	t.Helper()
	return newMSNGGWith(t, ctx, o, func(n *Node) (*msnclient.Client, string, *http.Client) {
		return login(t, ctx, n.MSNPAddr, "msn@example.com", "pw"), "http://" + n.HTTPAddr, nil
	})
}

// newMSNGGWith is newMSNGG with the MSN user logged in by login, which
// also says where and how the GG user reaches the drive.
func newMSNGGWith(t *testing.T, ctx context.Context, o Options, login func(n *Node) (*msnclient.Client, string, *http.Client)) *msnGG {
	t.Helper()
	c := &msnGG{dir: t.TempDir()}
	o.DataDir = c.dir
	c.n = startNodeWith(t, o)
	addAccount(t, c.n, 1001, "msn@example.com", "Em", "pw")
	addAccount(t, c.n, 2002, "gosia@example.com", "Gosia", "ph")
	var driveURL string
	var hc *http.Client
	c.mc, driveURL, hc = login(c.n)
	if _, err := c.mc.Add(ctx, msnclient.ListForward, "gosia@example.com", "Gosia", 0); err != nil {
		t.Fatal(err)
	}
	c.gg = loginGG(t, ctx, c.n.GGAddr, 2002, "ph", wire.StatusAvail, "", 1001)
	token, err := c.gg.IMToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.dc, err = driveclient.SignIn(ctx, driveURL, 2002, token, hc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.dc.CloseIdleConnections)
	return c
}

// chatWithGG opens the MSN user's chat with the GG user.
func (c *msnGG) chatWithGG(t *testing.T, ctx context.Context) {
	t.Helper()
	go func() {
		for range c.mc.Events() {
		}
	}()
	sb, err := c.mc.StartChat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	if _, err := sb.Call(ctx, "gosia@example.com"); err != nil {
		t.Fatal(err)
	}
	next[msnclient.Joined](t, ctx, sb.Events())
	c.sb = sb
}

// allowNext allows the next file offered to the GG user.
func (c *msnGG) allowNext(t *testing.T, ctx context.Context) driveclient.Ticket {
	t.Helper()
	ev := nextTicketEvent(t, ctx, c.gg, "unknown", "in_progress")
	tk, err := c.dc.Ticket(ctx, ev["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.dc.Answer(ctx, tk.ID, true); err != nil {
		t.Fatal(err)
	}
	return tk
}

// noFileLeft checks that the drive keeps neither a partial upload nor the
// blob of ticket id (if given).
func (c *msnGG) noFileLeft(t *testing.T, id string) {
	t.Helper()
	// The client may see its upload fail before the server notices the
	// broken body and removes what it wrote: give the server a moment.
	var left []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		entries, err := os.ReadDir(filepath.Join(c.dir, "drive"))
		if err != nil {
			t.Fatal(err)
		}
		left = left[:0]
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".part") || id != "" && strings.HasPrefix(e.Name(), id) {
				left = append(left, e.Name())
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("left in the drive: %v", left)
	}
}

// expectRejected waits until the GG side hears that ticket id failed, and
// checks that its file cannot be downloaded.
func (c *msnGG) expectRejected(t *testing.T, ctx context.Context, tk driveclient.Ticket, status string) {
	t.Helper()
	for ev := nextTicketEvent(t, ctx, c.gg, "rejected", status); ev["id"] != tk.ID; ev = nextTicketEvent(t, ctx, c.gg, "rejected", status) {
	}
	got, err := c.dc.Ticket(ctx, tk.ID)
	if err != nil || got.Ack != "rejected" {
		t.Fatalf("ticket after the failure: %+v %v", got, err)
	}
	if status == "in_progress" {
		if _, err := c.dc.Download(ctx, tk, io.Discard); err == nil {
			t.Fatal("a failed file can be downloaded")
		}
	}
}

// nextInvitation waits for an invitation message with the given cookie and
// command in sb.
func nextInvitation(t *testing.T, ctx context.Context, sb *msnclient.Switchboard, cookie uint32, cmd invite.Command) invite.Invitation {
	t.Helper()
	for {
		m := next[msnclient.Message](t, ctx, sb.Events())
		if m.Invitation != nil && m.Invitation.Cookie == cookie && m.Invitation.Command == cmd {
			return *m.Invitation
		}
	}
}

func TestMSNFileToGGSizes(t *testing.T) {
	for _, tc := range sizesAndNAT() {
		size := tc.size
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c := newMSNGG(t, ctx, Options{})
			c.chatWithGG(t, ctx)
			data := randomBytes(size)
			sent := make(chan error, 1)
			go func() {
				sent <- filetransfer.Send(ctx, c.sb, "gosia@example.com", "data.bin", int64(size), bytes.NewReader(data), filetransfer.Options{NoIncoming: tc.nat})
			}()
			tk := c.allowNext(t, ctx)
			nextTicketEvent(t, ctx, c.gg, "allowed", "completed")
			if err := <-sent; err != nil {
				t.Fatalf("send: %v", err)
			}
			var got bytes.Buffer
			if k, err := c.dc.Download(ctx, tk, &got); err != nil || k != int64(size) || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
				t.Fatalf("download: %d bytes, %v", k, err)
			}
		})
	}
}

// rawMSNFTPSender offers the GG user a file of `invited` bytes and plays
// the MSN sender's side by hand once the GG user allows it: it returns
// the server's MSNFTP connection right after the server's USR.
func (c *msnGG) rawMSNFTPSender(t *testing.T, ctx context.Context, invited int64) (uint32, driveclient.Ticket, net.Conn, *bufio.Reader) {
	t.Helper()
	cookie := invite.NewCookie()
	if err := c.sb.SendInvitation(ctx, invite.Invitation{
		Command: invite.Invite, Cookie: cookie, AppName: invite.FileTransferName, AppGUID: invite.FileTransferGUID,
		File: "raw.bin", FileSize: invited,
	}); err != nil {
		t.Fatal(err)
	}
	tk := c.allowNext(t, ctx)
	nextInvitation(t, ctx, c.sb, cookie, invite.Accept)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := c.sb.SendInvitation(ctx, invite.Invitation{
		Command: invite.Accept, Cookie: cookie, IPAddress: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port,
		AuthCookie: 777, LaunchApplication: "FALSE", RequestData: "IP-Address:",
	}); err != nil {
		t.Fatal(err)
	}
	l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(nc)
	expectLine(t, br, "VER MSNFTP")
	io.WriteString(nc, "VER MSNFTP\r\n")
	expectLine(t, br, "USR gosia@example.com 777")
	return cookie, tk, nc, br
}

func expectLine(t *testing.T, br *bufio.Reader, want string) {
	t.Helper()
	line, err := br.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != want {
		t.Fatalf("got %q (%v), want %q", line, err, want)
	}
}

// block is one MSNFTP data block of n bytes.
func block(n int) []byte {
	return append([]byte{0, byte(n), byte(n >> 8)}, make([]byte, n)...)
}

// TestMSNFileToGGFailures: whatever goes wrong between the MSN sender and
// the server, the GG recipient hears that the ticket failed, the sender
// hears a CANCEL, and the drive keeps nothing of the file.
func TestMSNFileToGGFailures(t *testing.T) {
	// Each case plays the MSN sender from the server's TFR or CCL on.
	for _, tc := range []struct {
		name           string
		invited, fil   int
		reply          string // the server's answer to FIL
		blocks         int    // full data blocks then sent
		end            func(c *msnGG, nc net.Conn)
		senderHearsCCL bool // the sender gets CANCEL FAIL in the chat
	}{
		{name: "sender cancels mid-transfer", invited: 10000, fil: 10000, reply: "TFR", blocks: 1,
			end: func(c *msnGG, nc net.Conn) { nc.Write([]byte{1, 0, 0}) }}, // the cancel block
		{name: "sender disappears mid-transfer", invited: 10000, fil: 10000, reply: "TFR", blocks: 1,
			end: func(c *msnGG, nc net.Conn) { nc.Close(); c.sb.Close(); c.mc.Close() }},
		{name: "FIL larger than invited", invited: 3000, fil: 5000, reply: "CCL", senderHearsCCL: true},
		{name: "FIL smaller than invited", invited: 5000, fil: 3000, reply: "CCL", senderHearsCCL: true},
		{name: "more blocks than announced", invited: 3000, fil: 3000, reply: "TFR", blocks: 2, senderHearsCCL: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c := newMSNGG(t, ctx, Options{})
			c.chatWithGG(t, ctx)
			cookie, tk, nc, br := c.rawMSNFTPSender(t, ctx, int64(tc.invited))
			fmt.Fprintf(nc, "FIL %d\r\n", tc.fil)
			expectLine(t, br, tc.reply)
			for range tc.blocks {
				nc.Write(block(2045))
			}
			if tc.end != nil {
				tc.end(c, nc)
			}
			if tc.senderHearsCCL {
				if inv := nextInvitation(t, ctx, c.sb, cookie, invite.Cancel); inv.CancelCode != invite.CancelFail {
					t.Fatalf("sender told %q", inv.CancelCode)
				}
			}
			c.expectRejected(t, ctx, tk, "in_progress")
			c.noFileLeft(t, tk.ID)
		})
	}
	t.Run("GG user rejects", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := newMSNGG(t, ctx, Options{})
		c.chatWithGG(t, ctx)
		sent := make(chan error, 1)
		go func() {
			sent <- filetransfer.Send(ctx, c.sb, "gosia@example.com", "no.bin", 10, bytes.NewReader(make([]byte, 10)), filetransfer.Options{})
		}()
		ev := nextTicketEvent(t, ctx, c.gg, "unknown", "in_progress")
		if err := c.dc.Answer(ctx, ev["id"].(string), false); err != nil {
			t.Fatal(err)
		}
		var rej *filetransfer.RejectedError
		if err := <-sent; !errors.As(err, &rej) || rej.Code != invite.CancelReject {
			t.Fatalf("rejected send: %v", err)
		}
	})
	t.Run("full quota", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := newMSNGG(t, ctx, Options{Drive: drive.Config{QuotaBytes: 4000}})
		c.chatWithGG(t, ctx)
		err := filetransfer.Send(ctx, c.sb, "gosia@example.com", "big.bin", 5000, bytes.NewReader(make([]byte, 5000)), filetransfer.Options{})
		var rej *filetransfer.RejectedError
		if !errors.As(err, &rej) || rej.Code != invite.CancelFail {
			t.Fatalf("send over quota: %v", err)
		}
		c.noFileLeft(t, "")
	})
}

// ggOffersMSN has the GG user send the MSN user a file through the drive.
func ggOffersMSN(t *testing.T, ctx context.Context, c *msnGG, name string, data []byte) driveclient.Ticket {
	t.Helper()
	offer, err := c.dc.Offer(ctx, 1001, name, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if offer.Ack != "allowed" {
		t.Fatalf("ticket %+v, want it allowed", offer)
	}
	if err := c.dc.Upload(ctx, offer, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return offer
}

// answerRing answers the server's call for a GG user's file.
func answerRing(t *testing.T, ctx context.Context, mc *msnclient.Client) *msnclient.Switchboard {
	t.Helper()
	ring := next[msnclient.Ring](t, ctx, mc.Events())
	if ring.Caller != "gosia@example.com" {
		t.Fatalf("ring from %q", ring.Caller)
	}
	sb, err := mc.Answer(ctx, ring)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

func TestGGFileToMSNSizes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := newMSNGG(t, ctx, Options{})
	var sb *msnclient.Switchboard
	for i, size := range fileSizes {
		data := randomBytes(size)
		name := fmt.Sprintf("file%d.bin", i)
		ggOffersMSN(t, ctx, c, name, data)
		if sb == nil {
			sb = answerRing(t, ctx, c.mc)
		}
		from, inv, err := filetransfer.NextOffer(ctx, sb)
		if err != nil || from != "gosia@example.com" || inv.File != name || inv.FileSize != int64(size) {
			t.Fatalf("offer from %s: %+v %v", from, inv, err)
		}
		var got bytes.Buffer
		k, err := filetransfer.Receive(ctx, sb, from, "msn@example.com", inv, &got, filetransfer.Options{})
		if err != nil || k != int64(size) || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
			t.Fatalf("%d bytes: received %d, %v", size, k, err)
		}
	}
}

// failingWriter takes n bytes and then fails.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

// TestGGFileToMSNFailures: a transfer the MSN user cancels, or never
// answers, comes back to the GG sender as a rejected ticket; a GG upload
// that breaks off leaves nothing and offers the MSN user nothing.
func TestGGFileToMSNFailures(t *testing.T) {
	t.Run("MSN receiver cancels mid-transfer", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := newMSNGG(t, ctx, Options{})
		tk := ggOffersMSN(t, ctx, c, "big.bin", randomBytes(100_000))
		nextTicketEvent(t, ctx, c.gg, "allowed", "completed")
		sb := answerRing(t, ctx, c.mc)
		from, inv, err := filetransfer.NextOffer(ctx, sb)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := filetransfer.Receive(ctx, sb, from, "msn@example.com", inv, &failingWriter{n: 10_000}, filetransfer.Options{}); err == nil {
			t.Fatal("receive into a failing writer succeeded")
		}
		c.expectRejected(t, ctx, tk, "completed")
	})
	t.Run("MSN receiver rejects", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := newMSNGG(t, ctx, Options{})
		tk := ggOffersMSN(t, ctx, c, "no.txt", []byte("abc"))
		sb := answerRing(t, ctx, c.mc)
		_, inv, err := filetransfer.NextOffer(ctx, sb)
		if err != nil {
			t.Fatal(err)
		}
		if err := filetransfer.Reject(ctx, sb, inv); err != nil {
			t.Fatal(err)
		}
		c.expectRejected(t, ctx, tk, "completed")
	})
	t.Run("MSN receiver never answers", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := newMSNGG(t, ctx, Options{MSNP: msnpserver.Config{FileAnswerTimeout: time.Second}})
		tk := ggOffersMSN(t, ctx, c, "ignored.bin", randomBytes(10))
		nextTicketEvent(t, ctx, c.gg, "allowed", "completed")
		sb := answerRing(t, ctx, c.mc)
		_, offer, err := filetransfer.NextOffer(ctx, sb)
		if err != nil {
			t.Fatal(err)
		}
		if inv := nextInvitation(t, ctx, sb, offer.Cookie, invite.Cancel); inv.CancelCode != invite.CancelTimeout {
			t.Fatalf("MSN user told %q", inv.CancelCode)
		}
		c.expectRejected(t, ctx, tk, "completed")
	})
	t.Run("GG upload breaks off", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := newMSNGG(t, ctx, Options{})
		offer, err := c.dc.Offer(ctx, 1001, "cut.bin", 100_000)
		if err != nil {
			t.Fatal(err)
		}
		body := io.MultiReader(bytes.NewReader(make([]byte, 30_000)), iotestErrReader{})
		if err := c.dc.Upload(ctx, offer, body); err == nil {
			t.Fatal("a broken upload succeeded")
		}
		c.noFileLeft(t, offer.ID)
		if tk, err := c.dc.Ticket(ctx, offer.ID); err != nil || tk.Status != "in_progress" {
			t.Fatalf("ticket after a broken upload: %+v %v", tk, err)
		}
		quiet := time.After(300 * time.Millisecond)
		for {
			select {
			case ev := <-c.mc.Events():
				if _, ok := ev.(msnclient.Ring); ok {
					t.Fatal("the MSN user was called for a file that never came")
				}
				continue
			case <-quiet:
			}
			break
		}
	})
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("connection lost") }

// TestFileLinks: files from MSN and GG users reach MySpaceIM and IMIP
// users, whose protocols have no file transfer, as download links.
func TestFileLinks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := newMSNGG(t, ctx, Options{})
	go func() {
		for range c.mc.Events() {
		}
	}()

	my := newMSIMPeer(t, ctx, c.n, 1003, "my@example.com")
	im := newIMIPPeer(t, ctx, c.n, 1004, "imip@example.com")

	for _, rcpt := range []struct {
		peer
		in *inbox
	}{{my, my.inbox}, {im, im.inbox}} {
		number, email := rcpt.account()
		if err := rcpt.follow(ctx, &msnPeer{number: 1001, email: "msn@example.com"}); err != nil {
			t.Fatal(err)
		}
		if err := rcpt.follow(ctx, &ggPeer{number: 2002, email: "gosia@example.com"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.mc.Add(ctx, msnclient.ListForward, email, "x", 0); err != nil {
			t.Fatal(err)
		}
		sb, err := c.mc.StartChat(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sb.Close() })
		if _, err := sb.Call(ctx, email); err != nil {
			t.Fatal(err)
		}
		next[msnclient.Joined](t, ctx, sb.Events())

		for i, size := range fileSizes {
			data := randomBytes(size)
			name := fmt.Sprintf("msn%d.bin", i)
			if err := filetransfer.Send(ctx, sb, email, name, int64(size), bytes.NewReader(data), filetransfer.Options{NoIncoming: i%2 == 1}); err != nil {
				t.Fatalf("MSN to %s, %d bytes: %v", rcpt.protocol(), size, err)
			}
			fetchLink(t, ctx, rcpt.in, name, data)

			name = fmt.Sprintf("gg%d.bin", i)
			offer, err := c.dc.Offer(ctx, number, name, int64(size))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.dc.Upload(ctx, offer, bytes.NewReader(data)); err != nil {
				t.Fatalf("GG to %s, %d bytes: %v", rcpt.protocol(), size, err)
			}
			fetchLink(t, ctx, rcpt.in, name, data)
		}
	}
}

// fetchLink waits for the message announcing file name and checks what
// its link serves.
func fetchLink(t *testing.T, ctx context.Context, in *inbox, name string, data []byte) {
	t.Helper()
	var link string
	in.wait(t, ctx, "the link to "+name, func() bool {
		for _, m := range in.messages {
			want := fmt.Sprintf(" sent you a file: %s (%d bytes): ", name, len(data))
			if i := strings.Index(m, want); i >= 0 {
				link = m[i+len(want):]
				return true
			}
		}
		return false
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || sha256.Sum256(body) != sha256.Sum256(data) {
		t.Fatalf("%s: %d, %d bytes, %v", name, resp.StatusCode, len(body), err)
	}
}

// TestGGFileToMSNAcrossRestart: a GG user's file offered before a restart
// and uploaded after it still reaches the MSN user.
func TestGGFileToMSNAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newMSNGG(t, ctx, Options{})
	data := randomBytes(5000)
	offer, err := c.dc.Offer(ctx, 1001, "later.bin", int64(len(data)))
	if err != nil || offer.Ack != "allowed" {
		t.Fatalf("offer %+v %v", offer, err)
	}
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	defer scancel()
	if err := c.n.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}

	n := startNodeWith(t, Options{DataDir: c.dir})
	mc := login(t, ctx, n.MSNPAddr, "msn@example.com", "pw")
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
	if err := dc.Upload(ctx, offer, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	sb := answerRing(t, ctx, mc)
	from, inv, err := filetransfer.NextOffer(ctx, sb)
	if err != nil || inv.File != "later.bin" {
		t.Fatalf("offer from %s: %+v %v", from, inv, err)
	}
	var got bytes.Buffer
	if k, err := filetransfer.Receive(ctx, sb, from, "msn@example.com", inv, &got, filetransfer.Options{}); err != nil || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("receive: %d bytes, %v", k, err)
	}
}

// TestFilesAcrossNodes: an MSN user on one node and a GG user on another,
// sharing a NATS cluster and a data directory, send each other files,
// whichever node the GG user's drive requests reach.
func TestFilesAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	natsURL := testenv.NATS(t)
	dir := t.TempDir()
	n1 := startNodeWith(t, Options{DataDir: dir, NatsURL: natsURL})
	n2 := startNodeWith(t, Options{DataDir: dir, NatsURL: natsURL})
	addAccount(t, n1, 1001, "msn@example.com", "Em", "pw")
	addAccount(t, n1, 2002, "gosia@example.com", "Gosia", "ph")
	mc := login(t, ctx, n1.MSNPAddr, "msn@example.com", "pw")
	if _, err := mc.Add(ctx, msnclient.ListForward, "gosia@example.com", "Gosia", 0); err != nil {
		t.Fatal(err)
	}
	gg := loginGG(t, ctx, n2.GGAddr, 2002, "ph", wire.StatusAvail, "", 1001)
	token, err := gg.IMToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The GG user's drive requests may reach either node.
	var dc [2]*driveclient.Client
	for i, n := range []*Node{n1, n2} {
		if dc[i], err = driveclient.SignIn(ctx, "http://"+n.HTTPAddr, 2002, token, nil); err != nil {
			t.Fatalf("sign in on node %d: %v", i+1, err)
		}
		t.Cleanup(dc[i].CloseIdleConnections)
	}

	// GG to MSN: offered through one node, uploaded to the other, which
	// hands the file to the node of the MSN session.
	data := randomBytes(70_000)
	offer, err := dc[0].Offer(ctx, 1001, "across.bin", int64(len(data)))
	if err != nil || offer.Ack != "allowed" {
		t.Fatalf("offer %+v %v", offer, err)
	}
	if err := dc[1].Upload(ctx, offer, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	sb := answerRing(t, ctx, mc)
	from, inv, err := filetransfer.NextOffer(ctx, sb)
	if err != nil || from != "gosia@example.com" || inv.File != "across.bin" {
		t.Fatalf("offer from %s: %+v %v", from, inv, err)
	}
	var got bytes.Buffer
	if k, err := filetransfer.Receive(ctx, sb, from, "msn@example.com", inv, &got, filetransfer.Options{}); err != nil || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("receive: %d bytes, %v", k, err)
	}

	// MSN to GG: the ticket is answered on the GG user's node and filled
	// on the MSN user's.
	data = randomBytes(50_000)
	sent := make(chan error, 1)
	go func() {
		sent <- filetransfer.Send(ctx, sb, "gosia@example.com", "back.bin", int64(len(data)), bytes.NewReader(data), filetransfer.Options{})
	}()
	ev := nextTicketEvent(t, ctx, gg, "unknown", "in_progress")
	tk, err := dc[1].Ticket(ctx, ev["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if err := dc[1].Answer(ctx, tk.ID, true); err != nil {
		t.Fatal(err)
	}
	nextTicketEvent(t, ctx, gg, "allowed", "completed")
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	got.Reset()
	if k, err := dc[0].Download(ctx, tk, &got); err != nil || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("download: %d bytes, %v", k, err)
	}
}

// TestMSNSenderBehindNATToGG: an MSN sender that cannot take connections
// (Connectivity: N) is told to connect to the server, which plays the
// receiver on that connection.
func TestMSNSenderBehindNATToGG(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newMSNGG(t, ctx, Options{})
	c.chatWithGG(t, ctx)
	data := randomBytes(3000)
	cookie := invite.NewCookie()
	if err := c.sb.SendInvitation(ctx, invite.Invitation{
		Command: invite.Invite, Cookie: cookie, AppName: invite.FileTransferName, AppGUID: invite.FileTransferGUID,
		File: "nat.bin", FileSize: int64(len(data)), Connectivity: "N",
	}); err != nil {
		t.Fatal(err)
	}
	tk := c.allowNext(t, ctx)
	acc := nextInvitation(t, ctx, c.sb, cookie, invite.Accept)
	if acc.SenderConnect != "TRUE" || acc.IPAddress == "" || acc.Port == 0 || acc.AuthCookie == 0 {
		t.Fatalf("ACCEPT for a sender behind NAT: %+v", acc)
	}
	nc, err := net.Dial("tcp", net.JoinHostPort(acc.IPAddress, fmt.Sprint(acc.Port)))
	if err != nil {
		t.Fatal(err)
	}
	if err := msnftp.Send(ctx, nc, msnftp.SendOptions{AuthCookie: acc.AuthCookie, ExpectUser: "gosia@example.com", Size: int64(len(data))}, bytes.NewReader(data)); err != nil {
		t.Fatalf("send: %v", err)
	}
	nextTicketEvent(t, ctx, c.gg, "allowed", "completed")
	var got bytes.Buffer
	if k, err := c.dc.Download(ctx, tk, &got); err != nil || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("download: %d bytes, %v", k, err)
	}
}
