package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/tlsca"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/p2p"
	msnpserver "github.com/crosstalk-im/crosstalk/msnp/server"
)

// msn7Caps is what MSN Messenger 7.0 says in CHG: MSNC4 in the top
// nibble, so peers talk MSNSLP to it.
const msn7Caps = 0x40000000

// loginMSN7 logs in as an MSNP11 client that speaks MSNSLP.
func loginMSN7(t *testing.T, ctx context.Context, n *Node, hc *http.Client, email, password string) *client.Client {
	t.Helper()
	return loginWith(t, ctx, n, client.Options{Versions: []string{"MSNP11"}, Passport: hc, Capabilities: msn7Caps}, email, password)
}

// msn7Chat puts two MSNP11 clients that speak MSNSLP, alice and bob, in
// one switchboard.
func msn7Chat(t *testing.T, ctx context.Context) (alice *client.Client, asb, bsb *client.Switchboard) {
	t.Helper()
	n, ca := startHTTPSNode(t)
	hc := passportClient(t, n, ca)
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")
	alice = loginMSN7(t, ctx, n, hc, "alice@example.com", "pa")
	bob := loginMSN7(t, ctx, n, hc, "bob@example.com", "pb")
	if _, err := alice.Add(ctx, client.ListForward, "bob@example.com", "Bob", 0); err != nil {
		t.Fatal(err)
	}
	asb = call(ctx, t, alice, "bob@example.com")
	t.Cleanup(func() { asb.Close() })
	bsb, err := bob.Answer(ctx, next[client.Ring](t, ctx, bob.Events()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bsb.Close() })
	next[client.Joined](t, ctx, asb.Events())
	return alice, asb, bsb
}

// p2pSizes: empty, one byte, one chunk, one byte more, several MiB.
var p2pSizes = []int{0, 1, p2p.MaxChunk, p2p.MaxChunk + 1, 3 << 20}

// TestP2PFileBetweenMSNClients: two MSNP11 clients move files over MSNSLP
// in their switchboard; the server relays every P2P message, data chunks
// of the full size included.
func TestP2PFileBetweenMSNClients(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, asb, bsb := msn7Chat(t, ctx)
	for _, size := range p2pSizes {
		data := randomBytes(size)
		sent := make(chan error, 1)
		go func() {
			sent <- filetransfer.SendP2P(ctx, asb, "bob@example.com", "photo.jpg", int64(size), bytes.NewReader(data), filetransfer.Options{})
		}()
		offer, err := filetransfer.NextP2POffer(ctx, bsb)
		if err != nil || offer.From != "alice@example.com" || offer.Name != "photo.jpg" || offer.Size != int64(size) {
			t.Fatalf("offer %+v %v", offer, err)
		}
		var got bytes.Buffer
		k, err := filetransfer.ReceiveP2P(ctx, bsb, offer, &got, filetransfer.Options{})
		if err != nil || k != int64(size) || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
			t.Fatalf("%d bytes: received %d, %v", size, k, err)
		}
		if err := <-sent; err != nil {
			t.Fatalf("%d bytes: send: %v", size, err)
		}
	}
	// Declined.
	sent := make(chan error, 1)
	go func() {
		sent <- filetransfer.SendP2P(ctx, asb, "bob@example.com", "no.txt", 3, bytes.NewReader([]byte("abc")), filetransfer.Options{})
	}()
	offer, err := filetransfer.NextP2POffer(ctx, bsb)
	if err != nil {
		t.Fatal(err)
	}
	if err := filetransfer.DeclineP2P(ctx, bsb, offer); err != nil {
		t.Fatal(err)
	}
	var rej *filetransfer.RejectedError
	if err := <-sent; !errors.As(err, &rej) || rej.Code != filetransfer.CodeDeclined {
		t.Fatalf("declined send: %v", err)
	}
}

// nextP2POfferFrom reads sb up to the next file offer over MSNSLP; every
// P2P message on the way must name sb's account bare in P2P-Dest and carry
// P2P-Src src ("" for none).
func nextP2POfferFrom(t *testing.T, ctx context.Context, sb *client.Switchboard, src string) filetransfer.P2POffer {
	t.Helper()
	w := filetransfer.NewP2PWatcher(sb)
	for {
		m := nextMessage(t, ctx, sb)
		if m.ContentType != p2p.ContentType {
			continue
		}
		if got := m.Header.Get("P2P-Src"); got != src || m.Header.Get("P2P-Dest") != sb.Email() {
			t.Fatalf("P2P-Src %q (want %q), P2P-Dest %q", got, src, m.Header.Get("P2P-Dest"))
		}
		if offer, ok := w.Offer(ctx, m); ok {
			return offer
		}
	}
}

