package filetransfer_test

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
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/msnftp"
	"github.com/crosstalk-im/crosstalk/node"
)

// relayChat is chat on a node with an MSNFTP relay, which carries every
// file when always is set and otherwise only those between two clients
// that cannot take connections.
func relayChat(t *testing.T, ctx context.Context, always bool) (n *node.Node, asb, bsb *client.Switchboard) {
	t.Helper()
	return chatOn(t, ctx, node.Options{FTPAddr: "127.0.0.1:0", RelayAlways: always})
}

// transfer sends size random bytes from alice to bob on a node with a
// relay (carrying every file when always is set) and checks what arrived
// and that the relay carried relayed transfers.
func transfer(t *testing.T, always bool, sender, receiver filetransfer.Options, size int, relayed int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, asb, bsb := relayChat(t, ctx, always)
	data := make([]byte, size)
	rand.Read(data)
	sent := make(chan error, 1)
	go func() {
		sent <- filetransfer.Send(ctx, asb, "bob@example.com", "notes.bin", int64(len(data)), bytes.NewReader(data), sender)
	}()
	from, offer, err := filetransfer.NextOffer(ctx, bsb)
	if err != nil || from != "alice@example.com" || offer.FileSize != int64(size) {
		t.Fatalf("offer %q %+v %v", from, offer, err)
	}
	var got bytes.Buffer
	m, err := filetransfer.Receive(ctx, bsb, from, "bob@example.com", offer, &got, receiver)
	if err != nil || m != int64(size) {
		t.Fatalf("receive: %d %v", m, err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	if sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatal("checksum differs")
	}
	if r := n.MSNP.RelayedFiles(); r != relayed {
		t.Fatalf("relayed %d transfers, want %d", r, relayed)
	}
}

var behindNAT = filetransfer.Options{NoIncoming: true}

func TestRelayedTransfers(t *testing.T) {
	for _, size := range []int{0, 2046, 3 << 20} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			transfer(t, true, filetransfer.Options{}, filetransfer.Options{}, size, 1)
		})
	}
}

// Neither side can take a connection: the relay steps in without
// RelayAlways.
func TestRelayBothBehindNAT(t *testing.T) {
	for _, size := range []int{0, 1, 2045, 2046, 3 << 20} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			transfer(t, false, behindNAT, behindNAT, size, 1)
		})
	}
}

// A receiver that listens gets the sender's connection directly.
func TestNoRelayWhenReceiverListens(t *testing.T) {
	transfer(t, false, behindNAT, filetransfer.Options{}, 2046, 0)
}

// With RelayAlways, a receiver that listens is reached through the relay.
func TestRelaySenderConnect(t *testing.T) {
	for _, size := range []int{0, 2046, 3 << 20} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			transfer(t, true, behindNAT, filetransfer.Options{}, size, 1)
		})
	}
}

// failingWriter fails once more than limit bytes come, and then closes
// failed.
type failingWriter struct {
	n, limit int
	failed   chan struct{}
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		close(w.failed)
		return 0, errors.New("disk full")
	}
	w.n += len(p)
	return len(p), nil
}

// heldReader reads from r once open is closed.
type heldReader struct {
	ctx  context.Context
	open <-chan struct{}
	r    io.Reader
}

func (h *heldReader) Read(p []byte) (int, error) {
	select {
	case <-h.open:
		return h.r.Read(p)
	case <-h.ctx.Done():
		return 0, h.ctx.Err()
	}
}

