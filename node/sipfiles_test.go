package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	driveclient "github.com/crosstalk-im/crosstalk/drive/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	msnclient "github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
	sipclient "github.com/crosstalk-im/crosstalk/sip/client"
	webwire "github.com/crosstalk-im/crosstalk/webchat/wire"
)

// The SIP client's ways of taking part: pidgin-sipe's (encrypted, able
// to take connections), Communicator allowed unencrypted transfers, and a
// client behind NAT.
var sipFileOptions = []sipclient.FileOptions{{}, {Plain: true}, {NoIncoming: true, Listen: true}}

// nextSIPOffer waits for the next file offered to a SIP peer.
func nextSIPOffer(t *testing.T, ctx context.Context, p *sipPeer) sipclient.FileOffer {
	t.Helper()
	select {
	case o := <-p.offers:
		return o
	case <-ctx.Done():
		t.Fatal("no file offer for the SIP user")
		return sipclient.FileOffer{}
	}
}

// acceptSIP receives an offer for a SIP peer and checks it is data.
func acceptSIP(t *testing.T, ctx context.Context, p *sipPeer, from, name string, data []byte, opts sipclient.FileOptions) {
	t.Helper()
	offer := nextSIPOffer(t, ctx, p)
	if offer.From != "sip:"+from || offer.Name != name || offer.Size != int64(len(data)) {
		t.Fatalf("offer %+v, want %s from %s", offer, name, from)
	}
	var got bytes.Buffer
	if n, err := p.c.AcceptFile(ctx, offer, &got, opts); err != nil || n != int64(len(data)) || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("%s: received %d bytes: %v", name, n, err)
	}
}

// msnSIPChat signs in an MSN user (1001) and a SIP user (1005, with
// opts) on n, on each other's lists, and opens the MSN user's chat with
// the SIP user as a remote member.
func msnSIPChat(t *testing.T, ctx context.Context, n *Node, opts sipclient.Options) (*msnclient.Client, *sipPeer, *msnclient.Switchboard) {
	t.Helper()
	addAccount(t, n, 1001, "msn@example.com", "Em", "pw")
	mc := login(t, ctx, n.MSNPAddr, "msn@example.com", "pw")
	sp := newSIPPeerWith(t, ctx, n, 1005, "sip@example.com", opts)
	if _, err := mc.Add(ctx, msnclient.ListForward, "sip@example.com", "Sip", 0); err != nil {
		t.Fatal(err)
	}
	if err := sp.c.AddContact(ctx, "msn@example.com"); err != nil {
		t.Fatal(err)
	}
	sb, err := mc.StartChat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	if _, err := sb.Call(ctx, "sip@example.com"); err != nil {
		t.Fatal(err)
	}
	next[msnclient.Joined](t, ctx, sb.Events())
	return mc, sp, sb
}

// TestSIPFilesWithMSN: files both ways between a SIP and an MSN user,
// through the drive, every size, plain and encrypted on the SIP side.
func TestSIPFilesWithMSN(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")
	// MSN to SIP: the MSN user's chat with the SIP user as a remote member.
	_, sp, sb := msnSIPChat(t, ctx, n, sipclient.Options{})
	for i, size := range fileSizes {
		opts := sipFileOptions[i%len(sipFileOptions)]
		data := randomBytes(size)
		name := fmt.Sprintf("msn%d.bin", i)
		if err := filetransfer.Send(ctx, sb, "sip@example.com", name, int64(size), bytes.NewReader(data), filetransfer.Options{NoIncoming: i%2 == 1}); err != nil {
			t.Fatalf("MSN to SIP, %d bytes: %v", size, err)
		}
		acceptSIP(t, ctx, sp, "msn@example.com", name, data, opts)
	}

	// SIP to MSN: the server offers the SIP user's file in the MSN user's
	// chat with them.
	for i, size := range fileSizes {
		opts := sipFileOptions[i%len(sipFileOptions)]
		data := randomBytes(size)
		name := fmt.Sprintf("sip%d.bin", i)
		if err := sp.c.SendFile(ctx, "msn@example.com", name, int64(size), bytes.NewReader(data), opts); err != nil {
			t.Fatalf("SIP to MSN, %d bytes, %+v: %v", size, opts, err)
		}
		from, inv, err := filetransfer.NextOffer(ctx, sb)
		if err != nil || from != "sip@example.com" || inv.File != name || inv.FileSize != int64(size) {
			t.Fatalf("offer from %s: %+v %v", from, inv, err)
		}
		var got bytes.Buffer
		k, err := filetransfer.Receive(ctx, sb, from, "msn@example.com", inv, &got, filetransfer.Options{})
		if err != nil || k != int64(size) || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
			t.Fatalf("%d bytes: received %d, %v", size, k, err)
		}
	}

	// The MSN user declines a file the drive already keeps: the SIP user
	// hears CANCEL REJECT afterwards.
	if err := sp.c.SendFile(ctx, "msn@example.com", "unwanted.bin", 10, bytes.NewReader(randomBytes(10)), sipclient.FileOptions{}); err != nil {
		t.Fatal(err)
	}
	_, inv, err := filetransfer.NextOffer(ctx, sb)
	if err != nil {
		t.Fatal(err)
	}
	if err := filetransfer.Reject(ctx, sb, inv); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-sp.cancels:
		if c.From != "sip:msn@example.com" || c.Code != "REJECT" {
			t.Fatalf("cancelled %+v", c)
		}
	case <-ctx.Done():
		t.Fatal("the SIP sender was not told of the decline")
	}
}