// newMSN7GG is newMSNGG with the MSN user on MSNP11 with MSNSLP.
func newMSN7GG(t *testing.T, ctx context.Context, o Options) *msnGG {
	t.Helper()
	return newMSNSLPGG(t, ctx, o, client.Options{Versions: []string{"MSNP11"}, Capabilities: msn7Caps})
}

// newMSNSLPGG is newMSNGG with the MSN user logging in with opts, over
// Passport or SSO at the node's HTTPS listener.
func newMSNSLPGG(t *testing.T, ctx context.Context, o Options, opts client.Options) *msnGG {
	t.Helper()
	h, ca := httpsOptions(t)
	o.HTTPSAddr, o.TLSCert, o.TLSKey, o.HTTPSLegacy = h.HTTPSAddr, h.TLSCert, h.TLSKey, h.HTTPSLegacy
	return newMSNGGWith(t, ctx, o, func(n *Node) (*client.Client, string, *http.Client) {
		// The HTTP service is HTTPS here; its client reaches it at any
		// name the certificate holds.
		opts.Passport = passportClient(t, n, ca)
		return loginWith(t, ctx, n, opts, "msn@example.com", "pw"), "https://" + tlsca.MSNHostNames[0], opts.Passport
	})
}

// TestP2PFileMSNP18AndGG: a WLM 2009 client (MSNP18, caps:extcaps) and a
// GG user exchange files over MSNSLP through the drive.
func TestP2PFileMSNP18AndGG(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newMSNSLPGG(t, ctx, Options{}, client.Options{Versions: []string{"MSNP18"}, MachineGUID: "{A11CE000-0000-0000-0000-00000000001A}",
		Capabilities: 0x90000000})
	// MSNC4 and no P2Pv2 extended capability: WLM 2009 speaks version 1
	// to the server that stands in for the GG user.
	p := next[client.Presence](t, ctx, c.mc.Events())
	base, ext, _ := strings.Cut(p.Capabilities, ":")
	caps, err1 := strconv.ParseUint(base, 10, 32)
	extCaps, err2 := strconv.ParseUint(ext, 10, 32)
	if p.Email != "gosia@example.com" || err1 != nil || err2 != nil || caps>>28 != 4 || extCaps&p2p.ExtCapP2Pv2 != 0 {
		t.Fatalf("presence %+v", p)
	}
	c.chatWithGG(t, ctx)
	data := randomBytes(p2p.MaxChunk * 3)
	sent := make(chan error, 1)
	go func() {
		sent <- filetransfer.SendP2P(ctx, c.sb, "gosia@example.com", "wlm.bin", int64(len(data)), bytes.NewReader(data), filetransfer.Options{})
	}()
	tk := c.allowNext(t, ctx)
	nextTicketEvent(t, ctx, c.gg, "allowed", "completed")
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	var got bytes.Buffer
	if k, err := c.dc.Download(ctx, tk, &got); err != nil || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("download %d, %v", k, err)
	}

	ggOffersMSN(t, ctx, c, "back.bin", data)
	// WLM 2009 is told the sender in P2P-Src too, a bare address as
	// version 1 has it.
	offer := nextP2POfferFrom(t, ctx, c.sb, "gosia@example.com")
	if offer.From != "gosia@example.com" || offer.Size != int64(len(data)) {
		t.Fatalf("offer %+v", offer)
	}
	got.Reset()
	if k, err := filetransfer.ReceiveP2P(ctx, c.sb, offer, &got, filetransfer.Options{}); err != nil || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("received %d, %v", k, err)
	}
}