func TestRelayReceiverFails(t *testing.T) {
	const size = 1 << 20
	for _, tc := range []struct {
		name  string
		limit int
		// hold keeps the sender mid-file until the receiver has failed,
		// so that it cannot be done first.
		hold bool
	}{
		{"mid-file", 10 << 10, true},
		{"at the last block", size - 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, asb, bsb := relayChat(t, ctx, false)
			data := make([]byte, size)
			failed := make(chan struct{})
			var r io.Reader = bytes.NewReader(data)
			if tc.hold {
				r = io.MultiReader(bytes.NewReader(data[:64<<10]), &heldReader{ctx: ctx, open: failed, r: bytes.NewReader(data[64<<10:])})
			}
			sent := make(chan error, 1)
			go func() {
				sent <- filetransfer.Send(ctx, asb, "bob@example.com", "big.bin", size, r, behindNAT)
			}()
			from, offer, err := filetransfer.NextOffer(ctx, bsb)
			if err != nil {
				t.Fatal(err)
			}
			w := &failingWriter{limit: tc.limit, failed: failed}
			if _, err := filetransfer.Receive(ctx, bsb, from, "bob@example.com", offer, w, behindNAT); err == nil {
				t.Fatal("receive succeeded into a failing writer")
			}
			// The relay tells the sender in MSNFTP's terms: CCL, or BYE
			// with a failure code.
			err = <-sent
			if !errors.Is(err, msnftp.ErrCancelled) && !errors.As(err, new(*msnftp.ByeError)) {
				t.Fatalf("sender: %v, want the receiver's failure", err)
			}
			if ctx.Err() != nil {
				t.Fatalf("the sender only stopped at the test's deadline: %v", err)
			}
		})
	}
}

// offerBehindNAT has alice offer bob a file as a client that cannot take
// connections, and returns the invitation's cookie.
func offerBehindNAT(t *testing.T, ctx context.Context, asb *client.Switchboard, size int64) uint32 {
	t.Helper()
	inv := invite.Invitation{
		Command: invite.Invite, Cookie: invite.NewCookie(),
		AppName: invite.FileTransferName, AppGUID: invite.FileTransferGUID,
		File: "raw.bin", FileSize: size, Connectivity: "N",
	}
	if err := asb.SendInvitation(ctx, inv); err != nil {
		t.Fatal(err)
	}
	return inv.Cookie
}

// acceptOf waits in sb for the ACCEPT quoting cookie.
func acceptOf(t *testing.T, ctx context.Context, sb *client.Switchboard, cookie uint32) invite.Invitation {
	t.Helper()
	for {
		select {
		case ev, ok := <-sb.Events():
			if !ok {
				t.Fatal("switchboard closed")
			}
			m, ok := ev.(client.Message)
			if !ok || m.Invitation == nil || m.Invitation.Cookie != cookie {
				continue
			}
			if m.Invitation.Command != invite.Accept {
				t.Fatalf("got %+v, want ACCEPT", *m.Invitation)
			}
			return *m.Invitation
		case <-ctx.Done():
			t.Fatal("no ACCEPT")
		}
	}
}

// receiveBehindNAT has bob take the next offer as a client that cannot
// listen; the result arrives on the channel.
func receiveBehindNAT(t *testing.T, ctx context.Context, bsb *client.Switchboard) <-chan error {
	t.Helper()
	from, offer, err := filetransfer.NextOffer(ctx, bsb)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := filetransfer.Receive(ctx, bsb, from, "bob@example.com", offer, io.Discard, behindNAT)
		got <- err
	}()
	return got
}