// sipGG is a node with a SIP user (1005) and a GG user (2002, signed in
// to the drive) on each other's lists.
type sipGG struct {
	n  *Node
	sp *sipPeer
	gg *ggPeer
	dc *driveclient.Client
}

func newSIPGG(t *testing.T, ctx context.Context) *sipGG {
	t.Helper()
	c := &sipGG{n: startNode(t, t.TempDir(), "")}
	c.sp = newSIPPeer(t, ctx, c.n, 1005, "sip@example.com")
	addAccount(t, c.n, 2002, "gosia@example.com", "Gosia", "ph")
	gc := loginGG(t, ctx, c.n.GGAddr, 2002, "ph", wire.StatusAvail, "", 1005)
	c.gg = &ggPeer{inbox: newInbox(), number: 2002, email: "gosia@example.com", c: gc}
	if err := c.sp.c.AddContact(ctx, "gosia@example.com"); err != nil {
		t.Fatal(err)
	}
	token, err := gc.IMToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.dc, err = driveclient.SignIn(ctx, "http://"+c.n.HTTPAddr, 2002, token, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.dc.CloseIdleConnections)
	return c
}

// answerNext answers the next file offered to the GG user.
func (c *sipGG) answerNext(t *testing.T, ctx context.Context, allow bool) driveclient.Ticket {
	t.Helper()
	ev := nextTicketEvent(t, ctx, c.gg.c, "unknown", "in_progress")
	tk, err := c.dc.Ticket(ctx, ev["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.dc.Answer(ctx, tk.ID, allow); err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestSIPFilesWithGG: files both ways between a SIP and a GG user: the
// SIP user's file as a drive ticket the GG user answers, the GG user's
// upload offered to the SIP user.
func TestSIPFilesWithGG(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	c := newSIPGG(t, ctx)
	for i, size := range fileSizes {
		opts := sipFileOptions[i%len(sipFileOptions)]
		data := randomBytes(size)
		name := fmt.Sprintf("sip%d.bin", i)
		sent := make(chan error, 1)
		go func() {
			sent <- c.sp.c.SendFile(ctx, "gosia@example.com", name, int64(size), bytes.NewReader(data), opts)
		}()
		tk := c.answerNext(t, ctx, true)
		if tk.FileName != name || tk.FileSize != int64(size) {
			t.Fatalf("ticket %+v", tk)
		}
		if err := <-sent; err != nil {
			t.Fatalf("SIP to GG, %d bytes, %+v: %v", size, opts, err)
		}
		nextTicketEvent(t, ctx, c.gg.c, "allowed", "completed")
		var got bytes.Buffer
		if _, err := c.dc.Download(ctx, tk, &got); err != nil || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
			t.Fatalf("download of %d bytes: %d, %v", size, got.Len(), err)
		}

		name = fmt.Sprintf("gg%d.bin", i)
		offer, err := c.dc.Offer(ctx, 1005, name, int64(size))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.dc.Upload(ctx, offer, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		acceptSIP(t, ctx, c.sp, "gosia@example.com", name, data, opts)
	}
}

// TestSIPFileRefusals: a refusal reaches the other side in its terms: the
// GG user's rejected ticket is CANCEL REJECT for the SIP sender, and the
// SIP user's decline a rejected ticket for the GG sender.
func TestSIPFileRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newSIPGG(t, ctx)
	sent := make(chan error, 1)
	go func() {
		sent <- c.sp.c.SendFile(ctx, "gosia@example.com", "no.txt", 5, bytes.NewReader([]byte("hello")), sipclient.FileOptions{})
	}()
	c.answerNext(t, ctx, false)
	if err := <-sent; !errors.Is(err, sipclient.ErrDeclined) {
		t.Fatalf("declined by GG: %v", err)
	}

	offer, err := c.dc.Offer(ctx, 1005, "unwanted.bin", 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.dc.Upload(ctx, offer, bytes.NewReader([]byte("abc"))); err != nil {
		t.Fatal(err)
	}
	if err := c.sp.c.DeclineFile(ctx, nextSIPOffer(t, ctx, c.sp)); err != nil {
		t.Fatal(err)
	}
	c.waitRejected(t, ctx, offer.ID)

	// The SIP user gives up in the middle of an allowed file: the GG
	// user's ticket is rejected and no file is left to download.
	sctx, stop := context.WithCancel(ctx)
	sent = make(chan error, 1)
	go func() {
		r := &cancelAfter{r: bytes.NewReader(randomBytes(1 << 20)), n: 100_000, cancel: stop}
		sent <- c.sp.c.SendFile(sctx, "gosia@example.com", "half.bin", 1<<20, r, sipclient.FileOptions{})
	}()
	tk := c.answerNext(t, ctx, true)
	if err := <-sent; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled send: %v", err)
	}
	c.waitRejected(t, ctx, tk.ID)
	if _, err := c.dc.Download(ctx, tk, io.Discard); err == nil {
		t.Fatal("a cancelled file can be downloaded")
	}
}

// waitRejected waits until the drive says a ticket was rejected.
func (c *sipGG) waitRejected(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	for {
		tk, err := c.dc.Ticket(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if tk.Ack == "rejected" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ticket still %+v", tk)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// cancelAfter reads n bytes of r, then cancels and fails.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
		return 0, context.Canceled
	}
	n, err := c.r.Read(p[:min(len(p), c.n)])
	c.n -= n
	return n, err
}

// TestSIPFilesBetweenSIPAndOthers: a SIP user's file reaches another SIP
// user as an offer, and MySpaceIM and IMIP users as download links.
func TestSIPFilesBetweenSIPAndOthers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")
	sp := newSIPPeer(t, ctx, n, 1005, "sip@example.com")
	other := newSIPPeer(t, ctx, n, 1006, "ocs@example.com")
	my := newMSIMPeer(t, ctx, n, 1003, "my@example.com")
	im := newIMIPPeer(t, ctx, n, 1004, "imip@example.com")
	for _, p := range []peer{other, my, im} {
		if err := sp.follow(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := p.follow(ctx, sp); err != nil {
			t.Fatal(err)
		}
	}
	for i, size := range fileSizes {
		opts := sipFileOptions[i%len(sipFileOptions)]
		data := randomBytes(size)
		name := fmt.Sprintf("ocs%d.bin", i)
		if err := sp.c.SendFile(ctx, "ocs@example.com", name, int64(size), bytes.NewReader(data), opts); err != nil {
			t.Fatalf("SIP to SIP, %d bytes: %v", size, err)
		}
		acceptSIP(t, ctx, other, "sip@example.com", name, data, sipFileOptions[(i+1)%len(sipFileOptions)])
		for _, rcpt := range []struct {
			email, protocol string
			in              *inbox
		}{{"my@example.com", "msim", my.inbox}, {"imip@example.com", "imip", im.inbox}} {
			name := fmt.Sprintf("%s%d.bin", rcpt.protocol, i)
			if err := sp.c.SendFile(ctx, rcpt.email, name, int64(size), bytes.NewReader(data), opts); err != nil {
				t.Fatalf("SIP to %s, %d bytes: %v", rcpt.email, size, err)
			}
			fetchLink(t, ctx, rcpt.in, name, data)
		}
	}
}

// TestSIPFilesAcrossNodes: a SIP user on one node and an MSN user on
// another, sharing a bus: each one's file, kept in the shared drive, is
// offered by the node that holds the recipient's session.
func TestSIPFilesAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	natsURL := testenv.NATS(t)
	dir := t.TempDir()
	n1 := startNodeWith(t, Options{DataDir: dir, NatsURL: natsURL})
	n2 := startNodeWith(t, Options{DataDir: dir, NatsURL: natsURL})
	addAccount(t, n2, 1001, "msn@example.com", "Em", "pw")
	sp := newSIPPeer(t, ctx, n1, 1005, "sip@example.com")
	mc := login(t, ctx, n2.MSNPAddr, "msn@example.com", "pw")
	if _, err := mc.Add(ctx, msnclient.ListForward, "sip@example.com", "Sip", 0); err != nil {
		t.Fatal(err)
	}
	if err := sp.c.AddContact(ctx, "msn@example.com"); err != nil {
		t.Fatal(err)
	}

	data := randomBytes(70_000)
	if err := sp.c.SendFile(ctx, "msn@example.com", "across.bin", int64(len(data)), bytes.NewReader(data), sipclient.FileOptions{}); err != nil {
		t.Fatal(err)
	}
	ring := next[msnclient.Ring](t, ctx, mc.Events())
	sb, err := mc.Answer(ctx, ring)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	from, inv, err := filetransfer.NextOffer(ctx, sb)
	if err != nil || from != "sip@example.com" || inv.File != "across.bin" {
		t.Fatalf("offer from %s: %+v %v", from, inv, err)
	}
	var got bytes.Buffer
	if k, err := filetransfer.Receive(ctx, sb, from, "msn@example.com", inv, &got, filetransfer.Options{}); err != nil || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("MSN received %d bytes: %v", k, err)
	}

	data = randomBytes(50_000)
	if err := filetransfer.Send(ctx, sb, "sip@example.com", "back.bin", int64(len(data)), bytes.NewReader(data), filetransfer.Options{}); err != nil {
		t.Fatal(err)
	}
	acceptSIP(t, ctx, sp, "msn@example.com", "back.bin", data, sipclient.FileOptions{})
}

// TestSIPFilePublicAddr: --ftp-public-addr's host is where SIP clients
// are sent for the server's file ports (a loopback alias here, which
// reaches them), and files still go through; one without a port is
// refused at start.
func TestSIPFilePublicAddr(t *testing.T) {
	if _, err := Start(context.Background(), Options{DataDir: t.TempDir(), FTPPublicAddr: "127.0.0.2", SIPAddr: "127.0.0.1:0"}); err == nil {
		t.Fatal("a public file address without a port was taken")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := startNodeWith(t, Options{DataDir: t.TempDir(), FTPPublicAddr: "127.0.0.2:6891"})
	var dialed atomic.Value
	record := &net.Dialer{ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
		dialed.Store(address)
		return nil
	}}
	_, sp, sb := msnSIPChat(t, ctx, n, sipclient.Options{Dialer: record})
	data := randomBytes(3000)
	if err := sp.c.SendFile(ctx, "msn@example.com", "nat.bin", int64(len(data)), bytes.NewReader(data), sipclient.FileOptions{}); err != nil {
		t.Fatal(err)
	}
	if h, _, _ := net.SplitHostPort(dialed.Load().(string)); h != "127.0.0.2" {
		t.Fatalf("the SIP client was sent to %s", dialed.Load())
	}
	from, inv, err := filetransfer.NextOffer(ctx, sb)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if k, err := filetransfer.Receive(ctx, sb, from, "msn@example.com", inv, &got, filetransfer.Options{}); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("received %d bytes: %v", k, err)
	}
}