// TestP2PFileMSNToGG: an MSN 7 client sends a GG user files over MSNSLP;
// the server answers as the GG user once they allow the drive ticket,
// keeps the chunks in the drive, and acknowledges the file once it is in.
func TestP2PFileMSNToGG(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := newMSN7GG(t, ctx, Options{})
	// The GG user shows MSN 7's capabilities, so MSN 6+ clients offer
	// files over MSNSLP.
	if p := next[client.Presence](t, ctx, c.mc.Events()); p.Email != "gosia@example.com" || p.Capabilities != "1073741824" {
		t.Fatalf("presence %+v", p)
	}
	c.chatWithGG(t, ctx)
	for _, size := range p2pSizes {
		data := randomBytes(size)
		sent := make(chan error, 1)
		go func() {
			sent <- filetransfer.SendP2P(ctx, c.sb, "gosia@example.com", "data.bin", int64(size), bytes.NewReader(data), filetransfer.Options{})
		}()
		tk := c.allowNext(t, ctx)
		if tk.FileName != "data.bin" || tk.FileSize != int64(size) {
			t.Fatalf("ticket %+v", tk)
		}
		nextTicketEvent(t, ctx, c.gg, "allowed", "completed")
		if err := <-sent; err != nil {
			t.Fatalf("%d bytes: send: %v", size, err)
		}
		var got bytes.Buffer
		if k, err := c.dc.Download(ctx, tk, &got); err != nil || k != int64(size) || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
			t.Fatalf("%d bytes: download %d, %v", size, k, err)
		}
	}
}

// TestP2PFileGGToMSN: a GG user's drive files reach an MSN 7 client as
// MSNSLP INVITEs from the GG user, and the data in P2P chunks.
func TestP2PFileGGToMSN(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := newMSN7GG(t, ctx, Options{})
	var sb *client.Switchboard
	for i, size := range p2pSizes {
		data := randomBytes(size)
		name := fmt.Sprintf("file%d.bin", i)
		tk := ggOffersMSN(t, ctx, c, name, data)
		if sb == nil {
			sb = answerRing(t, ctx, c.mc)
		}
		// MSNP11 knew no P2P-Src header.
		offer := nextP2POfferFrom(t, ctx, sb, "")
		if offer.From != "gosia@example.com" || offer.Name != name || offer.Size != int64(size) {
			t.Fatalf("offer %+v", offer)
		}
		var got bytes.Buffer
		k, err := filetransfer.ReceiveP2P(ctx, sb, offer, &got, filetransfer.Options{})
		if err != nil || k != int64(size) || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
			t.Fatalf("%d bytes: received %d, %v", size, k, err)
		}
		if got, err := c.dc.Ticket(ctx, tk.ID); err != nil || got.Ack != "allowed" {
			t.Fatalf("ticket after the transfer: %+v %v", got, err)
		}
	}
}

// cutReader gives n bytes of zeros, then fails.
type cutReader struct{ n int }

func (r *cutReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("disk gone")
	}
	k := min(len(p), r.n)
	clear(p[:k])
	r.n -= k
	return k, nil
}

// closing closes a switchboard when read: the sender leaves.
type closing struct{ sb *client.Switchboard }

func (c closing) Read([]byte) (int, error) {
	c.sb.Close()
	return 0, errors.New("left")
}

// closingWriter closes a switchboard when a write to w fails: the
// receiver leaves.
type closingWriter struct {
	w  io.Writer
	sb *client.Switchboard
}

func (c closingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil {
		c.sb.Close()
	}
	return n, err
}