// The sender's connection breaks mid-file: the receiver hears of it.
func TestRelaySenderVanishes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, asb, bsb := relayChat(t, ctx, false)
	const size = 1 << 20
	cookie := offerBehindNAT(t, ctx, asb, size)
	got := receiveBehindNAT(t, ctx, bsb)
	acc := acceptOf(t, ctx, asb, cookie)
	if acc.SenderConnect != "TRUE" || acc.Port == 0 {
		t.Fatalf("the sender is not told to connect: %+v", acc)
	}
	nc, err := net.Dial("tcp", net.JoinHostPort(acc.IPAddress, strconv.Itoa(acc.Port)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	expect := func(want string) {
		t.Helper()
		if line, err := br.ReadString('\n'); err != nil || line != want {
			t.Fatalf("got %q %v, want %q", line, err, want)
		}
	}
	expect("VER MSNFTP\r\n")
	fmt.Fprintf(nc, "VER MSNFTP\r\n")
	expect(fmt.Sprintf("USR bob@example.com %d\r\n", acc.AuthCookie))
	fmt.Fprintf(nc, "FIL %d\r\n", size)
	expect("TFR\r\n")
	block := make([]byte, 3+2045)
	block[1], block[2] = 2045&0xff, 2045>>8
	for range 4 {
		if _, err := nc.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	// The relay tells the receiver with a cancel block.
	if err := <-got; !errors.Is(err, msnftp.ErrSenderCancelled) {
		t.Fatalf("receiver: %v, want the sender's cancel", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the receiver only stopped at the test's deadline")
	}
}

// The sender never connects to the port it was given: the receiver gives
// up.
func TestRelaySenderNeverConnects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, asb, bsb := relayChat(t, ctx, false)
	cookie := offerBehindNAT(t, ctx, asb, 100)
	rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
	defer rcancel()
	got := receiveBehindNAT(t, rctx, bsb)
	if acc := acceptOf(t, ctx, asb, cookie); acc.SenderConnect != "TRUE" || acc.Port == 0 {
		t.Fatalf("the sender is not told to connect: %+v", acc)
	}
	if err := <-got; err == nil {
		t.Fatal("the receiver got a file nobody sent")
	}
	if r := n.MSNP.RelayedFiles(); r != 1 {
		t.Fatalf("relayed %d transfers, want the 1 the receiver joined", r)
	}
}

// The receiver hangs up while the relay waits for the sender: the relay
// lets go of the sender's port at once.
func TestRelayReceiverHangsUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, asb, bsb := relayChat(t, ctx, false)
	cookie := offerBehindNAT(t, ctx, asb, 100)
	if _, _, err := filetransfer.NextOffer(ctx, bsb); err != nil {
		t.Fatal(err)
	}
	if err := bsb.SendInvitation(ctx, invite.Invitation{Command: invite.Accept, Cookie: cookie, LaunchApplication: "FALSE", RequestData: "IP-Address:"}); err != nil {
		t.Fatal(err)
	}
	toSender := acceptOf(t, ctx, asb, cookie)
	toReceiver := acceptOf(t, ctx, bsb, cookie)
	rc, err := net.Dial("tcp", net.JoinHostPort(toReceiver.IPAddress, strconv.Itoa(toReceiver.Port)))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(rc)
	fmt.Fprintf(rc, "VER MSNFTP\r\n")
	if line, err := br.ReadString('\n'); err != nil || line != "VER MSNFTP\r\n" {
		t.Fatalf("VER answer %q %v", line, err)
	}
	fmt.Fprintf(rc, "USR bob@example.com %d\r\nCCL\r\n", toReceiver.AuthCookie)
	if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
		t.Fatalf("after CCL: %q %v, want the connection closed", rest, err)
	}
	// The sender's port now refuses connections, or drops one unheard
	// (closed, or reset when the port closes before taking it).
	sc, err := net.Dial("tcp", net.JoinHostPort(toSender.IPAddress, strconv.Itoa(toSender.Port)))
	if err != nil {
		return
	}
	defer sc.Close()
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if rest, err := io.ReadAll(sc); errors.Is(err, os.ErrDeadlineExceeded) || len(rest) > 0 {
		t.Fatalf("the sender's port still serves: %q %v", rest, err)
	}
}

func TestRelayUnknownCookie(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, _, _ := relayChat(t, ctx, true)
	nc, err := net.Dial("tcp", n.FTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	fmt.Fprintf(nc, "VER MSNFTP\r\n")
	if line, err := br.ReadString('\n'); err != nil || line != "VER MSNFTP\r\n" {
		t.Fatalf("VER answer %q %v", line, err)
	}
	fmt.Fprintf(nc, "USR bob@example.com 12345\r\n")
	if line, err := br.ReadString('\n'); err != io.EOF {
		t.Fatalf("after a bad cookie: %q %v, want the connection closed", line, err)
	}
	if r := n.MSNP.RelayedFiles(); r != 0 {
		t.Fatalf("relayed %d", r)
	}
}