// TestRefusedAfterUploadTold: a SIP recipient declines files the drive
// already kept: an MSN sender hears it in a message from them, a web chat
// sender in a "declined" file status for its ticket.
func TestRefusedAfterUploadTold(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")
	mc, sp, sb := msnSIPChat(t, ctx, n, sipclient.Options{})
	web := newWebPeer(t, ctx, n, 3003, "web@example.com")
	if err := web.c.List(ctx, webwire.TypeAdd, webwire.Contact{Number: 1005}); err != nil {
		t.Fatal(err)
	}
	if err := sp.c.AddContact(ctx, "web@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := filetransfer.Send(ctx, sb, "sip@example.com", "unwanted.bin", 10, bytes.NewReader(randomBytes(10)), filetransfer.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := sp.c.DeclineFile(ctx, nextSIPOffer(t, ctx, sp)); err != nil {
		t.Fatal(err)
	}
	want := "Your file unwanted.bin (10 bytes) was not delivered to Sip sip@example.com."
	if m := msnMessageFrom(t, ctx, mc, sb, "sip@example.com"); m.Text != want {
		t.Fatalf("MSN sender told %q, want %q", m.Text, want)
	}

	st, err := web.c.SendFile(ctx, webwire.Contact{Number: 1005}, "web.bin", 5, bytes.NewReader(randomBytes(5)))
	if err != nil || st.Status != webwire.FileSent {
		t.Fatalf("web to SIP: %+v, %v", st, err)
	}
	if err := sp.c.DeclineFile(ctx, nextSIPOffer(t, ctx, sp)); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-web.statuses:
		if got.Status != webwire.FileDeclined || got.Ticket != st.Ticket {
			t.Fatalf("web sender told %+v, want declined for %s", got, st.Ticket)
		}
	case <-ctx.Done():
		t.Fatal("the web sender was not told")
	}
}

// msnMessageFrom waits for a text message from a contact to an MSN
// client, in the open chat sb or in one they ring it for.
func msnMessageFrom(t *testing.T, ctx context.Context, mc *msnclient.Client, sb *msnclient.Switchboard, from string) msnclient.Message {
	t.Helper()
	var rung <-chan msnclient.Event // nil until a ring
	for {
		var ev msnclient.Event
		select {
		case ev = <-mc.Events():
			if r, ok := ev.(msnclient.Ring); ok && r.Caller == from {
				chat, err := mc.Answer(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { chat.Close() })
				rung = chat.Events()
			}
		case ev = <-sb.Events():
		case ev = <-rung:
		case <-ctx.Done():
			t.Fatalf("no message from %s", from)
		}
		if m, ok := ev.(msnclient.Message); ok && m.From == from && m.ContentType == "text/plain" {
			return m
		}
	}
}