// TestP2PFileCancels: declines and cancellations on either side reach the
// other: the MSN side hears 603 or BYE, the GG side sees its ticket
// rejected, and the drive keeps nothing of an unfinished file.
func TestP2PFileCancels(t *testing.T) {
	t.Run("GG user declines", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := newMSN7GG(t, ctx, Options{})
		c.chatWithGG(t, ctx)
		sent := make(chan error, 1)
		go func() {
			sent <- filetransfer.SendP2P(ctx, c.sb, "gosia@example.com", "no.bin", 10, bytes.NewReader(make([]byte, 10)), filetransfer.Options{})
		}()
		ev := nextTicketEvent(t, ctx, c.gg, "unknown", "in_progress")
		if err := c.dc.Answer(ctx, ev["id"].(string), false); err != nil {
			t.Fatal(err)
		}
		var rej *filetransfer.RejectedError
		if err := <-sent; !errors.As(err, &rej) || rej.Code != filetransfer.CodeDeclined {
			t.Fatalf("declined send: %v", err)
		}
	})
	// The MSN sender's file breaks off (it sends BYE), or the sender
	// leaves the switchboard.
	for _, tc := range []struct {
		name string
		file func(sb *client.Switchboard) io.Reader
	}{
		{"MSN sender cancels mid-transfer", func(*client.Switchboard) io.Reader { return &cutReader{n: 30_000} }},
		{"MSN sender leaves mid-transfer", func(sb *client.Switchboard) io.Reader {
			return io.MultiReader(&cutReader{n: 30_000}, closing{sb})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c := newMSN7GG(t, ctx, Options{})
			c.chatWithGG(t, ctx)
			sent := make(chan error, 1)
			go func() {
				sent <- filetransfer.SendP2P(ctx, c.sb, "gosia@example.com", "cut.bin", 100_000, tc.file(c.sb), filetransfer.Options{})
			}()
			tk := c.allowNext(t, ctx)
			if err := <-sent; err == nil {
				t.Fatal("a send whose file broke off succeeded")
			}
			c.expectRejected(t, ctx, tk, "in_progress")
			c.noFileLeft(t, tk.ID)
		})
	}
	t.Run("MSN receiver leaves mid-transfer", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := newMSN7GG(t, ctx, Options{})
		tk := ggOffersMSN(t, ctx, c, "big.bin", randomBytes(100_000))
		sb := answerRing(t, ctx, c.mc)
		offer, err := filetransfer.NextP2POffer(ctx, sb)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := filetransfer.ReceiveP2P(ctx, sb, offer, closingWriter{&failingWriter{n: 10_000}, sb}, filetransfer.Options{}); err == nil {
			t.Fatal("receive into a closed switchboard succeeded")
		}
		c.expectRejected(t, ctx, tk, "completed")
	})
	t.Run("MSN receiver declines", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := newMSN7GG(t, ctx, Options{})
		tk := ggOffersMSN(t, ctx, c, "no.txt", []byte("abc"))
		sb := answerRing(t, ctx, c.mc)
		offer, err := filetransfer.NextP2POffer(ctx, sb)
		if err != nil {
			t.Fatal(err)
		}
		if err := filetransfer.DeclineP2P(ctx, sb, offer); err != nil {
			t.Fatal(err)
		}
		c.expectRejected(t, ctx, tk, "completed")
	})
	t.Run("MSN receiver cancels mid-transfer", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := newMSN7GG(t, ctx, Options{})
		tk := ggOffersMSN(t, ctx, c, "big.bin", randomBytes(100_000))
		sb := answerRing(t, ctx, c.mc)
		offer, err := filetransfer.NextP2POffer(ctx, sb)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := filetransfer.ReceiveP2P(ctx, sb, offer, &failingWriter{n: 10_000}, filetransfer.Options{}); err == nil {
			t.Fatal("receive into a failing writer succeeded")
		}
		c.expectRejected(t, ctx, tk, "completed")
	})
	t.Run("MSN receiver never answers", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := newMSN7GG(t, ctx, Options{MSNP: msnpserver.Config{FileAnswerTimeout: time.Second}})
		tk := ggOffersMSN(t, ctx, c, "ignored.bin", randomBytes(10))
		sb := answerRing(t, ctx, c.mc)
		offer, err := filetransfer.NextP2POffer(ctx, sb)
		if err != nil {
			t.Fatal(err)
		}
		// Once the GG user hears it failed, the offer is withdrawn with
		// BYE: accepting it now gets nothing.
		c.expectRejected(t, ctx, tk, "completed")
		var rej *filetransfer.RejectedError
		if _, err := filetransfer.ReceiveP2P(ctx, sb, offer, io.Discard, filetransfer.Options{}); !errors.As(err, &rej) || rej.Code != filetransfer.CodeBye {
			t.Fatalf("late accept: %v", err)
		}
	})
}

// TestP2PDisplayPicture: an MSN 7 client asks another for the display
// picture its CHG announced; the request and the picture travel between
// them through the server untouched.
func TestP2PDisplayPicture(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alice, asb, bsb := msn7Chat(t, ctx)
	picture := randomBytes(5000)
	obj := `<msnobj Creator="alice@example.com" Size="5000" Type="3" Location="TFR2C2.tmp" Friendly="AAA=" SHA1D="x" SHA1C="y"/>`
	if err := alice.SetStatusObject(ctx, client.StatusOnline, url.PathEscape(obj)); err != nil {
		t.Fatal(err)
	}
	served := make(chan string, 1)
	go func() {
		w := filetransfer.NewP2PWatcher(asb)
		w.Picture = func(asked string) ([]byte, bool) {
			served <- asked
			return picture, asked == obj
		}
		for {
			select {
			case ev := <-asb.Events():
				if m, ok := ev.(client.Message); ok {
					w.Offer(ctx, m)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	got, err := filetransfer.RequestPicture(ctx, bsb, "alice@example.com", obj, filetransfer.Options{})
	if err != nil || !bytes.Equal(got, picture) {
		t.Fatalf("picture: %d bytes, %v", len(got), err)
	}
	if asked := <-served; asked != obj {
		t.Fatalf("alice was asked for %q", asked)
	}
	// A picture alice does not have is declined.
	var rej *filetransfer.RejectedError
	if _, err := filetransfer.RequestPicture(ctx, bsb, "alice@example.com", "<msnobj/>", filetransfer.Options{}); !errors.As(err, &rej) || rej.Code != filetransfer.CodeDeclined {
		t.Fatalf("unknown picture: %v", err)
	}
}

// TestP2PFileMSNToMySpace: a file an MSN 7 client sends a MySpaceIM user
// over MSNSLP is kept in the drive, and the MySpaceIM user gets a link to
// it.
func TestP2PFileMSNToMySpace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o, ca := httpsOptions(t)
	o.DataDir = t.TempDir()
	n := startNodeWith(t, o)
	hc := passportClient(t, n, ca)
	addAccount(t, n, 1001, "msn@example.com", "Em", "pw")
	addAccount(t, n, 1003, "my@example.com", "Emma", "pw")
	mc := loginMSN7(t, ctx, n, hc, "msn@example.com", "pw")
	go func() {
		for range mc.Events() {
		}
	}()
	links := mySpaceMessages(t, ctx, n, 1001)
	if _, err := mc.Add(ctx, client.ListForward, "my@example.com", "x", 0); err != nil {
		t.Fatal(err)
	}
	sb := call(ctx, t, mc, "my@example.com")
	next[client.Joined](t, ctx, sb.Events())

	data := randomBytes(5000)
	if err := filetransfer.SendP2P(ctx, sb, "my@example.com", "notes.txt", int64(len(data)), bytes.NewReader(data), filetransfer.Options{}); err != nil {
		t.Fatalf("send: %v", err)
	}
	var text string
	select {
	case text = <-links:
	case <-ctx.Done():
		t.Fatal("no link message")
	}
	_, path, ok := strings.Cut(text, "/link/")
	if !strings.HasPrefix(text, "Em sent you a file: notes.txt (5000 bytes): ") || !ok {
		t.Fatalf("message %q", text)
	}
	// The HTTP service is HTTPS here, at any name the certificate holds.
	resp, err := hc.Get("https://" + tlsca.MSNHostNames[0] + "/link/" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || sha256.Sum256(body) != sha256.Sum256(data) {
		t.Fatalf("download: %d, %d bytes, %v", resp.StatusCode, len(body), err)
	}
}

// TestP2PFileToOlderMSNClient: an MSN 7 client sends a file over MSNSLP to
// an MSN client that does not speak it (MSNP7): the server stands in as
// its P2P peer and offers the file to it as an invitation from the
// sender, served over MSNFTP from the chunks as they come; a refusal and
// a cancellation reach the other side.
func TestP2PFileToOlderMSNClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	o, ca := httpsOptions(t)
	o.DataDir = t.TempDir()
	o.MSNP.FileAnswerTimeout = 2 * time.Second
	n := startNodeWith(t, o)
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")
	alice := loginMSN7(t, ctx, n, passportClient(t, n, ca), "alice@example.com", "pa")
	bob := login(t, ctx, n.MSNPAddr, "bob@example.com", "pb")
	if _, err := alice.Add(ctx, client.ListForward, "bob@example.com", "Bob", 0); err != nil {
		t.Fatal(err)
	}
	asb := call(ctx, t, alice, "bob@example.com")
	t.Cleanup(func() { asb.Close() })
	bsb, err := bob.Answer(ctx, next[client.Ring](t, ctx, bob.Events()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bsb.Close() })
	next[client.Joined](t, ctx, asb.Events())

	send := func(name string, size int64, r io.Reader) <-chan error {
		sent := make(chan error, 1)
		go func() {
			sent <- filetransfer.SendP2P(ctx, asb, "bob@example.com", name, size, r, filetransfer.Options{})
		}()
		return sent
	}
	for _, size := range []int{0, 2046, 100_000} {
		data := randomBytes(size)
		sent := send("old.bin", int64(size), bytes.NewReader(data))
		from, offer, err := filetransfer.NextOffer(ctx, bsb)
		if err != nil || from != "alice@example.com" || offer.File != "old.bin" || offer.FileSize != int64(size) {
			t.Fatalf("offer from %q: %+v %v", from, offer, err)
		}
		var got bytes.Buffer
		k, err := filetransfer.Receive(ctx, bsb, from, "bob@example.com", offer, &got, filetransfer.Options{})
		if err != nil || k != int64(size) || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
			t.Fatalf("%d bytes: received %d, %v", size, k, err)
		}
		if err := <-sent; err != nil {
			t.Fatalf("%d bytes: send: %v", size, err)
		}
	}

	sent := send("no.bin", 3, bytes.NewReader([]byte("abc")))
	_, offer, err := filetransfer.NextOffer(ctx, bsb)
	if err != nil {
		t.Fatal(err)
	}
	if err := filetransfer.Reject(ctx, bsb, offer); err != nil {
		t.Fatal(err)
	}
	var rej *filetransfer.RejectedError
	if err := <-sent; !errors.As(err, &rej) || rej.Code != filetransfer.CodeDeclined {
		t.Fatalf("refused send: %v", err)
	}

	sent = send("cut.bin", 100_000, &cutReader{n: 30_000})
	from, offer, err := filetransfer.NextOffer(ctx, bsb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := filetransfer.Receive(ctx, bsb, from, "bob@example.com", offer, io.Discard, filetransfer.Options{}); err == nil {
		t.Fatal("a file the sender cancelled was received")
	}
	if err := <-sent; err == nil {
		t.Fatal("a send whose file broke off succeeded")
	}

	// Unanswered, the offer times out on both sides.
	sent = send("ignored.bin", 3, bytes.NewReader([]byte("abc")))
	_, offer, err = filetransfer.NextOffer(ctx, bsb)
	if err != nil {
		t.Fatal(err)
	}
	if inv := nextInvitation(t, ctx, bsb, offer.Cookie, invite.Cancel); inv.CancelCode != invite.CancelTimeout {
		t.Fatalf("bob told %q", inv.CancelCode)
	}
	if err := <-sent; !errors.As(err, &rej) || rej.Code != filetransfer.CodeBye {
		t.Fatalf("unanswered send: %v", err)
	}
}

// TestP2PFilesWithSIP: an MSN 7 client and a SIP user exchange files
// through the drive, MSNSLP on the MSN side both ways.
func TestP2PFilesWithSIP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n, ca := startHTTPSNode(t)
	addAccount(t, n, 1001, "msn@example.com", "Em", "pw")
	mc := loginMSN7(t, ctx, n, passportClient(t, n, ca), "msn@example.com", "pw")
	go func() {
		for range mc.Events() {
		}
	}()
	sp := newSIPPeer(t, ctx, n, 1005, "sip@example.com")
	if _, err := mc.Add(ctx, client.ListForward, "sip@example.com", "Sip", 0); err != nil {
		t.Fatal(err)
	}
	if err := sp.c.AddContact(ctx, "msn@example.com"); err != nil {
		t.Fatal(err)
	}
	sb := call(ctx, t, mc, "sip@example.com")
	t.Cleanup(func() { sb.Close() })
	next[client.Joined](t, ctx, sb.Events())
	for _, size := range []int{0, p2p.MaxChunk + 1, 200_000} {
		data := randomBytes(size)
		if err := filetransfer.SendP2P(ctx, sb, "sip@example.com", "to-sip.bin", int64(size), bytes.NewReader(data), filetransfer.Options{}); err != nil {
			t.Fatalf("MSN to SIP, %d bytes: %v", size, err)
		}
		acceptSIP(t, ctx, sp, "msn@example.com", "to-sip.bin", data, sipFileOptions[0])

		data = randomBytes(size)
		if err := sp.c.SendFile(ctx, "msn@example.com", "to-msn.bin", int64(size), bytes.NewReader(data), sipFileOptions[0]); err != nil {
			t.Fatalf("SIP to MSN, %d bytes: %v", size, err)
		}
		offer, err := filetransfer.NextP2POffer(ctx, sb)
		if err != nil || offer.From != "sip@example.com" || offer.Name != "to-msn.bin" || offer.Size != int64(size) {
			t.Fatalf("offer %+v %v", offer, err)
		}
		var got bytes.Buffer
		if k, err := filetransfer.ReceiveP2P(ctx, sb, offer, &got, filetransfer.Options{}); err != nil || k != int64(size) || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
			t.Fatalf("SIP to MSN, %d bytes: received %d, %v", size, k, err)
		}
	}
}

// aliceBobNode starts a node with HTTPS for SSO and the accounts of alice
// and bob; the HTTP client signs in there.
func aliceBobNode(t *testing.T) (*Node, *http.Client) {
	t.Helper()
	n, ca := startHTTPSNode(t)
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")
	return n, passportClient(t, n, ca)
}

// loginMSNP18 signs in as WLM 2009 (MSNP18 over SSO) from the machine
// guid.
func loginMSNP18(t *testing.T, ctx context.Context, n *Node, hc *http.Client, email, password, guid string) *client.Client {
	t.Helper()
	return loginWith(t, ctx, n, client.Options{Versions: []string{"MSNP18"}, Passport: hc, MachineGUID: guid,
		Capabilities: 0x90000000}, email, password)
}

// callBothMachines has caller call bob, signed in at home and at work, and
// both of his machines answer.
func callBothMachines(t *testing.T, ctx context.Context, caller, bobHome, bobWork *client.Client) (csb, home, work *client.Switchboard) {
	t.Helper()
	csb = call(ctx, t, caller, "bob@example.com")
	answer := func(c *client.Client) *client.Switchboard {
		sb, err := c.Answer(ctx, next[client.Ring](t, ctx, c.Events()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sb.Close() })
		return sb
	}
	home, work = answer(bobHome), answer(bobWork)
	next[client.Joined](t, ctx, csb.Events())
	return csb, home, work
}

// mpopChat logs alice and bob in with MSNP18, bob from two machines, and
// puts all three endpoints in one switchboard.
func mpopChat(t *testing.T, ctx context.Context) (asb, home, work *client.Switchboard) {
	t.Helper()
	n, hc := aliceBobNode(t)
	alice := loginMSNP18(t, ctx, n, hc, "alice@example.com", "pa", aliceGUID)
	bobHome := loginMSNP18(t, ctx, n, hc, "bob@example.com", "pb", bobHomeGUID)
	bobWork := loginMSNP18(t, ctx, n, hc, "bob@example.com", "pb", bobWorkGUID)
	if _, err := alice.Add(ctx, client.ListForward, "bob@example.com", "Bob", -1); err != nil {
		t.Fatal(err)
	}
	return callBothMachines(t, ctx, alice, bobHome, bobWork)
}

const (
	aliceGUID   = "{A11CE000-0000-0000-0000-00000000001A}"
	bobHomeGUID = "{B0B00000-0000-0000-0000-000000000001}"
	bobWorkGUID = "{B0B00000-0000-0000-0000-000000000002}"
)

// nextMessage is the next message of a switchboard, whatever it carries.
func nextMessage(t *testing.T, ctx context.Context, sb *client.Switchboard) client.Message {
	t.Helper()
	return next[client.Message](t, ctx, sb.Events())
}

// TestP2Pv2BetweenEndpoints: WLM 2009 clients exchange P2P version 2
// messages addressed email;{guid}: the switchboard passes them byte for
// byte, to the endpoint named in P2P-Dest only; version 1 addressed to
// the bare account still reaches each of its endpoints.
func TestP2Pv2BetweenEndpoints(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	asb, home, work := mpopChat(t, ctx)

	syn, err := p2p.MessageV2{Op: p2p.OpSYN | p2p.OpRAK, Seq: 1000,
		TLVs:    []p2p.TLV{{Type: p2p.TLVPeerInfo, Value: []byte{2, 0, 0, 0, 0x0e, 0, 0, 0, 0, 0, 1, 0x0f}}},
		Payload: &p2p.DataV2{TF: p2p.TFFirst, Data: []byte("INVITE MSNMSGR:bob@example.com;" + bobWorkGUID + " MSNSLP/1.0\r\n")},
	}.AppendV2(nil)
	if err != nil {
		t.Fatal(err)
	}
	passesAsIs(t, ctx, asb, work, p2p.PayloadFrom("alice@example.com;"+aliceGUID, "bob@example.com;"+bobWorkGUID, syn))
	ackBody, err := p2p.AckV2(mustParseV2(t, syn), 500).AppendV2(nil)
	if err != nil {
		t.Fatal(err)
	}
	passesAsIs(t, ctx, work, asb, p2p.PayloadFrom("bob@example.com;"+bobWorkGUID, "alice@example.com;"+aliceGUID, ackBody))

	// Version 1 to the account: both endpoints; then text. Home's first
	// message is the version 1 one: the version 2 message for work never
	// reached it, nor did work's answer to alice.
	v1 := p2p.Payload("bob@example.com", p2p.Message{Header: p2p.Header{ID: 7, TotalSize: 2}, Data: []byte("hi")})
	if _, err := asb.Send(ctx, v1, 'D'); err != nil {
		t.Fatal(err)
	}
	for name, sb := range map[string]*client.Switchboard{"home": home, "work": work} {
		if m := nextMessage(t, ctx, sb); !bytes.Equal(m.Payload, v1) {
			t.Fatalf("%s got %q, want the version 1 message", name, m.Payload)
		}
	}
}

// passesAsIs sends payload in from, in mode D as clients send P2P, and
// checks that to gets it byte for byte from the sender.
func passesAsIs(t *testing.T, ctx context.Context, from, to *client.Switchboard, payload []byte) {
	t.Helper()
	if _, err := from.Send(ctx, payload, 'D'); err != nil {
		t.Fatal(err)
	}
	if m := nextMessage(t, ctx, to); m.From != from.Email() || !bytes.Equal(m.Payload, payload) {
		t.Fatalf("got %q from %s, want %q from %s", m.Payload, m.From, payload, from.Email())
	}
}

func mustParseV2(t *testing.T, b []byte) p2p.MessageV2 {
	t.Helper()
	m, err := p2p.ParseV2(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestP2PFileFromEndpointToOlderClient: bob is signed in at two machines
// with MSNP18 and both are in a chat with carol, whose MSN client does not
// speak MSNSLP. A file bob sends from his second machine is offered to
// carol by the server, standing in as her P2P peer; its answers reach
// that machine only, and the other one sees none of the exchange.
func TestP2PFileFromEndpointToOlderClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, hc := aliceBobNode(t)
	addAccount(t, n, 1003, "carol@example.com", "Carol", "pc")
	bobHome := loginMSNP18(t, ctx, n, hc, "bob@example.com", "pb", bobHomeGUID)
	bobWork := loginMSNP18(t, ctx, n, hc, "bob@example.com", "pb", bobWorkGUID)
	carol := login(t, ctx, n.MSNPAddr, "carol@example.com", "pc")
	if _, err := carol.Add(ctx, client.ListForward, "bob@example.com", "Bob", 0); err != nil {
		t.Fatal(err)
	}
	csb, home, work := callBothMachines(t, ctx, carol, bobHome, bobWork)

	data := randomBytes(3 * p2p.MaxChunk)
	sent := make(chan error, 1)
	go func() {
		sent <- filetransfer.SendP2P(ctx, work, "carol@example.com", "work.bin", int64(len(data)), bytes.NewReader(data), filetransfer.Options{})
	}()
	from, offer, err := filetransfer.NextOffer(ctx, csb)
	if err != nil || from != "bob@example.com" || offer.File != "work.bin" || offer.FileSize != int64(len(data)) {
		t.Fatalf("offer from %q: %+v %v", from, offer, err)
	}
	var got bytes.Buffer
	if k, err := filetransfer.Receive(ctx, csb, from, "carol@example.com", offer, &got, filetransfer.Options{}); err != nil ||
		sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("received %d, %v", k, err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send from the second machine: %v", err)
	}
	if err := csb.SendText(ctx, "got it"); err != nil {
		t.Fatal(err)
	}
	if m := nextMessage(t, ctx, home); m.Text != "got it" {
		t.Fatalf("the first machine got %q before carol's text", m.Payload)
	}
}

// TestP2PFileBetweenMSNP18Clients: the client library, joined as an
// MSNP16+ endpoint, sends a file over MSNSLP version 1 as WLM 2009 does,
// naming itself bare in P2P-Src; the switchboard relays it to bob's
// machine that takes it.
func TestP2PFileBetweenMSNP18Clients(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	asb, _, work := mpopChat(t, ctx)
	if asb.Endpoint() != aliceGUID || work.Endpoint() != bobWorkGUID {
		t.Fatalf("endpoints %q, %q", asb.Endpoint(), work.Endpoint())
	}
	data := randomBytes(2*p2p.MaxChunk + 5)
	sent := make(chan error, 1)
	go func() {
		sent <- filetransfer.SendP2P(ctx, asb, "bob@example.com", "wlm.bin", int64(len(data)), bytes.NewReader(data), filetransfer.Options{})
	}()
	offer := nextP2POfferFrom(t, ctx, work, "alice@example.com")
	var got bytes.Buffer
	if k, err := filetransfer.ReceiveP2P(ctx, work, offer, &got, filetransfer.Options{}); err != nil || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("received %d, %v", k, err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
}
